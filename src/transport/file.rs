//! The file transport — the seed's IPC lab as a transport: each node has an
//! inbox file (`node-<index>.inbox`) in a fresh temporary directory; a sender
//! appends one line (`DLW1 <run> <seq> <from> <to> <payload>`) and flushes it,
//! the receiver reads the new lines from where it stopped. The directory is
//! removed when the run ends.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::frame::{Header, new_run_id};
use super::{Carrier, TransportError, TransportKind, TransportOptions, WireStats};

/// The longest line the transport writes (1 MiB).
pub const MAX_LINE: usize = 1 << 20;

struct Inbox {
    writer: File,
    reader: BufReader<File>,
}

pub struct FileCarrier {
    dir: PathBuf,
    inboxes: Vec<Option<Inbox>>,
    run: u64,
    seq: u64,
    timeout: Duration,
    stats: WireStats,
    /// The line being read (kept across messages), as bytes: a foreign line
    /// need not be UTF-8.
    line: Vec<u8>,
    /// The line being written (kept across messages).
    out: Vec<u8>,
}

/// The error of a failed `what`; a `&'static str` becomes a `String` only
/// when the error happens (these sit on the per-message path).
fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> TransportError {
    move |e| TransportError::io("file", what, e)
}

impl FileCarrier {
    pub fn new(n: usize, opts: &TransportOptions) -> Result<Self, TransportError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let base = std::env::temp_dir();
        let dir = loop {
            let k = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = base.join(format!("distlab-wire-{}-{k}", std::process::id()));
            match fs::create_dir(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(TransportError::io("file", format!("create {}", dir.display()), e)),
            }
        };
        Ok(FileCarrier {
            dir,
            inboxes: (0..n).map(|_| None).collect(),
            run: new_run_id(),
            seq: 0,
            timeout: opts.timeout,
            stats: WireStats::default(),
            line: Vec::new(),
            out: Vec::new(),
        })
    }

    /// The directory holding the inboxes (removed when the carrier is dropped).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn inbox(&mut self, i: u32) -> Result<&mut Inbox, TransportError> {
        let slot = &mut self.inboxes[i as usize];
        if slot.is_none() {
            let path = self.dir.join(format!("node-{i}.inbox"));
            let writer = OpenOptions::new().create(true).append(true).open(&path).map_err(io(format!("create {}", path.display())))?;
            let reader = BufReader::new(File::open(&path).map_err(io(format!("open {}", path.display())))?);
            *slot = Some(Inbox { writer, reader });
        }
        Ok(slot.as_mut().expect("opened"))
    }
}

/// The payload of frame `want` in `line`, if the line is (or ends with) it:
/// a foreign partial line written without its newline just before ours is
/// glued to the front of ours.
fn ours(line: &[u8], want: Header) -> Option<Vec<u8>> {
    let start = line.windows(5).rposition(|w| w == b"DLW1 ")?;
    let text = std::str::from_utf8(&line[start..]).ok()?;
    match Header::parse_text(text) {
        Some((h, payload)) if h == want => Some(payload.as_bytes().to_vec()),
        _ => None,
    }
}

impl Drop for FileCarrier {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Carrier for FileCarrier {
    fn kind(&self) -> TransportKind {
        TransportKind::File
    }

    fn max_payload(&self) -> usize {
        MAX_LINE - 64
    }

    fn carry(&mut self, from: u32, to: u32, payload: &[u8]) -> Result<Vec<u8>, TransportError> {
        if payload.len() > self.max_payload() {
            return Err(TransportError::Oversize { transport: "file", size: payload.len(), limit: self.max_payload() });
        }
        if std::str::from_utf8(payload).is_err() {
            return Err(TransportError::Setup("file: a payload is not UTF-8 text".into()));
        }
        if payload.contains(&b'\n') {
            return Err(TransportError::Setup("file: a payload holds a newline and cannot be one line".into()));
        }
        self.seq += 1;
        let want = Header { run: self.run, seq: self.seq, from, to };
        // The line is built in a buffer kept across messages.
        let mut line = std::mem::take(&mut self.out);
        line.clear();
        want.write_text(&mut line);
        line.extend_from_slice(payload);
        line.push(b'\n');
        let timeout = self.timeout;
        let inbox = self.inbox(to)?;
        let written = inbox.writer.write_all(&line).and_then(|()| inbox.writer.flush());
        self.out = line;
        if let Err(e) = written {
            let what = format!("append to the inbox of node index {to} in {}", self.dir.display());
            return Err(TransportError::io("file", what, e));
        }
        self.stats.frames += 1;
        self.stats.bytes += payload.len() as u64;
        let deadline = Instant::now() + timeout;
        let mut buf = std::mem::take(&mut self.line);
        let result = loop {
            let inbox = self.inbox(to)?;
            // Keep what a partial read left: a line counts once its newline is there.
            let got = inbox
                .reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| TransportError::io("file", format!("read the inbox of node index {to}"), e))?;
            if buf.ends_with(b"\n") {
                if let Some(payload) = ours(&buf[..buf.len() - 1], want) {
                    break Ok(payload);
                }
                self.stats.foreign += 1;
                buf.clear();
                continue;
            }
            if buf.len() > MAX_LINE {
                // Somebody else's endless line: not ours, dropped.
                self.stats.foreign += 1;
                buf.clear();
            }
            if got == 0 {
                if Instant::now() >= deadline {
                    break Err(TransportError::Timeout { transport: "file", from, to, waited: timeout });
                }
                std::thread::sleep(Duration::from_micros(20));
            }
        };
        buf.clear();
        self.line = buf;
        result
    }

    fn stats(&self) -> WireStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_go_through_inbox_files_and_the_directory_goes_away() {
        let mut c = FileCarrier::new(3, &TransportOptions::default()).unwrap();
        let dir = c.dir().to_path_buf();
        assert_eq!(c.carry(0, 1, br#"{"Election":3}"#).unwrap(), br#"{"Election":3}"#);
        assert_eq!(c.carry(2, 1, br#"{"Ok":1}"#).unwrap(), br#"{"Ok":1}"#);
        let inbox = fs::read_to_string(dir.join("node-1.inbox")).unwrap();
        assert_eq!(inbox.lines().count(), 2);
        assert!(inbox.lines().all(|l| l.starts_with("DLW1 ")), "{inbox}");
        // A line somebody else appended ("Received: ..." from the seed's writer) is skipped.
        OpenOptions::new().append(true).open(dir.join("node-1.inbox")).unwrap().write_all(b"hello from the seed\n").unwrap();
        assert_eq!(c.carry(0, 1, b"{}").unwrap(), b"{}");
        assert_eq!(c.stats().foreign, 1);
        // Not UTF-8, and a partial line with no newline before ours: skipped, ours still found.
        OpenOptions::new().append(true).open(dir.join("node-1.inbox")).unwrap().write_all(b"\xff\xfe binary\npartial ").unwrap();
        assert_eq!(c.carry(2, 1, b"[1]").unwrap(), b"[1]");
        assert_eq!(c.stats().foreign, 2);
        drop(c);
        assert!(!dir.exists());
    }

    #[test]
    fn a_newline_in_a_payload_is_refused() {
        let mut c = FileCarrier::new(2, &TransportOptions::default()).unwrap();
        assert!(c.carry(0, 1, b"a\nb").unwrap_err().to_string().contains("newline"));
    }
}
