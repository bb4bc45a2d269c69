//! `mutex.central` — a central coordinator grants the critical section.
//!
//! **Guarantee.** Safety and liveness while the coordinator is up; requests
//! are granted in the order the coordinator receives them (FIFO). If the
//! coordinator crashes, nobody enters again (the liveness check says so).
//!
//! **Messages.** `REQUEST` to the coordinator, `GRANT` back, `RELEASE` after
//! leaving: 3 per entry. The coordinator's own requests cost 0 messages: it
//! queues and grants them locally instead of messaging itself.
//!
//! **Source.** Coulouris et al., *Distributed Systems*, §15.2 ("the central
//! server algorithm"); Tanenbaum and van Steen, *Distributed Systems*, §6.3.

use std::collections::VecDeque;
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
    Request,
    Grant,
    Release,
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Request => "REQUEST",
            Msg::Grant => "GRANT",
            Msg::Release => "RELEASE",
        }
    }
}

pub const KINDS: &[&str] = &["REQUEST", "GRANT", "RELEASE"];

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub hold: Option<Dur>,
    /// The coordinator's id (default: the first node listed).
    #[serde(default)]
    pub coordinator: Option<NodeId>,
}

pub const PARAMS: &[crate::algorithms::registry::ParamSpec] = &[
    super::HOLD,
    crate::algorithms::registry::ParamSpec { name: "coordinator", help: "the coordinator's id (default: the first node listed)" },
];

pub struct CentralNode {
    id: NodeId,
    coordinator: NodeId,
    cs: Cs,
    /// Coordinator only: who holds the grant, and who waits.
    holder: Option<NodeId>,
    waiting: VecDeque<NodeId>,
}

impl CentralNode {
    fn ask(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.emit(Cs::asked(None));
        if self.id == self.coordinator {
            self.coordinate_request(ctx, self.id);
        } else {
            ctx.send(self.coordinator, Msg::Request);
        }
    }

    fn grant(&mut self, ctx: &mut Ctx<'_, Self>, to: NodeId) {
        self.holder = Some(to);
        if to == self.id {
            self.cs.enter(ctx, Timer::Hold);
        } else {
            ctx.send(to, Msg::Grant);
        }
    }

    fn coordinate_request(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId) {
        if self.holder.is_none() {
            self.grant(ctx, from);
        } else {
            self.waiting.push_back(from);
        }
    }

    fn coordinate_release(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.holder = None;
        if let Some(next) = self.waiting.pop_front() {
            self.grant(ctx, next);
        }
    }

    fn leave(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.cs.exit(ctx) {
            return;
        }
        if self.id == self.coordinator {
            self.coordinate_release(ctx);
        } else {
            ctx.send(self.coordinator, Msg::Release);
        }
        if self.cs.after_exit() == Next::Ask {
            self.ask(ctx);
        }
    }
}

super::cs_node!(CentralNode);

impl Process for CentralNode {
    type Msg = Msg;
    type Timer = Timer;
    type Params = Params;

    fn new(id: NodeId, setup: &Setup<'_, Params>) -> Self {
        let coordinator = setup.params.coordinator.unwrap_or(setup.nodes[0]);
        CentralNode { id, coordinator, cs: Cs::new(setup.params.hold), holder: None, waiting: VecDeque::new() }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Request if self.id == self.coordinator => self.coordinate_request(ctx, from),
            Msg::Release if self.id == self.coordinator && self.holder == Some(from) => self.coordinate_release(ctx),
            Msg::Grant if self.cs.phase == Phase::Requesting => self.cs.enter(ctx, Timer::Hold),
            _ => {}
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
        self.holder = None;
        self.waiting.clear();
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(MutexChecker::new(false))]
    }
}
