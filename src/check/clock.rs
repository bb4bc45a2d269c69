//! Clock-family invariants and metrics.
//!
//! [`SyncChecker`] reads the clock observations of the synchronisation
//! algorithms:
//! - samples: every group of `Clock` readings one `show_clocks` step emits
//!   (labelled with its heading) and the clocks at the end of the run; for
//!   each, the skew max |clock_i − clock_j| over live nodes and the largest
//!   |clock_i − true time|;
//! - `bound`: every `Synced { source, bound }` promise is checked: the clock
//!   the node decided on (`before + delta` of its `ClockAdjusted`) minus the
//!   source's clock at that instant must be within `bound`. The source's
//!   reading is interpolated between its nearest readings (samples, the
//!   readings just before and just after its own adjustments, the end),
//!   which is exact while the source does not drift, slew or jump between
//!   them;
//! - `monotonic`: no node's clock goes backwards: its successive readings
//!   (samples, the readings just before and just after each adjustment, the
//!   end) never decrease, so a `step` correction that sets a clock back is
//!   caught even when no sample falls near it (`after < before` of its
//!   `ClockAdjusted`), while a `slew` (`after == before`, then a slower
//!   rate) passes. Reported when the scenario asks for it (`expect: skew:
//!   {monotonic: true}`), since a `step` correction may legitimately go
//!   back. A clock jump the scenario itself injects (`set_offset`) is not a
//!   correction: only readings on both sides of it can show it;
//! - answers `expect: skew: {max, vs_true, from, monotonic}`.
//!
//! [`LogicalChecker`] reads the `Logical` events of `clock.lamport` and
//! `clock.vector`, rebuilds happened-before from process order and the
//! send/receive pairs (a receive names the send it matches), and checks the
//! clock condition (e → f ⇒ L(e) < L(f)) or the vector condition
//! (e → f ⇔ V(e) < V(f)). Its metrics list the concurrent pairs.

use std::collections::BTreeMap;

use super::{At, CheckResult, Checker, EndState};
use crate::algorithms::clock::signed;
use crate::process::{LogicalStamp, LogicalStep, Nanos, NodeId, Observation, Process, short_duration as short};
use crate::scenario::model::Expect;
use crate::trace::event::TraceEvent;

/// The checks of the clock-synchronisation algorithms.
pub const SYNC_CHECKS: &[&str] = &["bound", "monotonic"];
/// The check of `clock.lamport`.
pub const LAMPORT_CHECKS: &[&str] = &["clock-condition"];
/// The check of `clock.vector`.
pub const VECTOR_CHECKS: &[&str] = &["vector-condition"];

/// One `show_clocks` group (or the end): its heading, time and readings.
#[derive(Clone, Debug, Default)]
struct Sample {
    heading: String,
    time: Nanos,
    event: u64,
    readings: Vec<(NodeId, i64)>,
}

impl Sample {
    /// max |clock_i − clock_j|.
    fn skew(&self) -> u64 {
        let lo = self.readings.iter().map(|r| r.1).min();
        let hi = self.readings.iter().map(|r| r.1).max();
        match (lo, hi) {
            (Some(lo), Some(hi)) => hi.abs_diff(lo),
            _ => 0,
        }
    }

    /// max |clock_i − true time|, and the node.
    fn vs_true(&self) -> (u64, Option<NodeId>) {
        let t = self.time as i64;
        self.readings.iter().map(|&(n, c)| (c.abs_diff(t), Some(n))).max_by_key(|x| x.0).unwrap_or((0, None))
    }
}

/// A `Synced` promise waiting for the end of the run to be judged.
#[derive(Clone, Debug)]
struct Promise {
    node: NodeId,
    source: NodeId,
    bound: u64,
    /// The clock the node decided on, and when.
    decided: i64,
    time: Nanos,
    at: At,
}

