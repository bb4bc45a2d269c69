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
    let mut bytes = Vec::with_capacity(96);
    render_bytes(&mut bytes, &mut String::new(), &mut TimeColumn::default(), time, ev);
    // `render_bytes` writes ASCII and whole UTF-8 strings only.
    out.push_str(&String::from_utf8_lossy(&bytes));
}

/// Renders one event as its text line (without the newline) into `out` as
/// UTF-8 bytes. Numbers and fixed words are written as bytes, with no UTF-8
/// check; messages render into `scratch` (`Message::render` writes a
/// `String`) and are copied over.
pub fn render_bytes<P: Process>(out: &mut Vec<u8>, scratch: &mut String, column: &mut TimeColumn, time: Nanos, ev: &TraceEvent<'_, P>) {
    out.reserve(128);
    column.put(out, time);
    out.extend_from_slice(b"  ");
    match ev.node() {
        Some(n) => put_right::<4>(out, u64::from(n)),
        None => out.extend_from_slice(b"   -"),
    }
    out.extend_from_slice(b"  ");
    let mut msg = |out: &mut Vec<u8>, m: &P::Msg| {
        scratch.clear();
        m.render(scratch);
        out.extend_from_slice(scratch.as_bytes());
    };
    let _ = match ev {
        TraceEvent::Send { to, msg: m, .. } => {
            out.extend_from_slice(b"send      -> ");
            put_u64(out, u64::from(*to));
            out.extend_from_slice(b"  ");
            msg(out, m);
            Ok(())
        }
        TraceEvent::Deliver { from, msg: m, .. } => {
            out.extend_from_slice(b"recv      <- ");
            put_u64(out, u64::from(*from));
            out.extend_from_slice(b"  ");
            msg(out, m);
            Ok(())
        }
        TraceEvent::Drop { from, to, msg: m, reason } => {
            if *reason == DropReason::ReceiverDown {
                out.extend_from_slice(b"drop      <- ");
                put_u64(out, u64::from(*from));
            } else {
                out.extend_from_slice(b"drop      -> ");
                put_u64(out, u64::from(*to));
            }
            out.extend_from_slice(b"  ");
            msg(out, m);
            out.extend_from_slice(b"  (");
            out.extend_from_slice(reason.describe().as_bytes());
            out.push(b')');
            Ok(())
        }
        TraceEvent::Duplicate { to, msg: m, .. } => {
            out.extend_from_slice(b"dup       -> ");
            put_u64(out, u64::from(*to));
            out.extend_from_slice(b"  ");
            msg(out, m);
            Ok(())
        }
        TraceEvent::Timer { timer, .. } => write!(Bytes(out), "timer     {timer}"),
        TraceEvent::Command { command, .. } => {
            out.extend_from_slice(b"command   ");
            out.extend_from_slice(command.name.as_bytes());
            for a in &command.args {
                out.push(b' ');
                out.extend_from_slice(a.as_bytes());
            }
            Ok(())
        }
        TraceEvent::CommandIgnored { node, command } => write!(Bytes(out), "command   {command}  (ignored: process {node} is down)"),
        TraceEvent::Observe { node, obs } => {
            let tag = obs.tag();
            out.extend_from_slice(tag.as_bytes());
            for _ in tag.len()..10 {
                out.push(b' ');
            }
            describe(out, *node, obs)
        }
        TraceEvent::Crash { node } => write!(Bytes(out), "crash     Process {node} fails"),
        TraceEvent::Recover { node } => write!(Bytes(out), "recover   Process {node} recovers"),
        TraceEvent::Partition { groups } => {
            out.extend_from_slice(b"partition ");
            for (i, g) in groups.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b" | ");
                }
                push_set(out, g);
            }
            Ok(())
        }
        TraceEvent::Block { from, to } => {
            out.extend_from_slice(b"block     ");
            push_set(out, from);
            out.extend_from_slice(b" -/-> ");
            push_set(out, to);
            Ok(())
        }
        TraceEvent::Heal => write!(Bytes(out), "heal      every link works again"),
        TraceEvent::Network { change } => write!(Bytes(out), "network   {change}"),
        TraceEvent::Note { text } => write!(Bytes(out), "note      {text}"),
        TraceEvent::Stop { reason, pending } => {
            if *pending > 0 {
                write!(Bytes(out), "stop      {} ({pending} events left)", reason.describe())
            } else {
                write!(Bytes(out), "stop      {}", reason.describe())
            }
        }
    };
}

