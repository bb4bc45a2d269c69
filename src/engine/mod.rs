//! The engine: the discrete-event [`runner::Runner`], its queue, the simulated
//! network, the clock model, and [`run_plan`], which wires a plan, a process
//! type, a renderer and the checkers together.

pub mod clock;
pub mod network;
pub mod prefetch;
pub mod queue;
pub mod runner;
pub mod script;
pub mod stats;
pub mod wheel;

use std::io::{self, Write};

use crate::check::expect;
use crate::process::Process;
use crate::report::RunReport;
use crate::scenario::Plan;
use crate::trace::event::{NullSink, TraceSink};
use crate::trace::jsonl::JsonlSink;
use crate::trace::text::{COLUMNS, PrefixSink, TextSink};

pub use runner::{Limits, Runner};

/// How the trace is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Fixed-column text, then the summary (what snapshots hold).
    #[default]
    Text,
    /// One JSON object per event, then one summary object.
    Jsonl,
    /// No trace: the summary only.
    Quiet,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    pub format: Format,
    pub limits: Limits,
}

/// Why a run could not happen (as opposed to a check that failed).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("params of {algorithm}: {message}")]
    Params { algorithm: &'static str, message: String },
    #[error("{0}")]
    Script(String),
    #[error("transport {transport}: {message}")]
    Transport { transport: crate::transport::TransportKind, message: String },
    #[error("cannot write the trace: {0}")]
    Io(#[from] io::Error),
}

impl RunReport {
    /// The error that stopped the run (script or transport), taken out of the report.
    pub fn take_fatal(&mut self) -> Option<RunError> {
        if let Some(e) = self.script_error.take() {
            return Some(RunError::Script(e));
        }
        self.transport_error.take().map(|message| RunError::Transport { transport: self.transport, message })
    }
}

/// How many trace lines a failed check shows.
const PREFIX_LINES: usize = 8;

/// Parses the algorithm's parameters; a missing `params:` block means defaults.
pub fn parse_params<P: Process>(plan: &Plan) -> Result<P::Params, RunError> {
    if plan.params.is_null() {
        return Ok(P::Params::default());
    }
    serde_yaml::from_value(plan.params.clone()).map_err(|e| RunError::Params { algorithm: plan.algorithm.name, message: e.to_string() })
}

/// Runs `plan` with process type `P` and writes its trace and summary to `out`.
pub fn run_plan<P: Process>(plan: &Plan, opts: &RunOptions, out: &mut dyn Write) -> Result<RunReport, RunError> {
    let params = parse_params::<P>(plan)?;
    let header = format!(
        "# {}\n# algorithm {}, {} node{}, seed {}\n",
        plan.name,
        plan.algorithm.name,
        plan.nodes.len(),
        if plan.nodes.len() == 1 { "" } else { "s" },
        plan.seed
    );
    let mut report = match opts.format {
        Format::Text => {
            let mut sink = TextSink::new(out);
            sink.raw(&header);
            sink.raw(COLUMNS);
            sink.raw("\n");
            let mut report = execute::<P>(plan, &params, opts, &mut sink);
            if let Some(e) = report.take_fatal() {
                sink.flush()?;
                return Err(e);
            }
            fill_prefixes::<P>(plan, &params, opts, &mut report);
            sink.raw(&report.summary_text());
            sink.flush()?;
            report
        }
        Format::Jsonl => {
            let mut sink = JsonlSink::new(out);
            let mut report = execute::<P>(plan, &params, opts, &mut sink);
            if let Some(e) = report.take_fatal() {
                sink.flush()?;
                return Err(e);
            }
            fill_prefixes::<P>(plan, &params, opts, &mut report);
            sink.line(&serde_json::json!({ "summary": &report }));
            sink.flush()?;
            report
        }
        Format::Quiet => {
            let mut report = execute::<P>(plan, &params, opts, &mut NullSink);
            if let Some(e) = report.take_fatal() {
                return Err(e);
            }
            fill_prefixes::<P>(plan, &params, opts, &mut report);
            out.write_all(header.as_bytes())?;
            out.write_all(report.summary_text().as_bytes())?;
            out.flush()?;
            report
        }
    };
    report.results.shrink_to_fit();
    Ok(report)
}

/// Runs `plan` once into `sink` and judges it (the picture renderers use it too).
pub(crate) fn execute<P: Process>(plan: &Plan, params: &P::Params, opts: &RunOptions, sink: &mut dyn TraceSink<P>) -> RunReport {
    let mut runner = Runner::<P>::new(plan, params, P::checkers(), opts.limits);
    let mut results = runner.run(sink);
    expect::evaluate(&plan.expect, &runner.stats, &mut results);
    RunReport {
        scenario: plan.name.clone(),
        algorithm: plan.algorithm.name,
        nodes: plan.nodes.len(),
        seed: plan.seed,
        stats: runner.stats.clone(),
        metrics: std::mem::take(&mut runner.metrics),
        results,
        alive: runner.alive().filter(|(_, a)| *a).map(|(n, _)| n).collect(),
        script_error: runner.script_error.take(),
        transport_error: runner.wire_error.take(),
        wire: runner.wire_stats(),
        transport: plan.transport,
    }
}

/// Replays the run (it is deterministic) to collect the trace lines that led
/// to each failed check.
pub(crate) fn fill_prefixes<P: Process>(plan: &Plan, params: &P::Params, opts: &RunOptions, report: &mut RunReport) {
    for r in report.results.iter_mut().filter(|r| !r.ok) {
        let Some(at) = r.at else { continue };
        let mut sink = PrefixSink::new(PREFIX_LINES, at.event);
        // The trace is the same on every transport: replay in memory.
        let sim = Plan { transport: crate::transport::TransportKind::Sim, ..plan.clone() };
        let mut runner = Runner::<P>::new(&sim, params, Vec::new(), opts.limits);
        runner.run(&mut sink);
        r.prefix = sink.lines.into_iter().collect();
    }
}
