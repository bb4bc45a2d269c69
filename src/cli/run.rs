//! `distlab run`: load each scenario, run it, print trace, summary and checks,
//! or draw it (`--format svg|mermaid|shiviz|html`, `--out FILE`, `--html FILE`).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use distlab::engine::{Format, Limits, RunError, RunOptions};
use distlab::report::RunReport;
use distlab::scenario::budget::{DEFAULT_MAX_MEMORY, MemoryLimit};
use distlab::scenario::lua::LuaLimits;
use distlab::scenario::units::Dur;
use distlab::scenario::{LoadOptions, Plan};
use distlab::trace::pictures::{Picture, PictureOptions};

use crate::Outcome;

/// What `distlab run` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    /// Fixed-column text trace, then the summary (what snapshots hold).
    Text,
    /// One JSON object per event, then one summary object.
    Jsonl,
    /// No trace: the summary only.
    Quiet,
    /// A self-contained SVG space-time diagram.
    Svg,
    /// A Mermaid sequenceDiagram (GitHub and mdBook render it).
    Mermaid,
    /// A ShiViz log with vector clocks.
    Shiviz,
    /// One self-contained HTML page: the diagram, the checks, the summary.
    Html,
}

impl OutFormat {
    fn from_extension(path: &Path) -> Option<OutFormat> {
        match path.extension()?.to_str()? {
            "txt" | "trace" => Some(OutFormat::Text),
            "jsonl" | "json" => Some(OutFormat::Jsonl),
            "svg" => Some(OutFormat::Svg),
            "mmd" | "mermaid" => Some(OutFormat::Mermaid),
            "shiviz" | "log" => Some(OutFormat::Shiviz),
            "html" | "htm" => Some(OutFormat::Html),
            _ => None,
        }
    }

    fn picture(self) -> Option<Picture> {
        match self {
            OutFormat::Svg => Some(Picture::Svg),
            OutFormat::Mermaid => Some(Picture::Mermaid),
            OutFormat::Shiviz => Some(Picture::Shiviz),
            OutFormat::Html => Some(Picture::Html),
            _ => None,
        }
    }

    fn engine(self) -> Format {
        match self {
            OutFormat::Jsonl => Format::Jsonl,
            OutFormat::Quiet => Format::Quiet,
            _ => Format::Text,
        }
    }
}

#[derive(Args)]
pub struct RunArgs {
    /// Scenario files (.yaml, .lua).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Use this seed instead of the scenario's.
    #[arg(long)]
    pub seed: Option<u64>,
    /// What to write: a trace, or a picture of the run (default: text, or
    /// what the --out file's extension says: .svg, .mmd, .shiviz, .html, .jsonl).
    #[arg(long, value_enum)]
    pub format: Option<OutFormat>,
    /// Write to this file instead of the terminal (one scenario only).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also write an HTML report (diagram, checks, summary) to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Draw the SVG diagram from this time on (e.g. 20ms), for long runs.
    #[arg(long, value_parser = parse_dur)]
    pub from: Option<Dur>,
    /// Draw the SVG diagram up to this time (e.g. 80ms).
    #[arg(long, value_parser = parse_dur)]
    pub to: Option<Dur>,
    /// Print no trace, only the summary and checks (same as --format quiet).
    #[arg(long, short)]
    pub quiet: bool,
    /// Stop a run after this many events.
    #[arg(long, default_value_t = Limits::default().max_events)]
    pub max_events: u64,
    /// Refuse a scenario whose run would hold more memory than this (estimated
    /// from its algorithm and node count before it starts), e.g. 16GiB, 512MiB,
    /// or unlimited.
    #[arg(long, value_name = "SIZE", default_value_t = DEFAULT_MAX_MEMORY, value_parser = MemoryLimit::parse)]
    pub max_memory: MemoryLimit,
    #[command(flatten)]
    pub lua: LuaArgs,
    #[command(flatten)]
    pub wire: super::wire::WireArgs,
}

