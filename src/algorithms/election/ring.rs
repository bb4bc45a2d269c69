//! `election.ring` — Chang and Roberts' ring election, on a logical ring (the
//! scenario's node order) that skips crashed nodes.
//!
//! **Guarantee.** With reliable channels and no further crash, every live node
//! ends following the highest live id, and exactly one node is coordinator.
//!
//! **Messages.** An initiator sends `Election(own id)` to its successor. A node
//! forwards a higher candidate, replaces a lower one with its own id unless it
//! already takes part, and wins when its own id comes back; the winner then
//! sends `Coordinator(id)` once around the ring. One initiator: at most 3n−1
//! Election and Coordinator messages (n−1 to reach the highest, n for its id to
//! come round, n for the announcement). Every node initiating: at most
//! n(n+1)/2 + n, reached when the ring is in decreasing id order.
//!
//! **Crashes.** Every ring message is acknowledged (`Ack`, not counted in the
//! textbook figures above). A sender that gets no Ack within `timeout` resends
//! `retries` times, then suspects its successor and sends to the next one. A
//! candidate or coordinator found dead ends its message and a new election
//! starts; a node in an election that hears no coordinator within
//! `election_timeout` starts again. With `heartbeat`, the coordinator's
//! heartbeats let followers notice its crash.
//!
//! **Loss.** A node whose Acks keep getting lost suspects a live successor
//! and skips it for the rest of that election; in the worst case a node that
//! suspects everyone elects itself. Raise `retries` on lossy networks, and use
//! `heartbeat`: a higher coordinator's heartbeats start a new election.
//!
//! **Source.** E. Chang and R. Roberts, "An improved algorithm for decentralized
//! extrema-finding in circular configurations of processes", CACM 22(5), 1979;
//! skipping dead successors as in Tanenbaum and van Steen, *Distributed
//! Systems*, §6.5 (ring algorithm).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{RingParams, Timing};
use crate::check::Checker;
use crate::check::election::LeaderChecker;
use crate::process::{Ctx, Message, NodeId, Observation, Process, Setup};
use crate::scenario::Command;

/// What travels around the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    Election(NodeId),
    Coordinator(NodeId),
}

impl Body {
    fn subject(self) -> NodeId {
        match self {
            Body::Election(c) | Body::Coordinator(c) => c,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// A ring message with the sender's tag, which its Ack echoes.
    Ring {
        body: Body,
        tag: u32,
    },
    Ack {
        tag: u32,
    },
    Heartbeat,
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Ring { body: Body::Election(c), .. } => write!(f, "Election({c})"),
            Msg::Ring { body: Body::Coordinator(c), .. } => write!(f, "Coordinator({c})"),
            Msg::Ack { .. } => f.write_str("Ack"),
            Msg::Heartbeat => f.write_str("Heartbeat"),
        }
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Ring { body: Body::Election(_), .. } => "Election",
            Msg::Ring { body: Body::Coordinator(_), .. } => "Coordinator",
            Msg::Ack { .. } => "Ack",
            Msg::Heartbeat => "Heartbeat",
        }
    }

    fn render(&self, out: &mut String) {
        // What `Display` prints, without the formatting machinery.
        let (word, c) = match self {
            Msg::Ring { body: Body::Election(c), .. } => ("Election(", *c),
            Msg::Ring { body: Body::Coordinator(c), .. } => ("Coordinator(", *c),
            Msg::Ack { .. } => return out.push_str("Ack"),
            Msg::Heartbeat => return out.push_str("Heartbeat"),
        };
        out.push_str(word);
        crate::trace::text::push_u64(out, u64::from(c));
        out.push(')');
    }
}

pub const KINDS: &[&str] = &["Election", "Coordinator", "Ack", "Heartbeat"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// No Ack for the message with this tag, sent to `to`.
    Ack { tag: u32, to: NodeId },
    /// The election did not end with a coordinator in time.
    Election,
    /// Time for the coordinator's next heartbeat.
    Heartbeat,
    /// A follower heard no heartbeat for too long.
    Watchdog,
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timer::Ack { to, .. } => write!(f, "no Ack from {to}"),
            Timer::Election => f.write_str("no coordinator announced in time"),
            Timer::Heartbeat => f.write_str("heartbeat"),
            Timer::Watchdog => f.write_str("no heartbeat from the coordinator"),
        }
    }
}

