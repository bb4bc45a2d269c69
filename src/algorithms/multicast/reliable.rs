//! `multicast.reliable` — reliable multicast (R-multicast): every message
//! of a correct sender, and every message that one correct member delivers,
//! is delivered by every correct member exactly once, despite loss,
//! duplication and senders that crash mid-multicast.
//!
//! **How.** The sender sends `DATA` to each other member through the reliable
//! layer ([`super::link`]): numbered per link, acknowledged, asked for again
//! with a `NACK` when a receiver sees a gap, and sent again by a timer when
//! an acknowledgement is missing — which also recovers a lost *last*
//! message. That repairs loss only while the sender is up, so a member that
//! receives a message for the first time also relays it, over the same
//! reliable links, to every member but itself and the sender (see
//! [`super`], R-multicast), and then delivers it; later copies are dropped.
//! A sender that crashes after one copy got through therefore still reaches
//! everyone. The sender delivers its own message at once. No order.
//!
//! **Guarantee.** Validity (a message of a correct sender is delivered by
//! every correct member), agreement (a message one correct member delivered
//! is delivered by every correct member, whether or not its sender stays up)
//! and integrity (no duplicate, nothing invented), as long as no link's
//! `retries` run out between two correct members (a long partition). No
//! FIFO, causal or total order.
//!
//! **Messages.** On a loss-free network N−1 `DATA` from the sender,
//! (N−1)(N−2) relayed `DATA`, and one `ACK` for each: (N−1)² `DATA` +
//! (N−1)² `ACK` = 2(N−1)² per multicast. Each loss costs a NACK or a timeout
//! and a resend.
//!
//! **Source.** Coulouris et al., *Distributed Systems*, §15.4 (reliable
//! multicast: R-multicast over B-multicast, receivers re-multicast; the
//! per-link repair follows the IP-multicast variant with sequence numbers
//! and negative acknowledgements); Kshemkalyani and Singhal, *Distributed
//! Computing*, ch. 6.

use super::{Body, Group, MsgId, MulticastNode, Ordering, Params};
use crate::check::multicast::Promises;
use crate::process::{Ctx, NodeId, Setup};

pub const KINDS: &[&str] = &["DATA", "ACK", "NACK"];

pub struct Reliable;

impl Ordering for Reliable {
    type Params = Params;
    const RELIABLE: bool = true;
    const PROMISES: Promises = Promises::VALIDITY_INTEGRITY_AGREEMENT;

    fn new(_: NodeId, _: &Setup<'_, Params>) -> Self {
        Reliable
    }

    fn origin(&self, body: &Body) -> Option<NodeId> {
        match body {
            Body::Data { id, .. } => Some(id.sender),
            _ => None,
        }
    }

    fn multicast(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, id: MsgId, text: String) {
        g.r_multicast(ctx, &Body::Data { id, text: text.clone(), vt: None });
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