/// The limits of Lua scenario scripts: shared by `distlab run` and `distlab test`.
#[derive(Args, Debug, Clone)]
pub struct LuaArgs {
    /// Lua scenarios: the most instructions a script may run, per run (and
    /// for reading the file); `limits { instructions = … }` in the script may
    /// lower it, never raise it. Every coroutine, pcall and string pattern
    /// counts.
    #[arg(long, value_name = "N", default_value_t = LuaLimits::default().instructions)]
    pub lua_instructions: u64,
    /// Lua scenarios: the memory a script may use, in MiB, what it prints
    /// and asks of the run included; `limits { memory_mb = … }` may lower it.
    #[arg(long, value_name = "MIB", default_value_t = (LuaLimits::default().memory >> 20) as u64,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub lua_memory: u64,
    /// Lua scenarios: the wall-clock time a script may run, per run (a guard
    /// against work the instruction count does not see).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_positive)]
    pub lua_timeout: Dur,
}

impl LuaArgs {
    pub fn limits(&self) -> LuaLimits {
        LuaLimits {
            instructions: self.lua_instructions,
            memory: (self.lua_memory as usize) << 20,
            time: std::time::Duration::from_nanos(self.lua_timeout.0),
        }
    }
}

fn parse_positive(text: &str) -> Result<Dur, String> {
    let d = Dur::parse(text)?;
    if d.0 == 0 {
        return Err("a limit of 0 would stop every script: give a positive duration, e.g. 30s".into());
    }
    Ok(d)
}

pub fn run(args: RunArgs) -> anyhow::Result<Outcome> {
    if (args.out.is_some() || args.html.is_some()) && args.files.len() > 1 {
        eprintln!("distlab run: --out and --html write one scenario's output: give one FILE");
        return Ok(Outcome::BadInput);
    }
    let format = match (args.quiet, args.format, &args.out) {
        (true, _, _) => OutFormat::Quiet,
        (false, Some(f), _) => f,
        (false, None, Some(out)) => match OutFormat::from_extension(out) {
            Some(f) => f,
            None => {
                eprintln!(
                    "distlab run: cannot tell the format from {}: add --format (text, jsonl, svg, mermaid, shiviz, html)",
                    out.display()
                );
                return Ok(Outcome::BadInput);
            }
        },
        (false, None, None) => OutFormat::Text,
    };
    let limits = Limits { max_events: args.max_events };
    let opts = RunOptions { format: format.engine(), limits };
    let stdout = std::io::stdout();
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?,
        )),
        None => Box::new(stdout.lock()),
    };
    let mut outcome = Outcome::Ok;
    for (i, file) in args.files.iter().enumerate() {
        let mut plan = match distlab::scenario::load_with(file, &LoadOptions { max_memory: args.max_memory, lua: args.lua.limits() }) {
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
        args.wire.apply(&mut plan);
        if i > 0 && format != OutFormat::Jsonl && format.picture().is_none() {
            writeln!(out)?;
        }
        let result = match format.picture() {
            Some(picture) => {
                draw(&plan, &opts, PictureOptions { picture, from: args.from.map(|d| d.0), to: args.to.map(|d| d.0) }, &mut out)
            }
            None => (plan.algorithm.run)(&plan, &opts, &mut out),
        };
        let report = match result {
            Ok(r) => r,
            Err(RunError::Script(e)) => {
                out.flush()?;
                eprintln!("{e}");
                outcome = Outcome::BadInput;
                continue;
            }
            Err(e @ RunError::Transport { .. }) => {
                out.flush()?;
                eprintln!("distlab run: {}: {e}", file.display());
                outcome = Outcome::Failed;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(path) = &args.html {
            let plan = Plan { transport: distlab::transport::TransportKind::Sim, ..plan.clone() };
            let (page, _) = (plan.algorithm.picture)(&plan, &RunOptions { format: Format::Quiet, limits }, Picture::Html.into())?;
            std::fs::write(path, page).map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?;
        }
        if !report.passed() && matches!(outcome, Outcome::Ok) {
            outcome = Outcome::Failed;
        }
    }
    out.flush()?;
    Ok(outcome)
}

fn draw(plan: &Plan, opts: &RunOptions, how: PictureOptions, out: &mut dyn Write) -> Result<RunReport, RunError> {
    let (text, report) = (plan.algorithm.picture)(plan, opts, how)?;
    out.write_all(text.as_bytes())?;
    Ok(report)
}

fn parse_dur(text: &str) -> Result<Dur, String> {
    Dur::parse(text)
}
