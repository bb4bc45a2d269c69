//! `clock.lamport` — Lamport's logical clocks on a scenario's message pattern.
//!
//! **Algorithm.** Every node keeps a counter L. A local event (`local`) and
//! a send (`send TO`) first increment it; a message carries the sender's L;
//! a receive sets L := max(L, L_msg) + 1. Every event is shown with its
//! name (`a3`: the third event of the first node) and its timestamp.
//!
//! **Guarantee.** The clock condition: if e happened before f then
//! L(e) < L(f). The converse does not hold: L(e) < L(f) for concurrent
//! events too. The `clock-condition` check rebuilds happened-before from
//! process order and the send/receive pairs and checks every pair; the
//! summary lists the concurrent pairs (tested on 1,000 random patterns).
//!
//! **Messages.** One `APP` per `send`; no extra messages (the timestamp is
//! piggybacked).
//!
//! **Source.** L. Lamport, "Time, clocks, and the ordering of events in a
//! distributed system", CACM 21(7), 1978; Coulouris et al., §14.4.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{LogicalCommand, event_name, logical_command};
use crate::check::Checker;
use crate::check::clock::{Condition, LogicalChecker};
use crate::process::{Ctx, LogicalStamp, LogicalStep, Message, NodeId, Observation, Process, Setup};
use crate::scenario::Command;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// An application message: its send event and the sender's clock.
    App { event: String, stamp: u64 },
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::App { event, stamp } => write!(f, "APP {event} L={stamp}"),
        }
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        "APP"
    }
}

pub const KINDS: &[&str] = &["APP"];

pub use super::{NoParams as Params, NoTimer as Timer};

pub const PARAMS: &[crate::algorithms::registry::ParamSpec] = &[];

pub struct LamportClock {
    id: NodeId,
    position: usize,
    clock: u64,
    events: u64,
}

impl LamportClock {
    fn event(&mut self, ctx: &mut Ctx<'_, Self>, step: LogicalStep) -> String {
        self.events += 1;
        let event = event_name(self.position, self.id, self.events);
        ctx.emit(Observation::Logical { event: event.clone(), step, stamp: LogicalStamp::Lamport(self.clock) });
        event
    }
}

impl Process for LamportClock {
    type Msg = Msg;
    type Timer = Timer;
    type Params = Params;

    fn new(id: NodeId, setup: &Setup<'_, Params>) -> Self {
        LamportClock { id, position: setup.index, clock: 0, events: 0 }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        let Msg::App { event, stamp } = msg;
        self.clock = self.clock.max(stamp) + 1;
        self.event(ctx, LogicalStep::Receive { from, send: event });
    }

    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, cmd: &Command) {
        match logical_command(cmd, self.id, ctx.nodes()) {
            LogicalCommand::Local => {
                self.clock += 1;
                self.event(ctx, LogicalStep::Local);
            }
            LogicalCommand::Send(to) => {
                self.clock += 1;
                let event = self.event(ctx, LogicalStep::Send { to });
                ctx.send(to, Msg::App { event, stamp: self.clock });
            }
            LogicalCommand::Invalid => {
                ctx.emit(Observation::Note(format!("Node{} cannot do \"{cmd}\": expected send TO (another node) or local", self.id)))
            }
        }
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(LogicalChecker::new(Condition::Lamport))]
    }
}
