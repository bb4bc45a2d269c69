//! `balance.least-connections` — each job goes to the server with the fewest
//! unfinished jobs (ties: the lowest id).
//!
//! **Guarantee.** Never picks a server with more unfinished jobs than another
//! up server has, as the dispatcher counts them (sent, not yet reported
//! done). It adapts to unequal job sizes and server speeds, but not to what
//! the counts cannot see: a job's size.
//!
//! **Cost.** O(N) per pick; the dispatcher keeps one counter per server.
//!
//! **Source.** LVS (Linux Virtual Server) "least-connection scheduling";
//! Tanenbaum and van Steen, *Distributed Systems*, §3.4.

use super::{Candidate, Choice, JobView, Params, Policy};
use crate::process::{NodeId, NodeRng};

pub struct LeastConnections;

impl Policy for LeastConnections {
    fn new(_: &[NodeId], _: &Params) -> Self {
        LeastConnections
    }

    fn pick(&mut self, _: &JobView<'_>, up: &[Candidate], _: &mut NodeRng) -> Choice {
        let best = up.iter().min_by_key(|c| (c.running, c.id)).unwrap_or(&up[0]);
        Choice { server: best.id, why: format!("least connections: {} unfinished", best.running) }
    }
}
