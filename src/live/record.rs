//! The JSON lines a node process writes to its parent (stdout) and the one
//! the parent writes to each node (stdin).
//!
//! Node → parent, one object per line:
//! - `{"ready":"127.0.0.1:40112"}` once its sockets are bound;
//! - `{"t":1200345,"n":3,"k":17,"line":"…","ev":{"kind":"send",…}}` per event:
//!   true time in ns since the common start, node id, the node's event
//!   counter, the rendered trace line and the event for the checkers;
//! - `{"end":{"n":3,"alive":true,"clock":…,"timers":…}}` last;
//! - `{"error":"…"}` when the node fails.
//!
//! Parent → node: `{"start_unix_ns":…,"peers":{"1":"127.0.0.1:40112",…}}`;
//! closing the stream tells the node to stop.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::engine::network::DropReason;
use crate::process::{Nanos, NodeId, Observation};

/// One event of one node, generic over the message type (`serde_json::Value`
/// on the parent's first pass).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecEv<M> {
    Send { to: NodeId, msg: M },
    Deliver { from: NodeId, msg: M },
    Drop { from: NodeId, to: NodeId, msg: M, reason: DropReason },
    Duplicate { from: NodeId, to: NodeId, msg: M },
    Timer,
    Command { command: String },
    CommandIgnored { command: String },
    Observe { obs: Observation },
    Crash,
    Recover,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record<M> {
    pub t: Nanos,
    pub n: NodeId,
    pub k: u64,
    pub line: String,
    pub ev: RecEv<M>,
}

/// A record as the parent first reads it, before it knows the message type.
#[derive(Clone, Debug, Deserialize)]
pub struct RawRecord {
    pub t: Nanos,
    pub n: NodeId,
    pub k: u64,
    pub line: String,
    pub ev: serde_json::Value,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EndRec {
    pub n: NodeId,
    pub alive: bool,
    pub clock: i64,
    pub timers: u64,
    /// Frames that arrived but were not this run's or did not decode.
    pub undecodable: u64,
}

/// Any line a node writes but its events (which it writes as [`Record`]s).
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NodeLine {
    Ready { ready: SocketAddr },
    End { end: EndRec },
    Error { error: String },
}

/// Any line a node writes, as the parent reads it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ParentLine {
    Ready { ready: SocketAddr },
    End { end: EndRec },
    Error { error: String },
    Event(RawRecord),
}

/// What the parent tells every node once all are ready.
#[derive(Debug, Serialize, Deserialize)]
pub struct Start {
    /// The common start, in ns since the Unix epoch (all nodes share the
    /// machine's clock; in namespaces too).
    pub start_unix_ns: u128,
    pub peers: BTreeMap<NodeId, SocketAddr>,
}
