//! The Lua front end: a `.lua` scenario declares the same scenario as a YAML
//! file (`scenario { … }`, `expect { … }`; tables read as the model's types
//! ask, so a table keyed by node ids is a map, see [`data`]) and schedules
//! with logic: `at`, `after`, `every`, hooks on sends, deliveries and
//! observations. Lua never implements a protocol; it tells the runner what to
//! do and when.
//!
//! The script runs twice: once when the file is loaded, to read the
//! declaration and validate it like YAML; then in a fresh interpreter for each
//! run, where its callbacks and hooks drive the runner through the engine's
//! [`Director`](crate::engine::script::Director) trait.
//!
//! Sandbox (`sandbox.rs`, `prelude.lua`): only the `string`, `table`, `math`,
//! `utf8` and `coroutine` libraries; no `io`, `os`, `debug`, `require`,
//! `dofile`, `loadfile` or `collectgarbage`; `load` takes text only and
//! `string.dump` is gone. [`LuaLimits`] — instructions, memory (what the
//! script prints included), wall-clock time — stop a runaway script with a
//! located error; they hold in coroutines, through `pcall`, in long C calls
//! (`limits.rs`, `strlib.rs`), and `limits { … }` may only lower them.
//! Runs are deterministic: `math.random` is seeded from the scenario seed,
//! `tostring` gives no addresses, `pairs` and `next` a fixed order. What the
//! script prints reaches the trace on one line, control characters escaped.
//! Every error reads `file:line: message` (`errors.rs`).

mod api;
mod args;
pub mod data;
mod director;
mod errors;
mod host;
mod limits;
mod pattern;
mod sandbox;
mod strlib;

use std::sync::Arc;
use std::time::Duration;

use mlua::Lua;

use super::error::{Diagnostic, LoadError};
use serde::Deserialize;

use super::model::{Expect, Scenario};
use super::plan::Plan;
use super::validate::validate;
use crate::algorithms::registry;
use errors::{chunk_name, diagnostic, settle};
use host::Host;
use sandbox::interpreter;

pub use data::{Data, params_from_lua};
pub use director::LuaDirector;

/// Default instruction budget for one run of a script.
pub const DEFAULT_INSTRUCTIONS: u64 = 200_000_000;
/// Default memory cap of the interpreter (with what the script prints).
pub const DEFAULT_MEMORY: usize = 64 << 20;
/// Default wall-clock limit of the time a script runs, per run.
pub const DEFAULT_TIME: Duration = Duration::from_secs(30);

/// The limits of a script, set on the command line (`--lua-instructions`,
/// `--lua-memory`, `--lua-timeout`); `limits { … }` in the script may lower
/// the first two, never raise them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LuaLimits {
    /// Instructions per run (the loading of the file counts on its own).
    pub instructions: u64,
    /// Bytes of the interpreter's memory and of the script's output together.
    pub memory: usize,
    /// Wall-clock time spent in the script, per run.
    pub time: Duration,
}

impl Default for LuaLimits {
    fn default() -> LuaLimits {
        LuaLimits { instructions: DEFAULT_INSTRUCTIONS, memory: DEFAULT_MEMORY, time: DEFAULT_TIME }
    }
}

/// The observation kinds `on_observe` accepts, as `Observation` names them.
pub const OBSERVATION_KINDS: &[&str] = &[
    "ElectionStarted",
    "Elected",
    "Leader",
    "Suspects",
    "Request",
    "EnterCs",
    "ExitCs",
    "Clock",
    "ClockAdjusted",
    "Synced",
    "Logical",
    "Note",
    "JobSubmitted",
    "Assigned",
    "JobDone",
    "JobExecuted",
    "Table",
    "CallStarted",
    "Executed",
    "CallReturned",
    "CallFailed",
    "Multicast",
    "Delivered",
];

/// A Lua scenario's source, kept in the plan so each run can start afresh.
#[derive(Clone, Debug)]
pub struct LuaScript {
    pub file: String,
    pub text: String,
    pub limits: LuaLimits,
}

/// Runs the script's top level in `lua`.
fn run_top(lua: &Lua, script: &LuaScript) -> Result<(), String> {
    let _clock = limits::Stopwatch::start(lua);
    let chunk = lua.load(&script.text).set_name(format!("={}", chunk_name(&script.file))).set_mode(mlua::chunk::ChunkMode::Text);
    settle(lua, chunk.exec(), None)
}

/// Reads a Lua scenario's declaration and validates it into a plan, with the
/// default limits.
pub fn load_str(file: &str, text: &str) -> Result<Plan, LoadError> {
    load_str_with(file, text, LuaLimits::default())
}

/// Reads a Lua scenario's declaration and validates it into a plan; the
/// script runs within `limits` here and in every run of the plan.
pub fn load_str_with(file: &str, text: &str, limits: LuaLimits) -> Result<Plan, LoadError> {
    let script = LuaScript { file: file.to_string(), text: text.to_string(), limits };
    let fail = |msg: String| LoadError::from(diagnostic(file, &msg));
    let lua = interpreter(file, false, 0, limits).map_err(fail)?;
    run_top(&lua, &script).map_err(fail)?;
    let (declared, line, expect) = {
        let mut h = lua.app_data_mut::<Host>().ok_or_else(|| fail("distlab: no host".into()))?;
        (h.scenario.take(), h.scenario_line, h.expect.take())
    };
    let at = |message: String| LoadError::from(Diagnostic { file: file.to_string(), line: Some(line), col: None, message });
    let Some(mut data) = declared else {
        return Err(LoadError::from(Diagnostic {
            file: file.to_string(),
            line: None,
            col: None,
            message: "no scenario { … }: a Lua scenario declares its name, algorithm and nodes with scenario { … }".into(),
        }));
    };
    let params = data.take("params");
    if expect.is_some() && data.get("expect").is_some() {
        return Err(at("expect is given both inside scenario { … } and as expect { … }: keep one".into()));
    }
    let serde_message = |e: data::DataError| e.to_string().replace('`', "\"");
    let mut scenario = Scenario::deserialize(&data).map_err(|e| at(format!("scenario: {}", serde_message(e))))?;
    if let Some(e) = expect {
        scenario.expect = Expect::deserialize(&e).map_err(|e| at(format!("expect: {}", serde_message(e))))?;
    }
    if let Some(p) = params {
        scenario.params = match registry::find(&scenario.algorithm) {
            Some(a) => (a.lua_params)(&p),
            None => p.to_yaml(),
        };
    }
    let mut plan = validate(&scenario).map_err(|problems| {
        LoadError::new(
            problems
                .into_iter()
                .map(|p| Diagnostic { file: file.to_string(), line: Some(line), col: None, message: format!("scenario: {p}") })
                .collect(),
        )
    })?;
    plan.script = Some(Arc::new(script));
    Ok(plan)
}
