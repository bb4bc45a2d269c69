//! `mutex.ricart-agrawala` — Ricart and Agrawala's permission-based mutual
//! exclusion with Lamport timestamps.
//!
//! **Guarantee.** Safety, liveness and fairness on reliable channels without
//! crashes: requests enter in (timestamp, id) order. A crashed node never
//! replies, so everyone else waits for it forever (the liveness check says so).
//!
//! **Messages.** A requester sends `Request(ts)` to the N−1 others and enters
//! when all N−1 have sent `Reply`: 2(N−1) messages per entry. A node replies
//! at once unless it is inside, or it is requesting with a smaller
//! (timestamp, id); then it defers the reply until it leaves. No busy waiting:
//! a node only reacts to messages.
//!
//! **Seed variant.** `params: {variant: seed}` reproduces the seed lab's
//! reply rule: it defers a request whose timestamp is *smaller* than its own
//! (inverted), silently drops requests it should defer, and on release sends a
//! Reply to every site once per deferred message. The checkers catch it.
//!
//! **Source.** G. Ricart and A. K. Agrawala, "An optimal algorithm for mutual
//! exclusion in computer networks", CACM 24(1), 1981.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Cs, Next, Phase, Timer};
use crate::check::Checker;
use crate::check::mutex::MutexChecker;
use crate::process::{Ctx, Message, NodeId, Process, Setup};
use crate::scenario::Command;
use crate::scenario::units::Dur;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    Request { ts: u64 },
    Reply,
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Request { ts } => write!(f, "REQUEST(ts {ts})"),
            Msg::Reply => f.write_str("REPLY"),
        }
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Request { .. } => "REQUEST",
            Msg::Reply => "REPLY",
        }
    }
}

pub const KINDS: &[&str] = &["REQUEST", "REPLY"];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// The algorithm as published.
    #[default]
    Correct,
    /// The seed lab's reply rule (wrong on purpose).
    Seed,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub hold: Option<Dur>,
    #[serde(default)]
    pub variant: Variant,
}

pub const PARAMS: &[crate::algorithms::registry::ParamSpec] = &[
    super::HOLD,
    crate::algorithms::registry::ParamSpec { name: "variant", help: "correct (default) or seed: the seed lab's wrong reply rule" },
];

pub struct RaNode {
    id: NodeId,
    variant: Variant,
    cs: Cs,
    clock: u64,
    /// The timestamp of this node's current request.
    my_ts: u64,
    replies: usize,
    deferred: Vec<NodeId>,
}

impl RaNode {
    fn ask(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.clock += 1;
        self.my_ts = self.clock;
        self.replies = 0;
        ctx.emit(Cs::asked(Some(self.my_ts)));
        let n = ctx.nodes().len();
        if n == 1 {
            self.cs.enter(ctx, Timer::Hold);
            return;
        }
        ctx.broadcast(Msg::Request { ts: self.my_ts });
    }

    fn leave(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.cs.exit(ctx) {
            return;
        }
        let deferred = std::mem::take(&mut self.deferred);
        match self.variant {
            Variant::Correct => {
                for j in deferred {
                    ctx.send(j, Msg::Reply);
                }
            }
            Variant::Seed => {
                // The seed: for every other site, one Reply per deferred message.
                let id = self.id;
                let others: Vec<NodeId> = ctx.nodes().iter().copied().filter(|&n| n != id).collect();
                for site in others {
                    for _ in &deferred {
                        ctx.send(site, Msg::Reply);
                    }
                }
            }
        }
        if self.cs.after_exit() == Next::Ask {
            self.ask(ctx);
        }
    }
}

super::cs_node!(RaNode);

impl Process for RaNode {
    type Msg = Msg;
    type Timer = Timer;
    type Params = Params;

    fn new(id: NodeId, setup: &Setup<'_, Params>) -> Self {
        RaNode { id, variant: setup.params.variant, cs: Cs::new(setup.params.hold), clock: 0, my_ts: 0, replies: 0, deferred: Vec::new() }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Request { ts } => {
                self.clock = self.clock.max(ts) + 1;
                let requesting = self.cs.phase == Phase::Requesting;
                let inside = self.cs.phase == Phase::Inside;
                match self.variant {
                    Variant::Correct => {
                        if inside || (requesting && (self.my_ts, self.id) < (ts, from)) {
                            self.deferred.push(from);
                        } else {
                            ctx.send(from, Msg::Reply);
                        }
                    }
                    Variant::Seed => {
                        if !requesting && !inside {
                            ctx.send(from, Msg::Reply);
                        } else if requesting && ts < self.my_ts {
                            self.deferred.push(from);
                        }
                        // Otherwise the seed does nothing: the request is lost.
                    }
                }
            }
            Msg::Reply => {
                if self.cs.phase == Phase::Requesting {
                    self.replies += 1;
                    if self.replies >= ctx.nodes().len() - 1 {
                        self.cs.enter(ctx, Timer::Hold);
                    }
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _: Timer) {
        self.leave(ctx);
    }

    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, cmd: &Command) {
        super::on_command(self, ctx, cmd);
    }

    fn on_recover(&mut self, _: &mut Ctx<'_, Self>) {
        self.cs.reset();
        self.replies = 0;
        self.deferred.clear();
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(MutexChecker::new(true))]
    }
}
