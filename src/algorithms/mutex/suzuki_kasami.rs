//! `mutex.suzuki-kasami` — Suzuki and Kasami's broadcast token algorithm.
//!
//! **Guarantee.** Safety (one token) always, also when the network loses or
//! duplicates messages: the token counts its hops and a site drops a copy
//! whose count it has already seen. Liveness on reliable channels as long
//! as the token survives: a site that crashes without the token (idle, or
//! even while it asks) and recovers is served again when it asks.
//! A token lost with a crashed holder or in transit (also one sent to a site
//! that is down) is never regenerated: nobody enters again, and the liveness
//! check says so.
//!
//! **Messages.** Each site keeps `RN[j]`, the highest request number heard from
//! j; the token carries `LN[j]`, the number of j's last satisfied request, and a
//! queue Q. A site without the token increments `RN[i]` and sends
//! `REQUEST(i, n)` to the N−1 others; the holder sends the `TOKEN` when idle
//! and j has an outstanding request, `RN[j]` > `LN[j]`. On leaving, the holder
//! sets `LN[i]` = `RN[i]`, appends every site with an outstanding request to
//! Q, and passes the token to Q's head. N messages per entry (N−1 REQUEST + 1
//! TOKEN), 0 when the requester already holds the token.
//!
//! **Crash and recovery.** A crash loses the token, the request in progress
//! and what the site heard from the others (`RN[j]`, j ≠ i). On stable
//! storage it keeps its own request number `RN[i]`, written before its
//! `REQUEST` leaves, and the hop count of the last token it held (so a late
//! copy of that token is still dropped after a recovery). Without `RN[i]`
//! the recovered site would count again from 1, and every other site, and
//! the token's `LN[i]`, would take its new requests for old, satisfied ones.
//! What it heard from the others it relearns: on recovery it sends
//! `RECOVER(i)` to the N−1 others and each live site j answers `RN(j, n)`
//! with its own number, which counts as a `REQUEST(j, n)` heard again, so a
//! request sent while the site was down is not missed if the token comes to
//! it. That is 2(N−1) messages per recovery. A token that reaches a site
//! whose request died with a crash (it is idle) is handed on at once, with
//! that request marked done (`LN[i]` = `RN[i]`). "Outstanding" is `RN[j]` >
//! `LN[j]` where the paper writes `RN[j]` = `LN[j]` + 1: the same without
//! crashes (a site has at most one request outstanding), but it still
//! serves a site that asks again after its earlier request died.
//!
//! **Source.** I. Suzuki and T. Kasami, "A distributed mutual exclusion
//! algorithm", ACM TOCS 3(4), 1985. The recovery (stable storage,
//! `RECOVER`/`RN`) and the hop count are this project's, not the paper's,
//! which assumes no failures and no duplicated messages.

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
    /// How many times the token has been sent. It only grows, so a copy whose
    /// number a site has already seen is a duplicate from the network.
    pub hops: u64,
    pub ln: Vec<u64>,
    pub queue: VecDeque<NodeId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    Request {
        site: NodeId,
        n: u64,
    },
    Token(Token),
    /// A recovered site asks the others for their request numbers.
    Recover {
        site: NodeId,
    },
    /// The answer to `Recover`: `site`'s own request number is `n`.
    Rn {
        site: NodeId,
        n: u64,
    },
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Request { site, n } => write!(f, "REQUEST({site}, {n})"),
            Msg::Token(t) => {
                let q: Vec<String> = t.queue.iter().map(|n| n.to_string()).collect();
                write!(f, "TOKEN(Q [{}])", q.join(", "))
            }
            Msg::Recover { site } => write!(f, "RECOVER({site})"),
            Msg::Rn { site, n } => write!(f, "RN({site}, {n})"),
        }
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Request { .. } => "REQUEST",
            Msg::Token(_) => "TOKEN",
            Msg::Recover { .. } => "RECOVER",
            Msg::Rn { .. } => "RN",
        }
    }
}

