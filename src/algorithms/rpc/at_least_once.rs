//! `rpc.at-least-once` — a retry is a fresh execution.
//!
//! **Guarantee.** A call that returns was executed at least once; the server
//! executes every CALL it receives, so when a RESULT is lost (or slow, or the
//! server crashed after executing) the client's retry executes the call again.
//! That is harmless for idempotent methods (the calculator's are) and wrong
//! for anything else (a transfer, a counter). Every execution sends its own
//! RESULT when its work is done, and the first to reach the client ends the
//! call: a retry never delays an earlier execution's reply, so a server
//! slower than the client's timeout answers after `work` plus the round trip
//! (if the client has not given up by then). A call that gives up after
//! `retries` may have executed zero or more times.
//!
//! **Messages.** 2 per attempt (CALL, RESULT) once the location is known:
//! each CALL that reaches the server is executed and answered, including
//! those that arrive after the call has returned.
//!
//! **Source.** Birrell and Nelson (1984); Coulouris et al., §5.3.1
//! ("at-least-once call semantics").

use super::Semantics;

/// The semantics marker: no reply cache.
pub struct AtLeastOnce;

impl Semantics for AtLeastOnce {
    const DEDUPE: bool = false;
}

pub type AtLeastOnceNode = super::RpcNode<AtLeastOnce>;
