//! Group-communication invariants and metrics, read from the `Multicast` and
//! `Delivered` observations (and crashes). A member is *correct* if it never
//! crashed during the run (the textbook's word: a recovered member missed
//! messages while it was down).
//! - `validity`: every message of a correct sender is delivered by every
//!   correct member (the sender included);
//! - `agreement`: a message delivered by one correct member is delivered by
//!   every correct member;
//! - `integrity`: no member delivers a message twice, or one nobody
//!   multicast;
//! - `fifo`: a member delivers the messages of one sender in the order they
//!   were sent;
//! - `causal`: if the multicast of `m` happened before that of `m'` (the
//!   same sender earlier, or the sender of `m'` had delivered `m`, and so on
//!   transitively), no member delivers `m'` before `m`;
//! - `total`: no two members deliver two messages in opposite orders.
//!
//! Each algorithm declares the ones it promises ([`Promises`]); those are
//! checks. A property it does not promise is judged only when the scenario
//! lists it under `expect: violations` (to show that it breaks); otherwise
//! its outcome is a line of information in the summary, under its name. Order and integrity
//! failures name the delivery that broke them.
//!
//! Metrics: multicasts, deliveries per member, messages per multicast,
//! delivery latency (multicast to delivery at another member). Answers
//! `expect: deliveries` (every delivery, duplicates included) and
//! `messages_per_multicast`.

use std::collections::{BTreeMap, BTreeSet};

use super::mutex::spread;
use super::{At, CheckResult, Checker, EndState};
use crate::process::{Nanos, NodeId, Observation, Process};
use crate::scenario::model::Expect;
use crate::trace::event::TraceEvent;

/// Every property the checker judges, in the order it reports them.
pub const CHECKS: &[&str] = &["validity", "agreement", "integrity", "fifo", "causal", "total"];

/// The properties an algorithm promises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Promises {
    pub validity: bool,
    pub agreement: bool,
    pub integrity: bool,
    pub fifo: bool,
    pub causal: bool,
    pub total: bool,
    /// The promises hold only when the network lost and duplicated nothing
    /// (basic multicast assumes reliable channels).
    pub reliable_channels_only: bool,
}

impl Promises {
    pub const NONE: Promises = Promises {
        validity: false,
        agreement: false,
        integrity: false,
        fifo: false,
        causal: false,
        total: false,
        reliable_channels_only: false,
    };
    pub const VALIDITY_INTEGRITY: Promises = Promises { validity: true, integrity: true, ..Promises::NONE };
    pub const VALIDITY_INTEGRITY_AGREEMENT: Promises = Promises { agreement: true, ..Promises::VALIDITY_INTEGRITY };

    fn get(&self, name: &str) -> bool {
        match name {
            "validity" => self.validity,
            "agreement" => self.agreement,
            "integrity" => self.integrity,
            "fifo" => self.fifo,
            "causal" => self.causal,
            "total" => self.total,
            _ => false,
        }
    }

    /// The names promised, in [`CHECKS`] order.
    pub fn names(&self) -> Vec<&'static str> {
        CHECKS.iter().copied().filter(|n| self.get(n)).collect()
    }
}

type Id = (NodeId, u32);

/// `1 message`, `3 messages`.
fn count(n: usize, what: &str) -> String {
    match (n, what.strip_suffix('y')) {
        (1, _) => format!("1 {what}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {what}s"),
    }
}

fn show(id: Id) -> String {
    format!("{}.{}", id.0, id.1)
}

#[derive(Default)]
pub struct MulticastChecker {
    promises: Promises,
    /// Every message multicast: when, and its causal past (per sender, how
    /// many of its messages happened before or are it).
    sent: BTreeMap<Id, (Nanos, BTreeMap<NodeId, u32>)>,
    /// Per member: the causal past of its next multicast.
    past: BTreeMap<NodeId, BTreeMap<NodeId, u32>>,
    /// Per member: what it delivered, in order, and where.
    delivered: BTreeMap<NodeId, Vec<Id>>,
    position: BTreeMap<NodeId, BTreeMap<Id, usize>>,
    /// Per (r, q): of the messages both delivered, the one q delivered last
    /// (its position at q).
    latest: BTreeMap<(NodeId, NodeId), (usize, Id)>,
    /// Per (member, sender): how many of the sender's first messages the
    /// member has delivered without a gap.
    prefix: BTreeMap<(NodeId, NodeId), u32>,
    crashed: BTreeSet<NodeId>,
    integrity_at: Option<(At, String)>,
    fifo_at: Option<(At, String)>,
    causal_at: Option<(At, String)>,
    total_at: Option<(At, String)>,
    latency: Vec<Nanos>,
    multicasts: u64,
    /// Deliveries the lists leave out: second copies, invented messages.
    duplicates: u64,
    messages: u64,
    members: Vec<NodeId>,
    info: Vec<(String, String)>,
}

