//! `balance.random` — each job goes to a server drawn uniformly at random
//! from the dispatcher's seeded generator.
//!
//! **Guarantee.** Each up server gets a job with probability 1/N; the same
//! scenario and seed give the same choices (the draw comes from `ctx.rng()`).
//! With m jobs the busiest server expects about m/N + O(√(m log N / N)),
//! and with m = N about ln N / ln ln N: random alone balances poorly.
//!
//! **Cost.** O(1) per pick, no state.
//!
//! **Source.** Mitzenmacher, Richa and Sitaraman, "The Power of Two Random
//! Choices: A Survey of Techniques and Results" (2001), §1 (balls into bins).

use super::{Candidate, Choice, JobView, Params, Policy};
use crate::process::{NodeId, NodeRng};

pub struct Random;

impl Policy for Random {
    fn new(_: &[NodeId], _: &Params) -> Self {
        Random
    }

    fn pick(&mut self, _: &JobView<'_>, up: &[Candidate], rng: &mut NodeRng) -> Choice {
        let i = rng.below(up.len() as u64) as usize;
        Choice { server: up[i].id, why: format!("random draw {} of {}", i + 1, up.len()) }
    }
}
