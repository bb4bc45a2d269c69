//! `balance.round-robin` — the seed lab's policy: servers take jobs in turn.
//!
//! **Guarantee.** Over any window of k·N assignments with N servers up, each
//! gets exactly k jobs, whatever their sizes (so equal jobs balance exactly,
//! unequal ones need not). A server that is down or out of rotation is
//! skipped; the turn moves on from the server after the last one chosen.
//!
//! **Cost.** O(N) per pick at worst (skipping servers that are down), O(1)
//! when all are up; no state about load.
//!
//! **Source.** The seed lab's `RoundRobinLoadBalancer`; Tanenbaum and van
//! Steen, *Distributed Systems*, §3.4.

use super::{Candidate, Choice, JobView, Params, Policy};
use crate::process::{NodeId, NodeRng};

pub struct RoundRobin {
    /// Every server that was ever in rotation, in node order of joining.
    order: Vec<NodeId>,
    /// The position in `order` whose turn it is.
    next: usize,
}

impl Policy for RoundRobin {
    fn new(servers: &[NodeId], _: &Params) -> Self {
        RoundRobin { order: servers.to_vec(), next: 0 }
    }

    fn pick(&mut self, _: &JobView<'_>, up: &[Candidate], _: &mut NodeRng) -> Choice {
        let n = self.order.len();
        for step in 0..n {
            let i = (self.next + step) % n;
            if up.iter().any(|c| c.id == self.order[i]) {
                self.next = (i + 1) % n;
                let why = if step == 0 { "round robin".to_string() } else { format!("round robin, {step} skipped") };
                return Choice { server: self.order[i], why };
            }
        }
        // `up` holds a server never in rotation: cannot happen, but stay total.
        Choice { server: up[0].id, why: "round robin".into() }
    }

    fn joined(&mut self, server: NodeId) {
        if !self.order.contains(&server) {
            self.order.push(server);
        }
    }
}
