//! An owned, process-independent record of a run's trace, for the renderers
//! that need the whole trace at once (the pictures: SVG, Mermaid, ShiViz,
//! HTML) rather than a stream.
//!
//! A [`Recorder`] is a [`TraceSink`] for every process type: it turns each
//! [`TraceEvent`] into a [`RecordedEvent`] holding plain data (the message's
//! trace form and kind, the observation, the timer's text …), so the pictures
//! never see `P`. Memory stays bounded: after `cap` events (20,000 by default)
//! the recorder only counts, and [`Recorder::into_events`] ends the record with
//! one [`EventKind::Truncated`] event that says how many were left out.
//!
//! [`pair_messages`] matches every send with what became of it (delivered,
//! dropped, or still in flight at the end). The trace carries no message ids,
//! so indistinguishable messages (same sender, receiver and text) are paired in
//! send order.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

use serde::Serialize;

use super::event::{StopReason, TraceEvent, TraceSink};
use crate::engine::network::DropReason;
use crate::process::{Message, Nanos, NodeId, Observation, Process};

/// How many events a [`Recorder`] keeps unless told otherwise.
pub const DEFAULT_CAP: usize = 20_000;

/// What kind of thing happened. Message kinds are the algorithm's
/// [`Message::kind`] names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum EventKind {
    Send {
        msg_kind: &'static str,
    },
    Deliver {
        msg_kind: &'static str,
    },
    Drop {
        msg_kind: &'static str,
        reason: DropReason,
    },
    Duplicate {
        msg_kind: &'static str,
    },
    Timer,
    Command,
    CommandIgnored,
    Observe {
        obs: Observation,
    },
    Crash,
    Recover,
    Partition,
    Block,
    Heal,
    Network,
    Note,
    Stop {
        reason: StopReason,
        pending: usize,
    },
    /// The recorder's cap was reached: `dropped` later events are not in the record.
    Truncated {
        dropped: u64,
    },
}

impl EventKind {
    /// True for the four message events (send, deliver, drop, duplicate).
    pub fn is_message(&self) -> bool {
        matches!(self, EventKind::Send { .. } | EventKind::Deliver { .. } | EventKind::Drop { .. } | EventKind::Duplicate { .. })
    }
}

/// The lanes of a picture: the scenario's nodes in order, then any other id
/// the events name (a message to a node outside the scenario), in id order.
pub fn lane_ids<'a>(nodes: &[NodeId], events: impl Iterator<Item = &'a RecordedEvent>) -> Vec<NodeId> {
    let mut ids: Vec<NodeId> = Vec::new();
    for &id in nodes {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let mut extra: Vec<NodeId> = events.flat_map(|e| [e.node, e.peer]).flatten().filter(|id| !ids.contains(id)).collect();
    extra.sort_unstable();
    extra.dedup();
    ids.extend(extra);
    ids
}

/// One trace event as plain data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordedEvent {
    /// The event's number in the trace, counted from 0 (the numbering of a
    /// failed check's `at`).
    pub index: u64,
    /// Virtual time in ns.
    pub time: Nanos,
    pub kind: EventKind,
    /// The node the event belongs to, as in the text trace: the sender of a
    /// send or duplicate, the receiver of a delivery, the sender of a lost or
    /// partitioned message and the receiver of one that found it down.
    pub node: Option<NodeId>,
    /// The other end of a message event.
    pub peer: Option<NodeId>,
    /// The message's trace form (`Election(3)`), the observation's sentence,
    /// the timer, the command, the note, the partition … whatever the text
    /// trace prints as the detail.
    pub text: String,
}

impl RecordedEvent {
    /// The sender and the receiver of a message event.
    pub fn endpoints(&self) -> Option<(NodeId, NodeId)> {
        let (node, peer) = (self.node?, self.peer?);
        match &self.kind {
            EventKind::Send { .. } | EventKind::Duplicate { .. } => Some((node, peer)),
            EventKind::Deliver { .. } => Some((peer, node)),
            EventKind::Drop { reason: DropReason::ReceiverDown, .. } => Some((peer, node)),
            EventKind::Drop { .. } => Some((node, peer)),
            _ => None,
        }
    }
}

/// A [`TraceSink`] that keeps the first `cap` events as [`RecordedEvent`]s.
#[derive(Debug)]
pub struct Recorder {
    events: Vec<RecordedEvent>,
    cap: usize,
    index: u64,
    /// Events seen after the cap was reached.
    pub truncated: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// A recorder that keeps up to [`DEFAULT_CAP`] events.
    pub fn new() -> Self {
        Recorder::with_cap(DEFAULT_CAP)
    }

