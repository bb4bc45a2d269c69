//! The validated scenario the runner executes: ids resolved, timeline sorted,
//! one [`Action`] per step, the algorithm looked up in the registry.

use std::collections::BTreeMap;

use crate::algorithms::registry::Algorithm;
use crate::process::{Nanos, NodeId};

use super::model::{Command, Expect, LinkSpec};
use super::units::{Latency, Percent};

/// One thing that happens on the timeline.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Crash(Vec<NodeId>),
    Recover(Vec<NodeId>),
    Partition(Vec<Vec<NodeId>>),
    Block {
        from: Vec<NodeId>,
        to: Vec<NodeId>,
    },
    Heal,
    Command {
        node: NodeId,
        command: Command,
    },
    SetLoss(Percent),
    SetDuplicate(Percent),
    SetLatency(Latency),
    /// Print every node's clock under a heading.
    ShowClocks(String),
    /// A node's clock starts running at this drift (ppm) from now on.
    SetDrift {
        node: NodeId,
        ppm: f64,
    },
    /// A node's clock jumps: from now on it reads true time + `offset_ns`.
    SetOffset {
        node: NodeId,
        offset_ns: i64,
    },
    Note(String),
    Stop,
}

/// Clock settings of one node.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClockSpec {
    pub offset_ns: i64,
    pub drift_ppm: f64,
}

/// Everything the runner needs, already checked.
#[derive(Clone, Debug)]
pub struct Plan {
    pub name: String,
    pub algorithm: &'static Algorithm,
    pub nodes: Vec<NodeId>,
    pub seed: u64,
    pub latency: Latency,
    pub loss: Percent,
    pub duplicate: Percent,
    pub links: Vec<LinkSpec>,
    pub clocks: BTreeMap<NodeId, ClockSpec>,
    /// How clocks take corrections, and the slewing rate in ppm.
    pub adjust: crate::engine::clock::AdjustMode,
    pub slew_ppm: f64,
    pub params: serde_yaml::Value,
    pub until: Nanos,
    pub timeline: Vec<(Nanos, Action)>,
    pub expect: Expect,
    /// The Lua script that drives the run, for a `.lua` scenario.
    pub script: Option<std::sync::Arc<super::lua::LuaScript>>,
    /// The transport that carries the messages (the scenario's, or `--transport`).
    pub transport: crate::transport::TransportKind,
    /// Group, interface, TTL and timeout of the real transports.
    pub wire: crate::transport::TransportOptions,
}

/// How long a run may last in virtual time when the scenario does not say.
pub const DEFAULT_UNTIL: Nanos = 60_000_000_000;
