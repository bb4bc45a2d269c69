//! Mutual-exclusion invariants and metrics, read from the `Request`, `EnterCs`
//! and `ExitCs` observations:
//! - `safety`: never two nodes inside the critical section at once;
//! - `liveness`: every request of a node alive at the end was granted;
//! - `fairness` (algorithms that promise it): entries follow the
//!   (timestamp, id) order of their requests.
//!
//! Metrics for the summary: entries, messages per entry by kind, response time
//! (request → enter) and synchronisation delay (exit → next enter while a
//! request waits), as min/median/max. Answers `expect: safety`, `liveness`,
//! `messages_per_cs` and `order`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{At, CheckResult, Checker, EndState};
use crate::process::{Nanos, NodeId, Observation, Process};
use crate::scenario::model::Expect;
use crate::scenario::units::Dur;
use crate::trace::event::TraceEvent;

pub const CHECKS: &[&str] = &["safety", "liveness"];
pub const CHECKS_FAIR: &[&str] = &["safety", "liveness", "fairness"];

#[derive(Default)]
pub struct MutexChecker {
    fair: bool,
    inside: BTreeSet<NodeId>,
    /// Outstanding requests per node: (time asked, timestamp key).
    pending: BTreeMap<NodeId, VecDeque<(Nanos, Option<u64>)>>,
    unsafe_at: Option<(At, String)>,
    unfair_at: Option<(At, String)>,
    last_key: Option<(u64, NodeId)>,
    order: Vec<NodeId>,
    response: Vec<Nanos>,
    sync_delay: Vec<Nanos>,
    /// Time of the last exit while another request was waiting.
    exit_waiting: Option<Nanos>,
    /// Messages sent by kind, from the runner's counters (filled in by `finish`).
    sent: BTreeMap<&'static str, u64>,
    /// Nodes that crashed inside the critical section (or holding its permission).
    crashed_inside: Vec<NodeId>,
}

impl MutexChecker {
    /// `fair`: also check that entries follow request timestamps.
    pub fn new(fair: bool) -> Self {
        MutexChecker { fair, ..Default::default() }
    }

    fn waiting(&self) -> bool {
        self.pending.values().any(|q| !q.is_empty())
    }
}

/// `min / median / max` of a list of durations.
pub fn spread(v: &mut [Nanos]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.sort_unstable();
    format!("min {} / median {} / max {}", Dur(v[0]), Dur(v[v.len() / 2]), Dur(v[v.len() - 1]))
}

impl<P: Process> Checker<P> for MutexChecker {
    fn on_event(&mut self, index: u64, time: Nanos, ev: &TraceEvent<'_, P>) {
        let at = At { event: index, time };
        match ev {
            TraceEvent::Observe { node, obs: Observation::Request(ts) } => {
                self.pending.entry(*node).or_default().push_back((time, *ts));
            }
            TraceEvent::Observe { node, obs: Observation::EnterCs } => {
                if self.unsafe_at.is_none() && !self.inside.is_empty() {
                    let others: Vec<String> = self.inside.iter().map(|n| n.to_string()).collect();
                    self.unsafe_at = Some((at, format!("{node} entered while {} was inside", others.join(", "))));
                }
                self.inside.insert(*node);
                self.order.push(*node);
                if let Some(t) = self.exit_waiting.take() {
                    self.sync_delay.push(time - t);
                }
                let req = self.pending.get_mut(node).and_then(|q| q.pop_front());
                match req {
                    Some((asked, key)) => {
                        self.response.push(time - asked);
                        if self.fair
                            && let Some(ts) = key
                        {
                            let k = (ts, *node);
                            if let Some(last) = self.last_key
                                && k < last
                                && self.unfair_at.is_none()
                            {
                                self.unfair_at =
                                    Some((at, format!("{node} entered with request ({}, {}) after ({}, {})", k.0, k.1, last.0, last.1)));
                            }
                            self.last_key = Some(k);
                        }
                    }
                    None => {
                        if self.unsafe_at.is_none() {
                            self.unsafe_at = Some((at, format!("{node} entered without a request")));
                        }
                    }
                }
            }
            TraceEvent::Observe { node, obs: Observation::ExitCs } => {
                self.inside.remove(node);
                if self.waiting() {
                    self.exit_waiting = Some(time);
                }
            }
            TraceEvent::Crash { node } => {
                if self.inside.remove(node) {
                    self.crashed_inside.push(*node);
                }
                self.pending.remove(node);
            }
            _ => {}
        }
    }

