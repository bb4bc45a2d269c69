//! `multicast.total` — totally ordered multicast with a fixed sequencer:
//! every member delivers the messages in the same order, the order in which
//! the sequencer numbered them.
//!
//! **How.** The sender R-multicasts `DATA` (see [`super::reliable`]:
//! per-link repair, and every receiver relays it on first receipt) and keeps
//! its own copy. The sequencer (`params.sequencer`, default the first node
//! listed) gives each message it receives, or multicasts, the next number
//! and R-multicasts `ORDER id is number k` (relayed the same way). Every
//! member holds back each message until it has both the message and its
//! number and has delivered every lower number — the sender too, for its own
//! message.
//!
//! **Guarantee.** Integrity, total order and agreement on every run:
//! because both the messages and the numbers are relayed, a sender (or the
//! sequencer) that crashes after one copy got through cannot leave one
//! correct member waiting for what another has. Validity (every message of a
//! correct sender is delivered by every correct member) as long as the
//! sequencer is up: the sequencer is a single point of failure, and once it
//! crashes nothing new gets a number and nothing more is delivered (the
//! `total-sequencer-crash` scenario shows it). Not FIFO or causal in general
//! (the sequencer numbers messages in the order it receives them).
//!
//! **Messages.** On a loss-free network, per multicast (the sequencer's own
//! too): (N−1)² `DATA` (N−1 from the sender, N−2 relayed by each receiver)
//! and (N−1)² `ORDER` (N−1 from the sequencer, N−2 relayed by each
//! receiver), plus one `ACK` for each: 4(N−1)².
//!
//! **Source.** Coulouris et al., *Distributed Systems*, §15.4 (total
//! ordering using a sequencer, with R-multicast in place of B-multicast
//! to make it reliable); Kaashoek et al., the Amoeba sequencer (1989);
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
        g.r_multicast(ctx, &Body::Order { id, order });
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
    const PROMISES: Promises = Promises { total: true, ..Promises::VALIDITY_INTEGRITY_AGREEMENT };

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

    fn origin(&self, body: &Body) -> Option<NodeId> {
        match body {
            Body::Data { id, .. } => Some(id.sender),
            Body::Order { .. } => Some(self.sequencer),
            _ => None,
        }
    }

    fn multicast(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, id: MsgId, text: String) {
        g.r_multicast(ctx, &Body::Data { id, text: text.clone(), vt: None });
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