    /// A recorder that keeps up to `cap` events and counts the rest.
    pub fn with_cap(cap: usize) -> Self {
        Recorder { events: Vec::new(), cap, index: 0, truncated: 0 }
    }

    /// The events recorded so far.
    pub fn events(&self) -> &[RecordedEvent] {
        &self.events
    }

    /// The record, ending with an [`EventKind::Truncated`] event when the cap
    /// was reached.
    pub fn into_events(mut self) -> Vec<RecordedEvent> {
        if self.truncated > 0 {
            let time = self.events.last().map_or(0, |e| e.time);
            let dropped = self.truncated;
            self.events.push(RecordedEvent {
                index: self.index,
                time,
                kind: EventKind::Truncated { dropped },
                node: None,
                peer: None,
                text: format!("{dropped} more events not recorded (the recorder keeps {})", self.cap),
            });
        }
        self.events
    }
}

fn push_set(out: &mut String, ids: &[NodeId]) {
    out.push('{');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{id}");
    }
    out.push('}');
}

/// Converts one trace event into plain data.
pub fn record<P: Process>(index: u64, time: Nanos, ev: &TraceEvent<'_, P>) -> RecordedEvent {
    let node = ev.node();
    let mut text = String::new();
    let (kind, peer) = match ev {
        TraceEvent::Send { to, msg, .. } => {
            msg.render(&mut text);
            (EventKind::Send { msg_kind: msg.kind() }, Some(*to))
        }
        TraceEvent::Deliver { from, msg, .. } => {
            msg.render(&mut text);
            (EventKind::Deliver { msg_kind: msg.kind() }, Some(*from))
        }
        TraceEvent::Drop { from, to, msg, reason } => {
            msg.render(&mut text);
            let peer = if *reason == DropReason::ReceiverDown { *from } else { *to };
            (EventKind::Drop { msg_kind: msg.kind(), reason: *reason }, Some(peer))
        }
        TraceEvent::Duplicate { to, msg, .. } => {
            msg.render(&mut text);
            (EventKind::Duplicate { msg_kind: msg.kind() }, Some(*to))
        }
        TraceEvent::Timer { timer, .. } => {
            let _ = write!(text, "{timer}");
            (EventKind::Timer, None)
        }
        TraceEvent::Command { command, .. } => {
            let _ = write!(text, "{command}");
            (EventKind::Command, None)
        }
        TraceEvent::CommandIgnored { command, .. } => {
            let _ = write!(text, "{command}");
            (EventKind::CommandIgnored, None)
        }
        TraceEvent::Observe { node, obs } => {
            let _ = obs.describe(*node, &mut text);
            (EventKind::Observe { obs: (*obs).clone() }, None)
        }
        TraceEvent::Crash { node } => {
            let _ = write!(text, "Process {node} fails");
            (EventKind::Crash, None)
        }
        TraceEvent::Recover { node } => {
            let _ = write!(text, "Process {node} recovers");
            (EventKind::Recover, None)
        }
        TraceEvent::Partition { groups } => {
            for (i, g) in groups.iter().enumerate() {
                if i > 0 {
                    text.push_str(" | ");
                }
                push_set(&mut text, g);
            }
            (EventKind::Partition, None)
        }
        TraceEvent::Block { from, to } => {
            push_set(&mut text, from);
            text.push_str(" -/-> ");
            push_set(&mut text, to);
            (EventKind::Block, None)
        }
        TraceEvent::Heal => {
            text.push_str("every link works again");
            (EventKind::Heal, None)
        }
        TraceEvent::Network { change } => {
            text.push_str(change);
            (EventKind::Network, None)
        }
        TraceEvent::Note { text: t } => {
            text.push_str(t);
            (EventKind::Note, None)
        }
        TraceEvent::Stop { reason, pending } => {
            text.push_str(reason.describe());
            if *pending > 0 {
                let _ = write!(text, " ({pending} events left)");
            }
            (EventKind::Stop { reason: *reason, pending: *pending }, None)
        }
    };
    RecordedEvent { index, time, kind, node, peer, text }
}

impl<P: Process> TraceSink<P> for Recorder {
    fn event(&mut self, time: Nanos, ev: &TraceEvent<'_, P>) {
        if self.events.len() < self.cap {
            self.events.push(record(self.index, time, ev));
        } else {
            self.truncated += 1;
        }
        self.index += 1;
    }
}

/// What became of one sent message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Delivered by the event at this position of the record.
    Delivered(usize),
    /// Dropped by the event at this position.
    Dropped(usize),
    /// Neither within the record: still in flight at the end, or cut off.
    InFlight,
}