impl MulticastChecker {
    pub fn new(promises: Promises) -> Self {
        MulticastChecker { promises, ..Default::default() }
    }

    fn on_deliver(&mut self, at: At, node: NodeId, id: Id) {
        let where_ = format!(" (event #{}, {})", at.event, crate::scenario::units::Dur(at.time));
        let Some((sent_at, past)) = self.sent.get(&id).cloned() else {
            if self.integrity_at.is_none() {
                self.integrity_at = Some((at, format!("{node} delivers {}, which nobody multicast{where_}", show(id))));
            }
            self.duplicates += 1;
            return;
        };
        if self.position.get(&node).is_some_and(|p| p.contains_key(&id)) {
            if self.integrity_at.is_none() {
                self.integrity_at = Some((at, format!("{node} delivers {} a second time{where_}", show(id))));
            }
            self.duplicates += 1;
            return;
        }
        let has = |s: NodeId| self.prefix.get(&(node, s)).copied().unwrap_or(0);
        if self.fifo_at.is_none() && has(id.0) + 1 < id.1 {
            self.fifo_at =
                Some((at, format!("{node} delivers {} before {}.{} from the same sender{where_}", show(id), id.0, has(id.0) + 1)));
        }
        if self.causal_at.is_none() {
            let missing = past.iter().find(|&(&s, &k)| if s == id.0 { has(s) + 1 < k } else { has(s) < k });
            if let Some((&s, _)) = missing {
                self.causal_at =
                    Some((at, format!("{node} delivers {} before {}.{}, which happened before it{where_}", show(id), s, has(s) + 1)));
            }
        }
        // Total order in O(N) per delivery: `latest[(r, q)]` is the message
        // both r and q delivered that q delivered last. If r has delivered
        // one that q delivered after `id`, r and q disagree on the order.
        let here = self.delivered.get(&node).map_or(0, Vec::len);
        for (&other, pos) in &self.position {
            let Some(&p) = pos.get(&id) else { continue };
            if other == node {
                continue;
            }
            if let Some(&(q, earlier)) = self.latest.get(&(node, other))
                && q > p
                && self.total_at.is_none()
            {
                self.total_at = Some((
                    at,
                    format!("{node} delivers {} after {}, but {other} delivered {} first{where_}", show(id), show(earlier), show(id)),
                ));
            }
            let e = self.latest.entry((node, other)).or_insert((p, id));
            if p >= e.0 {
                *e = (p, id);
            }
            let e = self.latest.entry((other, node)).or_insert((here, id));
            if here >= e.0 {
                *e = (here, id);
            }
        }
        if node != id.0 {
            self.latency.push(at.time.saturating_sub(sent_at));
        }
        let list = self.delivered.entry(node).or_default();
        self.position.entry(node).or_default().insert(id, list.len());
        list.push(id);
        let mut k = has(id.0);
        let pos = &self.position[&node];
        while pos.contains_key(&(id.0, k + 1)) {
            k += 1;
        }
        self.prefix.insert((node, id.0), k);
        let mine = self.past.entry(node).or_default();
        for (s, n) in past {
            let e = mine.entry(s).or_default();
            *e = (*e).max(n);
        }
    }

    /// `expect: deliveries` and `messages_per_multicast`.
    fn expectations(&self, expect: &Expect) -> Vec<CheckResult> {
        let mut out = Vec::new();
        let deliveries: u64 = self.delivered.values().map(|v| v.len() as u64).sum();
        let duplicates: u64 = self.duplicates;
        if let Some(b) = expect.deliveries {
            let n = deliveries + duplicates;
            out.push(CheckResult::new(format!("expect deliveries {b}"), b.holds(n), format!("{n} deliveries")));
        }
        if let Some(b) = expect.messages_per_multicast {
            let (total, m) = (self.messages, self.multicasts);
            let ok = m > 0
                && b.exact.is_none_or(|e| total == e * m)
                && b.max.is_none_or(|x| total <= x * m)
                && b.min.is_none_or(|x| total >= x * m);
            out.push(CheckResult::new(
                format!("expect messages_per_multicast {b}"),
                ok,
                format!("{total} messages for {}", count(m as usize, "multicast")),
            ));
        }
        out
    }

    fn judged(&self, name: &str, reliable_network: bool, expect: &Expect) -> bool {
        let promised = self.promises.get(name) && (reliable_network || !self.promises.reliable_channels_only);
        promised || expect.violations.iter().any(|v| v == name)
    }
}

impl<P: Process> Checker<P> for MulticastChecker {
    fn on_event(&mut self, index: u64, time: Nanos, ev: &TraceEvent<'_, P>) {
        let at = At { event: index, time };
        match ev {
            TraceEvent::Observe { node, obs: Observation::Multicast { seq, .. } } => {
                self.multicasts += 1;
                let past = self.past.entry(*node).or_default();
                let e = past.entry(*node).or_default();
                *e = (*e).max(*seq);
                let past = past.clone();
                self.sent.insert((*node, *seq), (time, past));
            }
            TraceEvent::Observe { node, obs: Observation::Delivered { sender, seq, .. } } => self.on_deliver(at, *node, (*sender, *seq)),
            TraceEvent::Crash { node } => {
                self.crashed.insert(*node);
            }
            _ => {}
        }
    }

