//! The reliable point-to-point layer under every multicast algorithm but
//! basic: it turns a lossy, duplicating, reordering network into channels on
//! which every message a live sender sends reaches a live receiver exactly
//! once (in any order: putting messages in order is the multicast
//! algorithm's job).
//!
//! **How.** Each link `from -> to` numbers its messages `#1, #2, …`. The
//! sender keeps each message in a retransmit buffer until the receiver
//! acknowledges it. The receiver answers every numbered message (a new one or
//! a duplicate) with `ACK [..#k, …]`: everything up to `#k`, plus the numbers
//! it holds beyond a gap. A receiver that sees a gap (`#3` before `#2`) waits
//! `nack_delay` for it to fill (a reordered message is late, not lost) and
//! then sends `NACK [#2]`; the sender sends the missing ones again at once.
//! A retransmit timer sends again whatever is unacknowledged after `timeout`,
//! which also recovers the loss of a link's *last* message (no later message
//! shows the gap) and of ACKs and NACKs.
//!
//! **Bounded.** The timer runs only while something is unacknowledged; after
//! `retries` repeats the sender gives up on that message to that member (a
//! crashed or cut-off member) and says so, so every run ends.
//!
//! **Not enough alone.** A link repairs loss only while its sender is up:
//! a copy lost just before its sender crashes is never sent again. That is
//! why the algorithms above it relay their messages (R-multicast, see
//! [`super`]).
//!
//! **Cost.** One `ACK` per numbered message on a loss-free network: the
//! textbook count of each algorithm, twice.
//!
//! **Source.** The positive/negative acknowledgement scheme of Coulouris et
//! al., *Distributed Systems*, §15.4 (reliable multicast over IP multicast:
//! sequence numbers, hold-back, negative acknowledgements), applied per link.

use std::collections::{BTreeMap, BTreeSet};

use super::{Body, LinkSettings, Msg, MulticastNode, Ordering, Timer};
use crate::process::{Ctx, NodeId, Observation};

/// A message waiting for its acknowledgement.
#[derive(Clone, Debug)]
struct Pending {
    body: Body,
    /// The local time of its last sending.
    sent_at: i64,
    /// How many times it was sent again.
    tries: u32,
}

/// One node's end of every link.
#[derive(Debug)]
pub struct Link {
    settings: LinkSettings,
    /// The last number used on each outgoing link.
    out_last: BTreeMap<NodeId, u64>,
    /// The retransmit buffer, by (receiver, number).
    unacked: BTreeMap<(NodeId, u64), Pending>,
    /// Per incoming link: everything up to this number has arrived …
    in_upto: BTreeMap<NodeId, u64>,
    /// … and these beyond a gap.
    in_ahead: BTreeMap<NodeId, BTreeSet<u64>>,
    retransmit_armed: bool,
    /// Incoming links with a NACK timer running, and the highest number
    /// received when it started: a gap below it has been open for the whole
    /// `nack_delay` when the timer fires.
    nack_armed: BTreeMap<NodeId, u64>,
}

impl Link {
    pub fn new(settings: LinkSettings) -> Link {
        Link {
            settings,
            out_last: BTreeMap::new(),
            unacked: BTreeMap::new(),
            in_upto: BTreeMap::new(),
            in_ahead: BTreeMap::new(),
            retransmit_armed: false,
            nack_armed: BTreeMap::new(),
        }
    }

    /// Messages still waiting for an acknowledgement.
    pub fn unacked(&self) -> usize {
        self.unacked.len()
    }

    fn arm<O: Ordering>(&mut self, ctx: &mut Ctx<'_, MulticastNode<O>>) {
        if !self.retransmit_armed && !self.unacked.is_empty() {
            let now = ctx.now();
            let due = self.unacked.values().map(|p| p.sent_at + self.settings.timeout as i64).min().unwrap_or(now);
            ctx.set_timer(Timer::Retransmit, (due - now).max(1) as u64);
            self.retransmit_armed = true;
        }
    }

    /// Sends `body` to `to` under the next number of that link.
    pub fn send<O: Ordering>(&mut self, ctx: &mut Ctx<'_, MulticastNode<O>>, to: NodeId, body: Body) {
        let seq = self.out_last.entry(to).or_default();
        *seq += 1;
        let seq = *seq;
        self.unacked.insert((to, seq), Pending { body: body.clone(), sent_at: ctx.now(), tries: 0 });
        ctx.send(to, Msg::Data { seq, body });
        self.arm(ctx);
    }

