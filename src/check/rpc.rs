//! Remote-call invariants and metrics, read from the `CallStarted`,
//! `Executed`, `CallReturned` and `CallFailed` observations. The checker
//! counts executions per call (call id → how many times the server ran it):
//! - `answered`: every call that returned was executed at least once (a
//!   result nobody computed would be a bug); the detail names the calls that
//!   got no answer (given up, or still waiting at the end);
//! - `at-most-once` (rpc.at-most-once): no call executed twice.
//!
//! Metrics: calls (returned / gave up / pending), executions per call as a
//! distribution (`0x 1, 1x 3, 2x 1`), duplicate executions. Answers `expect:
//! duplicate_executions` (executions beyond the first, summed over calls) and
//! `calls_answered`.

use std::collections::{BTreeMap, BTreeSet};

use super::{At, CheckResult, Checker, EndState};
use crate::process::{Nanos, Observation, Process};
use crate::scenario::model::Expect;
use crate::trace::event::TraceEvent;

pub const CHECKS: &[&str] = &["answered"];
pub const CHECKS_AT_MOST_ONCE: &[&str] = &["answered", "at-most-once"];

#[derive(Default)]
pub struct RpcChecker {
    at_most_once: bool,
    /// Calls in the order they started.
    started: Vec<String>,
    /// Call → executions at the server.
    executions: BTreeMap<String, u64>,
    returned: BTreeSet<String>,
    failed: BTreeSet<String>,
    /// A call returned before any execution of it.
    unexecuted_return: Option<(At, String)>,
    /// The first second execution of a call.
    twice: Option<(At, String)>,
}

impl RpcChecker {
    pub fn new(at_most_once: bool) -> Self {
        RpcChecker { at_most_once, ..Default::default() }
    }

    /// Call → how many times the server executed it (0 for a call never executed).
    pub fn executions(&self) -> BTreeMap<String, u64> {
        let mut m: BTreeMap<String, u64> = self.started.iter().map(|c| (c.clone(), 0)).collect();
        m.extend(self.executions.iter().map(|(c, n)| (c.clone(), *n)));
        m
    }

    /// Executions beyond the first, summed over the calls.
    pub fn duplicates(&self) -> u64 {
        self.executions.values().map(|n| n.saturating_sub(1)).sum()
    }
}

impl<P: Process> Checker<P> for RpcChecker {
    fn on_event(&mut self, index: u64, time: Nanos, ev: &TraceEvent<'_, P>) {
        let at = At { event: index, time };
        let TraceEvent::Observe { obs, .. } = ev else { return };
        match obs {
            Observation::CallStarted { call, .. } => self.started.push(call.clone()),
            Observation::Executed { call, .. } => {
                let n = self.executions.entry(call.clone()).or_default();
                *n += 1;
                if *n == 2 && self.twice.is_none() {
                    self.twice = Some((at, format!("call {call} executed a second time")));
                }
            }
            Observation::CallReturned { call, .. } => {
                self.returned.insert(call.clone());
                if !self.executions.contains_key(call) && self.unexecuted_return.is_none() {
                    self.unexecuted_return = Some((at, format!("call {call} returned but was never executed")));
                }
            }
            Observation::CallFailed { call } => {
                self.failed.insert(call.clone());
            }
            _ => {}
        }
    }

    fn wants_messages(&self) -> bool {
        false
    }

    fn finish(&mut self, _end: &EndState<'_>, expect: &Expect) -> Vec<CheckResult> {
        let mut out = Vec::new();
        let unanswered: Vec<String> = self
            .started
            .iter()
            .filter(|c| !self.returned.contains(*c))
            .map(|c| if self.failed.contains(c) { format!("{c} (gave up)") } else { format!("{c} (waiting)") })
            .collect();
        let answered = self.returned.len() as u64;
        out.push(match &self.unexecuted_return {
            Some((at, d)) => CheckResult::new("answered", false, d.clone()).at(Some(*at)),
            None => {
                let mut d = format!("{answered} of {} calls returned, each executed at least once", self.started.len());
                if !unanswered.is_empty() {
                    d.push_str(&format!("; no answer: {}", unanswered.join(", ")));
                }
                CheckResult::new("answered", true, d)
            }
        });
        if self.at_most_once {
            out.push(match &self.twice {
                None => CheckResult::new("at-most-once", true, "no call executed twice"),
                Some((at, d)) => CheckResult::new("at-most-once", false, d.clone()).at(Some(*at)),
            });
        }
        if let Some(b) = expect.duplicate_executions {
            let n = self.duplicates();
            out.push(CheckResult::new(format!("expect duplicate_executions {b}"), b.holds(n), format!("{n} duplicate executions")));
        }
        if let Some(b) = expect.calls_answered {
            out.push(CheckResult::new(
                format!("expect calls_answered {b}"),
                b.holds(answered),
                format!("{answered} of {} calls answered", self.started.len()),
            ));
        }
        out
    }

    fn metrics(&mut self) -> Vec<(String, String)> {
        let total = self.started.len();
        let pending = total - self.returned.len() - self.failed.iter().filter(|c| !self.returned.contains(*c)).count();
        let mut hist: BTreeMap<u64, u64> = BTreeMap::new();
        for n in self.executions().values() {
            *hist.entry(*n).or_default() += 1;
        }
        let dist: Vec<String> = hist.iter().map(|(k, v)| format!("{k}x {v}")).collect();
        let twice: Vec<String> = self.executions.iter().filter(|(_, n)| **n > 1).map(|(c, n)| format!("{c} {n}x")).collect();
        vec![
            ("calls".into(), format!("{total} ({} returned, {} gave up, {pending} waiting)", self.returned.len(), self.failed.len())),
            ("executions".into(), if dist.is_empty() { "none".into() } else { format!("per call: {}", dist.join(", ")) }),
            ("duplicates".into(), if twice.is_empty() { "0".into() } else { format!("{} ({})", self.duplicates(), twice.join(", ")) }),
        ]
    }
}
