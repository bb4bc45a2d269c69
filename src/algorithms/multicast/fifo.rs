//! `multicast.fifo` — FIFO-ordered reliable multicast: every member delivers
//! the messages of one sender in the order that sender multicast them.
//!
//! **How.** Reliable multicast (see [`super::reliable`]: per-link repair,
//! and receivers relay each message on first receipt) plus a hold-back
//! queue: each member remembers the next number it expects from each sender
//! and holds back a message that arrives early (`2.3` before `2.2`) until
//! the ones before it have been delivered.
//!
//! **Guarantee.** Validity, agreement (also when a sender crashes after
//! some copies got through: the relays carry them), integrity and FIFO
//! order. Messages of different senders may be delivered in different
//! orders at different members (no causal or total order).
//!
//! **Messages.** As reliable multicast: (N−1)² `DATA` (N−1 from the sender,
//! N−2 relayed by each receiver) + (N−1)² `ACK` = 2(N−1)² per multicast on a
//! loss-free network.
//!
//! **Source.** Coulouris et al., *Distributed Systems*, §15.4 (FIFO
//! ordering with per-sender sequence numbers and a hold-back queue, over
//! R-multicast); Kshemkalyani and Singhal, *Distributed Computing*, ch. 6.

use std::collections::BTreeMap;

use super::{Body, Group, MsgId, MulticastNode, Ordering, Params};
use crate::check::multicast::Promises;
use crate::process::{Ctx, NodeId, Setup};

pub const KINDS: &[&str] = &["DATA", "ACK", "NACK"];

pub struct Fifo {
    /// The last number delivered from each sender.
    last: BTreeMap<NodeId, u32>,
    /// Messages that arrived before their predecessors.
    held: BTreeMap<MsgId, String>,
}

impl Ordering for Fifo {
    type Params = Params;
    const RELIABLE: bool = true;
    const PROMISES: Promises = Promises { fifo: true, ..Promises::VALIDITY_INTEGRITY_AGREEMENT };

    fn new(_: NodeId, _: &Setup<'_, Params>) -> Self {
        Fifo { last: BTreeMap::new(), held: BTreeMap::new() }
    }

    fn origin(&self, body: &Body) -> Option<NodeId> {
        match body {
            Body::Data { id, .. } => Some(id.sender),
            _ => None,
        }
    }

    fn multicast(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, id: MsgId, text: String) {
        g.r_multicast(ctx, &Body::Data { id, text: text.clone(), vt: None });
        self.last.insert(id.sender, id.seq);
        g.deliver(ctx, id, text);
    }

    fn receive(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, _from: NodeId, body: Body) {
        let Body::Data { id, text, .. } = body else { return };
        let last = self.last.get(&id.sender).copied().unwrap_or(0);
        if id.seq <= last || self.held.contains_key(&id) {
            return;
        }
        if id.seq > last + 1 {
            g.note(ctx, format!("Node {} holds back {id} until {}.{} is delivered", g.id, id.sender, last + 1));
            self.held.insert(id, text);
            return;
        }
        let mut next = Some(text);
        let mut seq = id.seq;
        while let Some(text) = next {
            g.deliver(ctx, MsgId { sender: id.sender, seq }, text);
            self.last.insert(id.sender, seq);
            seq += 1;
            next = self.held.remove(&MsgId { sender: id.sender, seq });
        }
    }
}
