//! The sans-IO contract between the engine and an algorithm.
//!
//! A [`Process`] is one node of an algorithm. It never touches a socket, a file,
//! a clock or a random generator: every handler gets a [`Ctx`], reads the node's
//! local clock and seeded generator from it, and *records* effects (sends, timers,
//! observations) that the runner performs afterwards. Messages and timers are the
//! algorithm's own typed enums.

use std::fmt;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::scenario::Command;

/// A node's identifier as the scenario names it (`nodes: 5` means 1..=5).
pub type NodeId = u32;

/// Virtual (true) time in nanoseconds since the start of the run.
pub type Nanos = u64;

/// A message type: its `Display` is the form the trace prints (`Election(3)`),
/// `kind` the name the summary counts it under.
pub trait Message: Clone + fmt::Debug + fmt::Display + Serialize + DeserializeOwned {
    /// The message's kind, e.g. `"Election"`; used for per-kind counts and `expect:`.
    fn kind(&self) -> &'static str;

    /// Appends the trace form to `out`: exactly what `Display` prints. An
    /// algorithm may override it with a faster hand-written version (the text
    /// trace calls it for every send and delivery).
    fn render(&self, out: &mut String) {
        use fmt::Write as _;
        let _ = write!(out, "{self}");
    }
}

/// A fact a node reports about itself; the checkers read these.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "value")]
pub enum Observation {
    /// The node starts an election.
    ElectionStarted,
    /// The node has won an election and is now the coordinator.
    Elected,
    /// The node now follows `leader` as its coordinator.
    Leader(NodeId),
    /// The node suspects that `node` has failed.
    Suspects(NodeId),
    /// The node asks for the critical section (with its request timestamp,
    /// for algorithms that order requests by one).
    Request(Option<u64>),
    /// The node enters the critical section.
    EnterCs,
    /// The node leaves the critical section.
    ExitCs,
    /// The node's clock read this (local ns) when the scenario asked
    /// (`show_clocks`).
    Clock(i64),
    /// The node corrected its clock by `delta` ns; it read `before` just
    /// before and `after` just after (`before + delta` for a step; `before`
    /// for a slew, which spreads `delta` over the time that follows).
    ClockAdjusted { before: i64, delta: i64, after: i64 },
    /// Free text from an algorithm.
    Note(String),
    /// The node has just set its clock from `source`'s and promises it is
    /// within `bound` ns of that clock (Cristian: RTT/2 − min delay; NTP:
    /// delay/2). The clock checker compares the achieved error with it.
    Synced { source: NodeId, bound: u64 },
    /// An event of a logical-clock algorithm and its timestamp.
    Logical { event: String, step: LogicalStep, stamp: LogicalStamp },
    /// A job arrives at a load balancer's dispatcher, with its work in ns.
    JobSubmitted { job: u64, duration: Nanos },
    /// The dispatcher sends `job` to `server`; `why` is the policy's reason
    /// (or the re-dispatch after a server failed).
    Assigned { job: u64, server: NodeId, why: String },
    /// The dispatcher learns that `server` has finished `job`.
    JobDone { job: u64, server: NodeId },
    /// One line of a table a seed lab prints (`Server 1 Processes: [1, 5]`).
    Table(String),
    /// A client starts remote call `call` (`2.1`) of `what` (`sqrt(16)`).
    CallStarted { call: String, what: String },
    /// The server executes call `call`: `what` in the seed's words (`Square
    /// Root of 16`), and its `result` (`4`, or `error: …`).
    Executed { call: String, method: String, what: String, result: String },
    /// The client receives the result of `call` (the first one; later
    /// duplicates are ignored).
    CallReturned { call: String, result: String },
    /// The client gives up on `call`: its retries ran out.
    CallFailed { call: String },
    /// The node multicasts message `node.seq` with `text` to the group.
    Multicast { seq: u32, text: String },
    /// The node delivers message `sender.seq` (with `text`) to its application.
    Delivered { sender: NodeId, seq: u32, text: String },
}

