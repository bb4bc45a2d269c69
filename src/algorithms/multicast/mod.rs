//! The group-communication family: every node of the scenario is a member of
//! one group, and `do: multicast TEXT` makes a node multicast a message to
//! it. A message's id is its sender and the sender's count (`3.1` is node 3's
//! first); members report `Multicast` when they send one and `Delivered` when
//! they hand one to their application, and the multicast checker
//! ([`crate::check::multicast`]) judges the deliveries.
//!
//! [`MulticastNode`] is the part every algorithm shares; an [`Ordering`]
//! (one file each) decides what a multicast sends and when a received message
//! is delivered. `multicast.basic` sends plain datagrams; the others send
//! through [`link`], a reliable point-to-point layer (sequence numbers per
//! link, cumulative and selective ACKs, NACKs for gaps, a retransmit buffer
//! and a bounded retransmit timer), so that loss and duplication are repaired
//! below the ordering.
//!
//! **R-multicast.** Loss repaired per link is not enough when a sender
//! crashes: a member whose copy was lost never gets it again. So reliable,
//! FIFO, causal and total multicast send their messages (and the sequencer
//! its `ORDER`s) as Coulouris's R-multicast: a member that receives such a
//! message for the first time relays it, over the same reliable links, to
//! every member but itself and the message's origin, and only then hands it
//! to the ordering ([`Ordering::origin`] says which messages and whose; later
//! copies are dropped). A message that reached one correct member therefore
//! reaches all of them, whether or not its sender stays up (agreement). The
//! price: on a loss-free network (N−1)² copies of each message instead of
//! N−1, and an `ACK` for each.

pub mod basic;
pub mod causal;
pub mod fifo;
pub mod isis;
pub mod link;
pub mod reliable;
pub mod total;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::algorithms::registry::{CommandSpec, ParamSpec};
use crate::check::Checker;
use crate::check::multicast::{MulticastChecker, Promises};
use crate::process::{Ctx, Message, Nanos, NodeId, Observation, Process, Setup};
use crate::scenario::Command;
use crate::scenario::units::Dur;

pub use link::Link;

pub const COMMANDS: &[CommandSpec] =
    &[CommandSpec { name: "multicast", args: &["TEXT"], help: "the node multicasts TEXT (one word) to the group, as message NODE.SEQ" }];

/// The parameters of the reliable layer, shared by every algorithm but basic.
pub const LINK_PARAMS: &[ParamSpec] = &[TIMEOUT, RETRIES, NACK_DELAY];

const TIMEOUT: ParamSpec =
    ParamSpec { name: "timeout", help: "time without an ACK before a message is sent again (default 2 x max latency + 1ms)" };
const RETRIES: ParamSpec =
    ParamSpec { name: "retries", help: "how many times a message is sent again before the sender gives up on that member (default 10)" };
const NACK_DELAY: ParamSpec = ParamSpec {
    name: "nack_delay",
    help: "how long a receiver waits for a gap to fill before it sends a NACK (default max latency + 1ms)",
};

/// `params:` of `multicast.total`: the reliable layer's and the sequencer.
pub const TOTAL_PARAMS: &[ParamSpec] = &[
    TIMEOUT,
    RETRIES,
    NACK_DELAY,
    ParamSpec { name: "sequencer", help: "the node that numbers every message (default: the first node listed)" },
];

/// A message id: its sender and the sender's count (`3.1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MsgId {
    pub sender: NodeId,
    pub seq: u32,
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.sender, self.seq)
    }
}

/// An ISIS priority: a number and the node that proposed it, `(4, 3)` (ties
/// on the number go to the lower node id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Prio {
    pub n: u64,
    pub node: NodeId,
}

impl fmt::Display for Prio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.n, self.node)
    }
}

/// What the ordering algorithms say to each other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// The message itself; causal multicast adds the sender's vector timestamp.
    Data { id: MsgId, text: String, vt: Option<Vec<u32>> },
    /// The sequencer's number for a message (`multicast.total`).
    Order { id: MsgId, order: u64 },
    /// A member's proposed priority for a message, to its sender (ISIS).
    Propose { id: MsgId, prio: Prio },
    /// The sender's final priority: the largest proposal (ISIS).
    Agree { id: MsgId, prio: Prio },
}