pub const KINDS: &[&str] = &["REQUEST", "TOKEN", "RECOVER", "RN"];

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
    /// `RN`: `rn[pos]` is on stable storage (it survives a crash), the rest
    /// is volatile.
    rn: Vec<u64>,
    token: Option<Token>,
    /// The `hops` of the last token this site received (stable storage).
    seen: u64,
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
        self.close_request(ctx);
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

    /// With the token: this site's request is done (`LN[i]` = `RN[i]`), and
    /// every site with an outstanding request joins Q.
    fn close_request(&mut self, ctx: &Ctx<'_, Self>) {
        let Some(token) = self.token.as_mut() else { return };
        token.ln[self.pos] = self.rn[self.pos];
        for (j, &site) in ctx.nodes().iter().enumerate() {
            if !token.queue.contains(&site) && self.rn[j] > token.ln[j] {
                token.queue.push_back(site);
            }
        }
    }

    /// Sends the token to the head of its queue, if any (never to itself:
    /// its own request is closed before the token moves on).
    fn pass_token(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(token) = self.token.as_mut() else { return };
        let me = self.id;
        token.queue.retain(|&s| s != me);
        let Some(next) = token.queue.pop_front() else { return };
        self.send_token(ctx, next);
    }

    /// Sends the token this site holds to `to`, one hop further.
    fn send_token(&mut self, ctx: &mut Ctx<'_, Self>, to: NodeId) {
        let Some(mut token) = self.token.take() else { return };
        token.hops += 1;
        ctx.send(to, Msg::Token(token));
    }

    /// `site`'s request number is at least `n` (a `REQUEST`, or an `RN`
    /// answer after this site recovered). An idle holder sends the token at
    /// once if that request is outstanding.
    fn heard(&mut self, ctx: &mut Ctx<'_, Self>, site: NodeId, n: u64) {
        let Some(j) = ctx.nodes().iter().position(|&x| x == site) else { return };
        self.rn[j] = self.rn[j].max(n);
        if self.cs.phase != Phase::Inside
            && let Some(token) = self.token.as_mut()
            && self.rn[j] > token.ln[j]
        {
            token.queue.retain(|&s| s != site);
            self.send_token(ctx, site);
        }
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
        let token = (id == first).then(|| Token { hops: 0, ln: vec![0; n], queue: VecDeque::new() });
        SkNode { id, pos: setup.index, cs: Cs::new(setup.params.hold), rn: vec![0; n], token, seen: 0 }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.token.is_some() {
            ctx.emit(Observation::Note(format!("Site {} has the token.", self.id)));
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, _from: NodeId, msg: Msg) {
        match msg {
            Msg::Request { site, n } | Msg::Rn { site, n } => self.heard(ctx, site, n),
            Msg::Token(token) if token.hops <= self.seen => {
                ctx.emit(Observation::Note(format!("Site {} drops a copy of a token it has already had.", self.id)));
            }
            Msg::Token(token) => {
                self.seen = token.hops;
                self.token = Some(token);
                match self.cs.phase {
                    Phase::Requesting => self.cs.enter(ctx, Timer::Hold),
                    Phase::Idle => {
                        // The request it answers died with a crash of this
                        // site: close it and hand the token on.
                        ctx.emit(Observation::Note(format!("Site {} no longer asks: its request died in a crash.", self.id)));
                        self.close_request(ctx);
                        self.pass_token(ctx);
                    }
                    // Not while the one token is here (copies are dropped above).
                    Phase::Inside => {}
                }
            }
            Msg::Recover { site } => {
                ctx.send(site, Msg::Rn { site: self.id, n: self.rn[self.pos] });
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _: Timer) {
        self.leave(ctx);
    }

    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, cmd: &Command) {
        super::on_command(self, ctx, cmd);
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        // Lost: the token (not regenerated), the request in progress and
        // RN[j] for the others, which the RN answers bring back. Kept, on
        // stable storage: the own request number RN[i] and `seen`.
        self.cs.reset();
        self.token = None;
        let own = self.rn[self.pos];
        self.rn.fill(0);
        self.rn[self.pos] = own;
        ctx.broadcast(Msg::Recover { site: self.id });
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(MutexChecker::new(false))]
    }
}
