//! Snapshot tests: every scenario under scenarios/ runs, and its trace text
//! and summary must equal snapshots/<same path>.snap (insta's format, the same
//! files `distlab test` reads). Every scenario's checks must also pass.
//!
//! Review changes with `cargo insta review` or `distlab test --accept`.

use std::path::Path;

use distlab::scenario;
use distlab::snapshot::{snapshot_path, trace_of};

#[test]
fn every_scenario_matches_its_snapshot() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = scenario::discover(&[root.join("scenarios")]).expect("scenarios/ is readable");
    assert!(files.len() >= 8, "expected at least 8 scenarios, found {}", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(root).unwrap_or(file).display().to_string();
        let plan = match scenario::load(file) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{rel}: does not load:\n{e}"));
                continue;
            }
        };
        let (trace, report) = trace_of(&plan).expect("the run writes to memory");
        if !report.passed() {
            let names: Vec<String> = report.failures().map(|f| format!("{} ({})", f.name, f.detail)).collect();
            failures.push(format!("{rel}: checks failed: {}", names.join("; ")));
        }
        let snap = snapshot_path(file).expect("scenarios live under scenarios/");
        let dir = snap.parent().expect("a snapshot has a folder").to_path_buf();
        let name = snap.file_stem().expect("a snapshot has a name").to_string_lossy().into_owned();
        let outcome = std::panic::catch_unwind(|| {
            insta::with_settings!({ snapshot_path => dir, prepend_module_to_snapshot => false }, {
                insta::assert_snapshot!(name, trace);
            });
        });
        if outcome.is_err() {
            failures.push(format!("{rel}: trace differs from {}", snap.display()));
        }
    }
    assert!(failures.is_empty(), "{} of {} scenarios failed:\n{}", failures.len(), files.len(), failures.join("\n"));
}