/// What tells apart the messages that can be R-multicast (a message, a
/// sequencer's number), to drop the relayed copies of one already received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Data(MsgId),
    Order(u64),
}

impl Body {
    /// Its key, for the kinds that can be R-multicast.
    pub fn key(&self) -> Option<Key> {
        match self {
            Body::Data { id, .. } => Some(Key::Data(*id)),
            Body::Order { order, .. } => Some(Key::Order(*order)),
            Body::Propose { .. } | Body::Agree { .. } => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Body::Data { .. } => "DATA",
            Body::Order { .. } => "ORDER",
            Body::Propose { .. } => "PROPOSE",
            Body::Agree { .. } => "AGREE",
        }
    }
}

/// `V=[1,0,2]`.
pub fn fmt_vt(v: &[u32]) -> String {
    let parts: Vec<String> = v.iter().map(u32::to_string).collect();
    format!("V=[{}]", parts.join(","))
}

impl fmt::Display for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Data { id, text, vt: None } => write!(f, "DATA {id} \"{text}\""),
            Body::Data { id, text, vt: Some(v) } => write!(f, "DATA {id} \"{text}\" {}", fmt_vt(v)),
            Body::Order { id, order } => write!(f, "ORDER {id} is number {order}"),
            Body::Propose { id, prio } => write!(f, "PROPOSE {id} priority {prio}"),
            Body::Agree { id, prio } => write!(f, "AGREE {id} priority {prio}"),
        }
    }
}

/// One message on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// A plain datagram: no number, no acknowledgement (`multicast.basic`).
    Raw(Body),
    /// A reliable-layer message: its number on the link `from -> to`.
    Data { seq: u64, body: Body },
    /// "I have your #1..=#upto, and also these": the receiver's acknowledgement.
    Ack { upto: u64, ahead: Vec<u64> },
    /// "Send these again": a receiver that saw a gap.
    Nack { missing: Vec<u64> },
}

fn fmt_seqs(v: &[u64]) -> String {
    let parts: Vec<String> = v.iter().map(|s| format!("#{s}")).collect();
    parts.join(", ")
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Raw(b) => write!(f, "{b}"),
            Msg::Data { seq, body } => write!(f, "{body} [#{seq}]"),
            Msg::Ack { upto, ahead } if ahead.is_empty() => write!(f, "ACK [..#{upto}]"),
            Msg::Ack { upto: 0, ahead } => write!(f, "ACK [{}]", fmt_seqs(ahead)),
            Msg::Ack { upto, ahead } => write!(f, "ACK [..#{upto}, {}]", fmt_seqs(ahead)),
            Msg::Nack { missing } => write!(f, "NACK [{}]", fmt_seqs(missing)),
        }
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Raw(b) | Msg::Data { body: b, .. } => b.kind(),
            Msg::Ack { .. } => "ACK",
            Msg::Nack { .. } => "NACK",
        }
    }
}

/// The timers of the reliable layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Send again what is still unacknowledged.
    Retransmit,
    /// A gap in what `from` sent has lasted `nack_delay`: ask for it.
    Nack(NodeId),
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timer::Retransmit => f.write_str("retransmit what is unacknowledged"),
            Timer::Nack(from) => write!(f, "a gap in the messages from {from} is still open"),
        }
    }
}

/// The reliable layer's settings, with the defaults filled in.
#[derive(Clone, Copy, Debug)]
pub struct LinkSettings {
    pub timeout: Nanos,
    pub retries: u32,
    pub nack_delay: Nanos,
}

/// A `params:` block of the family.
pub trait Settings: DeserializeOwned + Default {
    /// The reliable layer's settings for a network whose largest latency is `max_latency`.
    fn link(&self, _max_latency: Nanos) -> LinkSettings {
        LinkSettings { timeout: 0, retries: 0, nack_delay: 0 }
    }
    /// The sequencer (`multicast.total`).
    fn sequencer(&self) -> Option<NodeId> {
        None
    }
}