/// Skew, promised bounds and monotonicity of synchronised clocks.
#[derive(Default)]
pub struct SyncChecker {
    samples: Vec<Sample>,
    /// The heading of the last `show_clocks` note, until its readings end.
    heading: Option<String>,
    open: Option<Sample>,
    /// Every node's readings in time order: (true time, local). An
    /// adjustment adds two at one instant: just before it and just after.
    readings: BTreeMap<NodeId, Vec<(Nanos, i64)>>,
    /// The last `ClockAdjusted` per node: (time, before + delta).
    last_adjust: BTreeMap<NodeId, (Nanos, i64)>,
    promises: Vec<Promise>,
    /// Judged promises: (node, error, bound).
    errors: Vec<(NodeId, i64, u64)>,
    broken: Option<(At, String)>,
    backwards: Vec<(At, String)>,
    adjustments: u64,
}

impl SyncChecker {
    pub fn new() -> Self {
        SyncChecker::default()
    }

    fn close(&mut self) {
        if let Some(s) = self.open.take() {
            self.samples.push(s);
        }
    }

    fn reading(&mut self, node: NodeId, time: Nanos, local: i64, at: At) {
        let list = self.readings.entry(node).or_default();
        if let Some(&(_, last)) = list.last()
            && local < last
        {
            self.backwards.push((at, format!("node {node} read {} after {}", fmt_clock(local), fmt_clock(last))));
        }
        list.push((time, local));
    }

    /// A correction: the reading just before it (checked against the
    /// previous one), then the reading just after it, which is behind the
    /// first when the correction set the clock back.
    fn adjustment(&mut self, node: NodeId, time: Nanos, before: i64, after: i64, at: At) {
        self.reading(node, time, before, at);
        if after < before {
            self.backwards.push((at, format!("node {node}'s clock was set back from {} to {}", fmt_clock(before), fmt_clock(after))));
        }
        self.readings.entry(node).or_default().push((time, after));
    }

    /// The local reading of `node` at true time `t`, interpolated between
    /// its nearest readings. At an adjustment's instant it is the reading
    /// just before it (the first at that time); after it, the clock goes on
    /// from the reading just after it (the last at that time).
    fn clock_at(&self, node: NodeId, t: Nanos) -> Option<i64> {
        let list = self.readings.get(&node)?;
        if let Some(r) = list.iter().find(|r| r.0 == t) {
            return Some(r.1);
        }
        let before = list.iter().rev().find(|r| r.0 < t);
        let next = list.iter().find(|r| r.0 > t);
        match (before, next) {
            (Some(b), Some(n)) => {
                let rate = (n.1 - b.1) as f64 / (n.0 - b.0) as f64;
                Some(b.1 + ((t - b.0) as f64 * rate).round() as i64)
            }
            (None, Some(n)) => Some(n.1 - (n.0 - t) as i64),
            (Some(b), None) => Some(b.1 + (t - b.0) as i64),
            (None, None) => None,
        }
    }
}

fn fmt_clock(ns: i64) -> String {
    crate::scenario::units::format_clock(ns)
}

impl<P: Process> Checker<P> for SyncChecker {
    fn on_event(&mut self, index: u64, time: Nanos, ev: &TraceEvent<'_, P>) {
        let at = At { event: index, time };
        match ev {
            TraceEvent::Observe { node, obs: Observation::Clock(local) } => {
                let heading = self.heading.clone().unwrap_or_default();
                let same = self.open.as_ref().is_some_and(|s| s.time == time && s.heading == heading);
                if !same {
                    self.close();
                    self.open = Some(Sample { heading, time, event: index, readings: Vec::new() });
                }
                if let Some(s) = self.open.as_mut() {
                    s.readings.push((*node, *local));
                }
                self.reading(*node, time, *local, at);
                return;
            }
            TraceEvent::Observe { node, obs: Observation::ClockAdjusted { before, delta, after } } => {
                self.adjustments += 1;
                self.adjustment(*node, time, *before, *after, at);
                self.last_adjust.insert(*node, (time, before + delta));
            }
            TraceEvent::Observe { node, obs: Observation::Synced { source, bound } } => {
                if let Some(&(t, decided)) = self.last_adjust.get(node)
                    && t == time
                {
                    self.promises.push(Promise { node: *node, source: *source, bound: *bound, decided, time, at });
                }
            }
            TraceEvent::Note { text } => {
                self.close();
                self.heading = Some(text.to_string());
                return;
            }
            _ => {}
        }
        self.close();
        self.heading = None;
    }

