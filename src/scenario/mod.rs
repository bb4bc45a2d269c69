//! Scenario files: the model (serde), its units, the YAML front end, and the
//! validation that turns a parsed file into the runner's [`Plan`].

pub mod budget;
pub mod error;
pub mod lua;
pub mod model;
pub mod plan;
pub mod positions;
pub mod units;
pub mod validate;
pub mod yaml;

use std::path::Path;

pub use error::{Diagnostic, LoadError};
pub use model::{Command, Scenario};
pub use plan::{Action, Plan};

/// The limits a scenario is loaded under, so that a hostile file cannot make
/// the run exhaust the machine.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// A plan whose estimated memory is above this is refused (`--max-memory`).
    pub max_memory: budget::MemoryLimit,
    /// The ceilings a Lua script runs under (`--lua-instructions`, …).
    pub lua: lua::LuaLimits,
}

/// Loads a scenario file by extension (`.yaml`/`.yml`, `.lua`), with the
/// default [`LoadOptions`].
pub fn load(path: &Path) -> Result<Plan, LoadError> {
    load_with(path, &LoadOptions::default())
}

/// Loads a scenario file by extension (`.yaml`/`.yml`, `.lua`).
pub fn load_with(path: &Path, opts: &LoadOptions) -> Result<Plan, LoadError> {
    let file = path.display().to_string();
    let unlocated = |message: String| LoadError::from(Diagnostic { file: file.clone(), line: None, col: None, message });
    if path.is_dir() {
        return Err(unlocated(
            "is a folder, expected a scenario file (.yaml, .yml or .lua); `distlab test FOLDER` runs every scenario in a folder".into(),
        ));
    }
    if !path.exists() {
        return Err(unlocated("no such file".into()));
    }
    let is_lua = match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml") => false,
        Some("lua") => true,
        other => {
            return Err(unlocated(format!(
                "unsupported scenario type {}: expected a .yaml, .yml or .lua file",
                other.map_or("(no extension)".to_string(), |e| format!(".{e}"))
            )));
        }
    };
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io { file: file.clone(), source })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = std::str::from_utf8(&e.as_bytes()[..e.utf8_error().valid_up_to()]).unwrap_or_default();
        let line = valid.matches('\n').count() + 1;
        let col = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        LoadError::from(Diagnostic {
            file: file.clone(),
            line: Some(line),
            col: Some(col),
            message: "the file is not UTF-8 text: expected a scenario saved as UTF-8".into(),
        })
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if !is_lua {
        return yaml::load_str_with(&file, text, opts);
    }
    let plan = lua::load_str_with(&file, text, opts.lua)?;
    match budget::over_limit(plan.algorithm, &plan.nodes, opts.max_memory) {
        None => Ok(plan),
        // The Lua front end keeps no positions: point at the first `nodes =`.
        Some(message) => {
            let at = text.lines().enumerate().find_map(|(n, l)| {
                let col = l.find("nodes")?;
                l[col + "nodes".len()..].trim_start().starts_with('=').then(|| (n + 1, l[..col].chars().count() + 1))
            });
            Err(LoadError::from(Diagnostic { file, line: at.map(|a| a.0), col: at.map(|a| a.1), message: format!("nodes: {message}") }))
        }
    }
}

/// The scenario files named by `paths`: files as given, folders searched
/// recursively for `.yaml`/`.yml`/`.lua`, in sorted order.
pub fn discover(paths: &[std::path::PathBuf]) -> std::io::Result<Vec<std::path::PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out)?;
            } else if is_scenario(&p) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(std::io::Error::new(std::io::ErrorKind::NotFound, format!("{}: no such file or folder", p.display())));
        }
    }
    Ok(out)
}

/// True for the file types `discover` picks up.
pub fn is_scenario(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "lua"))
}
