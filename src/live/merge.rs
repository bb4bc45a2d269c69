//! The parent's half of a live run: merge the nodes' records by true time,
//! print them with the simulator's fixed-column renderer, and judge the run
//! with the algorithm's checkers (safety, agreement, ordering) and the
//! scenario's `expect:` block. No snapshot: real timing is not deterministic.

use std::io::Write;

use super::LiveError;
use super::record::{EndRec, RawRecord, RecEv, Record};
use crate::check::{EndState, expect};
use crate::engine::stats::Stats;
use crate::process::{Message, Nanos, NodeId, Process};
use crate::report::RunReport;
use crate::scenario::units::SignedDur;
use crate::scenario::{Action, Command, Plan};
use crate::trace::event::{StopReason, TraceEvent};
use crate::trace::text::{COLUMNS, render_line};
use crate::transport::TransportKind;

/// What the parent collected from its nodes.
pub struct Collected {
    pub records: Vec<RawRecord>,
    pub ends: Vec<EndRec>,
    pub transport: TransportKind,
    /// How long the run lasted (ns from the common start).
    pub duration: Nanos,
    /// Whether a `stop` step ended it.
    pub stopped: bool,
    /// Whether it ended because the nodes fell idle (`--stop-when-idle`).
    pub idle: bool,
    /// Print the summary only.
    pub quiet: bool,
}

pub type MergeFn = fn(&Plan, Collected, &mut dyn Write) -> Result<RunReport, LiveError>;

/// A network-wide timeline step, which no single node reports.
fn shared_event<'a, P: Process>(action: &'a Action, text: &'a mut String) -> Option<TraceEvent<'a, P>> {
    Some(match action {
        Action::Partition(groups) => TraceEvent::Partition { groups },
        Action::Block { from, to } => TraceEvent::Block { from, to },
        Action::Heal => TraceEvent::Heal,
        Action::Note(t) | Action::ShowClocks(t) => TraceEvent::Note { text: t },
        Action::SetLoss(p) => {
            *text = format!("loss {p}");
            TraceEvent::Network { change: text }
        }
        Action::SetDuplicate(p) => {
            *text = format!("duplicate {p}");
            TraceEvent::Network { change: text }
        }
        Action::SetLatency(l) => {
            *text = format!("latency {l}");
            TraceEvent::Network { change: text }
        }
        Action::SetDrift { node, ppm } => {
            *text = format!("clock of {node} now drifts {ppm} ppm");
            TraceEvent::Network { change: text }
        }
        Action::SetOffset { node, offset_ns } => {
            *text = format!("clock of {node} jumps to {}", SignedDur(*offset_ns));
            TraceEvent::Network { change: text }
        }
        _ => return None,
    })
}

