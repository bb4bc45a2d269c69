//! `mutex.maekawa` — Maekawa's quorum algorithm, with Sanders' INQUIRE /
//! YIELD / FAILED so that it cannot deadlock.
//!
//! **Guarantee.** Safety and liveness (no deadlock, no starvation) on reliable
//! channels without crashes; channels need not be FIFO. A node enters when
//! every member of its quorum has voted for it, and a member votes for one
//! request at a time; any two quorums share a member, so two nodes are never
//! inside together. Requests are ordered by Lamport timestamp, ties by id.
//!
//! **Quorums (grid).** k = ⌈√N⌉; the node at scenario index i sits in cell
//! (i / k, i mod k) of a k×k grid, and its quorum is every cell of its row
//! and of its column, the cell y·k + x holding the node at index
//! (y·k + x) mod N (duplicates removed). Two quorums always meet: a's row and
//! b's column share the cell (row of a, column of b). K = 2√N − 1 on a
//! perfect square. A node votes for itself locally, without a message.
//!
//! **Messages.** The requester sends `REQUEST(ts)` to its quorum and enters
//! when it holds every `LOCKED` (vote); on leaving it sends `RELEASE`.
//! A voter votes for the first request; a later one waits in its queue, and
//! if it precedes the current vote and every waiting request the voter sends
//! `INQUIRE` to the current grantee (once per vote), otherwise `FAILED` to the
//! requester. A requester that has been told `FAILED` gives back every vote
//! it is asked about (`YIELD`), at once or as soon as it fails; inside the
//! critical section it ignores `INQUIRE` (its `RELEASE` answers it). A voter
//! that gets a vote back queues the yielded request again and votes for the
//! head of its queue; on `RELEASE` it votes for the head, if any.
//! 3(K−1) messages per entry without contention, up to about 6(K−1) with it.
//!
//! **A subtlety.** A waiting request that was the best one when it arrived
//! (so it got no `FAILED`) can later be overtaken by a better request; the
//! voter then tells it `FAILED` too. Without that, the overtaken requester
//! would hold on to votes that the better request needs while waiting for a
//! vote that request holds: a deadlock. Every message carries the timestamp
//! of the request it is about, so messages about an old request are ignored;
//! an `INQUIRE` that overtakes its `LOCKED` is remembered and answered when
//! the vote arrives.
//!
//! **Crashes.** A crashed node never answers: requesters that need its vote
//! or a vote it held starve, a liveness failure the checker reports, never a
//! panic. A recovered node forgets its own request, but keeps its vote and
//! its queue of waiting requests, as if on stable storage: forgetting a vote
//! it had given could let two nodes in.
//!
//! **Sources.** M. Maekawa, "A √N algorithm for mutual exclusion in
//! decentralized systems", ACM TOCS 3(2), 1985; B. Sanders, "The information
//! structure of distributed mutual exclusion algorithms", ACM TOCS 5(3), 1987.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Cs, Next, Params, Phase, Timer};
use crate::check::Checker;
use crate::check::mutex::MutexChecker;
use crate::process::{Ctx, Message, NodeId, Observation, Process, Setup};
use crate::scenario::Command;

/// Every message names the request it is about by the requester's timestamp
/// (the requester is the sender or the receiver).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    Request { ts: u64 },
    Locked { ts: u64 },
    Release { ts: u64 },
    Inquire { ts: u64 },
    Yield { ts: u64 },
    Failed { ts: u64 },
}

impl Msg {
    fn ts(&self) -> u64 {
        match self {
            Msg::Request { ts }
            | Msg::Locked { ts }
            | Msg::Release { ts }
            | Msg::Inquire { ts }
            | Msg::Yield { ts }
            | Msg::Failed { ts } => *ts,
        }
    }
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(ts {})", self.kind(), self.ts())
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Request { .. } => "REQUEST",
            Msg::Locked { .. } => "LOCKED",
            Msg::Release { .. } => "RELEASE",
            Msg::Inquire { .. } => "INQUIRE",
            Msg::Yield { .. } => "YIELD",
            Msg::Failed { .. } => "FAILED",
        }
    }
}

pub const KINDS: &[&str] = &["REQUEST", "LOCKED", "RELEASE", "INQUIRE", "YIELD", "FAILED"];

pub const PARAMS: &[crate::algorithms::registry::ParamSpec] = &[super::HOLD];

/// The smallest k with k² ≥ n.
fn ceil_sqrt(n: usize) -> usize {
    let mut k = (n as f64).sqrt() as usize;
    while k * k < n {
        k += 1;
    }
    while k > 0 && (k - 1) * (k - 1) >= n {
        k -= 1;
    }
    k
}

