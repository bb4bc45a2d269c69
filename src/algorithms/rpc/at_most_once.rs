//! `rpc.at-most-once` — request ids and a reply cache.
//!
//! **Guarantee.** Every CALL carries its call id (client, sequence number);
//! the server remembers the RESULT of every call it executed and answers a
//! duplicate CALL from that cache instead of executing it again. So while
//! the server stays up, a call executes at most once, however many times the
//! client retries.
//!
//! **The crash caveat.** The cache lives in the server's memory. A server
//! that crashes after executing a call and comes back has forgotten it: a
//! retry of that call executes a second time. Real at-most-once needs the
//! cache on stable storage (written before the RESULT is sent) or a server
//! incarnation number that makes the client fail the call rather than retry
//! it; this model does neither, and the `at-most-once` check shows the
//! duplicate when a crash causes one. The cache is never pruned here (a real
//! server drops an entry when the client's next call acknowledges it).
//!
//! **Messages.** 2 per attempt (CALL, RESULT), like at-least-once, except
//! that a duplicate CALL arriving while the one execution's `work` is under
//! way gets no RESULT of its own: the pending RESULT answers it, on time (a
//! retry never delays it). The cost is the server's memory, one entry per
//! call.
//!
//! **Source.** Birrell and Nelson (1984), §3 (call identifiers and the
//! duplicate-suppressing server); Coulouris et al., §5.3.1 ("at-most-once
//! call semantics": retransmitted replies from a history).

use super::Semantics;

/// The semantics marker: dedupe by call id.
pub struct AtMostOnce;

impl Semantics for AtMostOnce {
    const DEDUPE: bool = true;
}

pub type AtMostOnceNode = super::RpcNode<AtMostOnce>;