    fn wants_messages(&self) -> bool {
        false
    }

    fn finish(&mut self, end: &EndState<'_>, expect: &Expect) -> Vec<CheckResult> {
        self.close();
        let end_at = At { event: u64::MAX, time: end.time };
        let mut last = Sample { heading: "end".into(), time: end.time, event: u64::MAX, readings: Vec::new() };
        for (k, (&n, &alive)) in end.nodes.iter().zip(end.alive).enumerate() {
            if let Some(&c) = end.clocks.get(k) {
                // Readings of every node, even down, so that sources can be read.
                let list = self.readings.entry(n).or_default();
                if list.last().is_none_or(|r| r.0 < end.time) {
                    if let Some(&(_, prev)) = list.last()
                        && c < prev
                        && alive
                    {
                        self.backwards.push((end_at, format!("node {n} read {} after {}", fmt_clock(c), fmt_clock(prev))));
                    }
                    list.push((end.time, c));
                }
                if alive {
                    last.readings.push((n, c));
                }
            }
        }
        self.samples.push(last);

        let mut out = Vec::new();
        // Promised bounds.
        let promises = std::mem::take(&mut self.promises);
        for p in &promises {
            let Some(src) = self.clock_at(p.source, p.time) else { continue };
            let err = p.decided - src;
            self.errors.push((p.node, err, p.bound));
            if err.unsigned_abs() > p.bound && self.broken.is_none() {
                self.broken = Some((
                    p.at,
                    format!("node {} is {} from node {}'s clock, beyond its promised ±{}", p.node, signed(err), p.source, short(p.bound)),
                ));
            }
        }
        out.push(match &self.broken {
            None if promises.is_empty() => CheckResult::new("bound", true, "no error bound promised"),
            None => CheckResult::new("bound", true, format!("{} sync(s) within their promised bound", promises.len())),
            Some((at, d)) => CheckResult::new("bound", false, d.clone()).at(Some(*at)),
        });
        if let Some(b) = expect.skew {
            let from = b.from.map_or(0, |d| d.0);
            let judged: Vec<&Sample> = self.samples.iter().filter(|s| s.time >= from && !s.readings.is_empty()).collect();
            if let Some(max) = b.max {
                let worst = judged.iter().max_by_key(|s| s.skew());
                let ok = worst.is_none_or(|s| s.skew() <= max.0);
                let detail = match worst {
                    Some(s) => format!("largest skew {} ({} at {})", short(s.skew()), s.heading, short(s.time)),
                    None => "no sample".into(),
                };
                let at = worst.filter(|_| !ok).map(|s| At { event: s.event, time: s.time }).filter(|a| a.event != u64::MAX);
                out.push(CheckResult::new(format!("expect skew <= {max}"), ok, detail).at(at));
            }
            if let Some(max) = b.vs_true {
                let worst = judged.iter().max_by_key(|s| s.vs_true().0);
                let ok = worst.is_none_or(|s| s.vs_true().0 <= max.0);
                let detail = match worst {
                    Some(s) => {
                        let (d, n) = s.vs_true();
                        format!(
                            "largest distance from true time {} (node {}, {} at {})",
                            short(d),
                            n.map_or("-".into(), |n| n.to_string()),
                            s.heading,
                            short(s.time)
                        )
                    }
                    None => "no sample".into(),
                };
                out.push(CheckResult::new(format!("expect skew vs true time <= {max}"), ok, detail));
            }
            if let Some(want) = b.monotonic {
                let ok = self.backwards.is_empty() == want;
                out.push(match self.backwards.first() {
                    None => CheckResult::new("monotonic", ok, "no clock reading went backwards"),
                    Some((at, d)) => {
                        let at = (at.event != u64::MAX).then_some(*at);
                        CheckResult::new("monotonic", ok, format!("{d} ({} backward readings)", self.backwards.len())).at(at)
                    }
                });
            }
        }
        out
    }