    fn wants_messages(&self) -> bool {
        false
    }

    fn finish(&mut self, end: &EndState<'_>, expect: &Expect) -> Vec<CheckResult> {
        self.members = end.nodes.to_vec();
        self.messages = end.stats.sent.total();
        let correct: Vec<NodeId> = end.live().filter(|n| !self.crashed.contains(n)).collect();
        let has = |n: NodeId, id: &Id| self.position.get(&n).is_some_and(|p| p.contains_key(id));
        let s = end.stats;
        let reliable_network = s.lost == 0 && s.duplicated == 0 && s.partitioned == 0 && s.by_script == 0;

        let mut missed: Vec<String> = Vec::new();
        for id in self.sent.keys().filter(|id| correct.contains(&id.0)) {
            let lacking: Vec<String> = correct.iter().filter(|&&n| !has(n, id)).map(|n| n.to_string()).collect();
            if !lacking.is_empty() {
                missed.push(format!("{} not delivered by {}", show(*id), lacking.join(", ")));
            }
        }
        let sent_by_correct = self.sent.keys().filter(|id| correct.contains(&id.0)).count();
        let validity = if missed.is_empty() {
            CheckResult::new(
                "validity",
                true,
                format!("every correct member delivered every message of a correct sender ({})", count(sent_by_correct, "message")),
            )
        } else {
            CheckResult::new("validity", false, missed.join("; "))
        };

        let mut partial: Vec<String> = Vec::new();
        let mut seen: BTreeSet<Id> = BTreeSet::new();
        for n in &correct {
            seen.extend(self.delivered.get(n).into_iter().flatten().copied());
        }
        for id in &seen {
            let got: Vec<String> = correct.iter().filter(|&&n| has(n, id)).map(|n| n.to_string()).collect();
            let lacking: Vec<String> = correct.iter().filter(|&&n| !has(n, id)).map(|n| n.to_string()).collect();
            if !lacking.is_empty() {
                partial.push(format!("{} delivered by {} but not by {}", show(*id), got.join(", "), lacking.join(", ")));
            }
        }
        let agreement = if partial.is_empty() {
            CheckResult::new(
                "agreement",
                true,
                format!("the {} delivered the same {}", count(correct.len(), "correct member"), count(seen.len(), "message")),
            )
        } else {
            CheckResult::new("agreement", false, partial.join("; "))
        };

        let deliveries: usize = self.delivered.values().map(Vec::len).sum();
        let order = |name: &str, v: &Option<(At, String)>, ok: String| match v {
            None => CheckResult::new(name, true, ok),
            Some((at, d)) => CheckResult::new(name, false, d.clone()).at(Some(*at)),
        };
        let all = [
            validity,
            agreement,
            order("integrity", &self.integrity_at, format!("{deliveries} deliveries, no duplicate, none invented")),
            order("fifo", &self.fifo_at, "every member delivered each sender's messages in sending order".into()),
            order("causal", &self.causal_at, "no message delivered before one that happened before it".into()),
            order("total", &self.total_at, "every two members delivered their common messages in the same order".into()),
        ];
        let mut out = Vec::new();
        self.info.clear();
        let expectations = self.expectations(expect);
        for r in all {
            if self.judged(&r.name, reliable_network, expect) {
                out.push(r);
            } else {
                let why = if self.promises.get(&r.name) {
                    "promised only on a network that loses and duplicates nothing"
                } else {
                    "not promised"
                };
                let verdict = if r.ok { "holds" } else { "broken" };
                self.info.push((r.name.clone(), format!("{verdict} ({why}): {}", r.detail)));
            }
        }
        out.extend(expectations);
        out
    }

    fn metrics(&mut self) -> Vec<(String, String)> {
        let per: Vec<String> = self.members.iter().map(|n| format!("{n}: {}", self.delivered.get(n).map_or(0, Vec::len))).collect();
        let mut m = vec![
            ("multicast".to_string(), format!("{} messages", self.multicasts)),
            (
                "delivered".to_string(),
                match self.duplicates {
                    0 => format!("per member {}", per.join(", ")),
                    d => format!("per member {} (plus {})", per.join(", "), count(d as usize, "duplicate")),
                },
            ),
        ];
        if self.multicasts > 0 {
            m.push(("per msg".into(), format!("{:.2} messages per multicast", self.messages as f64 / self.multicasts as f64)));
        }
        m.push(("latency".into(), format!("{} (multicast to delivery elsewhere)", spread(&mut self.latency))));
        for (name, line) in std::mem::take(&mut self.info) {
            m.push((name, line));
        }
        m
    }
}
