//! The interprocess-communication lab: two processes share a text file. The
//! writer ([`append_lines`]) appends each input line to the file and flushes
//! it at once, as the seed's Java `write` does with `println` + `flush`; the
//! reader ([`read_lines`]) hands back each line, as the seed's Java `read`
//! prints `Received: line` — and, when following, also the lines appended
//! later, like `tail -f`, by polling the file.
//!
//! Lines are plain text ending in `\n` (a `\r` before it is dropped, as Java's
//! `readLine` does), so the seed's programs interoperate with these. A line
//! that is not UTF-8 is handed back lossily (U+FFFD). While following, a last
//! line still without its newline waits for it; when reading stops, it is
//! handed back as it is, as Java's `readLine` does at the end of a file. A
//! file that shrinks (the seed's writer truncates `data.txt` when it starts)
//! or is replaced is read again from its start.
//!
//! Every error names the file and what went wrong ([`IpcError`]).

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;

/// A line longer than this is handed back in pieces of this size, so that a
/// file without newlines cannot exhaust memory.
pub const MAX_LINE: usize = 1 << 20;

/// How often a follower looks at the file again.
pub const POLL: Duration = Duration::from_millis(50);

/// What went wrong, and with which file.
#[derive(Debug, Error)]
pub enum IpcError {
    #[error("{}: no such file", .path.display())]
    NotFound { path: PathBuf },
    #[error("{}: is a directory, expected a text file", .path.display())]
    IsDirectory { path: PathBuf },
    #[error("{}: cannot create it: the folder {} does not exist", .path.display(), .folder.display())]
    NoFolder { path: PathBuf, folder: PathBuf },
    #[error("{}: permission denied: cannot {action}", .path.display())]
    PermissionDenied { path: PathBuf, action: &'static str },
    #[error("{}: cannot {action}: {source}", .path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("cannot read standard input: {0}")]
    Input(#[source] io::Error),
    /// The consumer of the lines failed (a closed pipe, say).
    #[error("cannot write the output: {0}")]
    Output(#[source] io::Error),
}

impl IpcError {
    fn from_io(path: &Path, action: &'static str, e: io::Error) -> IpcError {
        let path = path.to_path_buf();
        match e.kind() {
            io::ErrorKind::NotFound if action != "read it" => {
                let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
                IpcError::NoFolder { path, folder }
            }
            io::ErrorKind::NotFound => IpcError::NotFound { path },
            io::ErrorKind::IsADirectory => IpcError::IsDirectory { path },
            io::ErrorKind::PermissionDenied => IpcError::PermissionDenied { path, action },
            _ => IpcError::Io { path, action, source: e },
        }
    }
}

fn reject_directory(path: &Path) -> Result<(), IpcError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(IpcError::IsDirectory { path: path.to_path_buf() }),
        _ => Ok(()),
    }
}

/// Appends each line of `input` to the file at `path` (created if missing;
/// emptied first when `truncate`, as the seed's writer does), one write and
/// flush per line, and calls `written` after each. Returns the number of
/// lines written.
pub fn append_lines(path: &Path, input: &mut impl BufRead, truncate: bool, mut written: impl FnMut(u64)) -> Result<u64, IpcError> {
    reject_directory(path)?;
    let action = match (path.exists(), truncate) {
        (false, _) => "create it",
        (true, false) => "append to it",
        (true, true) => "write it",
    };
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(!truncate)
        .truncate(truncate)
        .open(path)
        .map_err(|e| IpcError::from_io(path, action, e))?;
    let mut buf = Vec::new();
    let mut count = 0;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf).map_err(IpcError::Input)? == 0 {
            return Ok(count);
        }
        strip_newline(&mut buf);
        buf.push(b'\n');
        // One write per line, so a reader never sees half of a short line.
        file.write_all(&buf).and_then(|()| file.flush()).map_err(|e| IpcError::from_io(path, "write it", e))?;
        count += 1;
        written(count);
    }
}

fn strip_newline(line: &mut Vec<u8>) {
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
}

/// How [`read_lines`] reads.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    /// Keep reading lines appended later (and wait for a missing file).
    pub follow: bool,
    /// When following, stop after this long without new data.
    pub timeout: Option<Duration>,
}

/// What the reader found, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// One line, without its newline, decoded lossily.
    Line(&'a str),
    /// The file got shorter than what was read: reading again from its start.
    Truncated,
    /// The path now names another file: reading it from its start.
    Replaced,
    /// Following a file that does not exist (yet): waiting for it.
    Waiting,
}

/// Why [`read_lines`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The end of the file (not following).
    Eof,
    /// No new data for the timeout (following).
    Timeout,
}

