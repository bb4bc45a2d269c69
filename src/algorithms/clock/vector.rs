//! `clock.vector` — vector clocks on a scenario's message pattern.
//!
//! **Algorithm.** Every node keeps a vector V with one entry per node (in
//! scenario order). A local event or a send increments the node's own entry;
//! a message carries the sender's V; a receive takes the component-wise
//! maximum and then increments its own entry. Every event is shown with its
//! name (`b2`: the second event of the second node) and its vector.
//!
//! **Guarantee.** The strong clock condition: e happened before f if and
//! only if V(e) < V(f) (≤ everywhere and different); two events are
//! concurrent exactly when neither vector is below the other. The
//! `vector-condition` check rebuilds happened-before from the message flow
//! and checks every pair both ways; the summary lists the concurrent pairs
//! (tested on 1,000 random patterns).
//!
//! **Messages.** One `APP` per `send`, carrying n counters.
//!
//! **Source.** C. J. Fidge, "Timestamps in message-passing systems that
//! preserve the partial ordering", 11th Australian Computer Science Conf.,
//! 1988; F. Mattern, "Virtual time and global states of distributed
//! systems", 1989; Coulouris et al., §14.4.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{LogicalCommand, event_name, logical_command};
use crate::check::Checker;
use crate::check::clock::{Condition, LogicalChecker};
use crate::process::{Ctx, LogicalStamp, LogicalStep, Message, NodeId, Observation, Process, Setup};
use crate::scenario::Command;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// An application message: its send event and the sender's vector.
    App { event: String, stamp: Vec<u64> },
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::App { event, stamp } => write!(f, "APP {event} {}", LogicalStamp::Vector(stamp.clone())),
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

pub struct VectorClock {
    id: NodeId,
    position: usize,
    clock: Vec<u64>,
    events: u64,
}

impl VectorClock {
    fn tick(&mut self) {
        if let Some(c) = self.clock.get_mut(self.position) {
            *c += 1;
        }
    }

    fn event(&mut self, ctx: &mut Ctx<'_, Self>, step: LogicalStep) -> String {
        self.events += 1;
        let event = event_name(self.position, self.id, self.events);
        ctx.emit(Observation::Logical { event: event.clone(), step, stamp: LogicalStamp::Vector(self.clock.clone()) });
        event
    }
}

impl Process for VectorClock {
    type Msg = Msg;
    type Timer = Timer;
    type Params = Params;

    fn new(id: NodeId, setup: &Setup<'_, Params>) -> Self {
        VectorClock { id, position: setup.index, clock: vec![0; setup.nodes.len()], events: 0 }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        let Msg::App { event, stamp } = msg;
        for (c, s) in self.clock.iter_mut().zip(&stamp) {
            *c = (*c).max(*s);
        }
        self.tick();
        self.event(ctx, LogicalStep::Receive { from, send: event });
    }

    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, cmd: &Command) {
        match logical_command(cmd, self.id, ctx.nodes()) {
            LogicalCommand::Local => {
                self.tick();
                self.event(ctx, LogicalStep::Local);
            }
            LogicalCommand::Send(to) => {
                self.tick();
                let stamp = self.clock.clone();
                let event = self.event(ctx, LogicalStep::Send { to });
                ctx.send(to, Msg::App { event, stamp });
            }
            LogicalCommand::Invalid => {
                ctx.emit(Observation::Note(format!("Node{} cannot do \"{cmd}\": expected send TO (another node) or local", self.id)))
            }
        }
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(LogicalChecker::new(Condition::Vector))]
    }
}
