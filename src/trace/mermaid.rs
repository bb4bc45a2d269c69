//! A Mermaid `sequenceDiagram` of a recorded run, for GitHub and mdBook.
//!
//! Participants appear in the scenario's node order (`participant n3 as node 3`).
//! A delivered message is an arrow at its delivery, `n3->>n0: Election(3)`,
//! so that what the receiver does about it follows; a dropped one is
//! `n3-xn4: Election(3) (receiver down)` at its drop; one still in flight at
//! the end is an open arrow `n3-)n4: … (in flight)` at the bottom. Crashes,
//! recoveries, observations, timers and commands are `Note over n3: …`;
//! partitions, heals, network changes, notes and the end of the run are notes
//! over every participant. A `%% t=…` comment marks each new time.
//!
//! Mermaid refuses diagrams longer than 50,000 characters, so the output stops
//! before that and a last note says how many events were left out.

use std::fmt::Write as _;

use super::recorded::{EventKind, Fate, RecordedEvent, ms, pair_messages};
use crate::process::{NodeId, Observation};

/// Where the diagram stops (Mermaid's default `maxTextSize` is 50,000).
const MAX_CHARS: usize = 45_000;

/// Makes `s` safe for one Mermaid statement: no line breaks, and the
/// characters Mermaid treats as syntax written as entity codes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '<' => out.push_str("#60;"),
            '>' => out.push_str("#62;"),
            '%' => out.push_str("#37;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn participant(id: NodeId) -> String {
    format!("n{id}")
}

/// Renders `events` as a Mermaid sequence diagram over `nodes`.
pub fn render(events: &[RecordedEvent], nodes: &[NodeId], title: &str) -> String {
    let ids = super::recorded::lane_ids(nodes, events.iter());

    let mut o = String::new();
    o.push_str("sequenceDiagram\n");
    // A title runs to the end of its line and may hold neither `#` nor `;`.
    let title: String = title.chars().map(|c| if matches!(c, '#' | ';' | '\n' | '\r' | '%') { ' ' } else { c }).collect();
    if !title.trim().is_empty() {
        let _ = writeln!(o, "    title {}", title.trim());
    }
    for &id in &ids {
        let _ = writeln!(o, "    participant {} as node {id}", participant(id));
    }
    let all = match (ids.first(), ids.last()) {
        (Some(&a), Some(&b)) if a != b => format!("{},{}", participant(a), participant(b)),
        (Some(&a), _) => participant(a),
        _ => String::new(),
    };

    let (flows, _) = pair_messages(events);
    // What to draw at each arrival: the send it belongs to.
    let mut send_of: Vec<Option<usize>> = vec![None; events.len()];
    for fl in &flows {
        if let Fate::Delivered(p) | Fate::Dropped(p) = fl.fate {
            send_of[p] = Some(fl.send);
        }
        for &c in &fl.copies {
            send_of[c] = Some(fl.send);
        }
    }

    let mut last_time = None;
    for (pos, e) in events.iter().enumerate() {
        if o.len() > MAX_CHARS {
            let left = events.len() - pos;
            if !all.is_empty() {
                let _ = writeln!(o, "    Note over {all}: {left} more events not shown (the diagram would be too long for Mermaid)");
            }
            return o;
        }
        let line = statement(e, send_of[pos].map(|s| &events[s]), &all);
        let Some(line) = line else { continue };
        if last_time != Some(e.time) {
            last_time = Some(e.time);
            let _ = writeln!(o, "    %% t={}", ms(e.time));
        }
        let _ = writeln!(o, "    {line}");
    }
    for fl in flows.iter().filter(|fl| fl.fate == Fate::InFlight) {
        let s = &events[fl.send];
        if let Some((from, to)) = s.endpoints() {
            let _ = writeln!(o, "    {}-){}: {} (in flight)", participant(from), participant(to), esc(&s.text));
        }
    }
    o
}

/// The Mermaid statement for one event, if it draws one.
fn statement(e: &RecordedEvent, send: Option<&RecordedEvent>, all: &str) -> Option<String> {
    let over = |id: Option<NodeId>, text: String| id.map(|id| format!("Note over {}: {}", participant(id), esc(&text)));
    let global = |text: String| (!all.is_empty()).then(|| format!("Note over {all}: {}", esc(&text)));
    match &e.kind {
        EventKind::Send { .. } | EventKind::Duplicate { .. } => None,
        EventKind::Deliver { .. } => {
            let (from, to) = e.endpoints()?;
            let dup = if send.is_none() { " (sent before the record)" } else { "" };
            Some(format!("{}->>{}: {}{dup}", participant(from), participant(to), esc(&e.text)))
        }
        EventKind::Drop { reason, .. } => {
            let (from, to) = e.endpoints()?;
            Some(format!("{}-x{}: {} ({})", participant(from), participant(to), esc(&e.text), reason.describe()))
        }
        EventKind::Timer => over(e.node, format!("timer: {}", e.text)),
        EventKind::Command => over(e.node, format!("do {}", e.text)),
        EventKind::CommandIgnored => over(e.node, format!("do {} (ignored: down)", e.text)),
        EventKind::Observe { obs } => {
            let text = match obs {
                Observation::Elected => "elected".to_string(),
                Observation::Leader(l) => format!("leader {l}"),
                Observation::EnterCs => "enter critical section".to_string(),
                Observation::ExitCs => "exit critical section".to_string(),
                _ => e.text.clone(),
            };
            over(e.node, text)
        }
        EventKind::Crash => over(e.node, "crash".to_string()),
        EventKind::Recover => over(e.node, "recover".to_string()),
        EventKind::Partition => global(format!("partition {}", e.text)),
        EventKind::Block => global(format!("block {}", e.text)),
        EventKind::Heal => global("heal: every link works again".to_string()),
        EventKind::Network => global(format!("network: {}", e.text)),
        EventKind::Note => global(format!("note: {}", e.text)),
        EventKind::Stop { .. } => global(format!("end at {}: {}", ms(e.time), e.text)),
        EventKind::Truncated { .. } => global(e.text.clone()),
    }
}
