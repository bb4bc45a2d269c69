//! `distlab run`: load each scenario, run it, print trace, summary and checks.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use distlab::engine::{Format, Limits, RunOptions};

use crate::Outcome;

#[derive(Args)]
pub struct RunArgs {
    /// Scenario files (.yaml).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Use this seed instead of the scenario's.
    #[arg(long)]
    pub seed: Option<u64>,
    /// How to print the trace.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print no trace, only the summary and checks (same as --format quiet).
    #[arg(long, short)]
    pub quiet: bool,
    /// Stop a run after this many events.
    #[arg(long, default_value_t = Limits::default().max_events)]
    pub max_events: u64,
}

pub fn run(args: RunArgs) -> anyhow::Result<Outcome> {
    let format = if args.quiet { Format::Quiet } else { args.format };
    let opts = RunOptions { format, limits: Limits { max_events: args.max_events } };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut outcome = Outcome::Ok;
    for (i, file) in args.files.iter().enumerate() {
        let mut plan = match distlab::scenario::load(file) {
            Ok(p) => p,
            Err(e) => {
                out.flush()?;
                eprintln!("{e}");
                outcome = Outcome::BadInput;
                continue;
            }
        };
        if let Some(seed) = args.seed {
            plan.seed = seed;
        }
        if i > 0 && format != Format::Jsonl {
            writeln!(out)?;
        }
        let report = match (plan.algorithm.run)(&plan, &opts, &mut out) {
            Ok(r) => r,
            Err(distlab::engine::RunError::Script(e)) => {
                out.flush()?;
                eprintln!("{e}");
                outcome = Outcome::BadInput;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if !report.passed() && matches!(outcome, Outcome::Ok) {
            outcome = Outcome::Failed;
        }
    }
    Ok(outcome)
}
