//! `balance.power-of-two` — power of two choices: draw two distinct servers
//! at random, send the job to the one with fewer unfinished jobs (a tie goes
//! to the first drawn).
//!
//! **Guarantee.** Always the less loaded of its two samples. With m = N jobs
//! the busiest server holds about ln ln N / ln 2 + O(1) of them, against
//! ln N / ln ln N for one random choice: an exponential improvement for
//! the price of one more probe. Seeded: the same scenario gives the same draws.
//!
//! **Cost.** O(1) per pick: two draws and two counters (O(N) to list the up
//! servers in this simulation).
//!
//! **Source.** Azar, Broder, Karlin and Upfal, "Balanced Allocations" (1994);
//! Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing" (2001).

use super::{Candidate, Choice, JobView, Params, Policy};
use crate::process::{NodeId, NodeRng};

pub struct PowerOfTwo;

/// The two distinct indices into `0..n` (n ≥ 2) the policy draws, in order.
pub fn samples(rng: &mut NodeRng, n: usize) -> (usize, usize) {
    let a = rng.below(n as u64) as usize;
    let b = (a + 1 + rng.below(n as u64 - 1) as usize) % n;
    (a, b)
}

impl Policy for PowerOfTwo {
    fn new(_: &[NodeId], _: &Params) -> Self {
        PowerOfTwo
    }

    fn pick(&mut self, _: &JobView<'_>, up: &[Candidate], rng: &mut NodeRng) -> Choice {
        if up.len() == 1 {
            return Choice { server: up[0].id, why: "the only server up".into() };
        }
        let (a, b) = samples(rng, up.len());
        let (x, y) = (&up[a], &up[b]);
        let pick = if y.running < x.running { y } else { x };
        Choice { server: pick.id, why: format!("sampled {} ({} unfinished) and {} ({})", x.id, x.running, y.id, y.running) }
    }
}