fn link_settings(timeout: Option<Dur>, retries: Option<u32>, nack_delay: Option<Dur>, max_latency: Nanos) -> LinkSettings {
    LinkSettings {
        timeout: timeout.map_or(2 * max_latency + 1_000_000, |d| d.0.max(1)),
        retries: retries.unwrap_or(10),
        nack_delay: nack_delay.map_or(max_latency + 1_000_000, |d| d.0.max(1)),
    }
}

/// `params:` of `multicast.basic`: none.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicParams {}

impl Settings for BasicParams {}

/// `params:` of the algorithms over the reliable layer.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub timeout: Option<Dur>,
    #[serde(default)]
    pub retries: Option<u32>,
    #[serde(default)]
    pub nack_delay: Option<Dur>,
}

impl Settings for Params {
    fn link(&self, max_latency: Nanos) -> LinkSettings {
        link_settings(self.timeout, self.retries, self.nack_delay, max_latency)
    }
}

/// `params:` of `multicast.total`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotalParams {
    #[serde(default)]
    pub timeout: Option<Dur>,
    #[serde(default)]
    pub retries: Option<u32>,
    #[serde(default)]
    pub nack_delay: Option<Dur>,
    #[serde(default)]
    pub sequencer: Option<NodeId>,
}

impl Settings for TotalParams {
    fn link(&self, max_latency: Nanos) -> LinkSettings {
        link_settings(self.timeout, self.retries, self.nack_delay, max_latency)
    }
    fn sequencer(&self) -> Option<NodeId> {
        self.sequencer
    }
}

/// The state every member keeps whatever the ordering: the group, its own
/// message count, the reliable layer and what it has delivered.
pub struct Group {
    pub id: NodeId,
    /// Every member, in scenario order (the vector-timestamp order).
    pub members: Vec<NodeId>,
    index: BTreeMap<NodeId, usize>,
    /// This node's last message number.
    pub sent: u32,
    pub link: Link,
    /// Whether messages go through `link` (all but basic).
    pub reliable: bool,
    /// Every message this node has delivered.
    pub delivered: BTreeSet<MsgId>,
    /// Every R-multicast message this node has sent or received (its
    /// relayed copies are dropped).
    received: BTreeSet<Key>,
}

impl Group {
    /// The position of `node` in the member list.
    pub fn index(&self, node: NodeId) -> usize {
        self.index[&node]
    }

    /// Every member but this one, in scenario order.
    pub fn others(&self) -> Vec<NodeId> {
        self.members.iter().copied().filter(|&n| n != self.id).collect()
    }

    /// Sends `body` to `to`: reliably, or as a plain datagram for basic.
    pub fn send<O: Ordering>(&mut self, ctx: &mut Ctx<'_, MulticastNode<O>>, to: NodeId, body: Body) {
        if self.reliable {
            self.link.send(ctx, to, body);
        } else {
            ctx.send(to, Msg::Raw(body));
        }
    }

    /// Sends `body` to every other member. Basic multicast is one broadcast
    /// (the group is every node): over `--transport multicast` that is one IP
    /// multicast datagram, the textbook's best-effort multicast.
    pub fn send_all<O: Ordering>(&mut self, ctx: &mut Ctx<'_, MulticastNode<O>>, body: &Body) {
        if !self.reliable {
            ctx.broadcast(Msg::Raw(body.clone()));
            return;
        }
        for to in self.others() {
            self.send(ctx, to, body.clone());
        }
    }

    /// R-multicast: sends `body`, which originates here, to every other
    /// member; receivers relay it (see [`Ordering::origin`]).
    pub fn r_multicast<O: Ordering>(&mut self, ctx: &mut Ctx<'_, MulticastNode<O>>, body: &Body) {
        self.received.extend(body.key());
        self.send_all(ctx, body);
    }

