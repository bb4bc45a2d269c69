//! `clock.berkeley` — the Berkeley algorithm: a master averages the clocks
//! and sends each node its adjustment.
//!
//! **Algorithm.** On `sync` at the master (param `master`, default the first
//! node), or every `period`, the master sends `POLL` to every other node and
//! notes its own clock t0; each node answers `TIME T`. For a reply arriving
//! at t1 the master estimates the node's offset from its own clock as
//! T + (t1 − t0)/2 − t1. When every node has answered (or after `timeout`)
//! it takes the median of the offsets (its own is 0), keeps those within
//! `threshold` of that median — a clock further away is faulty and must not
//! pull the others — and averages them. Every node, the faulty ones and the
//! master included, then gets its own *adjustment* (average − its offset) in
//! `ADJUST Δ`, not an absolute time, so the delay of that message does not
//! matter; the master applies its own directly.
//!
//! **Error.** Each estimate is within ±RTT/2 of the truth, so after a round
//! the nodes' clocks agree within the largest RTT (plus drift over a round);
//! the average of the good clocks is not true time, only a consensus.
//!
//! **Messages.** 3(n − 1) per round.
//!
//! **Source.** R. Gusella and S. Zatti, "The accuracy of the clock
//! synchronization achieved by TEMPO in Berkeley UNIX 4.3BSD", IEEE Trans.
//! Software Engineering 15(7), 1989; Coulouris et al., §14.3.3.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::pick;
use super::signed;
use crate::algorithms::registry::ParamSpec;
use crate::check::Checker;
use crate::check::clock::SyncChecker;
use crate::process::{Ctx, Message, NodeId, Observation, Process, Setup};
use crate::scenario::Command;
use crate::scenario::units::{Dur, format_clock};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    Poll { round: u64 },
    Time { round: u64, time: i64 },
    Adjust { delta: i64 },
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Poll { round } => write!(f, "POLL #{round}"),
            Msg::Time { round, time } => write!(f, "TIME #{round} {}", format_clock(*time)),
            Msg::Adjust { delta } => write!(f, "ADJUST {}", signed(*delta)),
        }
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Poll { .. } => "POLL",
            Msg::Time { .. } => "TIME",
            Msg::Adjust { .. } => "ADJUST",
        }
    }
}

pub const KINDS: &[&str] = &["POLL", "TIME", "ADJUST"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    Period,
    /// The replies of round n are in (or late).
    Collect(u64),
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timer::Period => f.write_str("time to resynchronise"),
            Timer::Collect(r) => write!(f, "round #{r}: stop waiting for replies"),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The master (default: the first node).
    #[serde(default)]
    pub master: Option<NodeId>,
    /// Clocks further than this from the median are left out of the average (default 1s).
    #[serde(default)]
    pub threshold: Option<Dur>,
    /// The master starts a round this often (default: only on sync).
    #[serde(default)]
    pub period: Option<Dur>,
    /// How long the master waits for replies (default 4 × the largest latency + 1ms).
    #[serde(default)]
    pub timeout: Option<Dur>,
}

pub const PARAMS: &[ParamSpec] = &[
    ParamSpec { name: "master", help: "the master (default: the first node)" },
    ParamSpec { name: "threshold", help: "clocks further than this from the median are not averaged (default 1s)" },
    ParamSpec { name: "period", help: "the master starts a round this often (default: only on sync)" },
    ParamSpec { name: "timeout", help: "wait this long for the replies (default 4x the largest latency + 1ms)" },
];

pub struct BerkeleyNode {
    id: NodeId,
    master: NodeId,
    threshold: i64,
    period: Option<u64>,
    timeout: u64,
    round: u64,
    /// The current round's start (master's clock) and estimated offsets.
    polled_at: Option<i64>,
    offsets: BTreeMap<NodeId, i64>,
}

impl BerkeleyNode {
    fn poll(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.polled_at.is_some() {
            return;
        }
        self.round += 1;
        self.polled_at = Some(ctx.now());
        self.offsets.clear();
        ctx.broadcast(Msg::Poll { round: self.round });
        ctx.set_timer(Timer::Collect(self.round), self.timeout);
    }

    fn finish_round(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.polled_at.take().is_none() {
            return;
        }
        ctx.cancel_timer(Timer::Collect(self.round));
        let mut all: Vec<(NodeId, i64)> = self.offsets.iter().map(|(&n, &o)| (n, o)).collect();
        all.push((self.id, 0));
        all.sort_by_key(|&(n, _)| n);
        let mut sorted: Vec<i64> = all.iter().map(|x| x.1).collect();
        sorted.sort_unstable();
        let median = sorted[(sorted.len() - 1) / 2];
        let good: Vec<i64> = all.iter().map(|x| x.1).filter(|o| (o - median).abs() <= self.threshold).collect();
        // The median itself is always good, so `good` is never empty.
        let avg = good.iter().map(|&o| i128::from(o)).sum::<i128>() / good.len().max(1) as i128;
        let avg = avg as i64;
        let list: Vec<String> = all
            .iter()
            .map(|&(n, o)| {
                let out = if (o - median).abs() > self.threshold { " (ignored)" } else { "" };
                format!("{n} {}{out}", signed(o))
            })
            .collect();
        ctx.emit(Observation::Note(format!(
            "Node{} estimates offsets from its clock: {}; average of {} good clock(s) {}",
            self.id,
            list.join(", "),
            good.len(),
            signed(avg)
        )));
        for &(n, o) in &all {
            if n != self.id {
                ctx.send(n, Msg::Adjust { delta: avg - o });
            }
        }
        ctx.adjust_clock(avg);
    }
}

impl Process for BerkeleyNode {
    type Msg = Msg;
    type Timer = Timer;
    type Params = Params;

    fn new(id: NodeId, setup: &Setup<'_, Params>) -> Self {
        let p = setup.params;
        BerkeleyNode {
            id,
            master: pick(p.master, setup.nodes),
            threshold: p.threshold.map_or(1_000_000_000, |d| d.0 as i64),
            period: p.period.map(|d| d.0).filter(|&d| d > 0),
            timeout: p.timeout.map_or(4 * setup.max_latency + 1_000_000, |d| d.0.max(1)),
            round: 0,
            polled_at: None,
            offsets: BTreeMap::new(),
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.id == self.master
            && let Some(p) = self.period
        {
            self.poll(ctx);
            ctx.set_timer(Timer::Period, p);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Poll { round } => {
                if from == self.master {
                    let time = ctx.now();
                    ctx.send(from, Msg::Time { round, time });
                }
            }
            Msg::Time { round, time } => {
                let Some(t0) = self.polled_at.filter(|_| round == self.round && self.id == self.master) else { return };
                let t1 = ctx.now();
                self.offsets.insert(from, time + (t1 - t0) / 2 - t1);
                if self.offsets.len() + 1 >= ctx.nodes().len() {
                    self.finish_round(ctx);
                }
            }
            Msg::Adjust { delta } => {
                if from == self.master {
                    ctx.adjust_clock(delta);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Period => {
                self.poll(ctx);
                if let Some(p) = self.period {
                    ctx.set_timer(Timer::Period, p);
                }
            }
            Timer::Collect(r) => {
                if r == self.round {
                    self.finish_round(ctx);
                }
            }
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, _cmd: &Command) {
        if self.id == self.master {
            self.poll(ctx);
        } else {
            ctx.emit(Observation::Note(format!("Node{} is not the master ({}): only the master starts a round", self.id, self.master)));
        }
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.polled_at = None;
        self.on_start(ctx);
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(SyncChecker::new())]
    }
}