/// The grid quorum of the node at `index` among `nodes`, in scenario order,
/// without duplicates; it contains the node itself. Empty if `nodes` is.
pub fn quorum(nodes: &[NodeId], index: usize) -> Vec<NodeId> {
    let n = nodes.len();
    if n == 0 {
        return Vec::new();
    }
    let k = ceil_sqrt(n);
    let (r, c) = (index / k, index % k);
    let cells = (0..k).map(|x| r * k + x).chain((0..k).map(|y| y * k + c));
    let indices: BTreeSet<usize> = cells.map(|cell| cell % n).collect();
    indices.into_iter().map(|i| nodes[i]).collect()
}

/// A request: (Lamport timestamp, requester); smaller precedes.
type Key = (u64, NodeId);

pub struct MaekawaNode {
    id: NodeId,
    cs: Cs,
    quorum: Vec<NodeId>,
    clock: u64,
    // The requester's side.
    my_ts: u64,
    votes: BTreeSet<NodeId>,
    /// Told `FAILED` during the current request.
    failed: bool,
    /// Voters that sent `INQUIRE` about the current request, not yet answered.
    inquiries: BTreeSet<NodeId>,
    // The voter's side.
    vote: Option<Key>,
    waiting: BTreeSet<Key>,
    /// An `INQUIRE` went to the current grantee.
    inquired: bool,
    /// Waiting requests known to have failed (told `FAILED`, or yielded).
    told_failed: BTreeSet<Key>,
    /// Messages to itself, handled after the current handler.
    local: VecDeque<Msg>,
}

impl MaekawaNode {
    /// Sends `msg`, or queues it for this node itself.
    fn send(&mut self, ctx: &mut Ctx<'_, Self>, to: NodeId, msg: Msg) {
        if to == self.id {
            self.local.push_back(msg);
        } else {
            ctx.send(to, msg);
        }
    }

    /// Handles the messages this node sent itself, and those they cause.
    fn drain(&mut self, ctx: &mut Ctx<'_, Self>) {
        while let Some(msg) = self.local.pop_front() {
            self.handle(ctx, self.id, msg);
        }
    }

    fn ask(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.clock += 1;
        self.my_ts = self.clock;
        self.votes.clear();
        self.failed = false;
        self.inquiries.clear();
        ctx.emit(Cs::asked(Some(self.my_ts)));
        for q in self.quorum.clone() {
            self.send(ctx, q, Msg::Request { ts: self.my_ts });
        }
    }

    fn leave(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.cs.exit(ctx) {
            return;
        }
        for q in self.quorum.clone() {
            self.send(ctx, q, Msg::Release { ts: self.my_ts });
        }
        self.votes.clear();
        self.inquiries.clear();
        self.failed = false;
        if self.cs.after_exit() == Next::Ask {
            self.ask(ctx);
        }
    }

    /// Gives `voter`'s vote back.
    fn give_back(&mut self, ctx: &mut Ctx<'_, Self>, voter: NodeId) {
        self.votes.remove(&voter);
        self.inquiries.remove(&voter);
        self.send(ctx, voter, Msg::Yield { ts: self.my_ts });
    }

    fn grant(&mut self, ctx: &mut Ctx<'_, Self>, key: Key) {
        self.vote = Some(key);
        self.inquired = false;
        self.told_failed.remove(&key);
        self.send(ctx, key.1, Msg::Locked { ts: key.0 });
    }

    /// Votes for the head of the queue if free, then keeps the voter's
    /// promise: every waiting request preceded by the vote or by another
    /// waiting request has been told `FAILED`, and a head that precedes the
    /// vote has made the voter `INQUIRE` the grantee.
    fn settle_votes(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.vote.is_none()
            && let Some(head) = self.waiting.pop_first()
        {
            self.grant(ctx, head);
        }
        let Some(vote) = self.vote else { return };
        let beaten: Vec<Key> = self
            .waiting
            .iter()
            .enumerate()
            .filter(|&(i, &w)| (i > 0 || vote < w) && !self.told_failed.contains(&w))
            .map(|(_, &w)| w)
            .collect();
        for w in beaten {
            self.told_failed.insert(w);
            self.send(ctx, w.1, Msg::Failed { ts: w.0 });
        }
        if !self.inquired && self.waiting.first().is_some_and(|&head| head < vote) {
            self.inquired = true;
            self.send(ctx, vote.1, Msg::Inquire { ts: vote.0 });
        }
    }

    /// Whether `ts` is the timestamp of this node's request in progress.
    fn current(&self, ts: u64) -> bool {
        self.cs.phase == Phase::Requesting && ts == self.my_ts
    }

