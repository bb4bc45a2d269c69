//! The throughput benchmark behind `distlab bench`.
//!
//! It runs one workload — a Chang-Roberts ring election (`election.ring`) in
//! which every node initiates at time 0 — on the real engine, twice per
//! repetition: with the trace off ([`Format::Quiet`], summary and checks only,
//! written to a sink) and with the text trace written to `/dev/null`. In the
//! same process it measures a *bare-queue baseline*: a plain
//! `BinaryHeap<(Reverse<u64>, u64)>` pop+push loop holding as many entries as
//! the engine's queue holds on average over the run (its mean length: pending
//! deliveries and timers, stale keys of cancelled timers not counted) and
//! doing as many pop+push pairs as the engine handled events. The engine's rate divided by the baseline's is the figure the
//! targets are stated in, so a slow or noisy machine moves both sides.
//!
//! Every measurement is repeated and the **median** is reported. A repetition
//! of a small size repeats its workload until it has handled at least
//! [`MIN_EVENTS_PER_SAMPLE`] events, so that a 1,000-node run (a few
//! milliseconds) is not timed alone. Wall-clock time is read here only; the
//! engine itself never sees it, and every run of one size handles exactly the
//! same events.
//!
//! Peak memory is the process's `VmHWM` from `/proc/self/status` (Linux): a
//! high-water mark of the whole process, so only a process that runs a single
//! size gives a clean figure for that size.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::hint::black_box;
use std::io;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::algorithms::registry;
use crate::engine::{Format, Limits, RunOptions};
use crate::process::{Nanos, NodeId};
use crate::report::RunReport;
use crate::scenario::model::{Command, Expect};
use crate::scenario::units::{Latency, Percent};
use crate::scenario::{Action, Plan};

/// `--workload transport`: the real transports in lockstep against bare loops.
pub use crate::transport::bench as transport;

/// The seed of every benchmark run.
pub const SEED: u64 = 1;
/// The per-message latency of the benchmark network: 1ms..3ms.
pub const LATENCY: Latency = Latency { lo: 1_000_000, hi: 3_000_000 };
/// By default a repetition handles at least this many events (it repeats
/// small runs).
pub const MIN_EVENTS_PER_SAMPLE: u64 = 2_000_000;
/// Target: the quiet engine reaches this share of the bare-queue rate.
pub const QUIET_TARGET_RATIO: f64 = 0.40;
/// Target: the text trace renders at least this many events per second.
pub const TEXT_TARGET_EVENTS_PER_S: f64 = 5_000_000.0;

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("the algorithm {0} is not in the registry")]
    UnknownAlgorithm(&'static str),
    #[error("{0} nodes: the benchmark needs between 2 and {max} nodes", max = MAX_NODES)]
    Nodes(u64),
    #[error("cannot open /dev/null for the text trace: {0}")]
    DevNull(io::Error),
    #[error(transparent)]
    Run(#[from] crate::engine::RunError),
    #[error("the {nodes}-node run failed its checks: {detail}")]
    Checks { nodes: u32, detail: String },
    #[error("the {nodes}-node run handled {a} events in one run and {b} in another: the engine is not deterministic")]
    Nondeterministic { nodes: u32, a: u64, b: u64 },
}

/// The largest ring the benchmark builds.
pub const MAX_NODES: u64 = 10_000_000;

/// The ring order of the node ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// 1, 2, …, n: about 7 events per node (the workload).
    #[default]
    Ascending,
    /// n, n−1, …, 1: Chang-Roberts' worst case, about n² events in all; few
    /// nodes and many events, for the memory figure.
    Descending,
}

/// What a benchmark row runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// The ring election of [`ring_plan`].
    Ring { order: Order },
    /// Ricart–Agrawala with every node asking `requests` times ([`ricart_agrawala_plan`]).
    RicartAgrawala { requests: u32 },
}