#[derive(Clone, Copy)]
struct Pending {
    tag: u32,
    body: Body,
    to: NodeId,
    tries: u32,
}

impl Default for Pending {
    fn default() -> Self {
        Pending { tag: 0, body: Body::Election(0), to: 0, tries: 0 }
    }
}

/// A short list kept inside the node until it outgrows `N` entries: most nodes
/// of a ring hold one or two pending messages and a few seen tags, and
/// allocating two vectors per node cost more than the election itself.
enum Small<T: Copy + Default, const N: usize> {
    Inline { len: u8, items: [T; N] },
    Spilled(Vec<T>),
}

impl<T: Copy + Default, const N: usize> Small<T, N> {
    fn new() -> Self {
        Small::Inline { len: 0, items: [T::default(); N] }
    }

    fn as_slice(&self) -> &[T] {
        match self {
            Small::Inline { len, items } => &items[..*len as usize],
            Small::Spilled(v) => v,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [T] {
        match self {
            Small::Inline { len, items } => &mut items[..*len as usize],
            Small::Spilled(v) => v,
        }
    }

    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn push(&mut self, item: T) {
        match self {
            Small::Inline { len, items } if (*len as usize) < N => {
                items[*len as usize] = item;
                *len += 1;
            }
            Small::Inline { items, .. } => {
                let mut v = Vec::with_capacity(2 * N);
                v.extend_from_slice(items);
                v.push(item);
                *self = Small::Spilled(v);
            }
            Small::Spilled(v) => v.push(item),
        }
    }

    /// Removes entry `i`, moving the last one into its place.
    fn swap_remove(&mut self, i: usize) -> T {
        match self {
            Small::Inline { len, items } => {
                let last = *len as usize - 1;
                let item = items[i];
                items[i] = items[last];
                *len -= 1;
                item
            }
            Small::Spilled(v) => v.swap_remove(i),
        }
    }

    fn clear(&mut self) {
        match self {
            Small::Inline { len, .. } => *len = 0,
            Small::Spilled(v) => v.clear(),
        }
    }
}

/// How many recent (sender, tag) pairs a node remembers to drop duplicates.
const SEEN: usize = 32;

pub struct RingNode {
    id: NodeId,
    pos: u32,
    /// The highest id of the scenario: every node's coordinator at the start.
    top: NodeId,
    timing: Timing,
    leader: Option<NodeId>,
    participant: bool,
    /// The highest candidate this node forwarded or stood for in the current
    /// election: copies of it, or lower ones, end here.
    forwarded: Option<NodeId>,
    /// The coordinator whose announcement this node passed on since it last
    /// took part in an election: a copy of it ends here.
    announced: Option<NodeId>,
    /// Nodes this node skips. Suspicion lasts until this node has passed the
    /// announcement on: the next election probes every successor again, so a
    /// node that recovered, or whose Acks were only late, is not skipped forever.
    /// Allocated on the first suspicion: most nodes never suspect anyone.
    /// Boxed so that the node record holds one pointer, not a whole empty set.
    #[allow(clippy::box_collection)]
    suspected: Option<Box<BTreeSet<NodeId>>>,
    pending: Small<Pending, 1>,
    next_tag: u32,
    seen: Small<(NodeId, u32), 3>,
    /// Where the next pair goes once `seen` is full.
    seen_next: u8,
}

impl RingNode {
    /// The coordinator this node follows.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    fn is_suspected(&self, node: NodeId) -> bool {
        self.suspected.as_ref().is_some_and(|s| s.contains(&node))
    }

    /// Suspects `node`; true if it was not suspected yet.
    fn suspect(&mut self, node: NodeId) -> bool {
        self.suspected.get_or_insert_default().insert(node)
    }

    fn clear_suspects(&mut self) {
        if let Some(s) = self.suspected.as_mut() {
            s.clear();
        }
    }

    /// The first successor not suspected, or `Err(())` when reaching it would
    /// skip over `subject`, the (dead) node the message is about.
    fn successor(&self, nodes: &[NodeId], subject: NodeId) -> Result<Option<NodeId>, ()> {
        let n = nodes.len();
        for k in 1..n {
            let c = nodes[(self.pos as usize + k) % n];
            if !self.is_suspected(c) {
                return Ok(Some(c));
            }
            if c == subject {
                return Err(());
            }
        }
        Ok(None)
    }

    fn start_election(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.emit(Observation::ElectionStarted);
        self.stand(ctx);
    }

    /// Takes part in an election.
    fn join(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.participant = true;
        self.announced = None;
        ctx.set_timer(Timer::Election, self.timing.election_timeout);
    }

    /// Takes part with its own id: sends Election(id) and waits for a coordinator.
    fn stand(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.join(ctx);
        self.forwarded = Some(self.id);
        self.pass(ctx, Body::Election(self.id));
    }

    fn win(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.leader = Some(self.id);
        self.participant = false;
        self.forwarded = None;
        self.announced = Some(self.id);
        ctx.cancel_timer(Timer::Election);
        ctx.cancel_timer(Timer::Watchdog);
        ctx.emit(Observation::Elected);
        if let Some(h) = self.timing.heartbeat {
            ctx.set_timer(Timer::Heartbeat, h);
        }
        self.pass(ctx, Body::Coordinator(self.id));
    }

    /// Sends `body` to the first successor not suspected, with an Ack timer.
    fn pass(&mut self, ctx: &mut Ctx<'_, Self>, body: Body) {
        match self.successor(ctx.nodes(), body.subject()) {
            // The message would pass the dead node it is about: it ends here,
            // and this node stands for election instead.
            Err(()) => self.start_election(ctx),
            Ok(Some(to)) => {
                let tag = self.next_tag;
                self.next_tag += 1;
                self.pending.push(Pending { tag, body, to, tries: 0 });
                ctx.send(to, Msg::Ring { body, tag });
                ctx.set_timer(Timer::Ack { tag, to }, self.timing.timeout);
            }
            // Everyone else is suspected: this node is alone.
            Ok(None) => {
                if matches!(body, Body::Election(_)) {
                    self.win(ctx);
                }
            }
        }
    }

    fn heard_from(&mut self, from: NodeId) {
        if let Some(s) = self.suspected.as_mut() {
            s.remove(&from);
        }
    }

    fn follow(&mut self, ctx: &mut Ctx<'_, Self>, leader: NodeId) {
        self.leader = Some(leader);
        self.participant = false;
        self.forwarded = None;
        self.announced = Some(leader);
        ctx.cancel_timer(Timer::Election);
        ctx.cancel_timer(Timer::Heartbeat);
        ctx.emit(Observation::Leader(leader));
        if self.timing.heartbeat.is_some() {
            ctx.set_timer(Timer::Watchdog, self.timing.watchdog);
        }
    }

    fn on_ring(&mut self, ctx: &mut Ctx<'_, Self>, body: Body) {
        match body {
            Body::Election(c) if c > self.id => {
                // A copy of a candidate already passed on (a resend that took
                // another way round), or one lower than it, ends here.
                if self.participant && self.forwarded.is_some_and(|f| f >= c) {
                    return;
                }
                self.join(ctx);
                self.forwarded = Some(c);
                self.pass(ctx, body);
            }
            Body::Election(c) if c < self.id => {
                if !self.participant {
                    self.stand(ctx);
                }
            }
            Body::Election(_) => {
                if self.participant {
                    self.win(ctx);
                }
            }
            // The announcement came round: this election is over.
            Body::Coordinator(l) if l == self.id => self.clear_suspects(),
            Body::Coordinator(l) => {
                if !self.participant && self.announced == Some(l) {
                    return; // a copy of an announcement already passed on
                }
                self.follow(ctx, l);
                self.pass(ctx, body);
                // This node's part of the election is over.
                self.clear_suspects();
            }
        }
    }
}

impl Process for RingNode {
    type Msg = Msg;
    type Timer = Timer;
    type Params = RingParams;

