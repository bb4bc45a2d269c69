//! A self-contained SVG space-time diagram of a recorded run.
//!
//! One vertical lane per node, labelled with its id, in the scenario's node
//! order; **time runs down**. The vertical scale follows time (10 px per ms)
//! with two adjustments that keep the picture legible: simultaneous events on
//! one lane are stacked a row apart (a bar on the axis spans them), and an idle gap longer than 5 ms is drawn
//! 50 px tall and marked `≈` on the axis. The axis on the left labels, in ms,
//! the times at which something happens.
//!
//! Each send is one arrow (`<g class="msg">`) from the sender's lane at the
//! send to the receiver's lane at the delivery, labelled with the message's
//! trace form; a dropped message (`class="msg drop"`) ends in a cross (a
//! `class="cross"` path) at the receiver when it was lost on arrival, half-way
//! when the network lost it on the way; a message still in flight at the end
//! is a dashed arrow to the bottom. Duplicated deliveries are extra dashed
//! arrows (`class="copy"`, not counted as sends). Crashes are red crosses and
//! the lane is dashed while the node is down; recoveries green circles;
//! critical sections (from `enter` to `exit`) shaded bars; `elected` a gold
//! diamond; leaders, suspicions, requests, timers, commands and notes short
//! labels on the lane; partitions, heals, network changes and the end of the
//! run lines across every lane. Hovering an arrow or a mark shows its details.
//!
//! Up to [`SvgOptions::max_events`] events (3,000 by default) are drawn; a
//! longer run is cut to a window (`from`/`to`, in ns) and the picture says so.
//! Output is deterministic: coordinates have one decimal, nothing depends on
//! a clock or a hash order.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::recorded::{EventKind, Fate, RecordedEvent, ms, pair_messages};
use crate::engine::network::DropReason;
use crate::process::{Nanos, NodeId, Observation};

/// Which part of the run to draw.
#[derive(Clone, Copy, Debug)]
pub struct SvgOptions {
    /// The first time drawn, in ns (the run's start when `None`).
    pub from: Option<Nanos>,
    /// The last time drawn, in ns (the run's end when `None`).
    pub to: Option<Nanos>,
    /// The most events drawn; the window is cut after that many.
    pub max_events: usize,
}

impl Default for SvgOptions {
    fn default() -> Self {
        SvgOptions { from: None, to: None, max_events: 3_000 }
    }
}

const ROW: f64 = 16.0;
const PX_PER_MS: f64 = 10.0;
const MIN_GAP: f64 = 8.0;
const MAX_GAP: f64 = 50.0;
const LEFT: f64 = 96.0;
const RIGHT: f64 = 230.0;
const FONT: &str = "font-family=\"DejaVu Sans, Verdana, Arial, sans-serif\"";

