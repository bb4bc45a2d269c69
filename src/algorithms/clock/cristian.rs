//! `clock.cristian` — Cristian's algorithm: ask a time server, add half the
//! round trip.
//!
//! **Algorithm.** A client sends `REQUEST` at local time t0; the server
//! (param `server`, default the first node) answers `REPLY T` with its clock;
//! the client receives it at t1, with RTT = t1 − t0, and sets its clock to
//! T + RTT/2. With `samples: k` it repeats the exchange k times and keeps
//! the sample with the smallest RTT (the most accurate one). With `period`
//! every client does this at start and then periodically.
//!
//! **Error bound.** If every one-way delay is at least `min_delay`, the
//! server read T between t0 + min and t1 − min, so the client's clock is
//! within ±(RTT/2 − min_delay) of the server's. The client emits this bound
//! (`Synced`) and the `bound` check holds it to it. With fixed delays a
//! (request) and b (reply) the error is exactly (a − b)/2: half the
//! asymmetry (tests/clock).
//!
//! **Messages.** 2 per sample, 2k per client per round.
//!
//! **Source.** F. Cristian, "Probabilistic clock synchronization",
//! Distributed Computing 3(3), 1989; Coulouris et al., *Distributed
//! Systems*, §14.3.2.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::pick;
use crate::algorithms::registry::ParamSpec;
use crate::check::Checker;
use crate::check::clock::SyncChecker;
use crate::process::{Ctx, Message, NodeId, Observation, Process, Setup, short_duration};
use crate::scenario::Command;
use crate::scenario::units::{Dur, format_clock};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    Request { seq: u64 },
    Reply { seq: u64, time: i64 },
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Request { seq } => write!(f, "REQUEST #{seq}"),
            Msg::Reply { seq, time } => write!(f, "REPLY #{seq} T={}", format_clock(*time)),
        }
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Request { .. } => "REQUEST",
            Msg::Reply { .. } => "REPLY",
        }
    }
}

pub const KINDS: &[&str] = &["REQUEST", "REPLY"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Time for the next periodic round.
    Period,
    /// No reply to request `seq` in time.
    Lost(u64),
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timer::Period => f.write_str("time to resynchronise"),
            Timer::Lost(s) => write!(f, "no reply to request #{s}"),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The time server (default: the first node).
    #[serde(default)]
    pub server: Option<NodeId>,
    /// The smallest one-way delay (default 0): it tightens the bound.
    #[serde(default)]
    pub min_delay: Option<Dur>,
    /// Exchanges per round; the one with the smallest RTT is kept (default 1).
    #[serde(default)]
    pub samples: Option<u32>,
    /// Every client resynchronises this often (default: only on sync).
    #[serde(default)]
    pub period: Option<Dur>,
    /// How long a client waits for a reply (default 4 × the largest latency + 1ms).
    #[serde(default)]
    pub timeout: Option<Dur>,
}

pub const PARAMS: &[ParamSpec] = &[
    ParamSpec { name: "server", help: "the time server (default: the first node)" },
    ParamSpec { name: "min_delay", help: "the smallest one-way delay; the bound is RTT/2 - min_delay (default 0)" },
    ParamSpec { name: "samples", help: "exchanges per round, the smallest RTT wins (default 1)" },
    ParamSpec { name: "period", help: "every client resynchronises this often (default: only on sync)" },
    ParamSpec { name: "timeout", help: "wait this long for a reply (default 4x the largest latency + 1ms)" },
];

/// A round in progress at a client.
#[derive(Clone, Debug)]
struct Round {
    seq: u64,
    sent_at: i64,
    left: u32,
    taken: u32,
    /// The best sample so far: (RTT, offset estimate T + RTT/2 − t1).
    best: Option<(i64, i64)>,
}

pub struct CristianNode {
    id: NodeId,
    server: NodeId,
    min_delay: i64,
    samples: u32,
    period: Option<u64>,
    timeout: u64,
    seq: u64,
    round: Option<Round>,
}

