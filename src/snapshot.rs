//! Snapshots in insta's `.snap` format, so that `distlab test` and `cargo test`
//! (insta's `assert_snapshot!`) read and write the same files, and `cargo insta
//! review` works on them.
//!
//! A scenario `scenarios/<dir>/<name>.yaml` has its snapshot at
//! `snapshots/<dir>/<name>.snap`: the trace text and the summary.
//!
//! [`write`] replaces a snapshot atomically: a reader, or a `kill -9` in the
//! middle of `distlab test --accept`, sees the old file or the new one, never
//! an empty or half-written one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

/// The header `distlab test --accept` writes, the same insta writes for the
/// snapshot test in `tests/snapshots/main.rs`.
pub const SOURCE: &str = "tests/snapshots/main.rs";
pub const EXPRESSION: &str = "trace";

/// Where the snapshot of `scenario` lives: its path with the last `scenarios`
/// folder replaced by `snapshots` and the extension by `.snap`.
pub fn snapshot_path(scenario: &Path) -> Result<PathBuf, String> {
    let comps: Vec<Component<'_>> = scenario.components().collect();
    let Some(pos) = comps.iter().rposition(|c| c.as_os_str() == "scenarios") else {
        return Err(format!("{}: not under a scenarios/ folder, so it has no snapshot path", scenario.display()));
    };
    let mut out = PathBuf::new();
    for (i, c) in comps.iter().enumerate() {
        out.push(if i == pos { "snapshots".as_ref() } else { c.as_os_str() });
    }
    out.set_extension("snap");
    Ok(out)
}

/// The contents of a `.snap` file: what follows the `---` header block.
pub fn parse(text: &str) -> String {
    let mut lines = text.lines();
    let rest: Vec<&str> = match lines.next() {
        Some(first) if first.trim_end() == "---" => {
            for l in lines.by_ref() {
                if l.trim_end() == "---" {
                    break;
                }
            }
            lines.collect()
        }
        Some(first) => std::iter::once(first).chain(lines).collect(),
        None => Vec::new(),
    };
    rest.join("\n")
}

/// A `.snap` file holding `contents`, byte for byte as insta writes it.
pub fn render(contents: &str) -> String {
    format!("---\nsource: {SOURCE}\nexpression: {EXPRESSION}\n---\n{}\n", normalize(contents))
}

/// Writes the snapshot file `path` holding `contents` (as [`render`] makes
/// it), atomically: the text goes to a temporary file in the same folder,
/// which is flushed to disk and then renamed over `path`; the folder is
/// flushed too, so that the rename itself survives a crash. Creates the
/// folder when it is missing. On an error, `path` is as it was.
pub fn write(path: &Path, contents: &str) -> io::Result<()> {
    replace_file(path, render(contents).as_bytes())
}

/// Replaces `path` with `bytes` so that no reader ever sees a partial file.
pub fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name =
        path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{}: not a file name", path.display())))?;
    fs::create_dir_all(dir)?;
    // Hidden, and not `.snap`: an interrupted write leaves nothing that
    // `distlab test` would read as a snapshot.
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is in the folder's entry list: flush it as well (a folder
    // cannot be opened for this on every system; the rename is done anyway).
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// What two snapshots are compared on: trailing white space at the end and
/// CRLF line ends do not count (as in insta).
pub fn normalize(contents: &str) -> String {
    contents.trim_end().replace("\r\n", "\n")
}

/// A unified diff from `old` to `new`, or `None` when they match.
pub fn diff(old: &str, new: &str, old_name: &str) -> Option<String> {
    let (a, b) = (normalize(old), normalize(new));
    if a == b {
        return None;
    }
    // A deadline keeps a diff of two very different, very long traces cheap;
    // it only affects how the difference is displayed, never the verdict.
    let d = similar::TextDiff::configure().timeout(std::time::Duration::from_secs(2)).diff_lines(&a, &b);
    Some(d.unified_diff().context_radius(3).header(old_name, "actual").to_string())
}

/// Runs `plan` with the text renderer and returns what its snapshot holds.
pub fn trace_of(plan: &crate::scenario::Plan) -> Result<(String, crate::report::RunReport), crate::engine::RunError> {
    let mut buf = Vec::new();
    let report = (plan.algorithm.run)(plan, &crate::engine::RunOptions::default(), &mut buf)?;
    Ok((String::from_utf8_lossy(&buf).into_owned(), report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_mirror_the_scenarios_tree() {
        assert_eq!(
            snapshot_path(Path::new("scenarios/election/seed-ring.yaml")).unwrap(),
            PathBuf::from("snapshots/election/seed-ring.snap")
        );
        assert_eq!(snapshot_path(Path::new("/x/scenarios/a/b.lua")).unwrap(), PathBuf::from("/x/snapshots/a/b.snap"));
        assert!(snapshot_path(Path::new("elsewhere/b.yaml")).is_err());
    }

    #[test]
    fn round_trip_and_diff() {
        let snap = render("  line one\nline two\n\n");
        assert_eq!(parse(&snap), "  line one\nline two");
        assert!(diff(&parse(&snap), "  line one\nline two\n", "x").is_none());
        let d = diff("a\nb\n", "a\nc\n", "old").unwrap();
        assert!(d.contains("-b") && d.contains("+c"), "{d}");
    }

    /// A reader polling the file while it is rewritten again and again, with
    /// two large contents in turn, only ever reads one of them whole: never an
    /// empty or a truncated file (a plain `fs::write` truncates first).
    #[test]
    fn a_snapshot_is_never_seen_half_written() {
        let dir = std::env::temp_dir().join(format!("distlab-snapshot-write-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("sub").join("big.snap");
        let a: String = (0..200_000).map(|i| format!("a{i}\n")).collect();
        let b: String = (0..150_000).map(|i| format!("bb{i}\n")).collect();
        let (ra, rb) = (render(&a), render(&b));
        write(&path, &a).unwrap();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (path, done, ra, rb) = (path.clone(), done.clone(), ra.clone(), rb.clone());
            std::thread::spawn(move || {
                let mut reads = 0u32;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    let seen = fs::read_to_string(&path).unwrap();
                    assert!(seen == ra || seen == rb, "a partial snapshot of {} bytes", seen.len());
                    reads += 1;
                }
                reads
            })
        };
        for i in 0..60 {
            write(&path, if i % 2 == 0 { &b } else { &a }).unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let reads = reader.join().unwrap();
        assert!(reads > 0);
        assert_eq!(fs::read_to_string(&path).unwrap(), ra);
        let left: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("big.snap")], "no temporary file is left");
        let _ = fs::remove_dir_all(&dir);
    }
}
