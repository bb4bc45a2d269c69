//! `multicast.causal` — causally ordered reliable multicast with vector
//! timestamps: if the multicast of `m` happened before the multicast of `m'`
//! (same sender earlier, or the sender of `m'` had delivered `m`), every
//! member delivers `m` before `m'`.
//!
//! **How.** Each member keeps a vector `V` with one entry per member: how
//! many messages of each sender it has delivered. To multicast, a member
//! adds one to its own entry and R-multicasts `DATA` with a copy of `V`
//! (see [`super::reliable`]: per-link repair, and every receiver relays the
//! message, timestamp unchanged, on first receipt), and delivers its own
//! message at once. A member `q` holds back a message from `p` with
//! timestamp `W` until `W[p] = V[p] + 1` (it is the next from `p`) and
//! `W[k] ≤ V[k]` for every other `k` (it has delivered everything the sender
//! had delivered), then delivers it and sets `V[p] += 1`.
//!
//! **Guarantee.** Validity, agreement, integrity, causal order (and so FIFO
//! order). The relays matter here: a sender that crashes after its message
//! reached one member still gets it to all, so nobody holds back for good a
//! later message that depends on it (a correct member's reply, say).
//! Without them a member whose copy was lost would wait for it forever, and
//! with it every later message of correct senders that had delivered it. No
//! total order: concurrent messages may be delivered in different orders
//! at different members.
//!
//! **Messages.** As reliable multicast: (N−1)² `DATA` (N−1 from the sender,
//! N−2 relayed by each receiver, each with an N-entry vector) + (N−1)² `ACK`
//! = 2(N−1)² per multicast on a loss-free network.
//!
//! **Source.** Coulouris et al., *Distributed Systems*, §15.4 (causal
//! ordering with vector timestamps over R-multicast, after Birman, Schiper
//! and Stephenson, 1991); Kshemkalyani and Singhal, *Distributed Computing*, ch. 6.

use super::{Body, Group, MsgId, MulticastNode, Ordering, Params, fmt_vt};
use crate::check::multicast::Promises;
use crate::process::{Ctx, NodeId, Setup};

pub const KINDS: &[&str] = &["DATA", "ACK", "NACK"];

pub struct Causal {
    /// Messages delivered per sender, in member order.
    v: Vec<u32>,
    /// Held-back messages in arrival order: id, text, timestamp.
    held: Vec<(MsgId, String, Vec<u32>)>,
}

impl Causal {
    fn deliverable(&self, g: &Group, id: MsgId, w: &[u32]) -> bool {
        let p = g.index(id.sender);
        w.len() == self.v.len() && w[p] == self.v[p] + 1 && w.iter().zip(&self.v).enumerate().all(|(k, (a, b))| k == p || a <= b)
    }
}

impl Ordering for Causal {
    type Params = Params;
    const RELIABLE: bool = true;
    const PROMISES: Promises = Promises { fifo: true, causal: true, ..Promises::VALIDITY_INTEGRITY_AGREEMENT };

    fn new(_: NodeId, setup: &Setup<'_, Params>) -> Self {
        Causal { v: vec![0; setup.nodes.len()], held: Vec::new() }
    }

    fn origin(&self, body: &Body) -> Option<NodeId> {
        match body {
            Body::Data { id, .. } => Some(id.sender),
            _ => None,
        }
    }

    fn multicast(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, id: MsgId, text: String) {
        let me = g.index(g.id);
        self.v[me] += 1;
        g.r_multicast(ctx, &Body::Data { id, text: text.clone(), vt: Some(self.v.clone()) });
        g.deliver(ctx, id, text);
    }

    fn receive(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, _from: NodeId, body: Body) {
        let Body::Data { id, text, vt: Some(w) } = body else { return };
        let p = g.index(id.sender);
        if w.get(p).is_none_or(|&n| n <= self.v[p]) || self.held.iter().any(|(h, _, _)| *h == id) {
            return;
        }
        if !self.deliverable(g, id, &w) {
            g.note(ctx, format!("Node {} holds back {id} {}: it has delivered {}", g.id, fmt_vt(&w), fmt_vt(&self.v)));
            self.held.push((id, text, w));
            return;
        }
        g.deliver(ctx, id, text);
        self.v[p] += 1;
        // Each delivery may release held-back messages: scan until none is ready.
        while let Some(i) = self.held.iter().position(|(h, _, w)| self.deliverable(g, *h, w)) {
            let (h, text, _) = self.held.remove(i);
            g.deliver(ctx, h, text);
            let q = g.index(h.sender);
            self.v[q] += 1;
        }
    }
}
