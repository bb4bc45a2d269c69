//! Checkers: named invariants that read the trace as it streams by and judge
//! the end state, plus the scenario's `expect:` block.
//!
//! A checker keeps only what it needs (no trace in memory). A failed result
//! names the event where things went wrong; the runner replays the run to show
//! the trace prefix that led there.

pub mod balance;
pub mod clock;
pub mod election;
pub mod expect;
pub mod multicast;
pub mod mutex;
pub mod rpc;

use serde::Serialize;

use crate::engine::stats::Stats;
use crate::process::{Nanos, NodeId, Process};
use crate::scenario::model::Expect;
use crate::trace::event::TraceEvent;

/// The state of the nodes when the run ends.
pub struct EndState<'a> {
    pub nodes: &'a [NodeId],
    pub alive: &'a [bool],
    pub time: Nanos,
    /// Every node's local clock at the end, in node order.
    pub clocks: &'a [i64],
    /// The runner's counters (messages sent by kind, drops, timers …).
    pub stats: &'a Stats,
}

impl EndState<'_> {
    pub fn live(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes.iter().zip(self.alive).filter(|(_, a)| **a).map(|(n, _)| *n)
    }
}

/// Where a check broke: the event's number in the trace and its time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct At {
    pub event: u64,
    pub time: Nanos,
}

/// The verdict of one invariant or expectation.
#[derive(Clone, Debug, Serialize)]
pub struct CheckResult {
    /// `one-leader`, `agreement`, `expect messages` …
    pub name: String,
    pub ok: bool,
    pub detail: String,
    /// The event that broke it, when one did.
    pub at: Option<At>,
    /// The last trace lines up to `at` (filled in by a replay).
    pub prefix: Vec<String>,
    /// True for a check the scenario lists under `expect: violations`.
    pub expected_to_fail: bool,
}

impl CheckResult {
    pub fn new(name: impl Into<String>, ok: bool, detail: impl Into<String>) -> Self {
        CheckResult { name: name.into(), ok, detail: detail.into(), at: None, prefix: Vec::new(), expected_to_fail: false }
    }
    pub fn at(mut self, at: Option<At>) -> Self {
        self.at = at;
        self
    }
}

/// A named invariant over a run of process type `P`.
pub trait Checker<P: Process> {
    /// Sees every trace event (or, when [`Checker::wants_messages`] is false,
    /// every event but the message and timer events); `index` counts all
    /// events from 0 either way.
    fn on_event(&mut self, index: u64, time: Nanos, ev: &TraceEvent<'_, P>);
    /// Whether the checker needs the message and timer events: `Send`,
    /// `Deliver`, `Drop`, `Duplicate` and `Timer`, the bulk of a trace. A
    /// checker that reads only observations, crashes, recoveries and the other
    /// timeline events returns false, and the runner then skips its
    /// `on_event` call for those (asked once, when the run starts). The
    /// per-kind message counts are in [`EndState::stats`].
    fn wants_messages(&self) -> bool {
        true
    }
    /// Judges the end state; may also answer expectations of its family.
    fn finish(&mut self, end: &EndState<'_>, expect: &Expect) -> Vec<CheckResult>;
    /// Figures for the summary (name, value), read after `finish`.
    fn metrics(&mut self) -> Vec<(String, String)> {
        Vec::new()
    }
}
