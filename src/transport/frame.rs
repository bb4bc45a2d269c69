//! The frame header every real transport puts in front of a payload: a magic
//! number, the run's id, the frame's sequence number and the sender and
//! receiver (dense indexes). A receiver skips any frame that is not the one it
//! awaits — a stray datagram from another program, a copy left over from an
//! earlier run on a reused port — and counts it, instead of mistaking it for a
//! message.

use std::sync::atomic::{AtomicU32, Ordering};

pub const MAGIC: [u8; 4] = *b"DLW1";
pub const HEADER_LEN: usize = 4 + 8 + 8 + 4 + 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub run: u64,
    pub seq: u64,
    pub from: u32,
    pub to: u32,
}

impl Header {
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.run.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.from.to_be_bytes());
        out.extend_from_slice(&self.to.to_be_bytes());
    }

    /// The header and the payload after it, or `None` for a foreign frame.
    pub fn parse(frame: &[u8]) -> Option<(Header, &[u8])> {
        if frame.len() < HEADER_LEN || frame[..4] != MAGIC {
            return None;
        }
        let u64_at = |k: usize| u64::from_be_bytes(frame[k..k + 8].try_into().unwrap());
        let u32_at = |k: usize| u32::from_be_bytes(frame[k..k + 4].try_into().unwrap());
        Some((Header { run: u64_at(4), seq: u64_at(12), from: u32_at(20), to: u32_at(24) }, &frame[HEADER_LEN..]))
    }

    /// The text form the file transport writes at the start of a line.
    pub fn text(&self) -> String {
        format!("DLW1 {} {} {} {} ", self.run, self.seq, self.from, self.to)
    }

    /// Appends [`Self::text`] to `out` without allocating.
    pub fn write_text(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        // Writing to a Vec cannot fail.
        let _ = write!(out, "DLW1 {} {} {} {} ", self.run, self.seq, self.from, self.to);
    }

    /// Parses a line of the file transport: the header and the payload.
    pub fn parse_text(line: &str) -> Option<(Header, &str)> {
        let mut parts = line.splitn(6, ' ');
        if parts.next()? != "DLW1" {
            return None;
        }
        let run = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        let from = parts.next()?.parse().ok()?;
        let to = parts.next()?.parse().ok()?;
        Some((Header { run, seq, from, to }, parts.next()?))
    }
}

/// A run id unique on this machine while the run lasts: the process id and a
/// counter (it never reaches the trace).
pub fn new_run_id() -> u64 {
    static COUNTER: AtomicU32 = AtomicU32::new(1);
    (u64::from(std::process::id()) << 32) | u64::from(COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_and_text_round_trip() {
        let h = Header { run: 7 << 32 | 3, seq: 42, from: 1, to: 9 };
        let mut buf = Vec::new();
        h.write(&mut buf);
        buf.extend_from_slice(b"{}");
        assert_eq!(Header::parse(&buf), Some((h, &b"{}"[..])));
        let line = format!("{}{{\"A\":1}}", h.text());
        assert_eq!(Header::parse_text(&line), Some((h, "{\"A\":1}")));
        let mut bytes = Vec::new();
        h.write_text(&mut bytes);
        assert_eq!(bytes, h.text().as_bytes());
    }

    #[test]
    fn foreign_frames_are_recognised() {
        assert_eq!(Header::parse(b"hello world, a chat line from the seed's client"), None);
        assert_eq!(Header::parse(b"DLW1"), None);
        assert_eq!(Header::parse_text("Received: hello"), None);
        assert_eq!(Header::parse_text("DLW1 x 1 2 3 {}"), None);
    }
}
