//! `distlab test`: run every scenario, compare its trace with its snapshot,
//! print a diff on a mismatch; `--accept` writes new and changed snapshots.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use distlab::snapshot;

use crate::Outcome;

#[derive(Args)]
pub struct TestArgs {
    /// Scenario files or folders (default: scenarios).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Write the actual trace as the snapshot where it is missing or differs.
    #[arg(long)]
    pub accept: bool,
    #[command(flatten)]
    pub lua: super::run::LuaArgs,
    #[command(flatten)]
    pub wire: super::wire::WireArgs,
}

pub fn run(args: TestArgs) -> anyhow::Result<Outcome> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let paths = if args.paths.is_empty() { vec![PathBuf::from("scenarios")] } else { args.paths };
    let files = match distlab::scenario::discover(&paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("distlab test: {e}");
            return Ok(Outcome::BadInput);
        }
    };
    let (mut passed, mut failed, mut bad) = (0, 0, 0);
    for file in &files {
        let name = file.display();
        let mut plan =
            match distlab::scenario::load_with(file, &distlab::scenario::LoadOptions { lua: args.lua.limits(), ..Default::default() }) {
                Ok(p) => p,
                Err(e) => {
                    writeln!(out, "error {name}\n{e}")?;
                    bad += 1;
                    continue;
                }
            };
        args.wire.apply(&mut plan);
        let snap_path = match snapshot::snapshot_path(file) {
            Ok(p) => p,
            Err(e) => {
                writeln!(out, "error {e}")?;
                bad += 1;
                continue;
            }
        };
        let (actual, report) = match snapshot::trace_of(&plan) {
            Ok(r) => r,
            Err(e @ distlab::engine::RunError::Transport { .. }) => {
                writeln!(out, "FAIL  {name}\n      {e}")?;
                failed += 1;
                continue;
            }
            Err(e) => {
                writeln!(out, "error {name}\n{e}")?;
                bad += 1;
                continue;
            }
        };
        let stored = std::fs::read_to_string(&snap_path).ok().map(|t| snapshot::parse(&t));
        let mut problems = Vec::new();
        let mut write = false;
        match &stored {
            None if args.accept => write = true,
            None => problems.push(format!("no snapshot at {} (run `distlab test --accept` to write it)", snap_path.display())),
            Some(old) if snapshot::normalize(old) == snapshot::normalize(&actual) => {}
            Some(_) if args.accept => write = true,
            Some(old) => {
                if let Some(d) = snapshot::diff(old, &actual, &snap_path.display().to_string()) {
                    problems.push(format!("trace differs from {}:\n{d}", snap_path.display()));
                }
            }
        }
        if write {
            snapshot::write(&snap_path, &actual).map_err(|e| anyhow::anyhow!("{}: cannot write the snapshot: {e}", snap_path.display()))?;
        }
        for f in report.failures() {
            problems.push(format!("check failed: {} — {}", f.name, f.detail));
        }
        if problems.is_empty() {
            passed += 1;
            writeln!(out, "ok    {name}{}", if write { "  (snapshot written)" } else { "" })?;
        } else {
            failed += 1;
            writeln!(out, "FAIL  {name}")?;
            for p in problems {
                for line in p.lines() {
                    writeln!(out, "      {line}")?;
                }
            }
        }
    }
    for orphan in orphans(&paths, &files) {
        writeln!(out, "note  {} has no scenario any more (delete it, or restore its scenario)", orphan.display())?;
    }
    writeln!(out, "{passed} passed, {failed} failed{}", if bad > 0 { format!(", {bad} could not be loaded") } else { String::new() })?;
    Ok(if bad > 0 {
        Outcome::BadInput
    } else if failed > 0 {
        Outcome::Failed
    } else {
        Outcome::Ok
    })
}

/// Snapshots under the mirrored `snapshots/` folders of `paths` whose scenario
/// is gone.
fn orphans(paths: &[PathBuf], files: &[PathBuf]) -> Vec<PathBuf> {
    let expected: std::collections::BTreeSet<PathBuf> = files.iter().filter_map(|f| snapshot::snapshot_path(f).ok()).collect();
    let mut out = Vec::new();
    for p in paths.iter().filter(|p| p.is_dir()) {
        let Ok(dir) = snapshot::snapshot_path(&p.join("x")) else { continue };
        let Some(dir) = dir.parent() else { continue };
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else { continue };
            for e in entries.flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|x| x == "snap")
                    && !expected.contains(&path)
                    // Picture snapshots belong to tests/pictures, not to a scenario.
                    && !path.components().any(|c| c.as_os_str() == "pictures")
                {
                    out.push(path);
                }
            }
        }
    }
    out.sort();
    out
}
