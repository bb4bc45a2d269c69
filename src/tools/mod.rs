//! The seed lab's small tools, as library code behind `distlab multicast` and
//! `distlab ipc`: the group-communication lab's UDP multicast chat
//! ([`multicast`]) and the interprocess-communication lab's file writer and
//! reader ([`ipc`]). Both speak exactly what the seed's programs speak — plain
//! UTF-8 datagrams, plain text lines — so the seed's own Python and Java
//! programs can sit on the other end.
//!
//! Nothing here leaves this machine unless asked: multicast sends and joins on
//! 127.0.0.1 unless the caller names another interface.

pub mod ipc;
pub mod multicast;