/// The mutual-exclusion workload: `mutex.ricart-agrawala` on `n` nodes, each
/// asking for the critical section `requests` times at 0ms (a node queues its
/// own requests), hold 1ms, latency 1ms..3ms, seed [`SEED`]: 2(N−1) messages
/// per entry, N·requests entries.
pub fn ricart_agrawala_plan(n: u32, requests: u32) -> Result<Plan, BenchError> {
    let algorithm = registry::find("mutex.ricart-agrawala").ok_or(BenchError::UnknownAlgorithm("mutex.ricart-agrawala"))?;
    let nodes: Vec<NodeId> = (1..=n).collect();
    let command = Command { name: "request".to_string(), args: Vec::new() };
    let mut timeline = Vec::with_capacity((n as usize) * (requests as usize));
    for _ in 0..requests {
        for &node in &nodes {
            timeline.push((0, Action::Command { node, command: command.clone() }));
        }
    }
    let mut params = serde_yaml::Mapping::new();
    params.insert("hold".into(), "1ms".into());
    let name = format!("bench: Ricart-Agrawala, {n} nodes, {requests} requests each");
    Ok(bench_plan(name, algorithm, nodes, serde_yaml::Value::Mapping(params), timeline))
}

/// A benchmark plan: seed [`SEED`], latency [`LATENCY`], no loss, no clocks,
/// no horizon (a run ends when its work is done).
fn bench_plan(
    name: String,
    algorithm: &'static registry::Algorithm,
    nodes: Vec<NodeId>,
    params: serde_yaml::Value,
    timeline: Vec<(Nanos, Action)>,
) -> Plan {
    Plan {
        name,
        algorithm,
        nodes,
        seed: SEED,
        latency: LATENCY,
        loss: Percent(0.0),
        duplicate: Percent(0.0),
        links: Vec::new(),
        clocks: BTreeMap::new(),
        adjust: Default::default(),
        slew_ppm: 500.0,
        params,
        until: Nanos::MAX,
        timeline,
        expect: Expect::default(),
        script: None,
        transport: Default::default(),
        wire: Default::default(),
    }
}

/// The benchmark's plan: `election.ring` on `n` nodes in `order`, every node
/// told to `start_election` at 0ms, latency 1ms..3ms, no loss, seed [`SEED`].
pub fn ring_plan(n: u32, order: Order) -> Result<Plan, BenchError> {
    const NAME: &str = "election.ring";
    if !(2..=MAX_NODES).contains(&u64::from(n)) {
        return Err(BenchError::Nodes(u64::from(n)));
    }
    let algorithm = registry::find(NAME).ok_or(BenchError::UnknownAlgorithm(NAME))?;
    let nodes: Vec<NodeId> = match order {
        Order::Ascending => (1..=n).collect(),
        Order::Descending => (1..=n).rev().collect(),
    };
    let command = Command { name: "start_election".to_string(), args: Vec::new() };
    let timeline = nodes.iter().map(|&node| (0, Action::Command { node, command: command.clone() })).collect();
    let name = format!("bench: ring election, {n} nodes ({order:?}), every node initiates");
    Ok(bench_plan(name, algorithm, nodes, serde_yaml::Value::Null, timeline))
}

/// Where a benchmark run writes its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trace {
    /// `--quiet`: no trace; the summary and checks go to `io::sink()`.
    Quiet = 0,
    /// The fixed-column text trace, written to `/dev/null`.
    TextToDevNull = 1,
}

/// Runs `plan` once on the engine and returns its report and how long it took
/// (building the runner, the run, the checks and the output).
pub fn run_once(plan: &Plan, trace: Trace, dev_null: &mut File) -> Result<(RunReport, Duration), BenchError> {
    let format = match trace {
        Trace::Quiet => Format::Quiet,
        Trace::TextToDevNull => Format::Text,
    };
    let opts = RunOptions { format, limits: Limits::default() };
    let start = Instant::now();
    let report = match trace {
        Trace::Quiet => (plan.algorithm.run)(plan, &opts, &mut io::sink())?,
        Trace::TextToDevNull => (plan.algorithm.run)(plan, &opts, dev_null)?,
    };
    let took = start.elapsed();
    Ok((black_box(report), took))
}

