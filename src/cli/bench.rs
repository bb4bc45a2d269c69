//! `distlab bench`: engine throughput against a bare binary-heap baseline.
//!
//! The measuring is in [`distlab::bench`]; this file parses the options and
//! prints the table (or JSON).

use std::io::Write;

use clap::{Args, ValueEnum};
use distlab::bench::{self, Modes, Order, Row, Workload};

use crate::Outcome;

const AFTER_HELP: &str = "\
The workload is a ring election (election.ring) in which every node starts an
election at 0ms; latency 1ms..3ms, no loss, seed 1. Each size is run with the
trace off (--quiet: summary and checks only) and with the text trace written to
/dev/null. In the same process, a bare BinaryHeap<(Reverse<u64>, u64)> pop+push
loop holding as many entries as the engine's queue holds on average (the
`queue` column) does as many operations as the run has events; the ratios are
engine / bare queue. Figures are medians of --runs repetitions.

Targets: quiet >= 40% of the bare-queue rate; text trace >= 5 M events/s.
Build with --release: a debug build is an order of magnitude slower.

Peak RSS is the process's high-water mark (VmHWM), so it grows with the largest
size measured so far; for one size's memory run one size per process:
  distlab bench --nodes 300000 --runs 1

--workload transport runs Ricart-Agrawala (10 nodes, 200 requests each by
default) quiet on sim, udp, tcp, multicast and file, and compares each one's
cost per message with a bare UDP, TCP or file write/read loop of the same frame
size in the same process; it also times the JSON codec alone. Target: lockstep
udp <= 3x the bare UDP loop per message.

Examples:
  distlab bench                                    1k, 10k and 100k nodes, 5 runs
  distlab bench --workload transport --format json
  distlab bench --nodes 1000 --runs 9 --format json
  distlab bench --nodes 5000 --order descending --runs 1   ~1.9M events, few nodes

Exit codes: 0 targets met, 1 a target was missed, 2 the benchmark could not run.";

#[derive(Args)]
#[command(after_help = AFTER_HELP)]
pub struct BenchArgs {
    /// What to run: the ring election, or Ricart-Agrawala mutual exclusion.
    #[arg(long, value_enum, default_value_t = WorkloadArg::Ring)]
    pub workload: WorkloadArg,
    /// Sizes to measure, comma-separated (default: 1000,10000,100000 for the
    /// ring; 10,100 for Ricart-Agrawala).
    #[arg(long, value_name = "N,...", value_delimiter = ',')]
    pub nodes: Vec<u32>,
    /// Ricart-Agrawala: requests per node (default 10000 for 10 nodes and 100
    /// for 100 nodes, as the issue asks: about 2M events each).
    #[arg(long, value_name = "K")]
    pub requests: Option<u32>,
    /// Repetitions per size; the table shows their medians.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Ring order: ascending ids (about 7 events per node) or descending (the
    /// Chang-Roberts worst case, about n² events).
    #[arg(long, value_enum, default_value_t = Order::Ascending)]
    pub order: Order,
    /// Which engine runs to time: both, or only one (for profiling).
    #[arg(long, value_enum, default_value_t = Modes::Both)]
    pub modes: Modes,
    /// A repetition repeats a small run until it has handled this many events.
    #[arg(long, value_name = "N", default_value_t = bench::MIN_EVENTS_PER_SAMPLE)]
    pub min_events: u64,
    /// How to print the results.
    #[arg(long, value_enum, default_value_t = BenchFormat::Table)]
    pub format: BenchFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WorkloadArg {
    /// Ring election, every node initiates.
    Ring,
    /// Ricart-Agrawala, every node asks repeatedly.
    RicartAgrawala,
    /// Ricart-Agrawala (N = 10, 200 requests each by default) in lockstep on
    /// every transport, against bare UDP/TCP/file loops and the codec alone.
    Transport,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BenchFormat {
    /// An aligned table with the targets.
    Table,
    /// One JSON object: {"rows": [...]}.
    Json,
}

pub fn run(args: BenchArgs) -> anyhow::Result<Outcome> {
    if cfg!(debug_assertions) {
        eprintln!("distlab bench: this is a debug build; build with --release for meaningful figures");
    }
    if args.workload == WorkloadArg::Transport {
        return run_transport(&args);
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.format == BenchFormat::Table {
        writeln!(out, "{}", header())?;
        out.flush()?;
    }
    let mut rows = Vec::new();
    let sizes = match (args.nodes.is_empty(), args.workload) {
        (false, _) => args.nodes.clone(),
        (true, WorkloadArg::Ring) => vec![1_000, 10_000, 100_000],
        (true, WorkloadArg::RicartAgrawala) => vec![10, 100],
        (true, WorkloadArg::Transport) => unreachable!("handled by run_transport"),
    };
    for &n in &sizes {
        let workload = match args.workload {
            WorkloadArg::Ring => Workload::Ring { order: args.order },
            WorkloadArg::RicartAgrawala => {
                Workload::RicartAgrawala { requests: args.requests.unwrap_or(if n <= 10 { 10_000 } else { 100 }) }
            }
            WorkloadArg::Transport => unreachable!("handled by run_transport"),
        };
        let row = bench::measure(n, workload, args.runs as usize, args.modes, args.min_events)?;
        if args.format == BenchFormat::Table {
            writeln!(out, "{}", line(&row))?;
            out.flush()?;
        }
        rows.push(row);
    }
    let met = rows.iter().all(|r| r.quiet_target_met && r.text_target_met);
    match args.format {
        BenchFormat::Table => {
            writeln!(out)?;
            writeln!(
                out,
                "targets: quiet >= {:.0}% of bare queue, text >= {:.0} M events/s: {}",
                bench::QUIET_TARGET_RATIO * 100.0,
                bench::TEXT_TARGET_EVENTS_PER_S / 1e6,
                if met { "met" } else { "MISSED" }
            )?;
            writeln!(out, "medians of {} runs; {:?}; peak RSS is the process's VmHWM so far", args.runs, args.workload)?;
        }
        BenchFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "rows": rows, "targets_met": met }))?;
            writeln!(out)?;
        }
    }
    Ok(if met { Outcome::Ok } else { Outcome::Failed })
}

