//! Snapshots in insta's `.snap` format, so that `distlab test` and `cargo test`
//! (insta's `assert_snapshot!`) read and write the same files, and `cargo insta
//! review` works on them.
//!
//! A scenario `scenarios/<dir>/<name>.yaml` has its snapshot at
//! `snapshots/<dir>/<name>.snap`: the trace text and the summary.

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
}