/// The bare-queue baseline: a `BinaryHeap` min-queue of `(time, seq)` holding
/// `entries` entries; each of the `ops` steps pops the earliest entry and
/// pushes one 1–3ms later, as the engine's queue does. Returns the elapsed time.
pub fn bare_queue(entries: usize, ops: u64) -> Duration {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // xorshift64: a cheap, fixed stream (the engine draws with ChaCha8).
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut heap: BinaryHeap<(Reverse<u64>, u64)> = BinaryHeap::with_capacity(entries + 1);
    for seq in 0..entries as u64 {
        heap.push((Reverse(1_000_000 + next() % 2_000_001), seq));
    }
    let start = Instant::now();
    for seq in entries as u64..entries as u64 + ops {
        let (Reverse(t), _) = heap.pop().expect("the heap holds `entries` entries");
        heap.push((Reverse(t + 1_000_000 + next() % 2_000_001), seq));
    }
    let took = start.elapsed();
    black_box(heap.peek());
    took
}

/// Which engine runs a measurement times.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Modes {
    /// The quiet run and the text run (the figures).
    #[default]
    Both,
    /// Only the quiet run (for profiling the engine).
    Quiet,
    /// Only the text run (for profiling the renderer).
    Text,
}

impl Modes {
    fn traces(self) -> &'static [Trace] {
        match self {
            Modes::Both => &[Trace::Quiet, Trace::TextToDevNull],
            Modes::Quiet => &[Trace::Quiet],
            Modes::Text => &[Trace::TextToDevNull],
        }
    }
}

/// One size's medians. A rate is `None` when its mode was not measured.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub nodes: u32,
    pub workload: Workload,
    /// The engine queue's mean length over the run.
    pub mean_queue: f64,
    /// Entries the bare-queue baseline holds: the engine's mean queue length
    /// (rounded), for every workload.
    pub baseline_entries: usize,
    /// Messages per critical-section entry (Ricart–Agrawala).
    pub messages_per_cs: Option<f64>,
    /// Events of one run (deliveries, timers, timeline steps); the same in every run.
    pub events: u64,
    /// Messages sent in one run.
    pub messages: u64,
    /// Trace lines of one text run (events, sends, observations …).
    pub trace_lines: u64,
    /// How many times a repetition ran the workload.
    pub batch: u64,
    pub repetitions: usize,
    /// Median bare-queue rate, million pop+push per second.
    pub bare_mops: f64,
    /// Median quiet engine rate, million events per second.
    pub quiet_mevs: Option<f64>,
    /// Median text-trace engine rate, million events per second.
    pub text_mevs: Option<f64>,
    /// `quiet_mevs / bare_mops`.
    pub quiet_ratio: Option<f64>,
    /// `text_mevs / bare_mops`.
    pub text_ratio: Option<f64>,
    /// The process's peak resident set so far, KiB (`VmHWM`); `None` off Linux.
    pub peak_rss_kib: Option<u64>,
    /// Whether the quiet target holds (true when not measured).
    pub quiet_target_met: bool,
    /// Whether the text target holds (true when not measured).
    pub text_target_met: bool,
}

/// The median of `v` (sorted in place); the mean of the two middle values for
/// an even count.
pub fn median(v: &mut [f64]) -> f64 {
    assert!(!v.is_empty(), "a median needs at least one value");
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 }
}

