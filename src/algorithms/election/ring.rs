//! `election.ring` — Chang and Roberts' ring election, on a logical ring (the
//! scenario's node order) that skips crashed nodes.
//!
//! **Guarantee.** With reliable channels and no further crash, every live node
//! ends following the highest live id, and exactly one node is coordinator.
//!
//! **Messages.** An initiator that is not already taking part sends
//! `Election(own id)` to its successor. A node passes a greater candidate on
//! unconditionally, replaces a lower one with its own id unless it already
//! takes part (then the lower one ends there), and wins when its own id comes
//! back; the winner then sends `Coordinator(id)` once around the ring. One
//! initiator: at most 3n−1 Election and Coordinator messages (n−1 to reach the
//! highest, n for its id to come round, n for the announcement). Every node
//! initiating: at most n(n+1)/2 + n, exactly that when the ring is in
//! decreasing id order, whatever the latencies.
//!
//! **FIFO links.** Chang and Roberts assume them: otherwise a lower Election
//! overtaken on a link can reach the winner after it won and start a second
//! election. The network may reorder, so a node sends its ring messages one
//! at a time: the next leaves only when the previous one is acknowledged (or
//! handed to the next successor), and a resend is recognised by its tag.
//!
//! **Crashes.** Every ring message is acknowledged (`Ack`, not counted in the
//! textbook figures above). A sender that gets no Ack within `timeout` resends
//! `retries` times, then suspects its successor and sends to the next one;
//! suspicion ends with the announcement. A candidate or coordinator found dead
//! ends its message there, and the node that found it stands instead, with an
//! Election that names the dead one: a node that passed the dead candidate on
//! takes part afresh (it passes a greater id on, and stands for a lower one),
//! so the election ends in that round, not after a timeout. A node in an
//! election that hears no coordinator within `election_timeout` starts again.
//! With `heartbeat`, the coordinator's heartbeats let followers notice its
//! crash.
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
    /// A candidate, and which of its own elections this is (it counts the
    /// times it stood): a copy of the same election, or an older one of the
    /// same candidate, is a repeat; anything else is news. `replaces` names
    /// a candidate (or coordinator) found dead, whose election this one
    /// replaces.
    Election {
        candidate: NodeId,
        round: u32,
        replaces: Option<NodeId>,
    },
    Coordinator(NodeId),
}

