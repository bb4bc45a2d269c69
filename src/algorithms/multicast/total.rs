//! `multicast.total` — totally ordered multicast with a fixed sequencer:
//! every member delivers the messages in the same order, the order in which
//! the sequencer numbered them.
//!
//! **How.** The sender sends `DATA` to every other member (through the
//! reliable layer) and keeps its own copy. The sequencer (`params.sequencer`,
//! default the first node listed) gives each message it receives, or
//! multicasts, the next number and sends `ORDER id is number k` to every
//! other member. Every member holds back each message until it has both the
//! message and its number and has delivered every lower number — the
//! sender too, for its own message.
//!
//! **Guarantee.** Validity, integrity and total order while the sequencer is
//! up. Not FIFO or causal in general (the sequencer numbers messages in the
//! order it receives them). The sequencer is a single point of failure: when
//! it crashes, nothing more is delivered (validity fails, the crash scenario
//! shows it). Agreement as for reliable multicast (information only).
//!
//! **Messages.** N−1 `DATA` + N−1 `ORDER` per multicast (the sequencer's own
//! multicasts too), plus one `ACK` for each: 2(N−1) + 2(N−1) on a loss-free
//! network.
//!
//! **Source.** Coulouris et al., *Distributed Systems*, §15.4 (total
//! ordering using a sequencer); Kaashoek et al., the Amoeba sequencer (1989);
//! Kshemkalyani and Singhal, *Distributed Computing*, ch. 6.

use std::collections::{BTreeMap, BTreeSet};

use super::{Body, Group, MsgId, MulticastNode, Ordering, Settings, TotalParams};
use crate::check::multicast::Promises;
use crate::process::{Ctx, NodeId, Setup};

pub const KINDS: &[&str] = &["DATA", "ORDER", "ACK", "NACK"];

pub const PARAMS: &[crate::algorithms::registry::ParamSpec] = super::TOTAL_PARAMS;

pub struct Total {
    sequencer: NodeId,
    /// Sequencer: the last number given, and the messages numbered.
    last_order: u64,
    ordered: BTreeSet<MsgId>,
    /// Messages received (or sent) and not yet delivered.
    data: BTreeMap<MsgId, String>,
    /// The sequencer's numbers that arrived.
    orders: BTreeMap<u64, MsgId>,
    /// The last number delivered.
    delivered_upto: u64,
}

impl Total {
    fn number(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, id: MsgId) {
        if !self.ordered.insert(id) {
            return;
        }
        self.last_order += 1;
        let order = self.last_order;
        g.send_all(ctx, &Body::Order { id, order });
        self.orders.insert(order, id);
    }

    fn try_deliver(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>) {
        while let Some(&id) = self.orders.get(&(self.delivered_upto + 1)) {
            let Some(text) = self.data.remove(&id) else { break };
            self.orders.remove(&(self.delivered_upto + 1));
            self.delivered_upto += 1;
            g.deliver(ctx, id, text);
        }
    }

    fn waiting_note(&self, g: &Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, id: MsgId) {
        if g.delivered.contains(&id) {
            return;
        }
        let next = self.delivered_upto + 1;
        let me = g.id;
        let text = match (self.orders.iter().find(|(_, m)| **m == id), self.data.contains_key(&id)) {
            (None, _) => format!("Node {me} holds back {id} until the sequencer numbers it"),
            (Some((k, _)), true) => format!("Node {me} holds back {id} (number {k}) until number {next} is delivered"),
            (Some((k, _)), false) => format!("Node {me} knows {id} is number {k} and waits for the message itself"),
        };
        g.note(ctx, text);
    }
}

impl Ordering for Total {
    type Params = TotalParams;
    const RELIABLE: bool = true;
    const PROMISES: Promises = Promises { total: true, ..Promises::VALIDITY_INTEGRITY };

    fn new(_: NodeId, setup: &Setup<'_, TotalParams>) -> Self {
        Total {
            sequencer: setup.params.sequencer().unwrap_or(setup.nodes[0]),
            last_order: 0,
            ordered: BTreeSet::new(),
            data: BTreeMap::new(),
            orders: BTreeMap::new(),
            delivered_upto: 0,
        }
    }

    fn multicast(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, id: MsgId, text: String) {
        g.send_all(ctx, &Body::Data { id, text: text.clone(), vt: None });
        self.data.insert(id, text);
        if g.id == self.sequencer {
            self.number(g, ctx, id);
        }
        self.try_deliver(g, ctx);
        self.waiting_note(g, ctx, id);
    }

    fn receive(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, _from: NodeId, body: Body) {
        match body {
            Body::Data { id, text, .. } => {
                if g.delivered.contains(&id) || self.data.contains_key(&id) {
                    return;
                }
                self.data.insert(id, text);
                if g.id == self.sequencer {
                    self.number(g, ctx, id);
                }
                self.try_deliver(g, ctx);
                self.waiting_note(g, ctx, id);
            }
            Body::Order { id, order } => {
                if order <= self.delivered_upto {
                    return;
                }
                self.orders.insert(order, id);
                self.try_deliver(g, ctx);
                self.waiting_note(g, ctx, id);
            }
            _ => {}
        }
    }
}