    fn new(id: NodeId, setup: &Setup<'_, RingParams>) -> Self {
        let n = setup.nodes.len() as u64;
        RingNode {
            id,
            pos: setup.index as u32,
            top: setup.highest,
            timing: Timing::new(setup.params, setup.max_latency, 3 * n),
            leader: None,
            participant: false,
            forwarded: None,
            announced: None,
            suspected: None,
            pending: Small::new(),
            next_tag: 0,
            seen: Small::new(),
            seen_next: 0,
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let top = self.top;
        self.leader = Some(top);
        ctx.emit(Observation::Leader(top));
        if let Some(h) = self.timing.heartbeat {
            if top == self.id {
                ctx.set_timer(Timer::Heartbeat, h);
            } else {
                ctx.set_timer(Timer::Watchdog, self.timing.watchdog);
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        self.heard_from(from);
        match msg {
            Msg::Ring { body, tag } => {
                ctx.send(from, Msg::Ack { tag });
                if self.seen.as_slice().contains(&(from, tag)) {
                    return;
                }
                if self.seen.len() < SEEN {
                    self.seen.push((from, tag));
                } else {
                    // A ring of the last SEEN pairs: overwrite the oldest.
                    self.seen.as_mut_slice()[usize::from(self.seen_next)] = (from, tag);
                    self.seen_next = ((usize::from(self.seen_next) + 1) % SEEN) as u8;
                }
                // A message about a node shows it was up when the message began.
                self.heard_from(body.subject());
                self.on_ring(ctx, body);
            }
            Msg::Ack { tag } => {
                if let Some(i) = self.pending.as_slice().iter().position(|p| p.tag == tag) {
                    let p = self.pending.swap_remove(i);
                    ctx.cancel_timer(Timer::Ack { tag, to: p.to });
                }
            }
            Msg::Heartbeat => {
                if self.leader == Some(from) {
                    if self.timing.heartbeat.is_some() {
                        ctx.set_timer(Timer::Watchdog, self.timing.watchdog);
                    }
                } else if self.leader.is_none_or(|l| from > l) && !self.participant {
                    // A higher coordinator exists (after a partition heals): elect again.
                    self.start_election(ctx);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Ack { tag, to } => {
                let Some(i) = self.pending.as_slice().iter().position(|p| p.tag == tag) else { return };
                let p = &mut self.pending.as_mut_slice()[i];
                if p.tries < self.timing.retries {
                    p.tries += 1;
                    let body = p.body;
                    ctx.send(to, Msg::Ring { body, tag });
                    ctx.set_timer(Timer::Ack { tag, to }, self.timing.timeout);
                } else {
                    let p = self.pending.swap_remove(i);
                    if self.suspect(to) {
                        ctx.emit(Observation::Suspects(to));
                    }
                    self.pass(ctx, p.body);
                }
            }
            Timer::Election => {
                if self.participant {
                    self.participant = false;
                    self.start_election(ctx);
                }
            }
            Timer::Heartbeat => {
                if self.leader == Some(self.id)
                    && let Some(h) = self.timing.heartbeat
                {
                    ctx.broadcast(Msg::Heartbeat);
                    ctx.set_timer(Timer::Heartbeat, h);
                }
            }
            Timer::Watchdog => {
                if let Some(l) = self.leader.filter(|&l| l != self.id) {
                    if self.suspect(l) {
                        ctx.emit(Observation::Suspects(l));
                    }
                    self.start_election(ctx);
                }
            }
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, cmd: &Command) {
        match cmd.name.as_str() {
            "detect_failure" => {
                if let Some(l) = self.leader.filter(|&l| l != self.id)
                    && self.suspect(l)
                {
                    ctx.emit(Observation::Suspects(l));
                }
                self.start_election(ctx);
            }
            _ => self.start_election(ctx),
        }
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.leader = None;
        self.participant = false;
        self.clear_suspects();
        self.pending.clear();
        self.seen.clear();
        self.seen_next = 0;
        self.start_election(ctx);
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(LeaderChecker::new())]
    }
}