impl Body {
    fn subject(self) -> NodeId {
        match self {
            Body::Election { candidate: c, .. } | Body::Coordinator(c) => c,
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::Election { candidate: 0, round: 0, replaces: None }
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
            Msg::Ring { body: Body::Election { candidate: c, .. }, .. } => write!(f, "Election({c})"),
            Msg::Ring { body: Body::Coordinator(c), .. } => write!(f, "Coordinator({c})"),
            Msg::Ack { .. } => f.write_str("Ack"),
            Msg::Heartbeat => f.write_str("Heartbeat"),
        }
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Ring { body: Body::Election { .. }, .. } => "Election",
            Msg::Ring { body: Body::Coordinator(_), .. } => "Coordinator",
            Msg::Ack { .. } => "Ack",
            Msg::Heartbeat => "Heartbeat",
        }
    }

    fn render(&self, out: &mut String) {
        // What `Display` prints, without the formatting machinery.
        let (word, c) = match self {
            Msg::Ring { body: Body::Election { candidate: c, .. }, .. } => ("Election(", *c),
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

/// The ring message in flight: the head of the node's outbox, sent with
/// `tag` to `to` and not acknowledged yet.
#[derive(Clone, Copy)]
struct Flight {
    tag: u32,
    to: NodeId,
    tries: u32,
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

    /// Removes the first entry, keeping the order of the others.
    fn pop_front(&mut self) -> Option<T> {
        match self {
            Small::Inline { len: 0, .. } => None,
            Small::Inline { len, items } => {
                let item = items[0];
                items.copy_within(1..*len as usize, 0);
                *len -= 1;
                Some(item)
            }
            Small::Spilled(v) if v.is_empty() => None,
            Small::Spilled(v) => Some(v.remove(0)),
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
    /// How many times this node has stood for election: the round of its
    /// latest `Election`. Kept across a crash, like the tags of its messages.
    round: u32,
    /// The highest candidate (with its round) this node passed on or stood
    /// for in the current election: a repeat of it ends here.
    forwarded: Option<(NodeId, u32)>,
    /// The coordinator whose announcement this node passed on since it last
    /// took part in an election: a copy of it ends here.
    announced: Option<NodeId>,
    /// Nodes this node skips. Suspicion lasts until the announcement reaches
    /// this node: the announcement and the next election probe every
    /// successor again, so a node that recovered, or whose Acks were only late
    /// (or cut one way), is not skipped forever.
    /// Allocated on the first suspicion: most nodes never suspect anyone.
    /// Boxed so that the node record holds one pointer, not a whole empty set.
    #[allow(clippy::box_collection)]
    suspected: Option<Box<BTreeSet<NodeId>>>,
    /// Ring messages still to deliver, in the order they were passed on. The
    /// head is in flight when `flight` is set; the next one leaves only once
    /// the head is acknowledged (or re-routed past a silent successor), so
    /// every link is FIFO whatever the network reorders.
    outbox: Small<Body, 1>,
    flight: Option<Flight>,
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

    /// A command or a watchdog asks for an election. A participant already
    /// sent an Election carrying an id at least its own; a second one could
    /// only trail the first and outlive the election (Chang and Roberts start
    /// an election from a non-participant).
    fn start_election(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.participant {
            ctx.emit(Observation::Note(format!("Process {} already takes part in an election", self.id)));
            return;
        }
        ctx.emit(Observation::ElectionStarted);
        self.stand(ctx);
    }

    /// `dead`, the candidate or coordinator whose message this node carries,
    /// is down: the node stands instead, unless it already stands for itself
    /// in this election. Its Election names `dead`, so that the nodes that
    /// passed `dead` on take part afresh.
    fn replace_dead_candidate(&mut self, ctx: &mut Ctx<'_, Self>, dead: NodeId) {
        if self.participant && self.forwarded.is_some_and(|(c, _)| c == self.id) {
            return;
        }
        ctx.emit(Observation::ElectionStarted);
        self.stand_replacing(ctx, Some(dead));
    }

    /// Takes part in an election.
    fn join(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.participant = true;
        self.announced = None;
        ctx.set_timer(Timer::Election, self.timing.election_timeout);
    }

    /// Takes part with its own id: sends Election(id) and waits for a coordinator.
    fn stand(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.stand_replacing(ctx, None);
    }

    /// Stands, in place of `replaces` (a candidate found dead) if given.
    fn stand_replacing(&mut self, ctx: &mut Ctx<'_, Self>, replaces: Option<NodeId>) {
        self.join(ctx);
        self.round += 1;
        self.forwarded = Some((self.id, self.round));
        self.outbox.push(Body::Election { candidate: self.id, round: self.round, replaces });
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
        self.outbox.push(Body::Coordinator(self.id));
    }

    /// Sends the head of the outbox to the first successor not suspected,
    /// with an Ack timer, unless a message is already in flight.
    fn pump(&mut self, ctx: &mut Ctx<'_, Self>) {
        while self.flight.is_none() {
            let Some(&body) = self.outbox.as_slice().first() else { return };
            match self.successor(ctx.nodes(), body.subject()) {
                Ok(Some(to)) => {
                    let tag = self.next_tag;
                    self.next_tag += 1;
                    self.flight = Some(Flight { tag, to, tries: 0 });
                    ctx.send(to, Msg::Ring { body, tag });
                    ctx.set_timer(Timer::Ack { tag, to }, self.timing.timeout);
                }
                // The message would pass the dead node it is about: it ends
                // here, and this node stands for election instead.
                Err(()) => {
                    self.outbox.pop_front();
                    self.replace_dead_candidate(ctx, body.subject());
                }
                // Everyone else is suspected: this node is alone.
                Ok(None) => {
                    self.outbox.pop_front();
                    if matches!(body, Body::Election { .. }) {
                        self.win(ctx);
                    }
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
        if let Body::Election { candidate, replaces: Some(dead), .. } = body
            && candidate != self.id
            && self.participant
            && self.forwarded.is_some_and(|(f, _)| f == dead)
        {
            // The election this node took part in carried a candidate now
            // known dead: it is over, and this node takes part afresh.
            self.participant = false;
            self.forwarded = None;
        }
        match body {
            Body::Election { candidate: c, round, .. } if c > self.id => {
                // Chang-Roberts: a greater id is passed on. Only a repeat of
                // the highest candidate passed on in this election (a resend
                // that took another way round), or an older election of that
                // candidate, ends here.
                let higher = match self.forwarded.filter(|_| self.participant) {
                    Some((f, r)) if f == c && round <= r => return,
                    Some((f, _)) => c >= f,
                    None => true,
                };
                self.join(ctx);
                if higher {
                    self.forwarded = Some((c, round));
                }
                self.outbox.push(body);
            }
            Body::Election { candidate: c, replaces, .. } if c < self.id => {
                if !self.participant {
                    self.stand_replacing(ctx, replaces);
                }
            }
            // Its own Election came round: no live node has a higher id. An
            // older round of its own is stale: the current one follows it.
            Body::Election { round, .. } => {
                if self.participant && round == self.round {
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
                self.outbox.push(body);
                // This node's part of the election is over: the announcement
                // and the next election probe every successor again.
                self.clear_suspects();
            }
        }
    }

    fn on_ack(&mut self, ctx: &mut Ctx<'_, Self>, tag: u32) {
        if let Some(f) = self.flight.filter(|f| f.tag == tag) {
            ctx.cancel_timer(Timer::Ack { tag, to: f.to });
            self.flight = None;
            self.outbox.pop_front();
        }
    }

    fn on_ack_timeout(&mut self, ctx: &mut Ctx<'_, Self>, tag: u32, to: NodeId) {
        let Some(f) = self.flight.as_mut().filter(|f| f.tag == tag) else { return };
        if f.tries < self.timing.retries {
            f.tries += 1;
            let body = *self.outbox.as_slice().first().expect("a message in flight heads the outbox");
            ctx.send(to, Msg::Ring { body, tag });
            ctx.set_timer(Timer::Ack { tag, to }, self.timing.timeout);
        } else {
            // Give up on `to`: the head goes to the next successor (`pump`).
            self.flight = None;
            if self.suspect(to) {
                ctx.emit(Observation::Suspects(to));
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
            round: 0,
            forwarded: None,
            announced: None,
            suspected: None,
            outbox: Small::new(),
            flight: None,
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
            Msg::Ack { tag } => self.on_ack(ctx, tag),
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
        self.pump(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Ack { tag, to } => self.on_ack_timeout(ctx, tag, to),
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
        self.pump(ctx);
    }

    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, cmd: &Command) {
        if cmd.name == "detect_failure"
            && let Some(l) = self.leader.filter(|&l| l != self.id)
            && self.suspect(l)
        {
            ctx.emit(Observation::Suspects(l));
        }
        self.start_election(ctx);
        self.pump(ctx);
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.leader = None;
        self.participant = false;
        self.forwarded = None;
        self.clear_suspects();
        self.outbox.clear();
        self.flight = None;
        self.seen.clear();
        self.seen_next = 0;
        self.start_election(ctx);
        self.pump(ctx);
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(LeaderChecker::new())]
    }
}
