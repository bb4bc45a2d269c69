//! The election family: nodes agree on one coordinator, the highest live id.
//!
//! Both algorithms share their timing parameters and failure detection: a
//! coordinator may send heartbeats, and a follower whose watchdog expires
//! suspects it and starts an election. Every node begins by following the
//! highest id, as the seed lab's processes do.

pub mod bully;
pub mod ring;

use serde::Deserialize;

use crate::algorithms::registry::ParamSpec;
use crate::process::{Nanos, NodeId};
use crate::scenario::units::Dur;

/// `params:` of the bully algorithm.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Period of the coordinator's heartbeats; no heartbeats when absent.
    #[serde(default)]
    pub heartbeat: Option<Dur>,
    /// How long a node waits for an answer (Ack, OK) before it suspects the
    /// peer; default twice the largest latency plus 1ms.
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// How long a node in an election waits for a coordinator before it starts
    /// again; the default scales with the number of nodes.
    #[serde(default)]
    pub election_timeout: Option<Dur>,
}

/// `params:` of the ring algorithm: the bully's, and how often to resend.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RingParams {
    #[serde(default)]
    pub heartbeat: Option<Dur>,
    #[serde(default)]
    pub timeout: Option<Dur>,
    #[serde(default)]
    pub election_timeout: Option<Dur>,
    /// How many times the ring resends an unacknowledged message before it
    /// skips the successor (default 1).
    #[serde(default)]
    pub retries: Option<u32>,
}

const HEARTBEAT: ParamSpec = ParamSpec { name: "heartbeat", help: "coordinator heartbeat period (e.g. 20ms); off when absent" };
const TIMEOUT: ParamSpec =
    ParamSpec { name: "timeout", help: "wait for an answer before suspecting the peer (default 2 x max latency + 1ms)" };
const ELECTION_TIMEOUT: ParamSpec =
    ParamSpec { name: "election_timeout", help: "wait for a Coordinator before restarting the election (default scales with n)" };

pub const BULLY_PARAMS: &[ParamSpec] = &[HEARTBEAT, TIMEOUT, ELECTION_TIMEOUT];
pub const RING_PARAMS: &[ParamSpec] =
    &[HEARTBEAT, TIMEOUT, ELECTION_TIMEOUT, ParamSpec { name: "retries", help: "resends before skipping a silent successor (default 1)" }];

pub const COMMANDS: &[crate::algorithms::registry::CommandSpec] = &[
    crate::algorithms::registry::CommandSpec { name: "start_election", args: &[], help: "the node starts an election" },
    crate::algorithms::registry::CommandSpec {
        name: "detect_failure",
        args: &[],
        help: "the node notices its coordinator is down (as a timeout would), suspects it and starts an election",
    },
];

/// Resolved timing of one node.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub timeout: Nanos,
    pub election_timeout: Nanos,
    pub heartbeat: Option<Nanos>,
    /// How long a follower waits without a heartbeat before it suspects the coordinator.
    pub watchdog: Nanos,
    pub retries: u32,
}

impl Timing {
    /// `rounds` is how many one-way hops an election may need before a
    /// coordinator is announced, for the default election timeout.
    pub fn new(p: &RingParams, max_latency: Nanos, rounds: u64) -> Timing {
        let timeout = p.timeout.map_or(2 * max_latency + 1_000_000, |d| d.0);
        let election_timeout = p.election_timeout.map_or(rounds * (max_latency + 1_000_000) + 4 * timeout, |d| d.0);
        let heartbeat = p.heartbeat.map(|d| d.0).filter(|&h| h > 0);
        Timing {
            timeout,
            election_timeout,
            heartbeat,
            watchdog: heartbeat.map_or(0, |h| 3 * h + max_latency),
            retries: p.retries.unwrap_or(1),
        }
    }
}

impl From<&Params> for RingParams {
    fn from(p: &Params) -> RingParams {
        RingParams { heartbeat: p.heartbeat, timeout: p.timeout, election_timeout: p.election_timeout, retries: None }
    }
}

/// The highest id: every node's coordinator at the start.
pub fn highest(nodes: &[NodeId]) -> NodeId {
    nodes.iter().copied().max().unwrap_or(0)
}