    fn metrics(&mut self) -> Vec<(String, String)> {
        let mut m = Vec::new();
        let shown: Vec<String> = self
            .samples
            .iter()
            .filter(|s| !s.readings.is_empty())
            .map(|s| format!("{} {}", s.heading.trim_end_matches(':'), short(s.skew())))
            .collect();
        let skew = if shown.len() <= 6 {
            shown.join(", ")
        } else {
            let worst = self.samples.iter().map(Sample::skew).max().unwrap_or(0);
            format!("{} samples, largest {}; {}", shown.len(), short(worst), shown[shown.len() - 2..].join(", "))
        };
        m.push(("skew".into(), skew));
        if let Some(end) = self.samples.last() {
            let (d, n) = end.vs_true();
            m.push(("vs true".into(), format!("{} at the end (node {})", short(d), n.map_or("-".into(), |n| n.to_string()))));
        }
        m.push(("adjusted".into(), format!("{} clock correction(s)", self.adjustments)));
        if !self.errors.is_empty() {
            let list: Vec<String> = self.errors.iter().map(|&(n, e, b)| format!("{n}: {} (bound ±{})", signed(e), short(b))).collect();
            let shown = if list.len() <= 8 {
                list.join(", ")
            } else {
                format!("{} …, {}", list[..4].join(", "), list[list.len() - 2..].join(", "))
            };
            m.push(("errors".into(), shown));
        }
        if !self.backwards.is_empty() {
            m.push(("backwards".into(), format!("{} reading(s) went backwards", self.backwards.len())));
        }
        m
    }
}

/// One logical event as the checker records it.
#[derive(Clone, Debug)]
struct Ev {
    node: NodeId,
    name: String,
    stamp: LogicalStamp,
    /// The send event this one receives, by index.
    from_send: Option<usize>,
    at: At,
}

/// Which condition a [`LogicalChecker`] checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// e → f ⇒ L(e) < L(f).
    Lamport,
    /// e → f ⇔ V(e) < V(f).
    Vector,
}

/// Rebuilds happened-before from the `Logical` events and checks the stamps.
pub struct LogicalChecker {
    condition: Condition,
    events: Vec<Ev>,
    by_name: BTreeMap<String, usize>,
    unmatched: Vec<String>,
    concurrent: Vec<(String, String)>,
    pairs: u64,
}

impl LogicalChecker {
    pub fn new(condition: Condition) -> Self {
        LogicalChecker { condition, events: Vec::new(), by_name: BTreeMap::new(), unmatched: Vec::new(), concurrent: Vec::new(), pairs: 0 }
    }

    /// The true vector time of every event, from process order and messages.
    fn true_vectors(&self) -> Vec<Vec<u64>> {
        let nodes: Vec<NodeId> = {
            let mut v: Vec<NodeId> = self.events.iter().map(|e| e.node).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let pos = |n: NodeId| nodes.binary_search(&n).unwrap_or(0);
        let mut current: Vec<Vec<u64>> = vec![vec![0; nodes.len()]; nodes.len()];
        let mut out = Vec::with_capacity(self.events.len());
        for e in &self.events {
            let p = pos(e.node);
            if let Some(s) = e.from_send {
                let sv: &Vec<u64> = &out[s];
                for (c, x) in current[p].iter_mut().zip(sv) {
                    *c = (*c).max(*x);
                }
            }
            current[p][p] += 1;
            out.push(current[p].clone());
        }
        out
    }
}

/// a ≤ b component-wise and a ≠ b.
fn less(a: &[u64], b: &[u64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x <= y) && a != b
}

impl<P: Process> Checker<P> for LogicalChecker {
    fn on_event(&mut self, index: u64, time: Nanos, ev: &TraceEvent<'_, P>) {
        let TraceEvent::Observe { node, obs: Observation::Logical { event, step, stamp } } = ev else { return };
        let from_send = match step {
            LogicalStep::Receive { send, .. } => match self.by_name.get(send) {
                Some(&i) => Some(i),
                None => {
                    self.unmatched.push(event.clone());
                    None
                }
            },
            _ => None,
        };
        self.by_name.insert(event.clone(), self.events.len());
        self.events.push(Ev { node: *node, name: event.clone(), stamp: stamp.clone(), from_send, at: At { event: index, time } });
    }

