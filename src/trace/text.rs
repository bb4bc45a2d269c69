//! The fixed-column text renderer: the form snapshots hold.
//!
//! ```text
//!          time  node  event
//!       1.000ms     3  send      -> 0  Election(3)
//! ```
//! Columns: virtual time in ms with microseconds, the node (or `-` for the
//! network), a verb padded to 9, then the detail. Nothing here depends on the
//! wall clock, a port number or a hash order.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::event::{TraceEvent, TraceSink};
use crate::engine::network::DropReason;
use crate::process::{Message, Nanos, NodeId, Observation, Process};

/// Renders one event as its text line (without the newline) into `out`.
pub fn render_line<P: Process>(out: &mut String, time: Nanos, ev: &TraceEvent<'_, P>) {
    // The columns (and, for the commonest lines, the verb and the peer) are
    // assembled in a stack buffer and appended at once.
    let mut line = Line::new();
    line.time(time);
    line.put(b"  ");
    match ev.node() {
        Some(n) => line.num(u64::from(n), 4),
        None => line.put(b"   -"),
    }
    line.put(b"  ");
    // The two commonest lines, without the formatting machinery.
    match ev {
        TraceEvent::Send { to, msg, .. } => {
            line.put(b"send      -> ");
            line.num(u64::from(*to), 0);
            line.put(b"  ");
            line.flush(out);
            return msg.render(out);
        }
        TraceEvent::Deliver { from, msg, .. } => {
            line.put(b"recv      <- ");
            line.num(u64::from(*from), 0);
            line.put(b"  ");
            line.flush(out);
            return msg.render(out);
        }
        _ => line.flush(out),
    }
    let _ = match ev {
        TraceEvent::Send { .. } | TraceEvent::Deliver { .. } => Ok(()),
        TraceEvent::Drop { from, to, msg, reason } => {
            if *reason == DropReason::ReceiverDown {
                out.push_str("drop      <- ");
                push_u64(out, u64::from(*from));
            } else {
                out.push_str("drop      -> ");
                push_u64(out, u64::from(*to));
            }
            out.push_str("  ");
            msg.render(out);
            out.push_str("  (");
            out.push_str(reason.describe());
            out.push(')');
            Ok(())
        }
        TraceEvent::Duplicate { to, msg, .. } => {
            out.push_str("dup       -> ");
            push_u64(out, u64::from(*to));
            out.push_str("  ");
            msg.render(out);
            Ok(())
        }
        TraceEvent::Timer { timer, .. } => write!(out, "timer     {timer}"),
        TraceEvent::Command { command, .. } => {
            out.push_str("command   ");
            out.push_str(&command.name);
            for a in &command.args {
                out.push(' ');
                out.push_str(a);
            }
            Ok(())
        }
        TraceEvent::CommandIgnored { node, command } => write!(out, "command   {command}  (ignored: process {node} is down)"),
        TraceEvent::Observe { node, obs } => {
            let tag = obs.tag();
            out.push_str(tag);
            for _ in tag.len()..10 {
                out.push(' ');
            }
            describe(out, *node, obs)
        }
        TraceEvent::Crash { node } => write!(out, "crash     Process {node} fails"),
        TraceEvent::Recover { node } => write!(out, "recover   Process {node} recovers"),
        TraceEvent::Partition { groups } => {
            out.push_str("partition ");
            for (i, g) in groups.iter().enumerate() {
                if i > 0 {
                    out.push_str(" | ");
                }
                push_set(out, g);
            }
            Ok(())
        }
        TraceEvent::Block { from, to } => {
            out.push_str("block     ");
            push_set(out, from);
            out.push_str(" -/-> ");
            push_set(out, to);
            Ok(())
        }
        TraceEvent::Heal => write!(out, "heal      every link works again"),
        TraceEvent::Network { change } => write!(out, "network   {change}"),
        TraceEvent::Note { text } => write!(out, "note      {text}"),
        TraceEvent::Stop { reason, pending } => {
            if *pending > 0 {
                write!(out, "stop      {} ({pending} events left)", reason.describe())
            } else {
                write!(out, "stop      {}", reason.describe())
            }
        }
    };
}

/// The header line above the events.
pub const COLUMNS: &str = "           time  node  event";

/// The observation's trace text, as [`Observation::describe`] writes it; the
/// common ones without the formatting machinery.
fn describe(out: &mut String, node: NodeId, obs: &Observation) -> std::fmt::Result {
    let n = u64::from(node);
    match obs {
        Observation::ElectionStarted => {
            out.push_str("Election initiated by ");
            push_u64(out, n);
        }
        Observation::Elected => {
            out.push_str("Process ");
            push_u64(out, n);
            out.push_str(" becomes coordinator");
        }
        Observation::Leader(l) if *l == node => {
            out.push_str("Process ");
            push_u64(out, n);
            out.push_str(" is coordinator");
        }
        Observation::Leader(l) => {
            out.push_str("Process ");
            push_u64(out, n);
            out.push_str(" accepts ");
            push_u64(out, u64::from(*l));
            out.push_str(" as coordinator");
        }
        Observation::Suspects(s) => {
            out.push_str("Process ");
            push_u64(out, n);
            out.push_str(" suspects ");
            push_u64(out, u64::from(*s));
            out.push_str(" has failed");
        }
        Observation::EnterCs => {
            out.push_str("Site ");
            push_u64(out, n);
            out.push_str(" enters critical section.");
        }
        Observation::ExitCs => {
            out.push_str("Site ");
            push_u64(out, n);
            out.push_str(" releases critical section.");
        }
        _ => return obs.describe(node, out),
    }
    Ok(())
}

