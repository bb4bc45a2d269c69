//! `multicast.isis` — totally ordered multicast by agreed priorities (the
//! ISIS algorithm): no sequencer, every member has a say in each message's
//! place.
//!
//! **How.** The sender sends `DATA` to every other member (through the
//! reliable layer). Each member `q` (the sender too) proposes a priority
//! `P = max(largest agreed, largest proposed) + 1`, tagged with its id
//! (`(3, 2)` is 3 proposed by node 2), puts the message in its hold-back queue
//! under that priority, marked undeliverable, and sends `PROPOSE` to the
//! sender. When the sender has all N proposals it takes the largest as the
//! final priority and sends `AGREE` to every other member. A member that
//! learns the final priority re-sorts its queue and delivers from the front
//! for as long as the front message is final: a message with a tentative
//! priority at the front blocks the ones behind it, because its final
//! priority can only grow.
//!
//! **Guarantee.** Integrity and total order on every run. Validity only
//! on runs where every member stays up, because a crash stops delivery for
//! good: a sender waits for *every* proposal, so one crashed member stops every
//! later message from being agreed; and a sender that crashes after its
//! `DATA` reached a member but before its `AGREE` leaves that message
//! tentative at the front of the member's hold-back queue, so every later
//! message, those of correct senders too, is held back behind it. ISIS
//! relies on a membership service to remove a crashed member and settle its
//! messages; this lab version has none (relaying `DATA` as the other
//! algorithms do would not help: only the sender can fix a priority). The
//! checker judges validity on every run, so a scenario with a crash lists it
//! under `expect: violations`. Agreement is not promised (a sender that
//! crashes while sending its `AGREE`s leaves some members with a final
//! priority and others without) and is reported as information. Not FIFO or
//! causal in general.
//!
//! **Messages.** N−1 `DATA` + N−1 `PROPOSE` + N−1 `AGREE` = 3(N−1) per
//! multicast, plus one `ACK` for each on a loss-free network.
//!
//! **Source.** K. Birman and T. Joseph, "Reliable communication in the
//! presence of failures", ACM TOCS 5(1), 1987; Coulouris et al., *Distributed
//! Systems*, §15.4 (the ISIS algorithm for total ordering); Kshemkalyani
//! and Singhal, *Distributed Computing*, ch. 6.

use std::collections::BTreeMap;

use super::{Body, Group, MsgId, MulticastNode, Ordering, Params, Prio};
use crate::check::multicast::Promises;
use crate::process::{Ctx, NodeId, Setup};

pub const KINDS: &[&str] = &["DATA", "PROPOSE", "AGREE", "ACK", "NACK"];

/// A message in the hold-back queue.
struct Held {
    text: Option<String>,
    prio: Prio,
    agreed: bool,
}

pub struct Isis {
    /// The largest priority this node proposed, and the largest agreed.
    proposed: u64,
    agreed: u64,
    queue: BTreeMap<MsgId, Held>,
    /// Sender: the proposals collected for each of its messages.
    proposals: BTreeMap<MsgId, BTreeMap<NodeId, Prio>>,
    /// Final priorities that arrived before their message (a reordered network).
    early: BTreeMap<MsgId, Prio>,
}

impl Isis {
    fn propose(&mut self, g: &Group, id: MsgId, text: String) -> Prio {
        self.proposed = self.proposed.max(self.agreed) + 1;
        let prio = Prio { n: self.proposed, node: g.id };
        self.queue.insert(id, Held { text: Some(text), prio, agreed: false });
        prio
    }

    fn collect(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, id: MsgId, from: NodeId, prio: Prio) {
        let Some(got) = self.proposals.get_mut(&id) else { return };
        got.insert(from, prio);
        if got.len() < g.members.len() {
            return;
        }
        let fin = got.values().copied().max().unwrap_or(prio);
        self.proposals.remove(&id);
        g.send_all(ctx, &Body::Agree { id, prio: fin });
        self.agree(g, ctx, id, fin);
    }

    fn agree(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, id: MsgId, prio: Prio) {
        self.agreed = self.agreed.max(prio.n);
        match self.queue.get_mut(&id) {
            Some(h) => {
                h.prio = prio;
                h.agreed = true;
            }
            None => {
                self.early.insert(id, prio);
                return;
            }
        }
        self.try_deliver(g, ctx);
        if let Some(h) = self.queue.get(&id)
            && let Some((front, f)) = self.front()
        {
            let p = h.prio;
            g.note(ctx, format!("Node {} holds back {id}, agreed {p}, behind {front}, proposed {}", g.id, f.prio));
        }
    }

    /// The queue's front: the lowest (priority, id).
    fn front(&self) -> Option<(MsgId, &Held)> {
        self.queue.iter().min_by_key(|(id, h)| (h.prio, **id)).map(|(id, h)| (*id, h))
    }

    fn try_deliver(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>) {
        while let Some((id, h)) = self.front() {
            if !h.agreed {
                break;
            }
            let text = self.queue.remove(&id).and_then(|h| h.text).unwrap_or_default();
            g.deliver(ctx, id, text);
        }
    }
}

impl Ordering for Isis {
    type Params = Params;
    const RELIABLE: bool = true;
    const PROMISES: Promises = Promises { total: true, ..Promises::VALIDITY_INTEGRITY };

    fn new(_: NodeId, _: &Setup<'_, Params>) -> Self {
        Isis { proposed: 0, agreed: 0, queue: BTreeMap::new(), proposals: BTreeMap::new(), early: BTreeMap::new() }
    }

    fn multicast(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, id: MsgId, text: String) {
        g.send_all(ctx, &Body::Data { id, text: text.clone(), vt: None });
        let prio = self.propose(g, id, text);
        self.proposals.insert(id, BTreeMap::new());
        self.collect(g, ctx, id, g.id, prio);
    }

    fn receive(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, from: NodeId, body: Body) {
        match body {
            Body::Data { id, text, .. } => {
                if g.delivered.contains(&id) || self.queue.contains_key(&id) {
                    return;
                }
                let prio = self.propose(g, id, text);
                g.send(ctx, id.sender, Body::Propose { id, prio });
                if let Some(fin) = self.early.remove(&id) {
                    self.agree(g, ctx, id, fin);
                }
            }
            Body::Propose { id, prio } => self.collect(g, ctx, id, from, prio),
            Body::Agree { id, prio } => {
                if !g.delivered.contains(&id) {
                    self.agree(g, ctx, id, prio);
                }
            }
            Body::Order { .. } => {}
        }
    }
}