/// One send and what became of it, by positions in the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageFlow {
    /// The position of the send event.
    pub send: usize,
    pub fate: Fate,
    /// Further deliveries of the same send (duplicates).
    pub copies: Vec<usize>,
}

/// A message's sender, receiver and trace form: what tells messages apart.
type LinkText<'a> = (NodeId, NodeId, &'a str);

/// Pairs every send of `events` with its delivery or drop; also returns the
/// positions of deliveries and drops whose send is not in `events` (it was
/// before a window's start), in order.
///
/// Messages with the same sender, receiver and text are told apart by order:
/// the first such send is paired with the first such arrival.
pub fn pair_messages(events: &[RecordedEvent]) -> (Vec<MessageFlow>, Vec<usize>) {
    // Sends waiting for their arrival, by (from, to, text); each with the number
    // of arrivals still expected (2 after a `dup`).
    let mut waiting: BTreeMap<LinkText<'_>, VecDeque<(usize, u32)>> = BTreeMap::new();
    // The last flow each key completed: a second delivery the script
    // duplicated at arrival belongs to it.
    let mut last: BTreeMap<LinkText<'_>, usize> = BTreeMap::new();
    let mut flows: Vec<MessageFlow> = Vec::new();
    let mut orphans = Vec::new();
    for (pos, e) in events.iter().enumerate() {
        let Some((from, to)) = e.endpoints() else { continue };
        let key = (from, to, e.text.as_str());
        match e.kind {
            EventKind::Send { .. } => {
                waiting.entry(key).or_default().push_back((flows.len(), 1));
                flows.push(MessageFlow { send: pos, fate: Fate::InFlight, copies: Vec::new() });
            }
            EventKind::Duplicate { .. } => {
                if let Some(back) = waiting.get_mut(&key).and_then(|q| q.back_mut()) {
                    back.1 += 1;
                }
            }
            EventKind::Deliver { .. } | EventKind::Drop { .. } => {
                let dropped = matches!(e.kind, EventKind::Drop { .. });
                let queue = waiting.get_mut(&key);
                let found = queue.and_then(|q| {
                    let front = q.front_mut()?;
                    let flow = front.0;
                    front.1 -= 1;
                    if front.1 == 0 {
                        q.pop_front();
                    }
                    Some(flow)
                });
                let flow = match found {
                    Some(f) => Some(f),
                    // A second arrival of a send already paired: a duplicate made at delivery.
                    None if !dropped => last.get(&key).copied().filter(|&f| matches!(flows[f].fate, Fate::Delivered(_))),
                    None => None,
                };
                match flow {
                    Some(f) => {
                        let fl = &mut flows[f];
                        if fl.fate == Fate::InFlight {
                            fl.fate = if dropped { Fate::Dropped(pos) } else { Fate::Delivered(pos) };
                        } else if !dropped {
                            fl.copies.push(pos);
                        }
                        last.insert(key, f);
                    }
                    None => orphans.push(pos),
                }
            }
            _ => {}
        }
    }
    (flows, orphans)
}

/// Formats `ns` as milliseconds with three decimals (`17.193ms`), as the text
/// trace does.
pub fn ms(ns: Nanos) -> String {
    let us = ns / 1000;
    format!("{}.{:03}ms", us / 1000, us % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(index: u64, kind: EventKind, node: NodeId, peer: NodeId, text: &str) -> RecordedEvent {
        RecordedEvent { index, time: index * 10, kind, node: Some(node), peer: Some(peer), text: text.into() }
    }

    #[test]
    fn pairs_reordered_and_duplicated_messages() {
        let k = "M";
        let events = vec![
            ev(0, EventKind::Send { msg_kind: k }, 1, 2, "a"),
            ev(1, EventKind::Send { msg_kind: k }, 1, 2, "b"),
            ev(2, EventKind::Duplicate { msg_kind: k }, 1, 2, "b"),
            ev(3, EventKind::Deliver { msg_kind: k }, 2, 1, "b"),
            ev(4, EventKind::Deliver { msg_kind: k }, 2, 1, "a"),
            ev(5, EventKind::Deliver { msg_kind: k }, 2, 1, "b"),
            ev(6, EventKind::Deliver { msg_kind: k }, 2, 1, "c"),
        ];
        let (flows, orphans) = pair_messages(&events);
        assert_eq!(flows[0].fate, Fate::Delivered(4));
        assert_eq!(flows[1].fate, Fate::Delivered(3));
        assert_eq!(flows[1].copies, vec![5]);
        assert_eq!(orphans, vec![6]);
    }

    #[test]
    fn ms_has_three_decimals() {
        assert_eq!(ms(17_193_000), "17.193ms");
        assert_eq!(ms(0), "0.000ms");
    }
}