/// What a logical-clock event is: the checker rebuilds happened-before from
/// the sends and receives (a receive names the send event it matches).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogicalStep {
    Local,
    Send { to: NodeId },
    Receive { from: NodeId, send: String },
}

/// A logical timestamp: a Lamport counter or a vector (one entry per node,
/// in scenario order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogicalStamp {
    Lamport(u64),
    Vector(Vec<u64>),
}

/// A duration with at most 6 significant decimals in the largest fitting
/// unit, for clock errors and bounds: `1.0465ms`, `79.307us`, `600ns`.
pub fn short_duration(ns: u64) -> String {
    let (scale, unit, digits) = match ns {
        0..1_000 => return format!("{ns}ns"),
        1_000..1_000_000 => (1_000, "us", 3),
        1_000_000..1_000_000_000 => (1_000_000, "ms", 6),
        _ => (1_000_000_000, "s", 9),
    };
    let frac = format!("{:0digits$}", ns % scale);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() { format!("{}{unit}", ns / scale) } else { format!("{}.{frac}{unit}", ns / scale) }
}

impl fmt::Display for LogicalStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogicalStamp::Lamport(l) => write!(f, "L={l}"),
            LogicalStamp::Vector(v) => {
                f.write_str("V=[")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl Observation {
    /// The short tag the trace prints in its verb column and the summary counts.
    pub fn tag(&self) -> &'static str {
        match self {
            Observation::ElectionStarted => "election",
            Observation::Elected => "elected",
            Observation::Leader(_) => "leader",
            Observation::Suspects(_) => "suspects",
            Observation::Request(_) => "request",
            Observation::EnterCs => "enter",
            Observation::ExitCs => "exit",
            Observation::Clock(_) => "clock",
            Observation::ClockAdjusted { .. } => "adjust",
            Observation::Note(_) => "note",
            Observation::Synced { .. } => "bound",
            Observation::Logical { .. } => "stamp",
            Observation::JobSubmitted { .. } => "submit",
            Observation::Assigned { .. } => "assign",
            Observation::JobDone { .. } => "done",
            Observation::Table(_) => "table",
            Observation::CallStarted { .. } => "call",
            Observation::Executed { .. } => "execute",
            Observation::CallReturned { .. } => "return",
            Observation::CallFailed { .. } => "give-up",
            Observation::Multicast { .. } => "multicast",
            Observation::Delivered { .. } => "deliver",
        }
    }

    /// The trace text, in the words of the seed labs.
    pub fn describe(&self, node: NodeId, f: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            Observation::ElectionStarted => write!(f, "Election initiated by {node}"),
            Observation::Elected => write!(f, "Process {node} becomes coordinator"),
            Observation::Leader(l) if *l == node => write!(f, "Process {node} is coordinator"),
            Observation::Leader(l) => write!(f, "Process {node} accepts {l} as coordinator"),
            Observation::Suspects(s) => write!(f, "Process {node} suspects {s} has failed"),
            Observation::Request(Some(ts)) => write!(f, "Site {node} requests the critical section (timestamp {ts})"),
            Observation::Request(None) => write!(f, "Site {node} requests the critical section"),
            Observation::EnterCs => write!(f, "Site {node} enters critical section."),
            Observation::ExitCs => write!(f, "Site {node} releases critical section."),
            Observation::Clock(t) => write!(f, "Node{node} clock: {}", crate::scenario::units::format_clock(*t)),
            Observation::ClockAdjusted { before, delta, .. } => write!(
                f,
                "Node{node} clock: {} -> {} (adjusted by {})",
                crate::scenario::units::format_clock(*before),
                crate::scenario::units::format_clock(before + delta),
                crate::scenario::units::SignedDur(*delta)
            ),
            Observation::Note(t) => f.write_str(t),
            Observation::Synced { source, bound } => {
                write!(f, "Node{node} promises to be within ±{} of node {source}'s clock", short_duration(*bound))
            }
            Observation::Logical { event, step, stamp } => match step {
                LogicalStep::Local => write!(f, "event {event}: local, {stamp}"),
                LogicalStep::Send { to } => write!(f, "event {event}: send to {to}, {stamp}"),
                LogicalStep::Receive { from, send } => write!(f, "event {event}: receive {send} from {from}, {stamp}"),
            },
            Observation::JobSubmitted { job, duration } => {
                write!(f, "Job {job} arrives ({} of work)", crate::scenario::units::Dur(*duration))
            }
            Observation::Assigned { job, server, why } => write!(f, "Job {job} -> Server {server} ({why})"),
            Observation::JobDone { job, server } => write!(f, "Job {job} done by Server {server}"),
            Observation::Table(line) => f.write_str(line),
            Observation::CallStarted { call, what } => write!(f, "Client {node} calls {what} (call {call})"),
            Observation::Executed { call, what, result, .. } => match result.strip_prefix("error: ") {
                Some(e) => write!(f, "{what} fails: {e} (call {call})"),
                None => write!(f, "{what} is: {result} (call {call})"),
            },
            Observation::CallReturned { call, result } => write!(f, "Client {node} gets {result} (call {call})"),
            Observation::CallFailed { call } => write!(f, "Client {node} gives up on call {call}"),
            Observation::Multicast { seq, text } => write!(f, "Node {node} multicasts {node}.{seq} \"{text}\""),
            Observation::Delivered { sender, seq, text } => write!(f, "Node {node} delivers {sender}.{seq} from {sender}: {text}"),
        }
    }
}