    fn wants_messages(&self) -> bool {
        false
    }

    fn finish(&mut self, _end: &EndState<'_>, _expect: &Expect) -> Vec<CheckResult> {
        let truth = self.true_vectors();
        let mut broken: Option<(At, String)> = None;
        let n = self.events.len();
        self.pairs = 0;
        self.concurrent.clear();
        for i in 0..n {
            for j in i + 1..n {
                let (e, f) = (&self.events[i], &self.events[j]);
                let hb_ef = less(&truth[i], &truth[j]);
                let hb_fe = less(&truth[j], &truth[i]);
                if !hb_ef && !hb_fe {
                    self.pairs += 1;
                    if self.concurrent.len() < 12 {
                        self.concurrent.push((e.name.clone(), f.name.clone()));
                    }
                }
                let problem = match (self.condition, &e.stamp, &f.stamp) {
                    (Condition::Lamport, LogicalStamp::Lamport(a), LogicalStamp::Lamport(b)) => {
                        if hb_ef && a >= b {
                            Some(format!("{} → {} but L={a} is not below L={b}", e.name, f.name))
                        } else if hb_fe && b >= a {
                            Some(format!("{} → {} but L={b} is not below L={a}", f.name, e.name))
                        } else {
                            None
                        }
                    }
                    (Condition::Vector, LogicalStamp::Vector(a), LogicalStamp::Vector(b)) => {
                        if hb_ef != less(a, b) || hb_fe != less(b, a) {
                            let rel = if hb_ef {
                                "happened before"
                            } else if hb_fe {
                                "happened after"
                            } else {
                                "is concurrent with"
                            };
                            Some(format!("{} {rel} {} but their vectors are {} and {}", e.name, f.name, e.stamp, f.stamp))
                        } else {
                            None
                        }
                    }
                    _ => Some(format!("{} and {} carry the wrong kind of timestamp", e.name, f.name)),
                };
                if let Some(p) = problem
                    && broken.is_none()
                {
                    broken = Some((f.at, p));
                }
            }
        }
        let name = match self.condition {
            Condition::Lamport => "clock-condition",
            Condition::Vector => "vector-condition",
        };
        let mut out = vec![match broken {
            None => CheckResult::new(
                name,
                true,
                match self.condition {
                    Condition::Lamport => format!("e → f implies L(e) < L(f) over {n} events"),
                    Condition::Vector => format!("e → f iff V(e) < V(f) over {n} events"),
                },
            ),
            Some((at, d)) => CheckResult::new(name, false, d).at(Some(at)),
        }];
        if !self.unmatched.is_empty() {
            out.push(CheckResult::new("receives matched", false, format!("no send for {}", self.unmatched.join(", "))));
        }
        out
    }

    fn metrics(&mut self) -> Vec<(String, String)> {
        let listed: Vec<String> = self.concurrent.iter().map(|(a, b)| format!("{a}‖{b}")).collect();
        let more = if self.pairs as usize > listed.len() { " …" } else { "" };
        vec![
            ("logical".into(), format!("{} events", self.events.len())),
            (
                "pairs".into(),
                if self.pairs == 0 {
                    "no concurrent pairs".into()
                } else {
                    format!("{} concurrent: {}{more}", self.pairs, listed.join(", "))
                },
            ),
        ]
    }
}
