//! A run's side of the script: the engine's [`Director`] over a fresh interpreter.
//!
//! Every call into the script is timed (the wall-clock limit counts the
//! script's time, not the engine's) and ends through `errors::settle`: once a
//! limit is reached, every later call fails with the first message.

use mlua::{Function, Lua, LuaSerdeExt, Table, Value};

use super::args::duration;
use super::errors::{Origin, settle};
use super::host::*;
use super::limits::Stopwatch;
use super::sandbox::interpreter;
use super::{LuaScript, run_top};
use crate::engine::script::{Director, MsgView, ObsView, ScriptOut, Verdict};
use crate::process::Nanos;

/// A run's view of the script: a fresh interpreter with its callbacks and hooks.
pub struct LuaDirector {
    lua: Lua,
    file: String,
}

impl LuaScript {
    /// Starts a fresh interpreter for one run with `seed`.
    pub fn director(&self, seed: u64) -> Result<Box<dyn Director>, String> {
        let lua = interpreter(&self.file, true, seed, self.limits)?;
        run_top(&lua, self)?;
        Ok(Box::new(LuaDirector { lua, file: self.file.clone() }))
    }
}

/// What a send or delivery hook answered.
fn verdict(lua: &Lua, file: &str, f: &Function, hook: &str, answer: Value) -> LResult<Option<Verdict>> {
    let line = f.info().line_defined.unwrap_or(0);
    Ok(Some(match answer {
        Value::Nil => return Ok(None),
        Value::String(s) if s.to_string_lossy() == "drop" => Verdict::Drop,
        Value::String(s) if s.to_string_lossy() == "duplicate" => Verdict::Duplicate,
        Value::Table(t) => {
            let d: Value = t.raw_get("delay")?;
            if d.is_nil() {
                return Err(mlua::Error::RuntimeError(format!(
                    "{file}:{line}: this {hook} hook returned a table without delay: expected {{ delay = \"3ms\" }}"
                )));
            }
            Verdict::Delay(duration(lua, &d, hook)?)
        }
        other => {
            let found = match other {
                Value::String(s) => format!("\"{}\"", s.to_string_lossy()),
                v => v.type_name().to_string(),
            };
            return Err(mlua::Error::RuntimeError(format!(
                "{file}:{line}: this {hook} hook returned {found}, expected \"drop\", \"duplicate\", {{ delay = \"3ms\" }} or nothing"
            )));
        }
    }))
}

impl LuaDirector {
    fn drain(&self) -> Result<Vec<ScriptOut>, String> {
        settle(&self.lua, with_host(&self.lua, |h| std::mem::take(&mut h.out)), None)
    }

    fn set_now(&self, now: Nanos) -> Result<(), String> {
        settle(&self.lua, with_host(&self.lua, |h| h.now = now), None)
    }

    fn msg_table(&self, m: &MsgView<'_>) -> LResult<Table> {
        let t = self.lua.create_table()?;
        t.raw_set("from", m.from)?;
        t.raw_set("to", m.to)?;
        t.raw_set("kind", m.kind)?;
        t.raw_set("text", m.text)?;
        t.raw_set("body", self.lua.to_value(&m.body)?)?;
        Ok(t)
    }

    /// Runs the hooks under `key` on `m`; the first that answers decides.
    fn message_hooks(&self, key: &str, now: Nanos, m: &MsgView<'_>, hook: &str) -> Result<(Verdict, Vec<ScriptOut>), String> {
        self.set_now(now)?;
        let _clock = Stopwatch::start(&self.lua);
        let hooks: Table = settle(&self.lua, self.lua.named_registry_value(key), None)?;
        let table = settle(&self.lua, self.msg_table(m), None)?;
        for f in hooks.sequence_values::<Function>() {
            let f = settle(&self.lua, f, None)?;
            let answer = settle(&self.lua, f.call::<Value>(table.clone()), Some(Origin { function: &f, what: hook }))?;
            let decided = verdict(&self.lua, &self.file, &f, hook, answer);
            if let Some(v) = settle(&self.lua, decided, Some(Origin { function: &f, what: hook }))? {
                return Ok((v, self.drain()?));
            }
        }
        Ok((Verdict::Pass, self.drain()?))
    }
}

impl Director for LuaDirector {
    fn start(&mut self) -> Result<Vec<ScriptOut>, String> {
        self.drain()
    }

    fn fire(&mut self, now: Nanos, id: u32) -> Result<Vec<ScriptOut>, String> {
        self.set_now(now)?;
        let _clock = Stopwatch::start(&self.lua);
        let table: Table = settle(&self.lua, self.lua.named_registry_value(CALLBACKS), None)?;
        let f: Function = settle(&self.lua, table.raw_get(id), None)?;
        settle(&self.lua, f.call::<()>(()), Some(Origin { function: &f, what: "callback" }))?;
        let mut out = self.drain()?;
        if let Some(p) = settle(&self.lua, with_host(&self.lua, |h| h.every.get(&id).copied()), None)? {
            out.push(ScriptOut::Schedule(now + p, id));
        }
        Ok(out)
    }

    fn wants_sends(&self) -> bool {
        with_host(&self.lua, |h| h.send_hooks > 0).unwrap_or(false)
    }
    fn wants_deliveries(&self) -> bool {
        with_host(&self.lua, |h| h.deliver_hooks > 0).unwrap_or(false)
    }
    fn wants_observations(&self) -> bool {
        with_host(&self.lua, |h| h.observe_hooks > 0).unwrap_or(false)
    }

    fn on_send(&mut self, now: Nanos, msg: &MsgView<'_>) -> Result<(Verdict, Vec<ScriptOut>), String> {
        self.message_hooks(SEND_HOOKS, now, msg, "on_send")
    }

    fn on_deliver(&mut self, now: Nanos, msg: &MsgView<'_>) -> Result<(Verdict, Vec<ScriptOut>), String> {
        self.message_hooks(DELIVER_HOOKS, now, msg, "on_deliver")
    }

    fn on_observe(&mut self, now: Nanos, obs: &ObsView<'_>) -> Result<Vec<ScriptOut>, String> {
        self.set_now(now)?;
        let _clock = Stopwatch::start(&self.lua);
        let hooks: Table = settle(&self.lua, self.lua.named_registry_value(OBSERVE_HOOKS), None)?;
        let mut table = None;
        for entry in hooks.sequence_values::<Table>() {
            let entry = settle(&self.lua, entry, None)?;
            let kind: String = settle(&self.lua, entry.raw_get("kind"), None)?;
            if kind != obs.kind {
                continue;
            }
            let t = match &table {
                Some(t) => t,
                None => table.insert(settle(&self.lua, self.obs_table(obs), None)?),
            };
            let f: Function = settle(&self.lua, entry.raw_get("fn"), None)?;
            settle(&self.lua, f.call::<()>(t.clone()), Some(Origin { function: &f, what: "on_observe" }))?;
        }
        self.drain()
    }
}

impl LuaDirector {
    fn obs_table(&self, obs: &ObsView<'_>) -> LResult<Table> {
        let t = self.lua.create_table()?;
        t.raw_set("node", obs.node)?;
        t.raw_set("kind", obs.kind)?;
        t.raw_set("tag", obs.tag)?;
        t.raw_set("text", obs.text)?;
        t.raw_set("value", self.lua.to_value(&obs.value)?)?;
        Ok(t)
    }
}