    /// The receiving side of R-multicast: returns whether `body`, which
    /// `origin` R-multicast, arrives here for the first time, and if so first
    /// relays it to every member but this one and `origin`.
    fn r_receive<O: Ordering>(&mut self, ctx: &mut Ctx<'_, MulticastNode<O>>, origin: NodeId, body: &Body) -> bool {
        let Some(key) = body.key() else { return true };
        if !self.received.insert(key) {
            return false;
        }
        for to in self.others().into_iter().filter(|&n| n != origin) {
            self.send(ctx, to, body.clone());
        }
        true
    }

    /// Hands `id` to the application (the `Delivered` observation).
    pub fn deliver<O: Ordering>(&mut self, ctx: &mut Ctx<'_, MulticastNode<O>>, id: MsgId, text: String) {
        self.delivered.insert(id);
        ctx.emit(Observation::Delivered { sender: id.sender, seq: id.seq, text });
    }

    /// A line of explanation in the trace.
    pub fn note<O: Ordering>(&self, ctx: &mut Ctx<'_, MulticastNode<O>>, text: String) {
        ctx.emit(Observation::Note(text));
    }
}

/// What one algorithm of the family decides: what a multicast sends and when
/// a received message is delivered.
pub trait Ordering: Sized + 'static {
    type Params: Settings;
    /// Whether messages go through the reliable layer.
    const RELIABLE: bool;
    /// The properties the checker enforces.
    const PROMISES: Promises;
    fn new(id: NodeId, setup: &Setup<'_, Self::Params>) -> Self;
    /// This node multicasts `text` as message `id` (the `Multicast`
    /// observation is already out).
    fn multicast(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, id: MsgId, text: String);
    /// The node that R-multicast `body`, if this ordering sends it that way:
    /// receivers then relay it and hand up only its first copy. `None` (the
    /// default) for messages sent point to point or plainly multicast.
    fn origin(&self, _body: &Body) -> Option<NodeId> {
        None
    }
    /// `body` arrived from `from` (once, over the reliable layer, or for an
    /// R-multicast message once whoever relayed it; as often as the network
    /// delivers it for basic).
    fn receive(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, from: NodeId, body: Body);
}

/// One member of the group running ordering `O`.
pub struct MulticastNode<O: Ordering> {
    pub g: Group,
    pub o: O,
}

impl<O: Ordering> Process for MulticastNode<O> {
    type Msg = Msg;
    type Timer = Timer;
    type Params = O::Params;

    fn new(id: NodeId, setup: &Setup<'_, O::Params>) -> Self {
        let members = setup.nodes.to_vec();
        let index = members.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let g = Group {
            id,
            members,
            index,
            sent: 0,
            link: Link::new(setup.params.link(setup.max_latency)),
            reliable: O::RELIABLE,
            delivered: BTreeSet::new(),
            received: BTreeSet::new(),
        };
        MulticastNode { g, o: O::new(id, setup) }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Raw(body) => self.o.receive(&mut self.g, ctx, from, body),
            Msg::Data { seq, body } => {
                if let Some(body) = self.g.link.on_data(ctx, from, seq, body) {
                    let first = match self.o.origin(&body) {
                        Some(origin) => self.g.r_receive(ctx, origin, &body),
                        None => true,
                    };
                    if first {
                        self.o.receive(&mut self.g, ctx, from, body);
                    }
                }
            }
            Msg::Ack { upto, ahead } => self.g.link.on_ack(ctx, from, upto, &ahead),
            Msg::Nack { missing } => self.g.link.on_nack(ctx, from, &missing),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Retransmit => self.g.link.on_retransmit(ctx),
            Timer::Nack(from) => self.g.link.on_nack_timer(ctx, from),
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, cmd: &Command) {
        let text = cmd.args.first().cloned().unwrap_or_default();
        self.g.sent += 1;
        let id = MsgId { sender: self.g.id, seq: self.g.sent };
        ctx.emit(Observation::Multicast { seq: id.seq, text: text.clone() });
        self.o.multicast(&mut self.g, ctx, id, text);
    }

    /// The node keeps its state (as on stable storage); its timers were
    /// cleared at the crash, so the reliable layer re-arms them.
    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.g.link.on_recover(ctx);
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(MulticastChecker::new(O::PROMISES))]
    }
}
