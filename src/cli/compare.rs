//! `distlab compare`: run several scenarios and print one table of their
//! results side by side — messages, events, end time, checks, and every
//! figure their checkers report (e.g. the load-balancing policies on one
//! arrival stream, or the mutual-exclusion algorithms' messages per entry).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use distlab::engine::{Format, Limits, RunOptions};
use distlab::report::RunReport;
use distlab::scenario::units::Dur;

use crate::Outcome;

#[derive(Args)]
#[command(after_help = "Examples:
  distlab compare scenarios/balance/compare-*.yaml      every policy on one arrival stream
  distlab compare scenarios/mutex/seed-*.yaml            two mutual-exclusion algorithms")]
pub struct CompareArgs {
    /// Scenario files (.yaml, .lua); one row each.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Use this seed in every scenario instead of its own.
    #[arg(long)]
    pub seed: Option<u64>,
}

pub fn run(args: CompareArgs) -> anyhow::Result<Outcome> {
    let opts = RunOptions { format: Format::Quiet, limits: Limits::default() };
    let mut rows: Vec<(String, RunReport)> = Vec::new();
    let mut outcome = Outcome::Ok;
    for file in &args.files {
        let mut plan = match distlab::scenario::load(file) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}");
                outcome = Outcome::BadInput;
                continue;
            }
        };
        if let Some(seed) = args.seed {
            plan.seed = seed;
        }
        match (plan.algorithm.run)(&plan, &opts, &mut std::io::sink()) {
            Ok(report) => {
                if !report.passed() && matches!(outcome, Outcome::Ok) {
                    outcome = Outcome::Failed;
                }
                rows.push((file.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned()), report));
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                outcome = Outcome::BadInput;
            }
        }
    }
    let mut keys: Vec<String> = Vec::new();
    for (_, r) in &rows {
        for (k, _) in &r.metrics {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let mut out = std::io::stdout().lock();
    let mut header = vec!["scenario".to_string(), "algorithm".into(), "messages".into(), "events".into(), "end".into(), "checks".into()];
    header.extend(keys.iter().cloned());
    writeln!(out, "| {} |", header.join(" | "))?;
    writeln!(out, "|{}", "---|".repeat(header.len()))?;
    for (name, r) in &rows {
        let failed = r.failures().count();
        let checks = if failed == 0 { format!("ok ({})", r.results.len()) } else { format!("FAILED {failed} of {}", r.results.len()) };
        let mut cells = vec![
            name.clone(),
            r.algorithm.to_string(),
            r.stats.sent.total().to_string(),
            r.stats.events.to_string(),
            Dur(r.stats.end_time).to_string(),
            checks,
        ];
        for k in &keys {
            cells.push(r.metrics.iter().find(|(m, _)| m == k).map_or_else(|| "-".to_string(), |(_, v)| v.replace('|', "/")));
        }
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    Ok(outcome)
}
