//! `clock.ntp` — NTP's four-timestamp exchange and its clock filter.
//!
//! **Algorithm.** A client sends `REQUEST t1` (its clock); the server (param
//! `server`, default the first node) stamps the arrival t2 and the departure
//! t3 with its clock and answers `REPLY t1 t2 t3`; the client stamps the
//! arrival t4. Then
//! offset θ = ((t2 − t1) + (t3 − t4)) / 2 and delay δ = (t4 − t1) − (t3 − t2).
//! A round takes `samples` exchanges (default 8, `interval` apart) and keeps
//! the sample with the least delay — NTP's clock filter — and the client
//! corrects its clock by that θ. With `period` every client does a round at
//! start and then periodically.
//!
//! **Error bound.** The true offset lies within θ ± δ/2 (each direction took
//! between 0 and δ); the client emits δ/2 as its bound (`Synced`). With
//! fixed delays a (request) and b (reply), θ is off by exactly (a − b)/2:
//! half the asymmetry, which no four-timestamp exchange can see (tests/clock).
//!
//! **Messages.** 2 per sample, 2·samples per client per round.
//!
//! **Source.** D. L. Mills, "Internet time synchronization: the Network Time
//! Protocol", IEEE Trans. Communications 39(10), 1991; RFC 5905 §8 (on-wire
//! protocol) and §10 (clock filter); Coulouris et al., §14.3.4.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::pick;
use super::signed;
use crate::algorithms::registry::ParamSpec;
use crate::check::Checker;
use crate::check::clock::SyncChecker;
use crate::process::{Ctx, Message, NodeId, Observation, Process, Setup, short_duration};
use crate::scenario::Command;
use crate::scenario::units::{Dur, format_clock};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    Request { seq: u64, t1: i64 },
    Reply { seq: u64, t1: i64, t2: i64, t3: i64 },
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Request { seq, t1 } => write!(f, "REQUEST #{seq} t1={}", format_clock(*t1)),
            Msg::Reply { seq, t1, t2, t3 } => {
                write!(f, "REPLY #{seq} t1={} t2={} t3={}", format_clock(*t1), format_clock(*t2), format_clock(*t3))
            }
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
    /// Time for the next exchange of the round.
    Next,
    /// No reply to request `seq` in time.
    Lost(u64),
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timer::Period => f.write_str("time to resynchronise"),
            Timer::Next => f.write_str("time for the next exchange"),
            Timer::Lost(s) => write!(f, "no reply to request #{s}"),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The server (default: the first node).
    #[serde(default)]
    pub server: Option<NodeId>,
    /// Exchanges per round; the least delay wins (default 8).
    #[serde(default)]
    pub samples: Option<u32>,
    /// Time between two exchanges of a round (default 0: at once).
    #[serde(default)]
    pub interval: Option<Dur>,
    /// Every client resynchronises this often (default: only on sync).
    #[serde(default)]
    pub period: Option<Dur>,
    /// How long a client waits for a reply (default 4 × the largest latency + 1ms).
    #[serde(default)]
    pub timeout: Option<Dur>,
}

pub const PARAMS: &[ParamSpec] = &[
    ParamSpec { name: "server", help: "the server (default: the first node)" },
    ParamSpec { name: "samples", help: "exchanges per round, the least delay wins (default 8)" },
    ParamSpec { name: "interval", help: "time between exchanges of a round (default 0)" },
    ParamSpec { name: "period", help: "every client resynchronises this often (default: only on sync)" },
    ParamSpec { name: "timeout", help: "wait this long for a reply (default 4x the largest latency + 1ms)" },
];

#[derive(Clone, Debug)]
struct Round {
    seq: u64,
    left: u32,
    taken: u32,
    /// The sample with the least delay: (δ, θ).
    best: Option<(i64, i64)>,
}

pub struct NtpNode {
    id: NodeId,
    server: NodeId,
    samples: u32,
    interval: u64,
    period: Option<u64>,
    timeout: u64,
    seq: u64,
    round: Option<Round>,
}

impl NtpNode {
    fn start_round(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.id == self.server || self.round.is_some() {
            return;
        }
        self.round = Some(Round { seq: 0, left: self.samples, taken: 0, best: None });
        self.ask(ctx);
    }

    fn ask(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.seq += 1;
        let seq = self.seq;
        if let Some(r) = self.round.as_mut() {
            r.seq = seq;
            r.left = r.left.saturating_sub(1);
        }
        let t1 = ctx.now();
        ctx.send(self.server, Msg::Request { seq, t1 });
        ctx.set_timer(Timer::Lost(seq), self.timeout);
    }

    fn next(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(r) = self.round.as_ref() else { return };
        if r.left > 0 {
            if self.interval == 0 {
                self.ask(ctx);
            } else {
                ctx.set_timer(Timer::Next, self.interval);
            }
            return;
        }
        let Some(r) = self.round.take() else { return };
        match r.best {
            Some((delay, theta)) => {
                ctx.emit(Observation::Note(format!(
                    "Node{} keeps the least delay {} of {} sample(s): offset {}",
                    self.id,
                    short_duration(delay.max(0) as u64),
                    r.taken,
                    signed(theta)
                )));
                ctx.adjust_clock(theta);
                ctx.emit(Observation::Synced { source: self.server, bound: (delay.max(0) / 2) as u64 });
            }
            None => ctx.emit(Observation::Note(format!("Node{} got no reply from the server: clock unchanged", self.id))),
        }
    }
}

impl Process for NtpNode {
    type Msg = Msg;
    type Timer = Timer;
    type Params = Params;

    fn new(id: NodeId, setup: &Setup<'_, Params>) -> Self {
        let p = setup.params;
        NtpNode {
            id,
            server: pick(p.server, setup.nodes),
            samples: p.samples.unwrap_or(8).max(1),
            interval: p.interval.map_or(0, |d| d.0),
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
            Msg::Request { seq, t1 } => {
                if self.id == self.server {
                    let t2 = ctx.now();
                    ctx.send(from, Msg::Reply { seq, t1, t2, t3: t2 });
                }
            }
            Msg::Reply { seq, t1, t2, t3 } => {
                let t4 = ctx.now();
                let Some(r) = self.round.as_mut().filter(|r| r.seq == seq && from == self.server) else { return };
                ctx.cancel_timer(Timer::Lost(seq));
                let theta = ((t2 - t1) + (t3 - t4)) / 2;
                let delay = (t4 - t1) - (t3 - t2);
                r.taken += 1;
                if delay < 0 {
                    // The client's clock went back during the exchange.
                    ctx.emit(Observation::Note(format!("Node{} discards sample #{seq}: negative delay {}", self.id, signed(delay))));
                } else if r.best.is_none_or(|(d, _)| delay < d) {
                    r.best = Some((delay, theta));
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
            Timer::Next => {
                if self.round.is_some() {
                    self.ask(ctx);
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
            ctx.emit(Observation::Note(format!("Node{} is the server: its clock is the reference", self.id)));
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