/// What every node learns at construction: the scenario's node ids (in ring
/// order), its own position, the algorithm's parameters and network hints.
pub struct Setup<'a, P> {
    /// Every node id, in the order the scenario lists them (the logical ring).
    pub nodes: &'a [NodeId],
    /// The algorithm's parameters from the scenario's `params:` block.
    pub params: &'a P,
    /// The largest one-way latency the network can draw, in ns: a hint for
    /// default timeouts.
    pub max_latency: Nanos,
    /// This node's position in `nodes` (precomputed, so that building n nodes
    /// costs O(n) rather than O(n²)).
    pub index: usize,
    /// The highest id in `nodes` (precomputed, for the same reason).
    pub highest: NodeId,
}

/// An effect recorded by a handler; the runner performs it after the handler returns.
#[derive(Debug)]
pub enum Effect<P: Process> {
    Send(NodeId, P::Msg),
    Broadcast(P::Msg),
    SetTimer(P::Timer, Nanos),
    /// Correct the node's clock by this many ns (step or slew, as the scenario says).
    AdjustClock(i64),
    CancelTimer(P::Timer),
    Observe(Observation),
}

/// A node's seeded generator, created on first use so that idle nodes cost nothing.
pub struct NodeRng {
    seed: u64,
    rng: Option<Box<ChaCha8Rng>>,
}

impl NodeRng {
    pub fn new(scenario_seed: u64, node: NodeId) -> Self {
        // SplitMix-style mixing keeps per-node streams independent of each other.
        let mut z = scenario_seed ^ (u64::from(node).wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        NodeRng { seed: z ^ (z >> 31), rng: None }
    }

    fn get(&mut self) -> &mut ChaCha8Rng {
        let seed = self.seed;
        self.rng.get_or_insert_with(|| Box::new(ChaCha8Rng::seed_from_u64(seed)))
    }

    /// A uniform draw in `0..n` (n > 0), stable across platforms and versions.
    pub fn below(&mut self, n: u64) -> u64 {
        below(self.get(), n)
    }

    /// The next raw 64-bit value.
    pub fn next_u64(&mut self) -> u64 {
        self.get().next_u64()
    }
}

/// Multiply-shift range reduction: deterministic, one draw, bias below 2^-40 for
/// the ranges a scenario uses.
pub fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}

