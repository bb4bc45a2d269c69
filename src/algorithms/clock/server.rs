//! `clock.server` — the seed lab's time server, made message-passing.
//!
//! **Algorithm.** On `sync` at the server (param `server`, default the first
//! node), or every `period` if set, the server sends its clock reading `T`
//! to every other node in a `TIME` message; a node that receives it sets its
//! clock to `T`. `sync` at another node asks the server for its time first
//! (`ASK`).
//!
//! **Guarantee / error.** None promised: the receiver ignores the one-way
//! delay d, so right after the correction its clock is *behind* the server's
//! by exactly d (plus the drift accumulated while the message travels). With
//! latencies in `[dmin, dmax]` the clocks agree within `dmax − dmin` of each
//! other and lag the server by up to `dmax`. This is the error Cristian's
//! algorithm halves by measuring the round trip.
//!
//! **Messages.** n − 1 per round (plus one `ASK` when a client starts it).
//!
//! **Source.** The seed lab `ClockSync.java` (a shared-memory version that
//! copies the server's clock into every node); Coulouris et al.,
//! *Distributed Systems*, §14.3 (synchronisation with a time server).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::pick;
use crate::algorithms::registry::ParamSpec;
use crate::check::Checker;
use crate::check::clock::SyncChecker;
use crate::process::{Ctx, Message, NodeId, Process, Setup};
use crate::scenario::Command;
use crate::scenario::units::{Dur, format_clock};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// A client asks the server to send its time.
    Ask,
    /// The server's clock reading when it sent this.
    Time(i64),
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Ask => f.write_str("ASK"),
            Msg::Time(t) => write!(f, "TIME {}", format_clock(*t)),
        }
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Ask => "ASK",
            Msg::Time(_) => "TIME",
        }
    }
}

pub const KINDS: &[&str] = &["ASK", "TIME"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    Period,
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("time to send the time again")
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The time server (default: the first node).
    #[serde(default)]
    pub server: Option<NodeId>,
    /// Send the time this often (server's local clock); default: only on `sync`.
    #[serde(default)]
    pub period: Option<Dur>,
}

pub const PARAMS: &[ParamSpec] = &[
    ParamSpec { name: "server", help: "the time server (default: the first node)" },
    ParamSpec { name: "period", help: "the server sends its time this often (default: only on sync)" },
];

pub struct ServerNode {
    id: NodeId,
    server: NodeId,
    period: Option<u64>,
}

impl ServerNode {
    fn push_time(&self, ctx: &mut Ctx<'_, Self>) {
        let t = ctx.now();
        ctx.broadcast(Msg::Time(t));
    }
}

impl Process for ServerNode {
    type Msg = Msg;
    type Timer = Timer;
    type Params = Params;

    fn new(id: NodeId, setup: &Setup<'_, Params>) -> Self {
        ServerNode { id, server: pick(setup.params.server, setup.nodes), period: setup.params.period.map(|d| d.0).filter(|&p| p > 0) }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.id == self.server
            && let Some(p) = self.period
        {
            ctx.set_timer(Timer::Period, p);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Ask if self.id == self.server => {
                let t = ctx.now();
                ctx.send(from, Msg::Time(t));
            }
            Msg::Ask => {}
            Msg::Time(t) if from == self.server && self.id != self.server => {
                let delta = t - ctx.now();
                ctx.adjust_clock(delta);
            }
            Msg::Time(_) => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _timer: Timer) {
        self.push_time(ctx);
        if let Some(p) = self.period {
            ctx.set_timer(Timer::Period, p);
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, _cmd: &Command) {
        if self.id == self.server {
            self.push_time(ctx);
        } else {
            ctx.send(self.server, Msg::Ask);
        }
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.on_start(ctx);
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(SyncChecker::new())]
    }
}