/// Reads the file at `path` line by line and hands each [`Event`] to `on`.
/// Without `follow` it stops at the end of the file, and a missing file is
/// an error; with `follow` it polls for appended lines every [`POLL`] until
/// the timeout passes without new data (for ever without a timeout).
pub fn read_lines(path: &Path, opts: ReadOptions, mut on: impl FnMut(Event<'_>) -> io::Result<()>) -> Result<End, IpcError> {
    let mut emit = |e: Event<'_>| on(e).map_err(IpcError::Output);
    reject_directory(path)?;
    let mut last_data = Instant::now();
    let timed_out = |since: Instant| opts.timeout.is_some_and(|t| since.elapsed() >= t);
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound && opts.follow => {
            emit(Event::Waiting)?;
            loop {
                if timed_out(last_data) {
                    return Ok(End::Timeout);
                }
                std::thread::sleep(POLL);
                match File::open(path) {
                    Ok(f) => break f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(IpcError::from_io(path, "read it", e)),
                }
            }
        }
        Err(e) => return Err(IpcError::from_io(path, "read it", e)),
    };
    reject_directory(path)?;
    let mut identity = Identity::of(&file);
    let mut pos: u64 = 0;
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match file.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(IpcError::from_io(path, "read it", e)),
        };
        if n > 0 {
            pos += n as u64;
            last_data = Instant::now();
            let mut rest = &chunk[..n];
            while let Some(i) = rest.iter().position(|&b| b == b'\n') {
                pending.extend_from_slice(&rest[..i]);
                flush_line(&mut pending, &mut emit)?;
                rest = &rest[i + 1..];
            }
            pending.extend_from_slice(rest);
            while pending.len() >= MAX_LINE {
                let tail = pending.split_off(MAX_LINE);
                emit(Event::Line(&String::from_utf8_lossy(&pending)))?;
                pending = tail;
            }
            continue;
        }
        // At the end of what is there now.
        if !opts.follow {
            flush_pending(&mut pending, &mut emit)?;
            return Ok(End::Eof);
        }
        match std::fs::metadata(path) {
            Ok(m) if Identity::from_metadata(&m) != identity && !m.is_dir() => {
                if let Ok(f) = File::open(path) {
                    flush_pending(&mut pending, &mut emit)?;
                    emit(Event::Replaced)?;
                    identity = Identity::of(&f);
                    file = f;
                    pos = 0;
                    continue;
                }
            }
            Ok(m) if m.len() < pos => {
                flush_pending(&mut pending, &mut emit)?;
                emit(Event::Truncated)?;
                file.seek(SeekFrom::Start(0)).map_err(|e| IpcError::from_io(path, "read it", e))?;
                pos = 0;
                continue;
            }
            _ => {}
        }
        if timed_out(last_data) {
            flush_pending(&mut pending, &mut emit)?;
            return Ok(End::Timeout);
        }
        std::thread::sleep(POLL);
    }
}

/// Hands back an unfinished last line, if any.
fn flush_pending(pending: &mut Vec<u8>, emit: &mut impl FnMut(Event<'_>) -> Result<(), IpcError>) -> Result<(), IpcError> {
    if pending.is_empty() { Ok(()) } else { flush_line(pending, emit) }
}

fn flush_line(line: &mut Vec<u8>, emit: &mut impl FnMut(Event<'_>) -> Result<(), IpcError>) -> Result<(), IpcError> {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    emit(Event::Line(&String::from_utf8_lossy(line)))?;
    line.clear();
    Ok(())
}

/// Which file a path names (device and inode where the system has them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Identity(Option<(u64, u64)>);

impl Identity {
    fn of(file: &File) -> Identity {
        file.metadata().map(|m| Identity::from_metadata(&m)).unwrap_or(Identity(None))
    }

    #[cfg(unix)]
    fn from_metadata(m: &std::fs::Metadata) -> Identity {
        use std::os::unix::fs::MetadataExt;
        Identity(Some((m.dev(), m.ino())))
    }

    #[cfg(not(unix))]
    fn from_metadata(_: &std::fs::Metadata) -> Identity {
        Identity(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("distlab-ipc-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn read_all(path: &Path) -> Vec<String> {
        let mut lines = Vec::new();
        let end = read_lines(path, ReadOptions::default(), |e| {
            if let Event::Line(l) = e {
                lines.push(l.to_string());
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(end, End::Eof);
        lines
    }

    #[test]
    fn written_lines_read_back_and_append() {
        let dir = temp("roundtrip");
        let file = dir.join("data.txt");
        let n = append_lines(&file, &mut &b"one\r\ntwo\n\nlast"[..], false, |_| {}).unwrap();
        assert_eq!(n, 4);
        assert_eq!(std::fs::read(&file).unwrap(), b"one\ntwo\n\nlast\n");
        append_lines(&file, &mut &b"more\n"[..], false, |_| {}).unwrap();
        assert_eq!(read_all(&file), ["one", "two", "", "last", "more"]);
        append_lines(&file, &mut &b"fresh\n"[..], true, |_| {}).unwrap();
        assert_eq!(read_all(&file), ["fresh"]);
        std::fs::write(&file, b"a\xffb\nno newline").unwrap();
        assert_eq!(read_all(&file), ["a\u{fffd}b", "no newline"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn errors_name_the_file() {
        let dir = temp("errors");
        let missing = dir.join("missing.txt");
        let e = read_lines(&missing, ReadOptions::default(), |_| Ok(())).unwrap_err();
        assert!(matches!(e, IpcError::NotFound { .. }), "{e}");
        let e = read_lines(&dir, ReadOptions::default(), |_| Ok(())).unwrap_err();
        assert!(e.to_string().ends_with("is a directory, expected a text file"), "{e}");
        let e = append_lines(&dir.join("no/such/folder.txt"), &mut &b"x\n"[..], false, |_| {}).unwrap_err();
        assert!(e.to_string().contains("the folder") && e.to_string().contains("does not exist"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
