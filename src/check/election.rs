//! Election invariants, judged at the end of the run:
//! - `one-leader`: exactly one live node considers itself coordinator;
//! - `agreement`: every live node follows the same live coordinator;
//! - `highest-live`: that coordinator is the highest live id.
//!
//! It also answers `expect: leader: N`. Beliefs come from the `Elected` and
//! `Leader` observations; starting an election, a crash or a recovery forgets
//! the node's belief, so a node still in an election at the end fails
//! `agreement` ("knows no coordinator").

use std::collections::BTreeMap;

use super::{At, CheckResult, Checker, EndState};
use crate::process::{Nanos, NodeId, Observation, Process};
use crate::scenario::model::Expect;
use crate::trace::event::TraceEvent;

pub const CHECKS: &[&str] = &["one-leader", "agreement", "highest-live"];

/// Per-node state, indexed by node id (ids are small and dense in practice).
#[derive(Default)]
pub struct LeaderChecker {
    belief: Vec<Option<NodeId>>,
    changed: Vec<Option<At>>,
}

impl LeaderChecker {
    pub fn new() -> Self {
        Self::default()
    }

    fn set(&mut self, node: NodeId, belief: Option<NodeId>, at: At) {
        let i = node as usize;
        if self.belief.len() <= i {
            // Grow geometrically: ids arrive in any order.
            let len = (i + 1).max(2 * self.belief.len());
            self.belief.resize(len, None);
            self.changed.resize(len, None);
        }
        self.belief[i] = belief;
        self.changed[i] = Some(at);
    }

    fn belief(&self, node: NodeId) -> Option<NodeId> {
        self.belief.get(node as usize).copied().flatten()
    }

    fn changed(&self, node: NodeId) -> Option<At> {
        self.changed.get(node as usize).copied().flatten()
    }
}

fn list(ids: &[NodeId]) -> String {
    match ids {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

impl<P: Process> Checker<P> for LeaderChecker {
    /// Beliefs come from observations, crashes and recoveries only.
    fn wants_messages(&self) -> bool {
        false
    }

    fn on_event(&mut self, index: u64, time: Nanos, ev: &TraceEvent<'_, P>) {
        let at = At { event: index, time };
        match ev {
            TraceEvent::Observe { node, obs: Observation::Elected } => self.set(*node, Some(*node), at),
            TraceEvent::Observe { node, obs: Observation::Leader(l) } => self.set(*node, Some(*l), at),
            // A node in an election has no coordinator until it learns one.
            TraceEvent::Observe { node, obs: Observation::ElectionStarted } => self.set(*node, None, at),
            TraceEvent::Crash { node } | TraceEvent::Recover { node } => self.set(*node, None, at),
            _ => {}
        }
    }

    fn finish(&mut self, end: &EndState<'_>, expect: &Expect) -> Vec<CheckResult> {
        let live: Vec<NodeId> = end.live().collect();
        let latest = |ids: &[NodeId]| ids.iter().filter_map(|&n| self.changed(n)).max_by_key(|a| a.event);
        let mut out = Vec::new();
        if live.is_empty() {
            for name in CHECKS {
                out.push(CheckResult::new(*name, true, "no node is alive at the end"));
            }
            return out;
        }
        let top = *live.iter().max().expect("live is not empty");

        let leaders: Vec<NodeId> = live.iter().copied().filter(|&n| self.belief(n) == Some(n)).collect();
        out.push(match leaders.as_slice() {
            [one] => CheckResult::new("one-leader", true, format!("{one} is the only live coordinator")),
            [] => CheckResult::new("one-leader", false, "no live node considers itself coordinator").at(latest(&live)),
            many => CheckResult::new("one-leader", false, format!("{} all consider themselves coordinator", list(many))).at(latest(many)),
        });

        let mut followers: BTreeMap<Option<NodeId>, Vec<NodeId>> = BTreeMap::new();
        for &n in &live {
            followers.entry(self.belief(n)).or_default().push(n);
        }
        let agreed = match followers.keys().collect::<Vec<_>>().as_slice() {
            [Some(l)] if live.contains(l) => Some(*l),
            _ => None,
        };
        out.push(match agreed {
            Some(l) => CheckResult::new("agreement", true, format!("every live node follows {l}")),
            None => {
                let parts: Vec<String> = followers
                    .iter()
                    .map(|(l, ns)| match l {
                        Some(l) if live.contains(l) => format!("{} follow {l}", list(ns)),
                        Some(l) => format!("{} follow {l}, which is down", list(ns)),
                        None => format!("{} know no coordinator", list(ns)),
                    })
                    .collect();
                let odd: Vec<NodeId> = followers.values().flatten().copied().collect();
                CheckResult::new("agreement", false, parts.join("; ")).at(latest(&odd))
            }
        });

        out.push(match agreed {
            Some(l) if l == top => CheckResult::new("highest-live", true, format!("{l} is the highest live id")),
            Some(l) => CheckResult::new("highest-live", false, format!("the coordinator is {l}, but {top} is alive and higher"))
                .at(latest(&[l, top])),
            None => {
                CheckResult::new("highest-live", false, format!("no agreed coordinator; the highest live id is {top}")).at(latest(&live))
            }
        });

        if let Some(want) = expect.leader {
            let ok = agreed == Some(want);
            let detail = match agreed {
                Some(l) => format!("every live node follows {l}"),
                None => "the live nodes do not agree on a coordinator".to_string(),
            };
            out.push(CheckResult::new(format!("expect leader = {want}"), ok, detail));
        }
        out
    }
}
