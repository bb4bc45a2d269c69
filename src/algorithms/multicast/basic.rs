//! `multicast.basic` — best-effort multicast: the sender sends the message to
//! each other member, once, and delivers it itself; a receiver delivers
//! whatever arrives, as often as it arrives.
//!
//! **Guarantee.** Over reliable channels (nothing lost, nothing duplicated)
//! and with the sender up: validity, agreement and integrity. Nothing else:
//! a lost copy is never repaired, a duplicated one is delivered twice, and
//! messages are delivered in the order the network happens to bring them
//! (no FIFO, causal or total order). The checker enforces validity,
//! agreement and integrity only when the run's network lost and duplicated
//! nothing, and reports the rest as information.
//!
//! **Messages.** `DATA` to each of the N−1 others: N−1 per multicast.
//!
//! **Source.** Coulouris et al., *Distributed Systems*, §15.4 (basic
//! multicast, B-multicast); Kshemkalyani and Singhal, *Distributed Computing*,
//! ch. 6.

use super::{BasicParams, Body, Group, MsgId, MulticastNode, Ordering};
use crate::check::multicast::Promises;
use crate::process::{Ctx, NodeId, Setup};

pub const KINDS: &[&str] = &["DATA"];

pub struct Basic;

impl Ordering for Basic {
    type Params = BasicParams;
    const RELIABLE: bool = false;
    const PROMISES: Promises = Promises { reliable_channels_only: true, ..Promises::VALIDITY_INTEGRITY_AGREEMENT };

    fn new(_: NodeId, _: &Setup<'_, BasicParams>) -> Self {
        Basic
    }

    fn multicast(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, id: MsgId, text: String) {
        g.send_all(ctx, &Body::Data { id, text: text.clone(), vt: None });
        g.deliver(ctx, id, text);
    }

    fn receive(&mut self, g: &mut Group, ctx: &mut Ctx<'_, MulticastNode<Self>>, _from: NodeId, body: Body) {
        if let Body::Data { id, text, .. } = body {
            g.deliver(ctx, id, text);
        }
    }
}
