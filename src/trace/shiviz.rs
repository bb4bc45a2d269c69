//! A log for [ShiViz](https://bestchai.bitbucket.io/shiviz/), the visualiser of
//! distributed executions: each event is one line of text followed by a line
//! `host {"host":n,…}` with the event's vector clock.
//!
//! ```text
//! [15.000ms] #13 send Election(3) -> 0
//! 3 {"3":4}
//! [17.193ms] #14 recv Election(3) <- 3
//! 0 {"0":2,"3":4}
//! ```
//!
//! Hosts are node ids. The vector clocks follow the message flow: a send
//! increments the sender's own entry; a delivery merges the send's clock into
//! the receiver's, then increments the receiver's entry; every other event on
//! a node (timer, command, observation, crash, recovery, a drop noticed there)
//! increments that node's entry. Each clock lists the node's own entry first,
//! then the other non-zero entries in node order. Events that belong to no node
//! (partitions, notes, the end of the run) are not in the log. The header
//! comment gives the regular expression to paste into ShiViz
//! ([`REGEX`]); each event's text starts with its time and its number in the
//! trace (`#13`), the numbering the check results use.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::recorded::{EventKind, Fate, RecordedEvent, ms, pair_messages};
use crate::process::NodeId;

/// ShiViz's log parsing expression for this log (its default one).
pub const REGEX: &str = r"(?<event>.*)\n(?<host>\S*) (?<clock>{.*})";

/// Renders `events` as a ShiViz log over `nodes`.
pub fn render(events: &[RecordedEvent], nodes: &[NodeId], title: &str) -> String {
    let ids = super::recorded::lane_ids(nodes, events.iter());
    let lanes: BTreeMap<NodeId, usize> = ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let n = ids.len();

    let (flows, _) = pair_messages(events);
    let mut send_of: Vec<Option<usize>> = vec![None; events.len()];
    let mut is_send = vec![false; events.len()];
    for fl in &flows {
        is_send[fl.send] = true;
        if let Fate::Delivered(p) = fl.fate {
            send_of[p] = Some(fl.send);
        }
        for &c in &fl.copies {
            send_of[c] = Some(fl.send);
        }
    }

    let mut o = String::new();
    let title: String = title.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect();
    let _ = writeln!(o, "# distlab run: {title}");
    o.push_str("# ShiViz log parsing regular expression:\n");
    let _ = writeln!(o, "# {REGEX}");
    o.push_str("# hosts are node ids; send: +1 at the sender; delivery: merge the send's clock, then +1; other events: +1\n\n");

    let mut clocks: Vec<Vec<u64>> = vec![vec![0; n]; n];
    // The clock of each send, kept until its last delivery.
    let mut sent: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for (pos, e) in events.iter().enumerate() {
        let Some(l) = e.node.and_then(|id| lanes.get(&id).copied()) else { continue };
        if let Some(s) = send_of[pos]
            && let Some(c) = sent.get(&s)
        {
            for (mine, theirs) in clocks[l].iter_mut().zip(c) {
                *mine = (*mine).max(*theirs);
            }
        }
        clocks[l][l] += 1;
        if is_send[pos] {
            sent.insert(pos, clocks[l].clone());
        }
        let _ = write!(o, "[{}] #{} ", ms(e.time), e.index);
        describe(&mut o, e);
        o.push('\n');
        let _ = write!(o, "{} {{\"{}\":{}", ids[l], ids[l], clocks[l][l]);
        for (i, &v) in clocks[l].iter().enumerate() {
            if i != l && v > 0 {
                let _ = write!(o, ",\"{}\":{v}", ids[i]);
            }
        }
        o.push_str("}\n");
    }
    o
}

/// The event's text, on one line.
fn describe(o: &mut String, e: &RecordedEvent) {
    let text: String = e.text.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect();
    let peer = e.peer.map_or(String::new(), |p| p.to_string());
    let _ = match &e.kind {
        EventKind::Send { .. } => write!(o, "send {text} -> {peer}"),
        EventKind::Deliver { .. } => write!(o, "recv {text} <- {peer}"),
        EventKind::Drop { reason, .. } => match e.endpoints() {
            Some((from, to)) if e.node == Some(to) => write!(o, "drop {text} <- {from} ({})", reason.describe()),
            _ => write!(o, "drop {text} -> {peer} ({})", reason.describe()),
        },
        EventKind::Duplicate { .. } => write!(o, "dup {text} -> {peer}"),
        EventKind::Timer => write!(o, "timer {text}"),
        EventKind::Command => write!(o, "command {text}"),
        EventKind::CommandIgnored => write!(o, "command {text} (ignored: down)"),
        EventKind::Observe { obs } => write!(o, "{} {text}", obs.tag()),
        EventKind::Crash => write!(o, "crash {text}"),
        EventKind::Recover => write!(o, "recover {text}"),
        _ => write!(o, "{text}"),
    };
}