/// Merges, prints and judges a live run of algorithm `P`.
pub fn merge<P: Process>(plan: &Plan, c: Collected, out: &mut dyn Write) -> Result<RunReport, LiveError> {
    let w = |e| LiveError::Io { what: "write the trace".into(), source: e };
    let n = plan.nodes.len();
    writeln!(
        out,
        "# {}\n# algorithm {}, {} node{}, seed {}, live over {} (wall-clock time)",
        plan.name,
        plan.algorithm.name,
        n,
        if n == 1 { "" } else { "s" },
        plan.seed,
        c.transport
    )
    .map_err(w)?;
    if !c.quiet {
        writeln!(out, "{COLUMNS}").map_err(w)?;
    }
    let mut stats = Stats::default();
    // Decode the records' messages as this algorithm's type.
    // (time, 0 for a shared timeline step / 1 for a node's record, node, counter, record, step)
    type Item<M> = (Nanos, u8, NodeId, u64, Option<Record<M>>, Option<usize>);
    let mut items: Vec<Item<P::Msg>> = Vec::new();
    for r in c.records {
        match serde_json::from_value::<RecEv<P::Msg>>(r.ev) {
            Ok(ev) => items.push((r.t, 1, r.n, r.k, Some(Record { t: r.t, n: r.n, k: r.k, line: r.line, ev }), None)),
            Err(_) => stats.undecodable += 1,
        }
    }
    for (k, (t, a)) in plan.timeline.iter().enumerate() {
        if *t <= c.duration && !matches!(a, Action::Crash(_) | Action::Recover(_) | Action::Command { .. } | Action::Stop) {
            items.push((*t, 0, 0, k as u64, None, Some(k)));
        }
    }
    items.sort_by_key(|x| (x.0, x.1, x.2, x.3));

    let mut checkers = P::checkers();
    let wants: Vec<bool> = checkers.iter().map(|c| c.wants_messages()).collect();
    let mut line = String::new();
    let mut text = String::new();
    for (index, (t, _, _, _, rec, step)) in items.iter().enumerate() {
        let index = index as u64;
        line.clear();
        let command;
        let ev: TraceEvent<'_, P> = if let Some(k) = step {
            let Some(ev) = shared_event::<P>(&plan.timeline[*k].1, &mut text) else { continue };
            stats.events += 1;
            render_line::<P>(&mut line, *t, &ev);
            ev
        } else {
            let r = rec.as_ref().expect("a record");
            line.push_str(&r.line);
            let node = r.n;
            match &r.ev {
                RecEv::Send { to, msg } => {
                    stats.sent.add(msg.kind());
                    TraceEvent::Send { from: node, to: *to, msg }
                }
                RecEv::Deliver { from, msg } => {
                    stats.events += 1;
                    stats.delivered += 1;
                    TraceEvent::Deliver { from: *from, to: node, msg }
                }
                RecEv::Drop { from, to, msg, reason } => {
                    stats.events += 1;
                    stats.dropped(*reason);
                    TraceEvent::Drop { from: *from, to: *to, msg, reason: *reason }
                }
                RecEv::Duplicate { from, to, msg } => {
                    stats.duplicated += 1;
                    TraceEvent::Duplicate { from: *from, to: *to, msg }
                }
                RecEv::Timer => {
                    // The timer's value stays with the node; its line says which.
                    stats.events += 1;
                    stats.timers += 1;
                    if !c.quiet {
                        writeln!(out, "{line}").map_err(w)?;
                    }
                    continue;
                }
                RecEv::Command { command: cmd } | RecEv::CommandIgnored { command: cmd } => {
                    stats.events += 1;
                    command = Command::parse(cmd).map_err(LiveError::Setup)?;
                    if matches!(r.ev, RecEv::Command { .. }) {
                        TraceEvent::Command { node, command: &command }
                    } else {
                        TraceEvent::CommandIgnored { node, command: &command }
                    }
                }
                RecEv::Observe { obs } => {
                    stats.observations.add(obs.tag());
                    TraceEvent::Observe { node, obs }
                }
                RecEv::Crash => {
                    stats.events += 1;
                    TraceEvent::Crash { node }
                }
                RecEv::Recover => {
                    stats.events += 1;
                    TraceEvent::Recover { node }
                }
            }
        };
        let message_event =
            matches!(ev, TraceEvent::Send { .. } | TraceEvent::Deliver { .. } | TraceEvent::Drop { .. } | TraceEvent::Duplicate { .. });
        for (k, c) in checkers.iter_mut().enumerate() {
            if wants[k] || !message_event {
                c.on_event(index, *t, &ev);
            }
        }
        if !c.quiet {
            writeln!(out, "{line}").map_err(w)?;
        }
    }
    stats.stop = if c.stopped {
        StopReason::Stopped
    } else if c.idle {
        StopReason::Quiescent
    } else {
        StopReason::Horizon
    };
    stats.end_time = c.duration;
    stats.undecodable += c.ends.iter().map(|e| e.undecodable).sum::<u64>();
    if !c.quiet {
        line.clear();
        render_line::<P>(&mut line, c.duration, &TraceEvent::Stop { reason: stats.stop, pending: 0 });
        writeln!(out, "{line}").map_err(w)?;
    }
    let mut alive = vec![false; n];
    let mut clocks = vec![0i64; n];
    let mut missing = Vec::new();
    for (i, id) in plan.nodes.iter().enumerate() {
        match c.ends.iter().find(|e| e.n == *id) {
            Some(e) => {
                alive[i] = e.alive;
                clocks[i] = e.clock;
            }
            None => missing.push(*id),
        }
    }
    if !missing.is_empty() {
        return Err(LiveError::Setup(format!("no end state from node(s) {missing:?}: the trace is incomplete")));
    }
    let end = EndState { nodes: &plan.nodes, alive: &alive, time: c.duration, clocks: &clocks, stats: &stats };
    let mut results = Vec::new();
    let mut metrics = Vec::new();
    for ch in checkers.iter_mut() {
        results.extend(ch.finish(&end, &plan.expect));
        metrics.extend(ch.metrics());
    }
    expect::evaluate(&plan.expect, &stats, &mut results);
    let sent = stats.sent.total();
    let rate = if c.duration > 0 { sent as f64 * 1e9 / c.duration as f64 } else { 0.0 };
    let secs = c.duration as f64 / 1e9;
    metrics.push(("live".into(), format!("{secs:.3}s over {}, {sent} messages sent ({rate:.0} msg/s)", c.transport)));
    let report = RunReport {
        scenario: plan.name.clone(),
        algorithm: plan.algorithm.name,
        nodes: n,
        seed: plan.seed,
        stats,
        metrics,
        results,
        alive: plan.nodes.iter().zip(&alive).filter(|(_, a)| **a).map(|(n, _)| *n).collect(),
        script_error: None,
        transport_error: None,
        wire: Default::default(),
        transport: c.transport,
    };
    out.write_all(report.summary_text().as_bytes()).map_err(w)?;
    out.flush().map_err(w)?;
    Ok(report)
}
