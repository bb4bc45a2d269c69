//! The clock family: physical clock synchronisation on drifting clocks with
//! asymmetric delays (`clock.server`, `clock.cristian`, `clock.berkeley`,
//! `clock.ntp`) and logical time (`clock.lamport`, `clock.vector`).
//!
//! Every synchronisation algorithm reads its node's *local* clock
//! (`Ctx::now`) and corrects it with `Ctx::adjust_clock`, so a scenario's
//! offsets, drifts and `clocks: {adjust: step|slew}` apply to it; the
//! algorithms that promise an error bound emit `Observation::Synced` right
//! after the correction and [`crate::check::clock::SyncChecker`] holds them
//! to it. The runner reports every correction with the clock just before and
//! just after it (`Observation::ClockAdjusted`), so the checker's
//! `monotonic` sees a step back wherever the scenario's samples fall. The
//! logical clocks run on an application message pattern the scenario gives
//! with `send TO` and `local`.

pub mod berkeley;
pub mod cristian;
pub mod lamport;
pub mod ntp;
pub mod server;
pub mod vector;

use crate::algorithms::registry::CommandSpec;
use crate::process::NodeId;
use crate::scenario::Command;

/// The commands of the synchronisation algorithms.
pub const SYNC_COMMANDS: &[CommandSpec] = &[CommandSpec { name: "sync", args: &[], help: "one synchronisation round from this node" }];

/// The commands of the logical clocks.
pub const LOGICAL_COMMANDS: &[CommandSpec] = &[
    CommandSpec { name: "send", args: &["TO"], help: "the node sends an application message to TO (a send event)" },
    CommandSpec { name: "local", args: &[], help: "a local event" },
    CommandSpec { name: "internal", args: &[], help: "the same as local (Lua, where local is a keyword, calls internal(n))" },
];

/// What a logical-clock command asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogicalCommand {
    Local,
    Send(NodeId),
    /// A command the node cannot carry out, with the reason for the trace.
    Invalid,
}

/// Parses `send TO` / `local`; `TO` must be another node of the scenario.
pub fn logical_command(cmd: &Command, me: NodeId, nodes: &[NodeId]) -> LogicalCommand {
    match (cmd.name.as_str(), cmd.args.first()) {
        ("local" | "internal", _) => LogicalCommand::Local,
        ("send", Some(to)) => match to.parse::<NodeId>() {
            Ok(to) if to != me && nodes.contains(&to) => LogicalCommand::Send(to),
            _ => LogicalCommand::Invalid,
        },
        _ => LogicalCommand::Invalid,
    }
}

/// The name of a node's `k`-th event (from 1): a letter for the node's
/// position in the scenario (`a3` is the third event of the first node),
/// or `n<id>.k` past the 26th node.
pub fn event_name(position: usize, id: NodeId, k: u64) -> String {
    match u8::try_from(position).ok().filter(|p| *p < 26) {
        Some(p) => format!("{}{k}", char::from(b'a' + p)),
        None => format!("n{id}.{k}"),
    }
}

/// The server of a client/server algorithm: the `server` param if it names a
/// node, else the first node.
pub fn pick(param: Option<NodeId>, nodes: &[NodeId]) -> NodeId {
    param.filter(|s| nodes.contains(s)).or_else(|| nodes.first().copied()).unwrap_or(0)
}

/// A signed duration for the trace: `+2ms`, `-1.0465ms`, `0ns`.
pub fn signed(ns: i64) -> String {
    let sign = match ns.signum() {
        1 => "+",
        -1 => "-",
        _ => "",
    };
    format!("{sign}{}", crate::process::short_duration(ns.unsigned_abs()))
}

/// The logical clocks have no timers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoTimer {}

impl std::fmt::Display for NoTimer {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {}
    }
}

/// The logical clocks take no parameters.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}