/// `fmt::Write` into a byte buffer (what `write!` produces is UTF-8).
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// The header line above the events.
pub const COLUMNS: &str = "           time  node  event";

/// The observation's trace text, as [`Observation::describe`] writes it; the
/// common ones without the formatting machinery.
fn describe(out: &mut Vec<u8>, node: NodeId, obs: &Observation) -> std::fmt::Result {
    let n = u64::from(node);
    match obs {
        Observation::ElectionStarted => {
            out.extend_from_slice(b"Election initiated by ");
            put_u64(out, n);
        }
        Observation::Elected => {
            out.extend_from_slice(b"Process ");
            put_u64(out, n);
            out.extend_from_slice(b" becomes coordinator");
        }
        Observation::Leader(l) if *l == node => {
            out.extend_from_slice(b"Process ");
            put_u64(out, n);
            out.extend_from_slice(b" is coordinator");
        }
        Observation::Leader(l) => {
            out.extend_from_slice(b"Process ");
            put_u64(out, n);
            out.extend_from_slice(b" accepts ");
            put_u64(out, u64::from(*l));
            out.extend_from_slice(b" as coordinator");
        }
        Observation::Suspects(s) => {
            out.extend_from_slice(b"Process ");
            put_u64(out, n);
            out.extend_from_slice(b" suspects ");
            put_u64(out, u64::from(*s));
            out.extend_from_slice(b" has failed");
        }
        Observation::EnterCs => {
            out.extend_from_slice(b"Site ");
            put_u64(out, n);
            out.extend_from_slice(b" enters critical section.");
        }
        Observation::ExitCs => {
            out.extend_from_slice(b"Site ");
            put_u64(out, n);
            out.extend_from_slice(b" releases critical section.");
        }
        _ => return obs.describe(node, &mut Bytes(out)),
    }
    Ok(())
}

/// `"000001002…999"`: three ASCII digits for every number below 1000.
const DIGIT_BYTES: [u8; 3000] = {
    let mut t = [0u8; 3000];
    let mut i = 0;
    while i < 1000 {
        t[3 * i] = b'0' + (i / 100) as u8;
        t[3 * i + 1] = b'0' + (i / 10 % 10) as u8;
        t[3 * i + 2] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Appends `v` in decimal, as `{v}` would.
#[inline]
pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    if v < 10 {
        out.push(b'0' + v as u8);
        return;
    }
    let mut buf = [0u8; 20];
    let start = fill_digits(&mut buf, v);
    for &b in &buf[start..] {
        out.push(b);
    }
}

/// Writes the digits of `v` at the end of `buf`; returns where they start.
#[inline]
fn fill_digits(buf: &mut [u8; 20], mut v: u64) -> usize {
    let mut i = buf.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i] = PAIRS[pair];
        buf[i + 1] = PAIRS[pair + 1];
    }
    if v >= 10 {
        i -= 2;
        buf[i] = PAIRS[v as usize * 2];
        buf[i + 1] = PAIRS[v as usize * 2 + 1];
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    i
}

/// `"00010203…99"`: two ASCII digits for every number below 100.
const PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Appends `v` in decimal, right-aligned in `W` (at most 20) columns.
#[inline]
fn put_right<const W: usize>(out: &mut Vec<u8>, v: u64) {
    let mut buf = [b' '; 20];
    let start = fill_digits(&mut buf, v);
    if start >= 20 - W {
        // The common case, a number that fits: a copy of constant length,
        // which compiles to a few moves rather than a call to `memcpy`.
        let fixed: &[u8; W] = buf[20 - W..].try_into().expect("W <= 20");
        out.extend_from_slice(fixed);
    } else {
        put_wide(out, &buf[start..]);
    }
}

/// A number wider than its column: written whole.
#[cold]
#[inline(never)]
fn put_wide(out: &mut Vec<u8>, digits: &[u8]) {
    out.extend_from_slice(digits);
}

/// The time column of the last line, kept: most lines share their time with
/// the line before (a delivery and the sends it causes), so the column is
/// formatted once per distinct time.
pub struct TimeColumn {
    time: Nanos,
    bytes: Vec<u8>,
}

/// The time column's usual width: up to 999,999,999 ms (11.6 days).
const TIME_WIDTH: usize = 15;

impl Default for TimeColumn {
    fn default() -> Self {
        TimeColumn { time: Nanos::MAX, bytes: Vec::with_capacity(32) }
    }
}

