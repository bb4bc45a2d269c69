//! `mutex.lamport` — Lamport's mutual exclusion with logical clocks.
//!
//! **Guarantee.** Safety, liveness and fairness on reliable FIFO channels
//! without crashes: requests enter in (timestamp, id) order. A crashed site
//! stops replying and everyone waits for it (the liveness check says so).
//!
//! **Messages.** Every site keeps a queue of requests ordered by (timestamp,
//! id). A requester puts its request in its own queue and sends
//! `REQUEST(ts)` to the N−1 others; each answers `REPLY` and queues the
//! request. A site enters when its request heads its queue and it has heard a
//! later-stamped message from every other site; on leaving it sends
//! `RELEASE` to the N−1 others, who drop its request. 3(N−1) per entry.
//!
//! **FIFO channels.** The algorithm needs them and the simulated network may
//! reorder, so each message carries a per-link sequence number and a site
//! holds back a message until the ones sent before it on that link arrived.
//!
//! **Source.** L. Lamport, "Time, clocks, and the ordering of events in a
//! distributed system", CACM 21(7), 1978, §"mutual exclusion".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Cs, Next, Params, Phase, Timer};
use crate::check::Checker;
use crate::check::mutex::MutexChecker;
use crate::process::{Ctx, Message, NodeId, Observation, Process, Setup};
use crate::scenario::Command;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Request,
    Reply,
    Release,
}

/// One message: its kind, the sender's clock, and its number on the link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Msg {
    pub kind: Kind,
    pub ts: u64,
    pub seq: u64,
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(ts {})", self.kind(), self.ts)
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self.kind {
            Kind::Request => "REQUEST",
            Kind::Reply => "REPLY",
            Kind::Release => "RELEASE",
        }
    }
}

pub const KINDS: &[&str] = &["REQUEST", "REPLY", "RELEASE"];

pub const PARAMS: &[crate::algorithms::registry::ParamSpec] = &[super::HOLD];

pub struct LamportNode {
    id: NodeId,
    cs: Cs,
    clock: u64,
    my_ts: u64,
    /// Requests known to this site, by (timestamp, id).
    queue: BTreeSet<(u64, NodeId)>,
    /// The latest timestamp heard from each other site.
    heard: BTreeMap<NodeId, u64>,
    /// Per-link sequence numbers: next to send, next expected, held back.
    next_out: BTreeMap<NodeId, u64>,
    next_in: BTreeMap<NodeId, u64>,
    held: BTreeMap<(NodeId, u64), Msg>,
}

impl LamportNode {
    fn send(&mut self, ctx: &mut Ctx<'_, Self>, to: NodeId, kind: Kind) {
        let seq = self.next_out.entry(to).or_default();
        let msg = Msg { kind, ts: self.clock, seq: *seq };
        *seq += 1;
        ctx.send(to, msg);
    }

    fn send_all(&mut self, ctx: &mut Ctx<'_, Self>, kind: Kind) {
        let id = self.id;
        let others: Vec<NodeId> = ctx.nodes().iter().copied().filter(|&n| n != id).collect();
        for n in others {
            self.send(ctx, n, kind);
        }
    }

    fn ask(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.clock += 1;
        self.my_ts = self.clock;
        self.queue.insert((self.my_ts, self.id));
        ctx.emit(Cs::asked(Some(self.my_ts)));
        self.send_all(ctx, Kind::Request);
        self.try_enter(ctx);
    }

    fn try_enter(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.cs.phase != Phase::Requesting || self.queue.first() != Some(&(self.my_ts, self.id)) {
            return;
        }
        let id = self.id;
        let all_later = ctx.nodes().iter().filter(|&&n| n != id).all(|n| self.heard.get(n).is_some_and(|&t| t > self.my_ts));
        if all_later {
            self.cs.enter(ctx, Timer::Hold);
        }
    }

    fn leave(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.cs.exit(ctx) {
            return;
        }
        self.queue.remove(&(self.my_ts, self.id));
        self.clock += 1;
        self.send_all(ctx, Kind::Release);
        if self.cs.after_exit() == Next::Ask {
            self.ask(ctx);
        }
    }

    /// Handles one message in link order.
    fn handle(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        self.clock = self.clock.max(msg.ts) + 1;
        self.heard.insert(from, msg.ts);
        match msg.kind {
            Kind::Request => {
                self.queue.insert((msg.ts, from));
                self.send(ctx, from, Kind::Reply);
            }
            Kind::Release => {
                if let Some(&r) = self.queue.iter().find(|(_, n)| *n == from) {
                    self.queue.remove(&r);
                }
            }
            Kind::Reply => {}
        }
        self.try_enter(ctx);
    }
}

super::cs_node!(LamportNode);

impl Process for LamportNode {
    type Msg = Msg;
    type Timer = Timer;
    type Params = Params;

    fn new(id: NodeId, setup: &Setup<'_, Params>) -> Self {
        LamportNode {
            id,
            cs: Cs::new(setup.params.hold),
            clock: 0,
            my_ts: 0,
            queue: BTreeSet::new(),
            heard: BTreeMap::new(),
            next_out: BTreeMap::new(),
            next_in: BTreeMap::new(),
            held: BTreeMap::new(),
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        let expected = *self.next_in.get(&from).unwrap_or(&0);
        if msg.seq != expected {
            if msg.seq > expected {
                ctx.emit(Observation::Note(format!("Site {} holds back {msg} from {from} until #{expected} arrives", self.id)));
                self.held.insert((from, msg.seq), msg);
            }
            return;
        }
        let mut next = Some(msg);
        let mut seq = expected;
        while let Some(m) = next {
            self.handle(ctx, from, m);
            seq += 1;
            next = self.held.remove(&(from, seq));
        }
        self.next_in.insert(from, seq);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _: Timer) {
        self.leave(ctx);
    }

    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, cmd: &Command) {
        super::on_command(self, ctx, cmd);
    }

    fn on_recover(&mut self, _: &mut Ctx<'_, Self>) {
        self.cs.reset();
        self.queue.clear();
        self.heard.clear();
        self.held.clear();
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(MutexChecker::new(true))]
    }
}
