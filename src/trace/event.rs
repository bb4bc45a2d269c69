//! The one trace enum. Everything a run does that a reader or a checker may
//! care about is one of these; renderers and checkers read nothing else.

use crate::engine::network::DropReason;
use crate::process::{Nanos, NodeId, Observation, Process};
use crate::scenario::Command;

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// No event was left in the queue.
    Quiescent,
    /// The scenario's `until` (or the default horizon) was reached with events left.
    Horizon,
    /// A `stop` step on the timeline.
    Stopped,
    /// The `--max-events` limit was reached.
    EventLimit,
    /// The scenario's script raised an error.
    ScriptError,
    /// The real transport failed (a socket error, a frame that never came).
    TransportError,
}

impl StopReason {
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::Quiescent => "no events left",
            StopReason::Horizon => "time limit reached",
            StopReason::Stopped => "stop on the timeline",
            StopReason::EventLimit => "event limit reached",
            StopReason::ScriptError => "the script failed",
            StopReason::TransportError => "the transport failed",
        }
    }
}

/// One thing that happened, at a time the sink is given alongside.
pub enum TraceEvent<'a, P: Process> {
    Send {
        from: NodeId,
        to: NodeId,
        msg: &'a P::Msg,
    },
    Deliver {
        from: NodeId,
        to: NodeId,
        msg: &'a P::Msg,
    },
    /// `node` is the sender for losses and partitions, the receiver when it was down.
    Drop {
        from: NodeId,
        to: NodeId,
        msg: &'a P::Msg,
        reason: DropReason,
    },
    Duplicate {
        from: NodeId,
        to: NodeId,
        msg: &'a P::Msg,
    },
    Timer {
        node: NodeId,
        timer: &'a P::Timer,
    },
    Command {
        node: NodeId,
        command: &'a Command,
    },
    /// A command for a node that is down.
    CommandIgnored {
        node: NodeId,
        command: &'a Command,
    },
    Observe {
        node: NodeId,
        obs: &'a Observation,
    },
    Crash {
        node: NodeId,
    },
    Recover {
        node: NodeId,
    },
    Partition {
        groups: &'a [Vec<NodeId>],
    },
    Block {
        from: &'a [NodeId],
        to: &'a [NodeId],
    },
    Heal,
    /// A change of the network's default link (`set_loss: 10%`).
    Network {
        change: &'a str,
    },
    Note {
        text: &'a str,
    },
    Stop {
        reason: StopReason,
        pending: usize,
    },
}

impl<P: Process> TraceEvent<'_, P> {
    /// The node the event belongs to, if any.
    pub fn node(&self) -> Option<NodeId> {
        match *self {
            TraceEvent::Send { from, .. } | TraceEvent::Duplicate { from, .. } => Some(from),
            TraceEvent::Deliver { to, .. } => Some(to),
            TraceEvent::Drop { from, to, reason, .. } => Some(if reason == DropReason::ReceiverDown { to } else { from }),
            TraceEvent::Timer { node, .. }
            | TraceEvent::Command { node, .. }
            | TraceEvent::CommandIgnored { node, .. }
            | TraceEvent::Observe { node, .. }
            | TraceEvent::Crash { node }
            | TraceEvent::Recover { node } => Some(node),
            _ => None,
        }
    }
}

/// Where trace events go: a renderer, a recorder, nothing.
pub trait TraceSink<P: Process> {
    fn event(&mut self, time: Nanos, ev: &TraceEvent<'_, P>);
    /// False for a sink that ignores every event: the runner then skips the
    /// calls (asked once, when the run starts).
    fn wants_events(&self) -> bool {
        true
    }
}

/// Drops every event: `--quiet`.
pub struct NullSink;

impl<P: Process> TraceSink<P> for NullSink {
    fn event(&mut self, _: Nanos, _: &TraceEvent<'_, P>) {}
    fn wants_events(&self) -> bool {
        false
    }
}
