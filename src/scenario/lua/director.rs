//! A run's side of the script: the engine's [`Director`] over a fresh interpreter.

use mlua::{Lua, LuaSerdeExt, Table, Value};

use super::args::duration;
use super::host::*;
use super::sandbox::interpreter;
use super::{DEFAULT_MEMORY, LuaScript, run_top};
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
        let lua = interpreter(&self.file, true, seed)?;
        run_top(&lua, self)?;
        Ok(Box::new(LuaDirector { lua, file: self.file.clone() }))
    }
}

impl LuaDirector {
    fn memory(&self) -> usize {
        with_host(&self.lua, |h| h.memory).unwrap_or(DEFAULT_MEMORY)
    }

    fn drain(&self) -> Result<Vec<ScriptOut>, String> {
        with_host(&self.lua, |h| std::mem::take(&mut h.out)).map_err(|e| describe(&e))
    }

    fn set_now(&self, now: Nanos) -> Result<(), String> {
        with_host(&self.lua, |h| h.now = now).map_err(|e| describe(&e))
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
        let run = || -> LResult<Verdict> {
            let hooks: Table = self.lua.named_registry_value(key)?;
            let table = self.msg_table(m)?;
            for f in hooks.sequence_values::<mlua::Function>() {
                let f = f?;
                let line = f.info().line_defined.unwrap_or(0);
                let answer: Value =
                    f.call(table.clone()).map_err(|e| mlua::Error::RuntimeError(in_function(&self.file, &f, hook, &e, self.memory())))?;
                match answer {
                    Value::Nil => continue,
                    Value::String(s) if s.to_string_lossy() == "drop" => return Ok(Verdict::Drop),
                    Value::String(s) if s.to_string_lossy() == "duplicate" => return Ok(Verdict::Duplicate),
                    Value::Table(t) => {
                        let d: Value = t.get("delay")?;
                        if d.is_nil() {
                            return Err(mlua::Error::RuntimeError(format!(
                                "{}:{line}: this {hook} hook returned a table without delay: expected {{ delay = \"3ms\" }}",
                                self.file
                            )));
                        }
                        return duration(&self.lua, &d, hook).map(Verdict::Delay);
                    }
                    other => {
                        return Err(mlua::Error::RuntimeError(format!(
                            "{}:{line}: this {hook} hook returned {}, expected \"drop\", \"duplicate\", {{ delay = \"3ms\" }} or nothing",
                            self.file,
                            match other {
                                Value::String(s) => format!("\"{}\"", s.to_string_lossy()),
                                v => v.type_name().to_string(),
                            }
                        )));
                    }
                }
            }
            Ok(Verdict::Pass)
        };
        let verdict = run().map_err(|e| describe(&e))?;
        Ok((verdict, self.drain()?))
    }
}

impl Director for LuaDirector {
    fn start(&mut self) -> Result<Vec<ScriptOut>, String> {
        self.drain()
    }

    fn fire(&mut self, now: Nanos, id: u32) -> Result<Vec<ScriptOut>, String> {
        self.set_now(now)?;
        let table: Table = self.lua.named_registry_value(CALLBACKS).map_err(|e| describe(&e))?;
        let f: mlua::Function = table.raw_get(id).map_err(|e| describe(&e))?;
        let memory = self.memory();
        f.call::<()>(()).map_err(|e| in_function(&self.file, &f, "callback", &e, memory))?;
        let mut out = self.drain()?;
        if let Some(p) = with_host(&self.lua, |h| h.every.get(&id).copied()).map_err(|e| describe(&e))? {
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
        let run = || -> LResult<()> {
            let hooks: Table = self.lua.named_registry_value(OBSERVE_HOOKS)?;
            let mut table = None;
            for entry in hooks.sequence_values::<Table>() {
                let entry = entry?;
                let kind: String = entry.raw_get("kind")?;
                if kind != obs.kind {
                    continue;
                }
                let t = match &table {
                    Some(t) => t,
                    None => {
                        let t = self.lua.create_table()?;
                        t.raw_set("node", obs.node)?;
                        t.raw_set("kind", obs.kind)?;
                        t.raw_set("tag", obs.tag)?;
                        t.raw_set("text", obs.text)?;
                        t.raw_set("value", self.lua.to_value(&obs.value)?)?;
                        table.insert(t)
                    }
                };
                let f: mlua::Function = entry.raw_get("fn")?;
                f.call::<()>(t.clone())
                    .map_err(|e| mlua::Error::RuntimeError(in_function(&self.file, &f, "on_observe", &e, self.memory())))?;
            }
            Ok(())
        };
        run().map_err(|e| describe(&e))?;
        self.drain()
    }
}
