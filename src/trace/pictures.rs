//! Pictures of a run: runs a plan with a [`Recorder`] and renders the record
//! as an SVG space-time diagram, a Mermaid sequence diagram, a ShiViz log or an
//! HTML report ([`Picture`]).
//!
//! [`record`] runs a plan exactly as `run_plan` does (the same runner, the same
//! checkers, the same `expect:` evaluation and failure prefixes), but keeps the
//! trace as [`RecordedEvent`]s instead of streaming it to a writer.
//! [`picture_plan`] is the monomorphised entry the algorithm registry holds
//! (`Algorithm::picture`).

use crate::check::expect;
use crate::engine::{RunError, RunOptions, Runner, parse_params};
use crate::process::{NodeId, Process};
use crate::report::RunReport;
use crate::scenario::Plan;
use crate::trace::recorded::{RecordedEvent, Recorder};
use crate::trace::text::PrefixSink;

use super::svg::SvgOptions;
use super::{html, mermaid, shiviz, svg};

/// How many trace lines a failed check shows (as in the text trace).
const PREFIX_LINES: usize = 8;

/// The kinds of picture a recorded run can be rendered as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Picture {
    /// A self-contained SVG space-time diagram.
    Svg,
    /// A Mermaid `sequenceDiagram`.
    Mermaid,
    /// A ShiViz log with vector clocks.
    Shiviz,
    /// One self-contained HTML page: diagram, checks, summary.
    Html,
}

impl Picture {
    /// Every kind, in a fixed order.
    pub const ALL: [Picture; 4] = [Picture::Svg, Picture::Mermaid, Picture::Shiviz, Picture::Html];

    /// The name a command line would use (`svg`, `mermaid`, `shiviz`, `html`).
    pub fn name(self) -> &'static str {
        match self {
            Picture::Svg => "svg",
            Picture::Mermaid => "mermaid",
            Picture::Shiviz => "shiviz",
            Picture::Html => "html",
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Picture::Svg => "svg",
            Picture::Mermaid => "mmd",
            Picture::Shiviz => "log",
            Picture::Html => "html",
        }
    }

    /// The kind called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Picture> {
        Picture::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Renders a recorded run (`events` over `nodes`, with its `report`).
    pub fn render(self, events: &[RecordedEvent], nodes: &[NodeId], report: &RunReport) -> String {
        match self {
            Picture::Svg => svg::render(events, nodes, &report.scenario, &SvgOptions::default()),
            Picture::Mermaid => mermaid::render(events, nodes, &report.scenario),
            Picture::Shiviz => shiviz::render(events, nodes, &report.scenario),
            Picture::Html => html::render(events, nodes, report),
        }
    }
}

/// Runs `plan` with process type `P`, recording its trace (up to the
/// recorder's default cap), and returns the record with the run's report.
pub fn record<P: Process>(plan: &Plan, opts: &RunOptions) -> Result<(Vec<RecordedEvent>, RunReport), RunError> {
    record_with::<P>(plan, opts, Recorder::new())
}

/// [`record`] with a recorder of your own (a different cap).
pub fn record_with<P: Process>(
    plan: &Plan,
    opts: &RunOptions,
    mut recorder: Recorder,
) -> Result<(Vec<RecordedEvent>, RunReport), RunError> {
    let params = parse_params::<P>(plan)?;
    let mut runner = Runner::<P>::new(plan, &params, P::checkers(), opts.limits);
    let mut results = runner.run(&mut recorder);
    expect::evaluate(&plan.expect, &runner.stats, &mut results);
    let mut report = RunReport {
        scenario: plan.name.clone(),
        algorithm: plan.algorithm.name,
        nodes: plan.nodes.len(),
        seed: plan.seed,
        stats: runner.stats.clone(),
        metrics: std::mem::take(&mut runner.metrics),
        results,
        alive: runner.alive().filter(|(_, a)| *a).map(|(n, _)| n).collect(),
        script_error: runner.script_error.take(),
    };
    if let Some(e) = report.script_error.take() {
        return Err(RunError::Script(e));
    }
    // The trace lines that led to each failed check: replay (the run is deterministic).
    for r in report.results.iter_mut().filter(|r| !r.ok) {
        let Some(at) = r.at else { continue };
        let mut sink = PrefixSink::new(PREFIX_LINES, at.event);
        let mut replay = Runner::<P>::new(plan, &params, Vec::new(), opts.limits);
        replay.run(&mut sink);
        r.prefix = sink.lines.into_iter().collect();
    }
    Ok((recorder.into_events(), report))
}

/// Runs `plan` with process type `P` and renders it as `picture`.
pub fn picture_plan<P: Process>(plan: &Plan, opts: &RunOptions, picture: Picture) -> Result<(String, RunReport), RunError> {
    let (events, report) = record::<P>(plan, opts)?;
    Ok((picture.render(&events, &plan.nodes, &report), report))
}