/// A node's only window on the world while one of its handlers runs.
pub struct Ctx<'a, P: Process> {
    pub(crate) id: NodeId,
    pub(crate) local_now: i64,
    pub(crate) nodes: &'a [NodeId],
    pub(crate) rng: &'a mut NodeRng,
    pub(crate) effects: &'a mut Vec<Effect<P>>,
}

impl<'a, P: Process> Ctx<'a, P> {
    /// Builds a context by hand: for unit tests of a process without a runner.
    pub fn detached(id: NodeId, local_now: i64, nodes: &'a [NodeId], rng: &'a mut NodeRng, effects: &'a mut Vec<Effect<P>>) -> Self {
        Ctx { id, local_now, nodes, rng, effects }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }
    /// The node's *local* clock in ns: true time plus its offset and drift. It
    /// may be negative when the scenario gives the node a negative offset.
    pub fn now(&self) -> i64 {
        self.local_now
    }
    /// Every node of the scenario, in ring order.
    pub fn nodes(&self) -> &[NodeId] {
        self.nodes
    }
    /// The node's seeded generator.
    pub fn rng(&mut self) -> &mut NodeRng {
        self.rng
    }
    /// Sends `msg` to `to` over the network.
    pub fn send(&mut self, to: NodeId, msg: P::Msg) {
        self.effects.push(Effect::Send(to, msg));
    }
    /// Sends `msg` to every other node.
    pub fn broadcast(&mut self, msg: P::Msg) {
        self.effects.push(Effect::Broadcast(msg));
    }
    /// Fires `timer` after `after` ns of this node's local clock. Setting a timer
    /// that is already pending moves it.
    pub fn set_timer(&mut self, timer: P::Timer, after: Nanos) {
        self.effects.push(Effect::SetTimer(timer, after));
    }
    /// Cancels a pending timer equal to `timer` (no effect if none is pending).
    pub fn cancel_timer(&mut self, timer: P::Timer) {
        self.effects.push(Effect::CancelTimer(timer));
    }
    /// Corrects this node's clock by `delta` ns: a jump (`clocks.adjust:
    /// step`, the default) or a bounded slew that never goes backwards
    /// (`clocks.adjust: slew`). The runner reports it as `ClockAdjusted`.
    pub fn adjust_clock(&mut self, delta: i64) {
        self.effects.push(Effect::AdjustClock(delta));
    }
    /// Reports a fact for the trace and the checkers.
    pub fn emit(&mut self, obs: Observation) {
        self.effects.push(Effect::Observe(obs));
    }
}

/// One node of an algorithm. Handlers record effects through the [`Ctx`].
pub trait Process: Sized + 'static {
    type Msg: Message;
    type Timer: Clone + PartialEq + fmt::Debug + fmt::Display;
    /// The `params:` block of a scenario; unknown keys are an error.
    type Params: DeserializeOwned + Default;

    fn new(id: NodeId, setup: &Setup<'_, Self::Params>) -> Self;
    /// Called once for every node at time 0, in scenario order.
    fn on_start(&mut self, _ctx: &mut Ctx<'_, Self>) {}
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Self::Msg);
    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Self>, _timer: Self::Timer) {}
    /// A scenario request (`do: start_election`); it was validated against the
    /// algorithm's command list when the scenario was loaded.
    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, cmd: &Command);
    /// Called when a crashed node comes back. The node's volatile state is
    /// whatever the process resets here; pending timers were cleared at the crash.
    fn on_recover(&mut self, _ctx: &mut Ctx<'_, Self>) {}
    /// The invariants a run of this algorithm is judged by.
    fn checkers() -> Vec<Box<dyn crate::check::Checker<Self>>> {
        Vec::new()
    }
}
