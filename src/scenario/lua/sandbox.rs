//! A fresh sandboxed interpreter: the libraries a script may use, its limits.

use std::collections::BTreeMap;

use mlua::{HookTriggers, Lua, LuaOptions, StdLib, VmState};

use super::api::install;
use super::host::*;
use super::{DEFAULT_INSTRUCTIONS, DEFAULT_MEMORY};

/// A fresh sandboxed interpreter with the distlab API, the script not yet run.
pub(super) fn interpreter(file: &str, running: bool, seed: u64) -> Result<Lua, String> {
    let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::UTF8 | StdLib::COROUTINE;
    let lua = Lua::new_with(libs, LuaOptions::default()).map_err(|e| describe(&e))?;
    lua.set_app_data(Host {
        file: file.to_string(),
        running,
        scenario: None,
        scenario_line: 0,
        expect: None,
        algorithm: None,
        nodes: Vec::new(),
        node_set: Default::default(),
        now: 0,
        out: Vec::new(),
        next_id: 0,
        every: BTreeMap::new(),
        send_hooks: 0,
        deliver_hooks: 0,
        observe_hooks: 0,
        instructions: 0,
        budget: DEFAULT_INSTRUCTIONS,
        memory: DEFAULT_MEMORY,
    });
    install(&lua, seed).map_err(|e| describe(&e))?;
    lua.set_memory_limit(DEFAULT_MEMORY).map_err(|e| describe(&e))?;
    lua.set_hook(HookTriggers::new().every_nth_instruction(1000), |lua, debug| {
        let (used, budget) = with_host(lua, |h| {
            h.instructions += 1000;
            (h.instructions, h.budget)
        })?;
        if used > budget {
            let src = debug.source();
            let file = src.short_src.map(|s| s.to_string()).unwrap_or_default();
            let line = debug.current_line().unwrap_or(0);
            return Err(mlua::Error::RuntimeError(format!(
                "{file}:{line}: the script used up its instruction budget ({budget} instructions): an endless loop? (raise it with limits {{ instructions = … }})"
            )));
        }
        Ok(VmState::Continue)
    })
    .map_err(|e| describe(&e))?;
    Ok(lua)
}