/// A line (or the start of one) assembled in a stack buffer of ASCII bytes:
/// numbers are written digit by digit without bounds-checked `String`
/// pushes, and the whole goes into the output with one `push_str`.
struct Line {
    buf: [u8; 96],
    len: usize,
}

impl Line {
    #[inline]
    fn new() -> Self {
        Line { buf: [0; 96], len: 0 }
    }

    /// Appends ASCII bytes (at most 40 at a time).
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Appends `v` in decimal, right-aligned in `width` (at most 20) columns.
    #[inline]
    fn num(&mut self, mut v: u64, width: usize) {
        let digits = v.checked_ilog10().map_or(1, |l| l as usize + 1);
        let start = self.len;
        let end = start + digits.max(width);
        self.buf[start..end - digits].fill(b' ');
        let mut i = end;
        loop {
            i -= 1;
            self.buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.len = end;
    }

    /// The time column: milliseconds right-aligned in 9 columns, then `.uuu` and `ms`.
    #[inline]
    fn time(&mut self, t: Nanos) {
        let us = t / 1000;
        let (ms, frac) = (us / 1000, us % 1000);
        self.num(ms, 9);
        self.put(&[b'.', b'0' + (frac / 100) as u8, b'0' + (frac / 10 % 10) as u8, b'0' + (frac % 10) as u8, b'm', b's']);
    }

    /// Appends what was assembled to `out` and empties the buffer.
    #[inline]
    fn flush(&mut self, out: &mut String) {
        // Only ASCII was written, so the check cannot fail.
        out.push_str(std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default());
        self.len = 0;
    }
}

#[cfg(test)]
fn push_time(out: &mut String, t: Nanos) {
    let mut line = Line::new();
    line.time(t);
    line.flush(out);
}

/// Appends `v` in decimal, as `{v}` would.
#[inline]
pub fn push_u64(out: &mut String, v: u64) {
    if v < 10 {
        out.push((b'0' + v as u8) as char);
        return;
    }
    let mut line = Line::new();
    line.num(v, 0);
    line.flush(out);
}

#[cfg(test)]
fn push_right(out: &mut String, n: NodeId, width: usize) {
    let mut line = Line::new();
    line.num(u64::from(n), width);
    line.flush(out);
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

/// Streams rendered lines to a writer through a large buffer.
pub struct TextSink<'w> {
    out: &'w mut dyn Write,
    /// Rendered lines waiting to be written; lines are rendered straight into it.
    buf: String,
    error: Option<io::Error>,
}

impl<'w> TextSink<'w> {
    pub fn new(out: &'w mut dyn Write) -> Self {
        TextSink { out, buf: String::with_capacity(1 << 16), error: None }
    }

    /// Writes raw text (headers) through the same buffer.
    pub fn raw(&mut self, text: &str) {
        self.buf.push_str(text);
        self.spill();
    }

    fn spill(&mut self) {
        if self.buf.len() >= 1 << 15 {
            if self.error.is_none()
                && let Err(e) = self.out.write_all(self.buf.as_bytes())
            {
                self.error = Some(e);
            }
            self.buf.clear();
        }
    }

    /// Writes out what is buffered; reports the first write error of the run.
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.write_all(self.buf.as_bytes())?;
        self.buf.clear();
        self.out.flush()
    }
}

impl<P: Process> TraceSink<P> for TextSink<'_> {
    fn event(&mut self, time: Nanos, ev: &TraceEvent<'_, P>) {
        render_line(&mut self.buf, time, ev);
        self.buf.push('\n');
        self.spill();
    }
}

/// Keeps the last `keep` rendered lines up to event number `stop_at`: the trace
/// prefix shown beside a broken invariant.
pub struct PrefixSink {
    pub lines: std::collections::VecDeque<String>,
    keep: usize,
    index: u64,
    stop_at: u64,
}

impl PrefixSink {
    pub fn new(keep: usize, stop_at: u64) -> Self {
        PrefixSink { lines: Default::default(), keep, index: 0, stop_at }
    }
}

impl<P: Process> TraceSink<P> for PrefixSink {
    fn event(&mut self, time: Nanos, ev: &TraceEvent<'_, P>) {
        if self.index <= self.stop_at {
            let mut line = String::new();
            render_line(&mut line, time, ev);
            if self.lines.len() == self.keep {
                self.lines.pop_front();
            }
            self.lines.push_back(line);
        }
        self.index += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_rendered_observations_match_describe() {
        let all = [
            Observation::ElectionStarted,
            Observation::Elected,
            Observation::Leader(7),
            Observation::Leader(12345),
            Observation::Suspects(0),
            Observation::Request(Some(3)),
            Observation::Request(None),
            Observation::EnterCs,
            Observation::ExitCs,
            Observation::Clock(-5),
            Observation::Note("free text".into()),
        ];
        for node in [0, 7, 4_000_000_000] {
            for obs in &all {
                let (mut fast, mut slow) = (String::new(), String::new());
                describe(&mut fast, node, obs).unwrap();
                obs.describe(node, &mut slow).unwrap();
                assert_eq!(fast, slow);
            }
        }
    }

    #[test]
    fn numbers_and_times_match_display() {
        for v in [0u64, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX] {
            let mut s = String::new();
            push_u64(&mut s, v);
            assert_eq!(s, v.to_string());
            let mut r = String::new();
            push_right(&mut r, (v % 100_000) as NodeId, 4);
            assert_eq!(r, format!("{:>4}", v % 100_000));
        }
        for t in [0u64, 999, 1_000, 1_234_567, 999_999_999_999, 123_456_789_012_345] {
            let mut s = String::new();
            push_time(&mut s, t);
            assert_eq!(s, format!("{:>9}.{:03}ms", t / 1_000_000, t / 1000 % 1000));
        }
    }
}
