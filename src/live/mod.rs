//! Live mode: one OS process per node, real sockets, real timers.
//!
//! `distlab cluster FILE` ([`cluster`]) starts `distlab node FILE --id N` for
//! every node ([`node`]), tells them each other's addresses and a common start
//! instant, and maps the scenario's timeline to wall-clock time from there.
//! Each node runs the same sans-IO [`crate::process::Process`] as the
//! simulator, applies the scenario's network model (latency, loss,
//! duplication, partitions) to what it receives, and streams its events to the
//! parent as JSON lines ([`record`]). The parent merges the streams by time
//! ([`merge`]), prints them with the simulator's fixed-column renderer and
//! runs the algorithm's checkers on them — safety, agreement, ordering — but
//! compares no snapshot: real time is not deterministic.
//!
//! No process outlives the run: the parent kills and reaps its children on
//! every exit path, and a node exits by itself when its stdin closes (the
//! parent died) or when the run's end has passed.

pub mod cluster;
pub mod endpoint;
pub mod merge;
pub mod node;
pub mod record;

use std::net::Ipv4Addr;

use crate::process::{Nanos, Process};
use crate::scenario::Plan;
use crate::transport::{TransportKind, TransportOptions};

/// Why a live run could not happen or went wrong.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{0}")]
    Setup(String),
    #[error("node {node}: {message}")]
    Node { node: u32, message: String },
    #[error("cannot {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl LiveError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LiveError {
        let what = what.into();
        move |source| LiveError::Io { what, source }
    }
}

/// What a node process is told on its command line.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    pub transport: TransportKind,
    /// The address the node's sockets bind to (127.0.0.1, or the node's
    /// address inside its network namespace).
    pub bind: Ipv4Addr,
    pub wire: TransportOptions,
    /// The multicast group's port (chosen by the parent, shared by all).
    pub group_port: u16,
    /// The cluster's id, in every frame header: frames of another run are skipped.
    pub run: u64,
    /// How long the run lasts, in ns from the common start.
    pub duration: Nanos,
}

/// Runs one node: reads the start message from `control`, writes records to `out`.
pub type NodeFn = fn(&Plan, u32, &NodeOptions, Box<dyn std::io::BufRead + Send>, &mut dyn std::io::Write) -> Result<(), LiveError>;

/// The live entry points of one algorithm, monomorphised.
#[derive(Clone, Copy)]
pub struct LiveFns {
    pub node: NodeFn,
    /// Merges the nodes' records, prints the trace, runs the checkers.
    pub merge: merge::MergeFn,
}

impl LiveFns {
    pub const fn of<P: Process>() -> LiveFns {
        LiveFns { node: node::run_node::<P>, merge: merge::merge::<P> }
    }
}

/// How long a live run lasts when the scenario sets no `until`: its last
/// timeline step plus this much time to settle.
pub const DEFAULT_SETTLE: Nanos = 1_000_000_000;

/// The run's length: the scenario's `until` when it set one, else the last
/// timeline step plus `settle`.
pub fn duration_of(plan: &Plan, settle: Nanos) -> Nanos {
    if plan.until != crate::scenario::plan::DEFAULT_UNTIL {
        return plan.until;
    }
    let last = plan.timeline.iter().map(|(t, _)| *t).max().unwrap_or(0);
    last + settle
}
