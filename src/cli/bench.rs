//! `distlab bench`: engine throughput against a bare binary-heap baseline.

use clap::Args;

use crate::Outcome;

#[derive(Args)]
pub struct BenchArgs {}

pub fn run(_: BenchArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("not yet")
}
