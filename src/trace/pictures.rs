//! Pictures of a run: runs a plan with a [`Recorder`] and renders the record
//! as an SVG space-time diagram, a Mermaid sequence diagram, a ShiViz log or an
//! HTML report ([`Picture`]).
//!
//! [`record`] runs a plan exactly as `run_plan` does (the same runner, the same
//! checkers, the same `expect:` evaluation and failure prefixes), but keeps the
//! trace as [`RecordedEvent`]s instead of streaming it to a writer.
//! [`picture_plan`] is the monomorphised entry the algorithm registry holds
//! (`Algorithm::picture`).

use crate::engine::{RunError, RunOptions, parse_params};
use crate::process::{Nanos, NodeId, Process};
use crate::report::RunReport;
use crate::scenario::Plan;
use crate::trace::recorded::{RecordedEvent, Recorder};

use super::svg::SvgOptions;
use super::{html, mermaid, shiviz, svg};

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
    let mut report = crate::engine::execute::<P>(plan, &params, opts, &mut recorder);
    if let Some(e) = report.take_fatal() {
        return Err(e);
    }
    crate::engine::fill_prefixes::<P>(plan, &params, opts, &mut report);
    Ok((recorder.into_events(), report))
}

/// Which picture, and for the SVG diagram the window of time to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PictureOptions {
    pub picture: Picture,
    /// First and last time drawn in the SVG diagram, in ns (the whole run when `None`).
    pub from: Option<Nanos>,
    pub to: Option<Nanos>,
}

impl From<Picture> for PictureOptions {
    fn from(picture: Picture) -> Self {
        PictureOptions { picture, from: None, to: None }
    }
}

/// Runs `plan` with process type `P` and renders it as the picture `how` asks for.
pub fn picture_plan<P: Process>(plan: &Plan, opts: &RunOptions, how: PictureOptions) -> Result<(String, RunReport), RunError> {
    let (events, report) = record::<P>(plan, opts)?;
    let text = match how.picture {
        Picture::Svg if how.from.is_some() || how.to.is_some() => {
            let svg_opts = SvgOptions { from: how.from, to: how.to, ..SvgOptions::default() };
            svg::render(&events, &plan.nodes, &report.scenario, &svg_opts)
        }
        p => p.render(&events, &plan.nodes, &report),
    };
    Ok((text, report))
}