    fn wants_messages(&self) -> bool {
        false
    }

    fn finish(&mut self, end: &EndState<'_>, expect: &Expect) -> Vec<CheckResult> {
        self.sent = end.stats.sent.0.iter().copied().collect();
        let entries = self.order.len() as u64;
        let mut out = Vec::new();
        out.push(match &self.unsafe_at {
            None => CheckResult::new("safety", true, format!("at most one node inside at a time ({entries} entries)")),
            Some((at, d)) => CheckResult::new("safety", false, d.clone()).at(Some(*at)),
        });
        let live: BTreeSet<NodeId> = end.live().collect();
        let starving: Vec<String> = self
            .pending
            .iter()
            .filter(|(n, q)| live.contains(n) && !q.is_empty())
            .map(|(n, q)| format!("{n} ({} waiting since {})", q.len(), Dur(q[0].0)))
            .collect();
        out.push(if starving.is_empty() {
            CheckResult::new("liveness", true, "every request of a live node was granted")
        } else {
            let mut detail = format!("never granted: {}", starving.join(", "));
            if !self.crashed_inside.is_empty() {
                let c: Vec<String> = self.crashed_inside.iter().map(|n| n.to_string()).collect();
                detail.push_str(&format!(
                    "; {} crashed inside the critical section, which this algorithm does not recover from",
                    c.join(", ")
                ));
            }
            CheckResult::new("liveness", false, detail)
        });
        if self.fair {
            out.push(match &self.unfair_at {
                None => CheckResult::new("fairness", true, "entries follow (timestamp, id) order"),
                Some((at, d)) => CheckResult::new("fairness", false, d.clone()).at(Some(*at)),
            });
        }
        if let Some(want) = expect.safety {
            out.push(CheckResult::new(format!("expect safety = {want}"), self.unsafe_at.is_none() == want, "see the safety check"));
        }
        if let Some(want) = expect.liveness {
            out.push(CheckResult::new(format!("expect liveness = {want}"), starving.is_empty() == want, "see the liveness check"));
        }
        if let Some(b) = expect.messages_per_cs {
            let total: u64 = self.sent.values().sum();
            // In u128: a bound near u64::MAX times the entries must not overflow.
            let per = |bound: u64| u128::from(bound) * u128::from(entries);
            let total128 = u128::from(total);
            let ok = entries > 0
                && b.exact.is_none_or(|e| total128 == per(e))
                && b.max.is_none_or(|m| total128 <= per(m))
                && b.min.is_none_or(|m| total128 >= per(m));
            out.push(CheckResult::new(format!("expect messages_per_cs {b}"), ok, format!("{total} messages for {entries} entries")));
        }
        if let Some(order) = &expect.order {
            let ok = &self.order == order;
            let got: Vec<String> = self.order.iter().map(|n| n.to_string()).collect();
            out.push(CheckResult::new("expect order", ok, format!("entries in order {}", got.join(", "))));
        }
        out
    }

    fn metrics(&mut self) -> Vec<(String, String)> {
        let entries = self.order.len() as u64;
        let mut m = vec![("entries".to_string(), format!("{entries} in the critical section"))];
        if entries > 0 {
            let per: Vec<String> = self.sent.iter().map(|(k, n)| format!("{k} {:.2}", *n as f64 / entries as f64)).collect();
            let total: u64 = self.sent.values().sum();
            m.push((
                "per entry".into(),
                format!(
                    "{:.2} messages{}",
                    total as f64 / entries as f64,
                    if per.is_empty() { String::new() } else { format!(" ({})", per.join(", ")) }
                ),
            ));
        }
        m.push(("response".into(), format!("{} (request to enter)", spread(&mut self.response))));
        m.push(("sync".into(), format!("{} (exit to next enter while one waits)", spread(&mut self.sync_delay))));
        m
    }
}