    /// A numbered message from `from`: acknowledges it, and returns its body
    /// if it is new (a duplicate returns `None`).
    pub fn on_data<O: Ordering>(&mut self, ctx: &mut Ctx<'_, MulticastNode<O>>, from: NodeId, seq: u64, body: Body) -> Option<Body> {
        let upto = self.in_upto.entry(from).or_default();
        let ahead = self.in_ahead.entry(from).or_default();
        let new = seq > *upto && !ahead.contains(&seq);
        if new {
            ahead.insert(seq);
            while ahead.remove(&(*upto + 1)) {
                *upto += 1;
            }
        }
        let ack = Msg::Ack { upto: *upto, ahead: ahead.iter().copied().collect() };
        let highest = ahead.last().copied();
        ctx.send(from, ack);
        match highest {
            Some(h) if !self.nack_armed.contains_key(&from) => {
                self.nack_armed.insert(from, h);
                ctx.set_timer(Timer::Nack(from), self.settings.nack_delay);
            }
            // The gap has filled: no NACK needed.
            None if self.nack_armed.remove(&from).is_some() => ctx.cancel_timer(Timer::Nack(from)),
            _ => {}
        }
        new.then_some(body)
    }

    /// An acknowledgement from `from`: those messages leave the buffer.
    pub fn on_ack<O: Ordering>(&mut self, ctx: &mut Ctx<'_, MulticastNode<O>>, from: NodeId, upto: u64, ahead: &[u64]) {
        let before = self.unacked.len();
        self.unacked.retain(|&(to, seq), _| to != from || (seq > upto && !ahead.contains(&seq)));
        if self.unacked.len() == before || !self.retransmit_armed {
            return;
        }
        // Move the timer to the next message that can still time out.
        ctx.cancel_timer(Timer::Retransmit);
        self.retransmit_armed = false;
        self.arm(ctx);
    }

    /// A NACK from `from`: sends the missing messages again now.
    pub fn on_nack<O: Ordering>(&mut self, ctx: &mut Ctx<'_, MulticastNode<O>>, from: NodeId, missing: &[u64]) {
        let now = ctx.now();
        for &seq in missing {
            if let Some(p) = self.unacked.get_mut(&(from, seq))
                && p.tries < self.settings.retries
            {
                p.tries += 1;
                p.sent_at = now;
                ctx.send(from, Msg::Data { seq, body: p.body.clone() });
            }
        }
    }

    /// The gap from `from` has lasted `nack_delay`: asks for what is missing.
    pub fn on_nack_timer<O: Ordering>(&mut self, ctx: &mut Ctx<'_, MulticastNode<O>>, from: NodeId) {
        let Some(bound) = self.nack_armed.remove(&from) else { return };
        let upto = self.in_upto.get(&from).copied().unwrap_or(0);
        let Some(&last) = self.in_ahead.get(&from).and_then(|a| a.last()) else { return };
        let ahead = &self.in_ahead[&from];
        let missing: Vec<u64> = (upto + 1..bound.min(last)).filter(|s| !ahead.contains(s)).collect();
        if !missing.is_empty() {
            ctx.send(from, Msg::Nack { missing });
        }
        // A gap that opened while the timer ran gets its own full wait.
        if last > bound {
            self.nack_armed.insert(from, last);
            ctx.set_timer(Timer::Nack(from), self.settings.nack_delay);
        }
    }

    /// The retransmit timer: sends again what has waited `timeout`, gives up
    /// on what has been sent `retries` times more.
    pub fn on_retransmit<O: Ordering>(&mut self, ctx: &mut Ctx<'_, MulticastNode<O>>) {
        self.retransmit_armed = false;
        let now = ctx.now();
        let timeout = self.settings.timeout as i64;
        let mut gave_up = Vec::new();
        for (&(to, seq), p) in self.unacked.iter_mut() {
            if now - p.sent_at < timeout {
                continue;
            }
            if p.tries >= self.settings.retries {
                gave_up.push((to, seq));
                continue;
            }
            p.tries += 1;
            p.sent_at = now;
            ctx.send(to, Msg::Data { seq, body: p.body.clone() });
        }
        for (to, seq) in gave_up {
            if let Some(p) = self.unacked.remove(&(to, seq)) {
                ctx.emit(Observation::Note(format!(
                    "Node {} gives up on {} [#{seq}] to {to}: no ACK after {} sends",
                    ctx.id(),
                    p.body,
                    p.tries + 1
                )));
            }
        }
        self.arm(ctx);
    }

    /// After a crash: the timers are gone; starts the retransmit timer again.
    pub fn on_recover<O: Ordering>(&mut self, ctx: &mut Ctx<'_, MulticastNode<O>>) {
        self.retransmit_armed = false;
        self.nack_armed.clear();
        let now = ctx.now();
        for p in self.unacked.values_mut() {
            p.sent_at = p.sent_at.min(now);
        }
        self.arm(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithms::multicast::reliable::Reliable;
    use crate::algorithms::multicast::{LinkSettings, MsgId};
    use crate::process::{Effect, NodeRng};

    type Node = MulticastNode<Reliable>;

    fn body(seq: u32) -> Body {
        Body::Data { id: MsgId { sender: 1, seq }, text: format!("m{seq}"), vt: None }
    }

    /// Runs `f` at local time `now` on node `id` and returns its effects.
    fn at(id: NodeId, now: i64, f: impl FnOnce(&mut Ctx<'_, Node>)) -> Vec<Effect<Node>> {
        let nodes = [1, 2, 3];
        let mut rng = NodeRng::new(0, id);
        let mut effects = Vec::new();
        f(&mut Ctx::detached(id, now, &nodes, &mut rng, &mut effects));
        effects
    }

    fn sent(effects: &[Effect<Node>]) -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send(to, m) => Some(format!("-> {to} {m}")),
                _ => None,
            })
            .collect()
    }