impl TimeColumn {
    #[inline]
    fn put(&mut self, out: &mut Vec<u8>, t: Nanos) {
        if t != self.time {
            self.bytes.clear();
            put_time(&mut self.bytes, t);
            self.time = t;
        }
        // A copy of constant length in the usual case (see `put_right`).
        match self.bytes.first_chunk::<TIME_WIDTH>() {
            Some(fixed) if self.bytes.len() == TIME_WIDTH => out.extend_from_slice(fixed),
            _ => put_wide(out, &self.bytes),
        }
    }
}

/// The time column: milliseconds right-aligned in 9 columns, then `.uuu` and `ms`.
#[inline]
fn put_time(out: &mut Vec<u8>, t: Nanos) {
    let us = t / 1000;
    let (ms, frac) = (us / 1000, (us % 1000) as usize);
    put_right::<9>(out, ms);
    out.extend_from_slice(&[b'.', DIGIT_BYTES[3 * frac], DIGIT_BYTES[3 * frac + 1], DIGIT_BYTES[3 * frac + 2], b'm', b's']);
}

/// Appends `v` in decimal, as `{v}` would (for `Message::render`), without
/// the formatting machinery or a UTF-8 check.
#[inline]
pub fn push_u64(out: &mut String, v: u64) {
    if v < 10 {
        out.push(char::from(b'0' + v as u8));
        return;
    }
    let mut buf = [0u8; 20];
    let start = fill_digits(&mut buf, v);
    out.reserve(20 - start);
    for &b in &buf[start..] {
        out.push(char::from(b));
    }
}

#[cfg(test)]
fn push_time(out: &mut String, t: Nanos) {
    let mut b = Vec::new();
    put_time(&mut b, t);
    out.push_str(std::str::from_utf8(&b).unwrap());
}

#[cfg(test)]
fn push_right(out: &mut String, n: NodeId, width: usize) {
    assert_eq!(width, 4);
    let mut b = Vec::new();
    put_right::<4>(&mut b, u64::from(n));
    out.push_str(std::str::from_utf8(&b).unwrap());
}

fn push_set(out: &mut Vec<u8>, ids: &[NodeId]) {
    out.push(b'{');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        put_u64(out, u64::from(*id));
    }
    out.push(b'}');
}

/// Streams rendered lines to a writer through a large buffer.
pub struct TextSink<'w> {
    out: &'w mut dyn Write,
    /// Rendered lines waiting to be written (UTF-8); lines are rendered
    /// straight into it.
    buf: Vec<u8>,
    /// Where messages render (`Message::render` writes a `String`).
    scratch: String,
    column: TimeColumn,
    error: Option<io::Error>,
}

impl<'w> TextSink<'w> {
    pub fn new(out: &'w mut dyn Write) -> Self {
        TextSink { out, buf: Vec::with_capacity(1 << 16), scratch: String::with_capacity(64), column: TimeColumn::default(), error: None }
    }

    /// Writes raw text (headers) through the same buffer.
    pub fn raw(&mut self, text: &str) {
        self.buf.extend_from_slice(text.as_bytes());
        self.spill();
    }

    fn spill(&mut self) {
        if self.buf.len() >= 1 << 15 {
            if self.error.is_none()
                && let Err(e) = self.out.write_all(&self.buf)
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
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }
}

impl<P: Process> TraceSink<P> for TextSink<'_> {
    fn event(&mut self, time: Nanos, ev: &TraceEvent<'_, P>) {
        render_bytes(&mut self.buf, &mut self.scratch, &mut self.column, time, ev);
        self.buf.push(b'\n');
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
                let (mut fast, mut slow) = (Vec::new(), String::new());
                describe(&mut fast, node, obs).unwrap();
                obs.describe(node, &mut slow).unwrap();
                assert_eq!(String::from_utf8(fast).unwrap(), slow);
            }
        }
    }

    #[test]
    fn numbers_and_times_match_display() {
        for v in [0u64, 9, 10, 99, 100, 999, 1000, 1001, 12_345, 100_000, 1_000_007, u64::from(u32::MAX), u64::MAX] {
            let mut s = String::new();
            push_u64(&mut s, v);
            assert_eq!(s, v.to_string());
            let mut b = Vec::new();
            put_u64(&mut b, v);
            assert_eq!(String::from_utf8(b).unwrap(), v.to_string());
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
