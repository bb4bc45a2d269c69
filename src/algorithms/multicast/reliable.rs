//! `multicast.reliable` — every message of a live sender reaches every live
//! member exactly once, despite loss and duplication.
//!
//! **How.** The sender sends `DATA` to each other member through the reliable
//! layer ([`super::link`]): numbered per link (every member receives every
//! message of a sender, so the numbers are the sender's own sequence),
//! acknowledged, asked for again with a `NACK` when a receiver sees a gap,
//! and sent again by a timer when an acknowledgement is missing — which also
//! recovers a lost *last* message. The sender delivers its own message at
//! once; a receiver delivers a message the first time it arrives, in any
//! order, and drops duplicates.
//!
//! **Guarantee.** Validity (a message of a sender that stays up is delivered
//! by every member that stays up, as long as the sender's `retries` are not
//! exhausted by a long partition) and integrity (no duplicate, nothing
//! invented). No order. Agreement holds when the sender stays up; if it
//! crashes before every member has acknowledged, the members it missed never
//! get the message (Coulouris's R-multicast buys agreement by having every
//! receiver re-multicast, O(N²) messages; this one does not), so agreement is
//! reported as information.
//!
//! **Messages.** On a loss-free network N−1 `DATA` and N−1 `ACK` per
//! multicast: 2(N−1). Each loss costs a NACK or a timeout and a resend.
//!
//! **Source.** Coulouris et al., *Distributed Systems*, §15.4 (reliable
//! multicast; the IP-multicast variant with sequence numbers and negative
//! acknowledgements); Kshemkalyani and Singhal, *Distributed Computing*, ch. 6.

use super::{Body, Group, MsgId, MulticastNode, Ordering, Params};
use crate::check::multicast::Promises;
use crate::process::{Ctx, NodeId, Setup};

pub const KINDS: &[&str] = &["DATA", "ACK", "NACK"];

pub struct Reliable;

impl Ordering for Reliable {
    type Params = Params;
    const RELIABLE: bool = true;
    const PROMISES: Promises = Promises::VALIDITY_INTEGRITY;

    fn new(_: NodeId, _: &Setup<'_, Params>) -> Self {
        Reliable
    }

    fn multicast(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, id: MsgId, text: String) {
        g.send_all(ctx, &Body::Data { id, text: text.clone(), vt: None });
        g.deliver(ctx, id, text);
    }

    fn receive(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, _from: NodeId, body: Body) {
        if let Body::Data { id, text, .. } = body
            && !g.delivered.contains(&id)
        {
            g.deliver(ctx, id, text);
        }
    }
}
