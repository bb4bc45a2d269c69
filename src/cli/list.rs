//! `distlab list`: every algorithm with its commands, parameters, message kinds
//! and checks.

use std::io::Write;

use clap::Args;
use distlab::algorithms::registry::ALGORITHMS;

use crate::Outcome;

#[derive(Args)]
pub struct ListArgs {
    /// Only algorithms whose name starts with this (e.g. `election`).
    pub prefix: Option<String>,
}

pub fn run(args: ListArgs) -> anyhow::Result<Outcome> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut any = false;
    for a in ALGORITHMS.iter().filter(|a| args.prefix.as_deref().is_none_or(|p| a.name.starts_with(p))) {
        any = true;
        writeln!(out, "{}  {}", a.name, a.summary)?;
        for c in a.commands {
            let usage = std::iter::once(c.name).chain(c.args.iter().copied()).collect::<Vec<_>>().join(" ");
            writeln!(out, "  do: {usage:<22} {}", c.help)?;
        }
        for p in a.params {
            writeln!(out, "  params.{:<18} {}", p.name, p.help)?;
        }
        writeln!(out, "  messages: {}", a.message_kinds.join(", "))?;
        writeln!(out, "  checks:   {}", a.checks.join(", "))?;
        writeln!(out)?;
    }
    if !any {
        let families: std::collections::BTreeSet<&str> = ALGORITHMS.iter().map(|a| a.family).collect();
        eprintln!(
            "distlab list: no algorithm starts with {:?}; families: {}",
            args.prefix.unwrap_or_default(),
            families.into_iter().collect::<Vec<_>>().join(", ")
        );
        return Ok(Outcome::BadInput);
    }
    Ok(Outcome::Ok)
}