const STYLE: &str = "
.title{font-size:16px;font-weight:bold;fill:#222}
.banner{font-size:12px;fill:#8a4b00}
.axis{stroke:#999;stroke-width:1}
.tick{font-size:10px;fill:#666;text-anchor:end}
.grid{stroke:#eee;stroke-width:1}
.instant{stroke:#bbb;stroke-width:3;stroke-linecap:round}
.lane{stroke:#444;stroke-width:1.5}
.lane.down{stroke:#bbb;stroke-dasharray:4 4}
.head rect{fill:#eef3fb;stroke:#5577aa}
.head text{font-size:13px;font-weight:bold;fill:#223;text-anchor:middle}
.msg line,.copy line,.stub line{stroke:#2a5db0;stroke-width:1.3}
.msg.drop line{stroke:#c0392b;stroke-dasharray:5 3}
.msg.inflight line,.copy line,.stub line{stroke-dasharray:3 3}
.cross{stroke:#c0392b;stroke-width:2.2;fill:none}
.label{font-size:11px;fill:#1b3d7a;text-anchor:middle;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.drop .label{fill:#9b2d20}
.why{font-size:9px;fill:#c0392b;paint-order:stroke;stroke:#fff;stroke-width:3px}
.mark text{font-size:10.5px;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.crash path{stroke:#d0021b;stroke-width:2.5}
.crash text{fill:#d0021b;font-weight:bold}
.recover circle{fill:#fff;stroke:#1e8a3a;stroke-width:2}
.recover text{fill:#1e8a3a;font-weight:bold}
.cs{fill:#f5a623;fill-opacity:0.35;stroke:#d48806;stroke-width:1}
.cs-label{fill:#a35f00;font-weight:bold}
.elected path{fill:#f8c100;stroke:#8a6d00}
.elected text{fill:#6b5300;font-weight:bold}
.obs circle{fill:#5b3f99}
.obs text{fill:#5b3f99}
.timer circle{fill:#fff;stroke:#888}
.timer text,.command text{fill:#666}
.command path{fill:#666}
.global line{stroke:#8e44ad;stroke-dasharray:6 3;stroke-width:1}
.global text{font-size:10.5px;fill:#8e44ad}
.legend text{font-size:10.5px;fill:#444}
.foot{font-size:10px;fill:#777}
";

/// Escapes text for XML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 forbids.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with one decimal (never `-0.0`).
fn f(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    format!("{:.1}", v + 0.0)
}

/// The window of `events` to draw: positions `start..end`, and a note when
/// the window is not the whole record.
fn window(events: &[RecordedEvent], opts: &SvgOptions) -> (usize, usize, Option<String>) {
    let from = opts.from.unwrap_or(0);
    let to = opts.to.unwrap_or(Nanos::MAX);
    let start = events.iter().position(|e| e.time >= from).unwrap_or(events.len());
    let mut end = events[start..].iter().position(|e| e.time > to).map_or(events.len(), |p| start + p);
    let in_window = end - start;
    let max = opts.max_events.max(1);
    let mut note = None;
    if in_window > max {
        end = start + max;
        let (t0, t1) = (events[start].time, events[end - 1].time);
        note = Some(format!(
            "{} events in this window: showing the first {max}, {} to {} (from = {t0} ns, to = {t1} ns); render another window with from/to (ns)",
            in_window,
            ms(t0),
            ms(t1)
        ));
    } else if start > 0 || end < events.len() {
        let (t0, t1) = if end > start { (events[start].time, events[end - 1].time) } else { (from, from) };
        note = Some(format!("showing the window {} to {} ({in_window} of {} recorded events)", ms(t0), ms(t1), events.len()));
    }
    (start, end, note)
}

/// Where each event sits: its y, and the slot (distinct time) it belongs to.
struct Layout {
    ys: Vec<f64>,
    /// (time, top y, whether the gap above was shortened, rows) per distinct time.
    slots: Vec<(Nanos, f64, bool, usize)>,
    bottom: f64,
}

fn layout(events: &[RecordedEvent], lanes: &BTreeMap<NodeId, usize>, n: usize, top: f64, send_of: &[Option<usize>]) -> Layout {
    let mut ys = vec![0.0; events.len()];
    let mut slots: Vec<(Nanos, f64, bool, usize)> = Vec::new();
    let mut counts = vec![0usize; n];
    // The row of each event within its slot.
    let mut rows = vec![0usize; events.len()];
    let mut slot_of = vec![0usize; events.len()];
    let mut slot_top = top;
    let mut slot_rows = 0usize;
    for (pos, e) in events.iter().enumerate() {
        match slots.last() {
            Some(&(t, _, _, _)) if t == e.time => {}
            prev => {
                let mut shortened = false;
                if let Some(&(t, _, _, _)) = prev {
                    let dt = (e.time - t) as f64 / 1e6 * PX_PER_MS;
                    shortened = dt > MAX_GAP;
                    slot_top += slot_rows.max(1) as f64 * ROW + dt.clamp(MIN_GAP, MAX_GAP) - ROW * 0.5;
                }
                slots.push((e.time, slot_top, shortened, 1));
                counts.iter_mut().for_each(|c| *c = 0);
                slot_rows = 0;
            }
        }
        let slot = slots.len() - 1;
        let lane = e.node.and_then(|id| lanes.get(&id).copied());
        let row = match lane {
            Some(l) => {
                let mut row = counts[l];
                // A delivery in the slot of its send sits below it.
                if let Some(s) = send_of[pos]
                    && slot_of[s] == slot
                {
                    row = row.max(rows[s] + 1);
                }
                counts[l] = row + 1;
                row
            }
            None => {
                let row = counts.iter().copied().max().unwrap_or(0);
                counts.iter_mut().for_each(|c| *c = row + 1);
                row
            }
        };
        rows[pos] = row;
        slot_of[pos] = slot;
        slot_rows = slot_rows.max(row + 1);
        slots[slot].3 = slot_rows;
        ys[pos] = slot_top + row as f64 * ROW;
    }
    let bottom = slot_top + slot_rows.max(1) as f64 * ROW + 14.0;
    Layout { ys, slots, bottom }
}

/// Where to put a message's label: the first of a few points along its arrow
/// (the middle first) where it overlaps no recent label.
fn place_label(placed: &mut std::collections::VecDeque<[f64; 4]>, text: &str, a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    let half = text.chars().count() as f64 * 3.2 + 3.0;
    let at = |t: f64| (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
    let boxed = |(x, y): (f64, f64)| [x - half, y - 13.0, x + half, y];
    let clear = |r: &[f64; 4]| placed.iter().all(|p| r[2] <= p[0] || p[2] <= r[0] || r[3] <= p[1] || p[3] <= r[1]);
    let point = [0.5, 0.32, 0.68, 0.2, 0.8].into_iter().map(at).find(|&p| clear(&boxed(p))).unwrap_or_else(|| at(0.5));
    if placed.len() == 64 {
        placed.pop_front();
    }
    placed.push_back(boxed(point));
    point
}

/// Renders `events` as an SVG space-time diagram with one lane per node of
/// `nodes` (and one more for any other node the events name).
pub fn render(events: &[RecordedEvent], nodes: &[NodeId], title: &str, opts: &SvgOptions) -> String {
    let (start, end, window_note) = window(events, opts);
    let shown = &events[start..end];
    let truncated = events.iter().find_map(|e| match e.kind {
        EventKind::Truncated { dropped } => Some(dropped),
        _ => None,
    });

    // Lanes: the scenario's nodes in order, then any stranger in id order.
    let ids = super::recorded::lane_ids(nodes, shown.iter());
    let lanes: BTreeMap<NodeId, usize> = ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let n = ids.len().max(1);
    let lane_w = match n {
        0..=6 => 160.0,
        7..=12 => 130.0,
        _ => 105.0,
    };
    let lx = |id: NodeId| lanes.get(&id).map(|&i| LEFT + lane_w * (i as f64 + 0.5));

    let (flows, orphans) = pair_messages(shown);
    let mut send_of: Vec<Option<usize>> = vec![None; shown.len()];
    for fl in &flows {
        match fl.fate {
            Fate::Delivered(p) | Fate::Dropped(p) => send_of[p] = Some(fl.send),
            Fate::InFlight => {}
        }
        for &c in &fl.copies {
            send_of[c] = Some(fl.send);
        }
    }

    let mut banners: Vec<String> = Vec::new();
    if let Some(note) = &window_note {
        banners.push(note.clone());
    }
    if let Some(d) = truncated {
        banners.push(format!("the recorder kept the first {} events; {d} later events are not in this picture", events.len() - 1));
    }
    let head_y = 40.0 + banners.len() as f64 * 16.0;
    let top = head_y + 44.0;
    let lay = layout(shown, &lanes, n, top, &send_of);
    let bottom = lay.bottom;
    let width = LEFT + lane_w * n as f64 + RIGHT;
    let height = bottom + 100.0;

    let mut o = String::with_capacity(4096 + shown.len() * 200);
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" {FONT} class=\"distlab-spacetime\">",
        w = f(width),
        h = f(height)
    );
    let _ = writeln!(o, "<title>{}</title>", esc(title));
    let _ = writeln!(o, "<style>{STYLE}</style>");
    o.push_str(concat!(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" ",
        "orient=\"auto\" markerUnits=\"userSpaceOnUse\"><path d=\"M0,0L10,5L0,10z\" fill=\"#2a5db0\"/></marker></defs>\n"
    ));
    let _ = writeln!(o, "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#fff\"/>", f(width), f(height));
    let _ = writeln!(o, "<text class=\"title\" x=\"12\" y=\"24\">{}</text>", esc(title));
    for (i, b) in banners.iter().enumerate() {
        let _ = writeln!(o, "<text class=\"banner\" x=\"12\" y=\"{}\">{}</text>", f(44.0 + i as f64 * 16.0), esc(b));
    }

    // The time axis and a faint grid line at each labelled time.
    let axis_x = LEFT - 14.0;
    let _ = writeln!(
        o,
        "<g class=\"time-axis\"><line class=\"axis\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>",
        f(top - 6.0),
        f(bottom),
        x = f(axis_x)
    );
    let _ = writeln!(o, "<text class=\"tick\" x=\"{}\" y=\"{}\">time (ms)</text>", f(axis_x + 4.0), f(top - 14.0));
    let mut last_label = f64::NEG_INFINITY;
    for &(t, y, shortened, rows) in &lay.slots {
        if rows > 1 {
            // The rows of one instant: a bar on the axis.
            let _ = writeln!(
                o,
                "<line class=\"instant\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>",
                f(y),
                f(y + (rows - 1) as f64 * ROW),
                x = f(axis_x)
            );
        }
        if shortened {
            let _ = writeln!(o, "<text class=\"tick\" x=\"{}\" y=\"{}\">\u{2248}</text>", f(axis_x + 4.0), f(y - 12.0));
        }
        if y - last_label >= 13.0 {
            last_label = y;
            let _ = writeln!(
                o,
                "<line class=\"grid\" x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/><text class=\"tick\" x=\"{}\" y=\"{}\">{}</text>",
                f(axis_x),
                f(LEFT + lane_w * n as f64),
                f(axis_x - 4.0),
                f(y + 3.5),
                ms(t),
                y = f(y)
            );
        }
    }
    o.push_str("</g>\n");

    // Lanes: solid while up, dashed while down; critical sections shaded.
    let mut down_since: Vec<Option<f64>> = vec![None; n];
    let mut up_since: Vec<f64> = vec![top - 8.0; n];
    let mut cs_since: Vec<Option<f64>> = vec![None; n];
    let mut lane_svg = String::new();
    let mut cs_svg = String::new();
    let cs_rect = |out: &mut String, lane: usize, y0: f64, y1: f64| {
        let x = LEFT + lane_w * (lane as f64 + 0.5);
        let _ = writeln!(
            out,
            "<rect class=\"cs\" x=\"{}\" y=\"{}\" width=\"14.0\" height=\"{}\"><title>node {} in the critical section</title></rect>",
            f(x - 7.0),
            f(y0),
            f((y1 - y0).max(3.0)),
            ids[lane]
        );
    };
    let segment = |out: &mut String, lane: usize, y0: f64, y1: f64, down: bool| {
        let x = f(LEFT + lane_w * (lane as f64 + 0.5));
        let class = if down { "lane down" } else { "lane" };
        let _ = writeln!(out, "<line class=\"{class}\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>", f(y0), f(y1));
    };
    for (pos, e) in shown.iter().enumerate() {
        let Some(lane) = e.node.and_then(|id| lanes.get(&id).copied()) else { continue };
        let y = lay.ys[pos];
        match &e.kind {
            EventKind::Crash => {
                if down_since[lane].is_none() {
                    segment(&mut lane_svg, lane, up_since[lane], y, false);
                    down_since[lane] = Some(y);
                }
                if let Some(y0) = cs_since[lane].take() {
                    cs_rect(&mut cs_svg, lane, y0, y);
                }
            }
            EventKind::Recover => {
                if let Some(y0) = down_since[lane].take() {
                    segment(&mut lane_svg, lane, y0, y, true);
                    up_since[lane] = y;
                }
            }
            EventKind::Observe { obs: Observation::EnterCs } => {
                cs_since[lane].get_or_insert(y);
            }
            EventKind::Observe { obs: Observation::ExitCs } => match cs_since[lane].take() {
                Some(y0) => cs_rect(&mut cs_svg, lane, y0, y),
                None if start > 0 => cs_rect(&mut cs_svg, lane, top - 8.0, y),
                None => {}
            },
            _ => {}
        }
    }
    for lane in 0..n {
        match down_since[lane] {
            Some(y0) => segment(&mut lane_svg, lane, y0, bottom, true),
            None => segment(&mut lane_svg, lane, up_since[lane], bottom, false),
        }
        if let Some(y0) = cs_since[lane] {
            cs_rect(&mut cs_svg, lane, y0, bottom);
        }
    }
    o.push_str("<g class=\"lanes\">\n");
    o.push_str(&lane_svg);
    o.push_str(&cs_svg);
    for (i, id) in ids.iter().enumerate() {
        for y in [head_y, bottom + 6.0] {
            let x = LEFT + lane_w * (i as f64 + 0.5);
            let _ = writeln!(
                o,
                "<g class=\"head\"><rect x=\"{}\" y=\"{}\" width=\"64.0\" height=\"22.0\" rx=\"4.0\"/><text x=\"{}\" y=\"{}\">node {id}</text></g>",
                f(x - 32.0),
                f(y),
                f(x),
                f(y + 15.5)
            );
        }
    }
    o.push_str("</g>\n");

    // Events that belong to no node: lines across every lane.
    let right_edge = LEFT + lane_w * n as f64;
    o.push_str("<g class=\"globals\">\n");
    for (pos, e) in shown.iter().enumerate() {
        if e.node.is_some() {
            continue;
        }
        let label = match &e.kind {
            EventKind::Partition => format!("partition {}", e.text),
            EventKind::Block => format!("block {}", e.text),
            EventKind::Heal => "heal: every link works again".to_string(),
            EventKind::Network => format!("network: {}", e.text),
            EventKind::Note => format!("note: {}", e.text),
            EventKind::Stop { .. } => format!("end: {}", e.text),
            EventKind::Truncated { .. } => format!("record cut: {}", e.text),
            _ => e.text.clone(),
        };
        let y = lay.ys[pos];
        let _ = writeln!(
            o,
            "<g class=\"global\"><line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/><text x=\"{}\" y=\"{}\">{} {}</text></g>",
            f(LEFT),
            f(right_edge),
            f(right_edge + 6.0),
            f(lay.ys[pos] + 3.5),
            ms(e.time),
            esc(&label),
            y = f(y)
        );
    }
    o.push_str("</g>\n");

    // Messages: one arrow per send.
    o.push_str("<g class=\"messages\">\n");
    // Boxes of the labels placed so far (the most recent ones), to keep new
    // labels off them.
    let mut placed: std::collections::VecDeque<[f64; 4]> = std::collections::VecDeque::new();
    for fl in &flows {
        let s = &shown[fl.send];
        let Some((from, to)) = s.endpoints() else { continue };
        let (Some(x1), Some(x2)) = (lx(from), lx(to)) else { continue };
        let y1 = lay.ys[fl.send];
        let (class, x2, y2, end, why) = match fl.fate {
            Fate::Delivered(p) => ("msg", x2, lay.ys[p], format!("delivered {}", ms(shown[p].time)), None),
            Fate::Dropped(p) => {
                let reason = match shown[p].kind {
                    EventKind::Drop { reason, .. } => reason,
                    _ => DropReason::Loss,
                };
                let d = &shown[p];
                let (x, y) = if d.time > s.time || reason == DropReason::ReceiverDown {
                    (x2, lay.ys[p])
                } else {
                    (x1 + (x2 - x1) * 0.45, y1 + 14.0)
                };
                ("msg drop", x, y, format!("dropped {} ({})", ms(d.time), reason.describe()), Some(reason.describe()))
            }
            Fate::InFlight => ("msg inflight", x2, bottom, "not delivered within the picture".to_string(), None),
        };
        let _ = write!(o, "<g class=\"{class}\" data-from=\"{from}\" data-to=\"{to}\">");
        let _ = write!(o, "<title>{from} \u{2192} {to}  {}  sent {}, {end}</title>", esc(&s.text), ms(s.time));
        let marker = if class == "msg drop" { "" } else { " marker-end=\"url(#arrow)\"" };
        let _ = write!(o, "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"{marker}/>", f(x1), f(y1), f(x2), f(y2));
        if class == "msg drop" {
            let _ = write!(
                o,
                "<path class=\"cross\" d=\"M{},{}L{},{}M{},{}L{},{}\"/>",
                f(x2 - 5.0),
                f(y2 - 5.0),
                f(x2 + 5.0),
                f(y2 + 5.0),
                f(x2 - 5.0),
                f(y2 + 5.0),
                f(x2 + 5.0),
                f(y2 - 5.0)
            );
            if let Some(why) = why {
                let _ = write!(o, "<text class=\"why\" x=\"{}\" y=\"{}\">{why}</text>", f(x2 + 8.0), f(y2 + 12.0));
            }
        }
        let (mx, my) = place_label(&mut placed, &s.text, (x1, y1), (x2, y2));
        let _ = write!(o, "<text class=\"label\" x=\"{}\" y=\"{}\">{}</text>", f(mx), f(my - 3.0), esc(&s.text));
        o.push_str("</g>\n");
        for &c in &fl.copies {
            let (cx, cy) = (x2, lay.ys[c]);
            let _ = writeln!(
                o,
                "<g class=\"copy\"><title>duplicate of {} from {from}, delivered {}</title><line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" marker-end=\"url(#arrow)\"/></g>",
                esc(&s.text),
                ms(shown[c].time),
                f(x1),
                f(y1),
                f(cx),
                f(cy)
            );
        }
    }
    for &p in &orphans {
        let e = &shown[p];
        let Some((from, to)) = e.endpoints() else { continue };
        let (Some(x1), Some(x2)) = (lx(from), lx(to)) else { continue };
        let _ = writeln!(
            o,
            "<g class=\"stub\"><title>{} from {from}, sent before the window</title><line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" marker-end=\"url(#arrow)\"/></g>",
            esc(&e.text),
            f(x1),
            f(top - 8.0),
            f(x2),
            f(lay.ys[p])
        );
    }
    o.push_str("</g>\n");

    // Marks on the lanes.
    o.push_str("<g class=\"marks\">\n");
    for (pos, e) in shown.iter().enumerate() {
        let Some(id) = e.node else { continue };
        let Some(x) = lx(id) else { continue };
        let y = lay.ys[pos];
        let tip = format!("<title>{} node {id}: {}</title>", ms(e.time), esc(&e.text));
        let tx = f(x + 10.0);
        let ty = f(y + 3.5);
        match &e.kind {
            EventKind::Crash => {
                let _ = writeln!(
                    o,
                    "<g class=\"mark crash\">{tip}<path d=\"M{},{}L{},{}M{},{}L{},{}\"/><text x=\"{tx}\" y=\"{ty}\">crash</text></g>",
                    f(x - 6.0),
                    f(y - 6.0),
                    f(x + 6.0),
                    f(y + 6.0),
                    f(x - 6.0),
                    f(y + 6.0),
                    f(x + 6.0),
                    f(y - 6.0)
                );
            }
            EventKind::Recover => {
                let _ = writeln!(
                    o,
                    "<g class=\"mark recover\">{tip}<circle cx=\"{}\" cy=\"{}\" r=\"5.0\"/><text x=\"{tx}\" y=\"{ty}\">recover</text></g>",
                    f(x),
                    f(y)
                );
            }
            EventKind::Observe { obs } => {
                let (class, label) = match obs {
                    Observation::Elected => ("elected", "elected".to_string()),
                    Observation::Leader(l) => ("obs", format!("leader {l}")),
                    Observation::ElectionStarted => ("obs", "election".to_string()),
                    Observation::Suspects(s) => ("obs", format!("suspects {s}")),
                    Observation::Request(Some(ts)) => ("obs", format!("request ts {ts}")),
                    Observation::Request(None) => ("obs", "request".to_string()),
                    Observation::EnterCs => ("cs-start", "enter CS".to_string()),
                    Observation::ExitCs => ("cs-end", "exit CS".to_string()),
                    // Notes, clock readings and whatever comes next: the trace's sentence.
                    _ => ("obs", e.text.clone()),
                };
                match class {
                    "elected" => {
                        let _ = writeln!(
                            o,
                            "<g class=\"mark elected\">{tip}<path d=\"M{},{}L{},{}L{},{}L{},{}z\"/><text x=\"{tx}\" y=\"{ty}\">{label}</text></g>",
                            f(x),
                            f(y - 7.0),
                            f(x + 7.0),
                            f(y),
                            f(x),
                            f(y + 7.0),
                            f(x - 7.0),
                            f(y)
                        );
                    }
                    "cs-start" | "cs-end" => {
                        let _ = writeln!(o, "<g class=\"mark\">{tip}<text class=\"cs-label\" x=\"{tx}\" y=\"{ty}\">{label}</text></g>");
                    }
                    _ => {
                        let _ = writeln!(
                            o,
                            "<g class=\"mark obs\">{tip}<circle cx=\"{}\" cy=\"{}\" r=\"2.5\"/><text x=\"{tx}\" y=\"{ty}\">{}</text></g>",
                            f(x),
                            f(y),
                            esc(&label)
                        );
                    }
                }
            }
            EventKind::Timer => {
                let _ = writeln!(
                    o,
                    "<g class=\"mark timer\">{tip}<circle cx=\"{}\" cy=\"{}\" r=\"3.5\"/><text x=\"{tx}\" y=\"{ty}\">timer: {}</text></g>",
                    f(x),
                    f(y),
                    esc(&e.text)
                );
            }
            EventKind::Command | EventKind::CommandIgnored => {
                let ignored = if e.kind == EventKind::CommandIgnored { " (ignored: down)" } else { "" };
                let _ = writeln!(
                    o,
                    "<g class=\"mark command\">{tip}<path d=\"M{},{}L{},{}L{},{}z\"/><text x=\"{tx}\" y=\"{ty}\">do {}{ignored}</text></g>",
                    f(x - 4.0),
                    f(y - 4.0),
                    f(x + 4.0),
                    f(y),
                    f(x - 4.0),
                    f(y + 4.0),
                    esc(&e.text)
                );
            }
            _ => {}
        }
    }
    o.push_str("</g>\n");

    // Legend and a word on the scale.
    let ly = bottom + 50.0;
    let _ = writeln!(
        o,
        concat!(
            "<g class=\"legend\">",
            "<line x1=\"12.0\" y1=\"{y}\" x2=\"42.0\" y2=\"{y}\" stroke=\"#2a5db0\" stroke-width=\"1.3\" marker-end=\"url(#arrow)\"/>",
            "<text x=\"48.0\" y=\"{ty}\">message</text>",
            "<line x1=\"120.0\" y1=\"{y}\" x2=\"150.0\" y2=\"{y}\" stroke=\"#c0392b\" stroke-dasharray=\"5 3\"/>",
            "<path class=\"cross\" d=\"M145.0,{a}L155.0,{b}M145.0,{b}L155.0,{a}\"/>",
            "<text x=\"160.0\" y=\"{ty}\">dropped</text>",
            "<rect class=\"cs\" x=\"225.0\" y=\"{r}\" width=\"14.0\" height=\"14.0\"/><text x=\"245.0\" y=\"{ty}\">critical section</text>",
            "<path d=\"M350.0,{a}L360.0,{b}M350.0,{b}L360.0,{a}\" stroke=\"#d0021b\" stroke-width=\"2.5\"/><text x=\"366.0\" y=\"{ty}\">crash</text>",
            "<line x1=\"415.0\" y1=\"{a}\" x2=\"415.0\" y2=\"{b}\" stroke=\"#bbb\" stroke-dasharray=\"4 4\" stroke-width=\"1.5\"/>",
            "<text x=\"421.0\" y=\"{ty}\">down</text>",
            "<circle cx=\"470.0\" cy=\"{y}\" r=\"5.0\" fill=\"#fff\" stroke=\"#1e8a3a\" stroke-width=\"2\"/><text x=\"480.0\" y=\"{ty}\">recover</text>",
            "<path d=\"M545.0,{a2}L552.0,{y}L545.0,{b2}L538.0,{y}z\" fill=\"#f8c100\" stroke=\"#8a6d00\"/><text x=\"558.0\" y=\"{ty}\">elected</text>",
            "</g>"
        ),
        y = f(ly),
        ty = f(ly + 3.5),
        a = f(ly - 5.0),
        b = f(ly + 5.0),
        a2 = f(ly - 7.0),
        b2 = f(ly + 7.0),
        r = f(ly - 7.0)
    );
    let _ = writeln!(
        o,
        "<text class=\"foot\" x=\"12.0\" y=\"{}\">time runs down: {} px per ms, simultaneous events a row apart (a bar on the axis), idle gaps over {} ms shortened (\u{2248})</text>",
        f(ly + 26.0),
        PX_PER_MS,
        MAX_GAP / PX_PER_MS
    );
    o.push_str("</svg>\n");
    o
}
