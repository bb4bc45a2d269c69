//! `balance.weighted-round-robin` — smooth weighted round robin: a server of
//! weight w gets w jobs out of every Σw, interleaved rather than in runs.
//!
//! **Guarantee.** Over every full cycle of Σw assignments (all servers up),
//! server i gets exactly wᵢ jobs; at any prefix its count is within 1 of
//! wᵢ/Σw of the total. With equal weights it is plain round robin.
//!
//! **Cost.** O(N) per pick: every up server's current weight grows by its
//! weight, the largest is chosen and pays back Σw.
//!
//! **Source.** nginx's smooth weighted round-robin (`ngx_http_upstream_round_robin.c`);
//! the classical (interleaved) WRR of LVS (Linux Virtual Server) documentation.

use std::collections::BTreeMap;

use super::{Candidate, Choice, JobView, Params, Policy};
use crate::process::{NodeId, NodeRng};

pub struct WeightedRoundRobin {
    current: BTreeMap<NodeId, i64>,
}

impl Policy for WeightedRoundRobin {
    fn new(_: &[NodeId], _: &Params) -> Self {
        WeightedRoundRobin { current: BTreeMap::new() }
    }

    fn pick(&mut self, _: &JobView<'_>, up: &[Candidate], _: &mut NodeRng) -> Choice {
        let total: i64 = up.iter().map(|c| i64::from(c.weight)).sum();
        let mut best: Option<(NodeId, i64, u32)> = None;
        for c in up {
            let cur = self.current.entry(c.id).or_insert(0);
            *cur += i64::from(c.weight);
            if best.is_none_or(|(_, b, _)| *cur > b) {
                best = Some((c.id, *cur, c.weight));
            }
        }
        let (server, _, weight) = best.unwrap_or((up[0].id, 0, up[0].weight));
        if let Some(cur) = self.current.get_mut(&server) {
            *cur -= total;
        }
        Choice { server, why: format!("weight {weight} of {total}") }
    }

    fn left(&mut self, server: NodeId) {
        self.current.remove(&server);
    }
}