/// Measures one ring size: `repetitions` samples of the baseline and of the
/// engine runs `modes` selects, interleaved, and their medians. A sample
/// repeats the run until it has handled at least `min_events` events.
pub fn measure(n: u32, workload: Workload, repetitions: usize, modes: Modes, min_events: u64) -> Result<Row, BenchError> {
    let plan = match workload {
        Workload::Ring { order } => ring_plan(n, order)?,
        Workload::RicartAgrawala { requests } => ricart_agrawala_plan(n, requests)?,
    };
    let mut dev_null = File::options().write(true).open("/dev/null").map_err(BenchError::DevNull)?;
    // A warm-up run fixes the event count and checks the election's verdicts.
    let (first, _) = run_once(&plan, Trace::Quiet, &mut dev_null)?;
    if !first.passed() {
        let detail = first.failures().map(|r| format!("{}: {}", r.name, r.detail)).collect::<Vec<_>>().join("; ");
        return Err(BenchError::Checks { nodes: n, detail });
    }
    let events = first.stats.events;
    let messages = first.stats.sent.total();
    let mean_queue = first.stats.queue_len_sum as f64 / events.max(1) as f64;
    // "Holding the same number of entries": the engine's mean queue length.
    let baseline_entries = (mean_queue.round() as usize).max(1);
    let messages_per_cs = match workload {
        Workload::Ring { .. } => None,
        Workload::RicartAgrawala { .. } => {
            let entries = first.stats.observations.get("enter").max(1);
            Some(messages as f64 / entries as f64)
        }
    };
    let trace_lines = count_trace_lines(&plan)?;
    let batch = min_events.div_ceil(events.max(1)).max(1);
    let total = events * batch;
    let reps = repetitions.max(1);
    let mut bare = Vec::new();
    let mut rates: [Vec<f64>; 2] = Default::default();
    for _ in 0..reps {
        bare.push(total as f64 / bare_queue(baseline_entries, total).as_secs_f64() / 1e6);
        for &trace in modes.traces() {
            let mut took = Duration::ZERO;
            for _ in 0..batch {
                let (report, t) = run_once(&plan, trace, &mut dev_null)?;
                if report.stats.events != events {
                    return Err(BenchError::Nondeterministic { nodes: n, a: events, b: report.stats.events });
                }
                took += t;
            }
            rates[trace as usize].push(total as f64 / took.as_secs_f64() / 1e6);
        }
    }
    let bare_mops = median(&mut bare);
    let [quiet, text] = rates.map(|mut r| (!r.is_empty()).then(|| median(&mut r)));
    let (quiet_ratio, text_ratio) = (quiet.map(|q| q / bare_mops), text.map(|t| t / bare_mops));
    Ok(Row {
        nodes: n,
        workload,
        mean_queue,
        baseline_entries,
        messages_per_cs,
        events,
        messages,
        trace_lines,
        batch,
        repetitions: reps,
        bare_mops,
        quiet_mevs: quiet,
        text_mevs: text,
        quiet_ratio,
        text_ratio,
        peak_rss_kib: peak_rss_kib(),
        quiet_target_met: quiet_ratio.is_none_or(|r| r >= QUIET_TARGET_RATIO),
        text_target_met: text.is_none_or(|t| t * 1e6 >= TEXT_TARGET_EVENTS_PER_S),
    })
}

/// Counts the lines of the event part of one text run of `plan`.
fn count_trace_lines(plan: &Plan) -> Result<u64, BenchError> {
    struct Lines(u64);
    impl io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.iter().filter(|&&b| b == b'\n').count() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let opts = RunOptions { format: Format::Text, limits: Limits::default() };
    let mut lines = Lines(0);
    let report = (plan.algorithm.run)(plan, &opts, &mut lines)?;
    let summary = report.summary_text().bytes().filter(|&b| b == b'\n').count() as u64;
    // Two header lines and the column line come before the events.
    Ok(lines.0.saturating_sub(summary + 3))
}

/// The process's peak resident set size in KiB, from `VmHWM` in
/// `/proc/self/status`; `None` where that file does not exist.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn ring_plan_elects_the_highest() {
        let plan = ring_plan(50, Order::Descending).unwrap();
        let mut null = File::options().write(true).open("/dev/null").unwrap();
        let (report, _) = run_once(&plan, Trace::Quiet, &mut null).unwrap();
        assert!(report.passed());
        let (again, _) = run_once(&plan, Trace::TextToDevNull, &mut null).unwrap();
        assert_eq!(report.stats.events, again.stats.events);
    }

    #[test]
    fn bare_queue_runs() {
        bare_queue(100, 1000);
    }
}