/// `--workload transport`: one report per size (default 10 nodes), table or
/// `{"reports": [...], "targets_met": bool}`.
fn run_transport(args: &BenchArgs) -> anyhow::Result<Outcome> {
    use bench::transport;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let sizes = if args.nodes.is_empty() { vec![transport::DEFAULT_NODES] } else { args.nodes.clone() };
    let requests = args.requests.unwrap_or(transport::DEFAULT_REQUESTS);
    let mut reports = Vec::new();
    for &n in &sizes {
        let report = transport::measure(n, requests, args.runs as usize)?;
        if args.format == BenchFormat::Table {
            writeln!(out, "{}", transport::table(&report))?;
            out.flush()?;
        }
        reports.push(report);
    }
    let met = reports.iter().all(|r| r.udp_target_met);
    match args.format {
        BenchFormat::Table => writeln!(out, "medians of up to {} runs (no run starts after {:?})", args.runs, transport::TIME_BUDGET)?,
        BenchFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "reports": reports, "targets_met": met }))?;
            writeln!(out)?;
        }
    }
    Ok(if met { Outcome::Ok } else { Outcome::Failed })
}

fn header() -> String {
    format!(
        "{:>8}  {:>9}  {:>7}  {:>8}  {:>10}  {:>16}  {:>16}  {:>9}  {}",
        "nodes", "events", "queue", "msgs/CS", "bare Mop/s", "quiet Mev/s", "text Mev/s", "peak RSS", "targets"
    )
}

fn line(r: &Row) -> String {
    let rss = r.peak_rss_kib.map_or("-".to_string(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
    let rate = |mevs: Option<f64>, ratio: Option<f64>| match (mevs, ratio) {
        (Some(m), Some(q)) => format!("{m:>7.2} {:>8}", format!("({:.1}%)", q * 100.0)),
        _ => format!("{:>16}", "-"),
    };
    let verdict = |mevs: Option<f64>, ok: bool| match (mevs, ok) {
        (None, _) => "-",
        (Some(_), true) => "ok",
        (Some(_), false) => "MISSED",
    };
    let per_cs = r.messages_per_cs.map_or("-".to_string(), |m| format!("{m:.2}"));
    format!(
        "{:>8}  {:>9}  {:>7.0}  {:>8}  {:>10.2}  {}  {}  {:>9}  quiet {}, text {}",
        r.nodes,
        r.events,
        r.mean_queue,
        per_cs,
        r.bare_mops,
        rate(r.quiet_mevs, r.quiet_ratio),
        rate(r.text_mevs, r.text_ratio),
        rss,
        verdict(r.quiet_mevs, r.quiet_target_met),
        verdict(r.text_mevs, r.text_target_met),
    )
}
