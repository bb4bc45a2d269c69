//! `mutex.suzuki-kasami` — Suzuki and Kasami's broadcast token algorithm.
//!
//! **Guarantee.** Safety (one token) and liveness on reliable channels
//! without crashes. A token lost with a crashed holder or in transit is never
//! regenerated: nobody enters again, and the liveness check says so.
//!
//! **Messages.** Each site keeps `RN[j]`, the highest request number heard from
//! j; the token carries `LN[j]`, the number of j's last satisfied request, and a
//! queue Q. A site without the token increments `RN[i]` and sends
//! `REQUEST(i, n)` to the N−1 others; the holder sends the `TOKEN` when idle
//! and `RN[j]` = `LN[j]` + 1. On leaving, the holder sets `LN[i]` = `RN[i]`, appends
//! every site with an outstanding request to Q, and passes the token to Q's
//! head. N messages per entry (N−1 REQUEST + 1 TOKEN), 0 when the requester
//! already holds the token.
//!
//! **Source.** I. Suzuki and T. Kasami, "A distributed mutual exclusion
//! algorithm", ACM TOCS 3(4), 1985.

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Cs, Next, Phase, Timer};
use crate::check::Checker;
use crate::check::mutex::MutexChecker;
use crate::process::{Ctx, Message, NodeId, Observation, Process, Setup};
use crate::scenario::Command;
use crate::scenario::units::Dur;

/// The token: LN and the queue of sites waiting for it, indexed by ring position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub ln: Vec<u64>,
    pub queue: VecDeque<NodeId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    Request { site: NodeId, n: u64 },
    Token(Token),
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Request { site, n } => write!(f, "REQUEST({site}, {n})"),
            Msg::Token(t) => {
                let q: Vec<String> = t.queue.iter().map(|n| n.to_string()).collect();
                write!(f, "TOKEN(Q [{}])", q.join(", "))
            }
        }
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Request { .. } => "REQUEST",
            Msg::Token(_) => "TOKEN",
        }
    }
}

pub const KINDS: &[&str] = &["REQUEST", "TOKEN"];

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub hold: Option<Dur>,
    /// The site holding the token at the start (default: the first node listed).
    #[serde(default)]
    pub token: Option<NodeId>,
}

pub const PARAMS: &[crate::algorithms::registry::ParamSpec] = &[
    super::HOLD,
    crate::algorithms::registry::ParamSpec { name: "token", help: "the site that holds the token first (default: the first node listed)" },
];

pub struct SkNode {
    id: NodeId,
    pos: usize,
    cs: Cs,
    rn: Vec<u64>,
    token: Option<Token>,
}

impl SkNode {
    fn ask(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.emit(Cs::asked(None));
        if self.token.is_some() {
            self.cs.enter(ctx, Timer::Hold);
            return;
        }
        self.rn[self.pos] += 1;
        ctx.broadcast(Msg::Request { site: self.id, n: self.rn[self.pos] });
    }

    fn leave(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.cs.exit(ctx) {
            return;
        }
        if let Some(token) = self.token.as_mut() {
            token.ln[self.pos] = self.rn[self.pos];
            let nodes = ctx.nodes();
            for (j, &site) in nodes.iter().enumerate() {
                if !token.queue.contains(&site) && self.rn[j] == token.ln[j] + 1 {
                    token.queue.push_back(site);
                }
            }
        }
        let again = self.cs.after_exit() == Next::Ask;
        if again && self.token.as_ref().is_some_and(|t| t.queue.is_empty()) {
            // Nobody else waits: enter again without a message.
            ctx.emit(Cs::asked(None));
            self.cs.enter(ctx, Timer::Hold);
            return;
        }
        self.pass_token(ctx);
        if again {
            self.ask(ctx);
        }
    }

    /// Sends the token to the head of its queue, if any.
    fn pass_token(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(token) = self.token.as_mut() else { return };
        let Some(next) = token.queue.pop_front() else { return };
        if next == self.id {
            self.cs.enter(ctx, Timer::Hold);
            return;
        }
        let token = self.token.take().expect("checked above");
        ctx.send(next, Msg::Token(token));
    }
}

super::cs_node!(SkNode);

impl Process for SkNode {
    type Msg = Msg;
    type Timer = Timer;
    type Params = Params;

    fn new(id: NodeId, setup: &Setup<'_, Params>) -> Self {
        let n = setup.nodes.len();
        let first = setup.params.token.unwrap_or(setup.nodes[0]);
        let token = (id == first).then(|| Token { ln: vec![0; n], queue: VecDeque::new() });
        SkNode { id, pos: setup.index, cs: Cs::new(setup.params.hold), rn: vec![0; n], token }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.token.is_some() {
            ctx.emit(Observation::Note(format!("Site {} has the token.", self.id)));
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, _from: NodeId, msg: Msg) {
        match msg {
            Msg::Request { site, n } => {
                let Some(j) = ctx.nodes().iter().position(|&x| x == site) else { return };
                self.rn[j] = self.rn[j].max(n);
                if self.cs.phase != Phase::Inside
                    && let Some(token) = self.token.as_mut()
                    && self.rn[j] == token.ln[j] + 1
                {
                    let token = self.token.take().expect("checked above");
                    ctx.send(site, Msg::Token(token));
                }
            }
            Msg::Token(token) => {
                self.token = Some(token);
                if self.cs.phase == Phase::Requesting {
                    self.cs.enter(ctx, Timer::Hold);
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
        // The token and the request numbers were volatile: a recovered site
        // starts without them (a lost token is not regenerated).
        self.cs.reset();
        self.token = None;
        self.rn.iter_mut().for_each(|r| *r = 0);
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(MutexChecker::new(false))]
    }
}
