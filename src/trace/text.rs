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
use crate::process::{Message, Nanos, NodeId, Process};

/// Renders one event as its text line (without the newline) into `out`.
pub fn render_line<P: Process>(out: &mut String, time: Nanos, ev: &TraceEvent<'_, P>) {
    push_time(out, time);
    out.push_str("  ");
    match ev.node() {
        Some(n) => push_right(out, n, 4),
        None => out.push_str("   -"),
    }
    out.push_str("  ");
    let _ = match ev {
        // The two commonest lines, without the formatting machinery.
        TraceEvent::Send { to, msg, .. } => {
            out.push_str("send      -> ");
            push_u64(out, u64::from(*to));
            out.push_str("  ");
            msg.render(out);
            Ok(())
        }
        TraceEvent::Deliver { from, msg, .. } => {
            out.push_str("recv      <- ");
            push_u64(out, u64::from(*from));
            out.push_str("  ");
            msg.render(out);
            Ok(())
        }
        TraceEvent::Drop { from, to, msg, reason } => match reason {
            crate::engine::network::DropReason::ReceiverDown => write!(out, "drop      <- {from}  {msg}  ({})", reason.describe()),
            _ => write!(out, "drop      -> {to}  {msg}  ({})", reason.describe()),
        },
        TraceEvent::Duplicate { to, msg, .. } => write!(out, "dup       -> {to}  {msg}"),
        TraceEvent::Timer { timer, .. } => write!(out, "timer     {timer}"),
        TraceEvent::Command { command, .. } => write!(out, "command   {command}"),
        TraceEvent::CommandIgnored { node, command } => write!(out, "command   {command}  (ignored: process {node} is down)"),
        TraceEvent::Observe { node, obs } => {
            let tag = obs.tag();
            out.push_str(tag);
            for _ in tag.len()..10 {
                out.push(' ');
            }
            obs.describe(*node, out)
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

fn push_time(out: &mut String, t: Nanos) {
    let us = t / 1000;
    let (ms, frac) = (us / 1000, us % 1000);
    let mut buf = [0u8; 20];
    let digits = digits(&mut buf, ms);
    for _ in digits.len()..9 {
        out.push(' ');
    }
    out.push_str(digits);
    let frac = [b'.', b'0' + (frac / 100) as u8, b'0' + (frac / 10 % 10) as u8, b'0' + (frac % 10) as u8, b'm', b's'];
    out.push_str(std::str::from_utf8(&frac).unwrap_or("?"));
}

/// The decimal digits of `v`, written at the end of `buf`.
fn digits(buf: &mut [u8; 20], mut v: u64) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("?")
}

/// Appends `v` in decimal, as `{v}` would.
pub fn push_u64(out: &mut String, v: u64) {
    let mut buf = [0u8; 20];
    out.push_str(digits(&mut buf, v));
}

fn push_right(out: &mut String, n: NodeId, width: usize) {
    let mut buf = [0u8; 20];
    let digits = digits(&mut buf, u64::from(n));
    for _ in digits.len()..width {
        out.push(' ');
    }
    out.push_str(digits);
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
