//! `distlab list`: every algorithm with its commands, parameters, message kinds
//! and checks.

use clap::Args;
use distlab::algorithms::registry::ALGORITHMS;

use crate::Outcome;

#[derive(Args)]
pub struct ListArgs {
    /// Only algorithms whose name starts with this (e.g. `election`).
    pub prefix: Option<String>,
}

pub fn run(args: ListArgs) -> anyhow::Result<Outcome> {
    for a in ALGORITHMS.iter().filter(|a| args.prefix.as_deref().is_none_or(|p| a.name.starts_with(p))) {
        println!("{}  {}", a.name, a.summary);
        for c in a.commands {
            let usage = std::iter::once(c.name).chain(c.args.iter().copied()).collect::<Vec<_>>().join(" ");
            println!("  do: {usage:<22} {}", c.help);
        }
        for p in a.params {
            println!("  params.{:<18} {}", p.name, p.help);
        }
        println!("  messages: {}", a.message_kinds.join(", "));
        println!("  checks:   {}", a.checks.join(", "));
        println!();
    }
    Ok(Outcome::Ok)
}