    fn handle(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            // The voter's side.
            Msg::Request { ts } => {
                self.clock = self.clock.max(ts);
                if self.vote == Some((ts, from)) {
                    return; // A duplicate of the request it already votes for.
                }
                self.waiting.insert((ts, from));
                self.settle_votes(ctx);
            }
            Msg::Release { ts } => {
                let key = (ts, from);
                if self.vote == Some(key) {
                    self.vote = None;
                    self.inquired = false;
                } else {
                    self.waiting.remove(&key);
                    self.told_failed.remove(&key);
                }
                self.settle_votes(ctx);
            }
            Msg::Yield { ts } => {
                let key = (ts, from);
                if self.vote == Some(key) {
                    self.vote = None;
                    self.waiting.insert(key);
                    // It yielded because it failed: no need to tell it again.
                    self.told_failed.insert(key);
                    self.settle_votes(ctx);
                }
            }
            // The requester's side.
            Msg::Locked { ts } => {
                if !self.current(ts) || !self.quorum.contains(&from) {
                    return;
                }
                self.votes.insert(from);
                if self.votes.len() == self.quorum.len() {
                    self.inquiries.clear();
                    self.cs.enter(ctx, Timer::Hold);
                } else if self.failed && self.inquiries.contains(&from) {
                    self.give_back(ctx, from);
                }
            }
            Msg::Inquire { ts } => {
                if !self.current(ts) {
                    return; // Inside (RELEASE will answer) or about an old request.
                }
                if self.failed && self.votes.contains(&from) {
                    self.give_back(ctx, from);
                } else {
                    self.inquiries.insert(from);
                }
            }
            Msg::Failed { ts } => {
                if !self.current(ts) {
                    return;
                }
                self.failed = true;
                let asked: Vec<NodeId> = self.inquiries.iter().copied().filter(|v| self.votes.contains(v)).collect();
                for v in asked {
                    self.give_back(ctx, v);
                }
            }
        }
    }
}

super::cs_node!(MaekawaNode);

impl Process for MaekawaNode {
    type Msg = Msg;
    type Timer = Timer;
    type Params = Params;

    fn new(id: NodeId, setup: &Setup<'_, Params>) -> Self {
        MaekawaNode {
            id,
            cs: Cs::new(setup.params.hold),
            quorum: quorum(setup.nodes, setup.index),
            clock: 0,
            my_ts: 0,
            votes: BTreeSet::new(),
            failed: false,
            inquiries: BTreeSet::new(),
            vote: None,
            waiting: BTreeSet::new(),
            inquired: false,
            told_failed: BTreeSet::new(),
            local: VecDeque::new(),
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let q: Vec<String> = self.quorum.iter().map(|n| n.to_string()).collect();
        ctx.emit(Observation::Note(format!("Site {} has quorum {{{}}}.", self.id, q.join(", "))));
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        self.handle(ctx, from, msg);
        self.drain(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _: Timer) {
        self.leave(ctx);
        self.drain(ctx);
    }

    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, cmd: &Command) {
        super::on_command(self, ctx, cmd);
        self.drain(ctx);
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        // The request in progress is forgotten; the vote, the queue and the
        // clock are kept (see the module doc), except what this node's own
        // vote held for its own, now forgotten, request.
        self.cs.reset();
        self.votes.clear();
        self.failed = false;
        self.inquiries.clear();
        self.local.clear();
        let id = self.id;
        self.waiting.retain(|&(_, n)| n != id);
        self.told_failed.retain(|&(_, n)| n != id);
        if self.vote.is_some_and(|(_, n)| n == id) {
            self.vote = None;
            self.inquired = false;
        }
        self.settle_votes(ctx);
        self.drain(ctx);
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(MutexChecker::new(false))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_of_quorums_intersects_and_contains_its_owner() {
        for n in 1..=40u32 {
            let nodes: Vec<NodeId> = (1..=n).collect();
            let qs: Vec<Vec<NodeId>> = (0..nodes.len()).map(|i| quorum(&nodes, i)).collect();
            for (i, a) in qs.iter().enumerate() {
                assert!(a.contains(&nodes[i]), "n={n}: {} not in its own quorum {a:?}", nodes[i]);
                assert!(a.windows(2).all(|w| w[0] < w[1]), "n={n}: duplicates or order in {a:?}");
                let k = ceil_sqrt(n as usize);
                assert!(a.len() < 2 * k, "n={n}: quorum {a:?} bigger than 2k-1");
                for b in &qs {
                    assert!(a.iter().any(|x| b.contains(x)), "n={n}: {a:?} and {b:?} do not meet");
                }
            }
        }
    }

    #[test]
    fn a_perfect_square_gives_quorums_of_2_sqrt_n_minus_1() {
        for k in 1..=6usize {
            let nodes: Vec<NodeId> = (0..(k * k) as u32).collect();
            for i in 0..nodes.len() {
                assert_eq!(quorum(&nodes, i).len(), 2 * k - 1);
            }
        }
        assert_eq!(quorum(&[1, 2, 3, 4, 5, 6, 7, 8, 9], 4), vec![2, 4, 5, 6, 8]);
    }

    #[test]
    fn ceil_sqrt_is_exact() {
        for n in 0..2000usize {
            let k = ceil_sqrt(n);
            assert!(k * k >= n && (k == 0 || (k - 1) * (k - 1) < n), "n={n} k={k}");
        }
    }
}
