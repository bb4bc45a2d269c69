//! A fresh sandboxed interpreter: the libraries a script may use, the
//! replacements that keep it inside its limits and deterministic, the API.
//!
//! Only `string`, `table`, `math`, `utf8` and `coroutine` are opened; `io`,
//! `os`, `debug`, `package`, `require`, `dofile`, `loadfile` and
//! `collectgarbage` are absent, `load` takes text only and `string.dump` is
//! gone. `prelude.lua` replaces what would run unhooked or differ from run
//! to run; `strlib.rs` what would run for long inside one C call.

use mlua::chunk::ChunkMode;
use mlua::{Lua, LuaOptions, StdLib, Table, Value};

use super::LuaLimits;
use super::api;
use super::errors::{describe, located};
use super::host::{Host, LResult};
use super::limits::{install_hook, tripped};
use super::strlib;

/// The sandbox's Lua side.
const PRELUDE: &str = include_str!("prelude.lua");
/// Where the prelude keeps the deterministic `tostring` for `print`.
pub(super) const TOSTRING: &str = "distlab.tostring";

/// A fresh sandboxed interpreter with the distlab API, the script not yet run.
pub(super) fn interpreter(file: &str, running: bool, seed: u64, limits: LuaLimits) -> Result<Lua, String> {
    let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::UTF8 | StdLib::COROUTINE;
    let lua = Lua::new_with(libs, LuaOptions::default()).map_err(|e| describe(&e))?;
    lua.set_app_data(Host::new(file, running, limits));
    install(&lua, seed).map_err(|e| describe(&e))?;
    lua.set_memory_limit(limits.memory.max(1)).map_err(|e| describe(&e))?;
    let budget = lua.app_data_ref::<Host>().map(|h| h.budget.clone()).ok_or("distlab: no host")?;
    install_hook(&lua, &budget).map_err(|e| describe(&e))?;
    Ok(lua)
}

fn install(lua: &Lua, seed: u64) -> LResult<()> {
    let g = lua.globals();
    for name in ["dofile", "loadfile", "require", "collectgarbage"] {
        g.raw_set(name, Value::Nil)?;
    }
    let string: Table = g.raw_get("string")?;
    string.raw_set("dump", Value::Nil)?;
    let raw_load: mlua::Function = g.raw_get("load")?;
    g.raw_set(
        "load",
        lua.create_function(move |_, (chunk, name, _mode, env): (Value, Value, Value, Value)| {
            raw_load.call::<mlua::MultiValue>((chunk, name, "t", env))
        })?,
    )?;
    strlib::install(lua)?;
    prelude(lua, seed)?;
    api::install(lua)
}

/// Runs `prelude.lua`, compiled without line information (so that its errors
/// are located at the script's line that called it), with its Rust helpers.
fn prelude(lua: &Lua, seed: u64) -> LResult<()> {
    let helpers = lua.create_table()?;
    helpers.raw_set(
        "metafield",
        lua.create_function(|_, (v, name): (Value, mlua::LuaString)| match v {
            Value::Table(t) => t.metatable().map_or(Ok(Value::Nil), |m| m.raw_get::<Value>(name)),
            _ => Ok(Value::Nil),
        })?,
    )?;
    helpers.raw_set("tripped", lua.create_function(|lua, ()| Ok(tripped(lua)))?)?;
    helpers.raw_set(
        "conversions",
        lua.create_function(|lua, fmt: Value| match fmt {
            Value::String(s) => Ok(conversions(&s.as_bytes())),
            Value::Integer(_) | Value::Number(_) => Ok(String::new()),
            other => Err(located(lua, format!("bad argument #1 to 'format' (string expected, got {})", other.type_name()))),
        })?,
    )?;
    helpers.raw_set("seed", seed as i64)?;
    let source = lua.load(PRELUDE).set_name("=distlab:sandbox").into_function()?;
    let stripped = source.dump(true);
    lua.load(&stripped[..]).set_mode(ChunkMode::Binary).set_name("=distlab:sandbox").call::<()>(helpers)?;
    let tostring: mlua::Function = lua.globals().raw_get("tostring")?;
    lua.set_named_registry_value(TOSTRING, tostring)
}

/// The conversion letters of a `string.format` format, one per argument.
fn conversions(fmt: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < fmt.len() {
        if fmt[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        if fmt.get(i) == Some(&b'%') {
            i += 1;
            continue;
        }
        while i < fmt.len() && (b"-+ #0.".contains(&fmt[i]) || fmt[i].is_ascii_digit()) {
            i += 1;
        }
        if let Some(&c) = fmt.get(i) {
            out.push(char::from(c));
            i += 1;
        }
    }
    out
}

/// The line of script text a print becomes: tabs between the values, and no
/// control character (a newline would let a script forge trace lines, an
/// escape sequence would reach the terminal): they are written as `\n`,
/// `\t`, `\r` or `\u{1b}`.
pub(super) fn escape_output(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}