impl CristianNode {
    fn start_round(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.id == self.server || self.round.is_some() {
            return;
        }
        self.round = Some(Round { seq: 0, sent_at: 0, left: self.samples, taken: 0, best: None });
        self.ask(ctx);
    }

    fn ask(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.seq += 1;
        let seq = self.seq;
        let now = ctx.now();
        if let Some(r) = self.round.as_mut() {
            r.seq = seq;
            r.sent_at = now;
            r.left = r.left.saturating_sub(1);
        }
        ctx.send(self.server, Msg::Request { seq });
        ctx.set_timer(Timer::Lost(seq), self.timeout);
    }

    /// After a sample (or a lost one): ask again or finish the round.
    fn next(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(r) = self.round.as_ref() else { return };
        if r.left > 0 {
            self.ask(ctx);
            return;
        }
        let Some(r) = self.round.take() else { return };
        match r.best {
            Some((rtt, theta)) => {
                ctx.emit(Observation::Note(format!(
                    "Node{} takes the smallest RTT {} of {} sample(s): clock := T + RTT/2",
                    self.id,
                    short_duration(rtt.max(0) as u64),
                    r.taken
                )));
                ctx.adjust_clock(theta);
                let bound = (rtt / 2 - self.min_delay).max(0) as u64;
                ctx.emit(Observation::Synced { source: self.server, bound });
            }
            None => ctx.emit(Observation::Note(format!("Node{} got no reply from the server: clock unchanged", self.id))),
        }
    }
}

impl Process for CristianNode {
    type Msg = Msg;
    type Timer = Timer;
    type Params = Params;

    fn new(id: NodeId, setup: &Setup<'_, Params>) -> Self {
        let p = setup.params;
        CristianNode {
            id,
            server: pick(p.server, setup.nodes),
            min_delay: p.min_delay.map_or(0, |d| d.0 as i64),
            samples: p.samples.unwrap_or(1).max(1),
            period: p.period.map(|d| d.0).filter(|&d| d > 0),
            timeout: p.timeout.map_or(4 * setup.max_latency + 1_000_000, |d| d.0.max(1)),
            seq: 0,
            round: None,
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.id != self.server
            && let Some(p) = self.period
        {
            self.start_round(ctx);
            ctx.set_timer(Timer::Period, p);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Request { seq } => {
                if self.id == self.server {
                    let time = ctx.now();
                    ctx.send(from, Msg::Reply { seq, time });
                }
            }
            Msg::Reply { seq, time } => {
                let now = ctx.now();
                let Some(r) = self.round.as_mut().filter(|r| r.seq == seq && from == self.server) else { return };
                ctx.cancel_timer(Timer::Lost(seq));
                let rtt = now - r.sent_at;
                let theta = time + rtt / 2 - now;
                r.taken += 1;
                if rtt < 0 {
                    // The client's clock went back during the exchange.
                    let id = self.id;
                    ctx.emit(Observation::Note(format!("Node{id} discards sample #{seq}: negative round trip {}", super::signed(rtt))));
                } else if r.best.is_none_or(|(b, _)| rtt < b) {
                    r.best = Some((rtt, theta));
                }
                self.next(ctx);
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Period => {
                self.start_round(ctx);
                if let Some(p) = self.period {
                    ctx.set_timer(Timer::Period, p);
                }
            }
            Timer::Lost(seq) => {
                if self.round.as_ref().is_some_and(|r| r.seq == seq) {
                    self.next(ctx);
                }
            }
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, _cmd: &Command) {
        if self.id == self.server {
            ctx.emit(Observation::Note(format!("Node{} is the time server: its clock is the reference", self.id)));
        } else {
            self.start_round(ctx);
        }
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.round = None;
        self.on_start(ctx);
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(SyncChecker::new())]
    }
}