    const SETTINGS: LinkSettings = LinkSettings { timeout: 10, retries: 2, nack_delay: 4 };

    #[test]
    fn a_gap_is_acknowledged_selectively_and_nacked_after_the_delay() {
        let mut link = Link::new(SETTINGS);
        let fx = at(2, 0, |c| assert!(link.on_data(c, 1, 1, body(1)).is_some()));
        assert_eq!(sent(&fx), ["-> 1 ACK [..#1]"]);
        let fx = at(2, 1, |c| assert!(link.on_data(c, 1, 3, body(3)).is_some()));
        assert_eq!(sent(&fx), ["-> 1 ACK [..#1, #3]"]);
        assert!(fx.iter().any(|e| matches!(e, Effect::SetTimer(Timer::Nack(1), 4))));
        // A duplicate is acknowledged again but not handed up.
        let fx = at(2, 2, |c| assert!(link.on_data(c, 1, 3, body(3)).is_none()));
        assert_eq!(sent(&fx), ["-> 1 ACK [..#1, #3]"]);
        let fx = at(2, 5, |c| link.on_nack_timer(c, 1));
        assert_eq!(sent(&fx), ["-> 1 NACK [#2]"]);
        // The gap fills: a cumulative ACK, and no NACK timer left to cancel.
        let fx = at(2, 6, |c| assert!(link.on_data(c, 1, 2, body(2)).is_some()));
        assert_eq!(sent(&fx), ["-> 1 ACK [..#3]"]);
        assert!(!fx.iter().any(|e| matches!(e, Effect::CancelTimer(_) | Effect::SetTimer(..))));
    }

    #[test]
    fn the_sender_resends_on_nack_and_timeout_and_gives_up_after_the_retries() {
        let mut link = Link::new(SETTINGS);
        let fx = at(1, 0, |c| link.send(c, 2, body(1)));
        assert_eq!(sent(&fx), ["-> 2 DATA 1.1 \"m1\" [#1]"]);
        assert!(fx.iter().any(|e| matches!(e, Effect::SetTimer(Timer::Retransmit, 10))));
        let fx = at(1, 3, |c| link.on_nack(c, 2, &[1, 7]));
        assert_eq!(sent(&fx), ["-> 2 DATA 1.1 \"m1\" [#1]"], "#7 was never sent");
        // Resent at 3 by the NACK: not due at 10, due at 13.
        let fx = at(1, 10, |c| link.on_retransmit(c));
        assert!(sent(&fx).is_empty());
        assert!(fx.iter().any(|e| matches!(e, Effect::SetTimer(Timer::Retransmit, 3))));
        let fx = at(1, 13, |c| link.on_retransmit(c));
        assert_eq!(sent(&fx), ["-> 2 DATA 1.1 \"m1\" [#1]"], "the second resend: the last one `retries: 2` allows");
        let fx = at(1, 23, |c| link.on_retransmit(c));
        assert!(sent(&fx).is_empty());
        let gave_up = fx.iter().any(|e| matches!(e, Effect::Observe(Observation::Note(n)) if n == "Node 1 gives up on DATA 1.1 \"m1\" [#1] to 2: no ACK after 3 sends"));
        assert!(gave_up);
        assert!(!fx.iter().any(|e| matches!(e, Effect::SetTimer(..))), "nothing left: the timer stops");
        assert_eq!(link.unacked(), 0);
    }

    #[test]
    fn an_ack_clears_the_buffer_and_stops_the_timer() {
        let mut link = Link::new(SETTINGS);
        at(1, 0, |c| {
            link.send(c, 2, body(1));
            link.send(c, 3, body(1));
            link.send(c, 2, body(2));
        });
        assert_eq!(link.unacked(), 3);
        let fx = at(1, 2, |c| link.on_ack(c, 2, 0, &[2]));
        assert_eq!(link.unacked(), 2);
        assert!(fx.iter().any(|e| matches!(e, Effect::SetTimer(Timer::Retransmit, 8))), "moved to the next due message");
        at(1, 3, |c| link.on_ack(c, 2, 2, &[]));
        let fx = at(1, 4, |c| link.on_ack(c, 3, 1, &[]));
        assert_eq!(link.unacked(), 0);
        assert!(fx.iter().any(|e| matches!(e, Effect::CancelTimer(Timer::Retransmit))));
        assert!(!fx.iter().any(|e| matches!(e, Effect::SetTimer(..))));
    }
}
