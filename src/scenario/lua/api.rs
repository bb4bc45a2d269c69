//! The distlab functions a scenario script calls: `scenario`, `expect`,
//! `limits`, `at`, `after`, `every`, the faults, the commands and the hooks.

use mlua::{Lua, MultiValue, Table, Value};
use serde::Deserialize;

use super::OBSERVATION_KINDS;
use super::args::{duration, node, node_list, percent};
use super::data::{Data, Reader};
use super::errors::{describe, located, script_line};
use super::host::*;
use super::limits::{ReentryGuard, send_out};
use super::sandbox::{TOSTRING, escape_output};
use crate::algorithms::registry::{self, Algorithm};
use crate::engine::script::ScriptOut;
use crate::process::{Nanos, NodeId};
use crate::scenario::model::{Command, Expect, Nodes};
use crate::scenario::plan::Action;
use crate::scenario::units::{Dur, Latency};

/// Queues an action; only allowed while the scenario runs.
pub(super) fn act(lua: &Lua, name: &str, action: Action) -> LResult<()> {
    let running = with_host(lua, |h| h.running)?;
    if !running {
        return Err(located(lua, format!("{name}() acts on the running scenario: call it inside at(), after(), every() or a hook")));
    }
    send_out(lua, ScriptOut::Act(action))
}

/// Registers `f` as callback number `id` due at `time` (and every `period`).
pub(super) fn schedule(lua: &Lua, time: Nanos, f: mlua::Function, period: Option<Nanos>) -> LResult<()> {
    let id = with_host(lua, |h| {
        let id = h.next_id;
        h.next_id += 1;
        if let Some(p) = period {
            h.every.insert(id, p);
        }
        id
    })?;
    send_out(lua, ScriptOut::Schedule(time, id))?;
    let table: Table = lua.named_registry_value(CALLBACKS)?;
    table.raw_set(id, f)
}

pub(super) fn push_hook(lua: &Lua, key: &str, value: impl mlua::IntoLua) -> LResult<()> {
    let table: Table = lua.named_registry_value(key)?;
    table.raw_push(value)
}

/// Copies a table given to `scenario` or `expect` out of the interpreter,
/// within the memory limit: at most one value per 48 bytes of it (what a
/// copied value takes), and as many bytes of text.
fn read_data(lua: &Lua, v: &Value) -> Result<Data, String> {
    let memory = with_host(lua, |h| h.memory).map_err(|e| describe(&e))?;
    Reader::new(memory / 48, memory).read(v)
}

/// What `print` writes: each value as `tostring` gives it (deterministic,
/// see prelude.lua), control characters escaped, tabs between values.
fn print_text(lua: &Lua, args: MultiValue) -> LResult<String> {
    let tostring: mlua::Function = lua.named_registry_value(TOSTRING)?;
    let mut parts = Vec::new();
    for v in args {
        let text = match v {
            Value::String(s) => s.to_string_lossy(),
            other => {
                let _guard = ReentryGuard::enter(lua, "print")?;
                tostring.call::<mlua::LuaString>(other)?.to_string_lossy()
            }
        };
        parts.push(escape_output(&text));
    }
    Ok(parts.join("\t"))
}

/// `limits { instructions = n, memory_mb = m }`: lowers the script's limits;
/// the ceilings are the command line's (`--lua-instructions`, `--lua-memory`).
fn limits(lua: &Lua, t: Value) -> LResult<()> {
    let Value::Table(t) = t else {
        return Err(located(lua, "limits expects a table: limits { instructions = 1000000, memory_mb = 16 }"));
    };
    let ceiling = with_host(lua, |h| h.ceiling)?;
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let key = match &k {
            Value::String(s) => s.to_string_lossy(),
            other => return Err(located(lua, format!("limits: a key of type {}, expected instructions or memory_mb", other.type_name()))),
        };
        let n = match &v {
            Value::Integer(i) if *i >= 0 => *i as u64,
            Value::Number(f) if f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19 => *f as u64,
            other => {
                return Err(located(lua, format!("limits: {key} = {}: expected a whole number, 0 or more", describe_value(other))));
            }
        };
        match key.as_str() {
            "instructions" if n > ceiling.instructions => {
                return Err(located(
                    lua,
                    format!(
                        "limits: instructions = {n} is above the ceiling of {} (raise it with --lua-instructions)",
                        ceiling.instructions
                    ),
                ));
            }
            "instructions" => with_host(lua, |h| h.budget.limit.set(n))?,
            "memory_mb" if n == 0 || n > (ceiling.memory >> 20) as u64 => {
                return Err(located(
                    lua,
                    format!("limits: memory_mb = {n}: expected 1 to {} (the ceiling is set with --lua-memory)", ceiling.memory >> 20),
                ));
            }
            "memory_mb" => {
                let bytes = (n as usize) << 20;
                let room = with_host(lua, |h| {
                    h.memory = bytes;
                    bytes.saturating_sub(h.output).max(1)
                })?;
                lua.set_memory_limit(room)?;
            }
            other => return Err(located(lua, format!("limits: unknown limit \"{other}\", expected instructions or memory_mb"))),
        }
    }
    Ok(())
}

fn describe_value(v: &Value) -> String {
    match v {
        Value::Integer(i) => i.to_string(),
        Value::Number(f) => f.to_string(),
        Value::String(s) => format!("\"{}\"", s.to_string_lossy()),
        other => other.type_name().to_string(),
    }
}

/// Installs the API.
pub(super) fn install(lua: &Lua) -> LResult<()> {
    let g = lua.globals();
    lua.set_named_registry_value(CALLBACKS, lua.create_table()?)?;
    lua.set_named_registry_value(SEND_HOOKS, lua.create_table()?)?;
    lua.set_named_registry_value(DELIVER_HOOKS, lua.create_table()?)?;
    lua.set_named_registry_value(OBSERVE_HOOKS, lua.create_table()?)?;

    g.raw_set(
        "scenario",
        lua.create_function(|lua, t: Value| {
            let Value::Table(t) = t else {
                return Err(located(lua, "scenario expects a table: scenario { name = …, algorithm = …, nodes = … }"));
            };
            if with_host(lua, |h| h.scenario.is_some())? {
                return Err(located(lua, "scenario { … } is given twice"));
            }
            let data = read_data(lua, &Value::Table(t)).map_err(|e| located(lua, format!("scenario: {e}")))?;
            let algorithm = match data.get("algorithm") {
                Some(Data::Str(name)) => registry::find(name),
                _ => None,
            };
            let nodes: Vec<NodeId> = data.get("nodes").and_then(|n| Nodes::deserialize(n).ok()).map(|n| n.0).unwrap_or_default();
            let line = script_line(lua);
            with_host(lua, |h| {
                h.scenario = Some(data);
                h.scenario_line = line;
                h.algorithm = algorithm;
                h.set_nodes(nodes);
            })?;
            if let Some(a) = algorithm {
                define_commands(lua, a)?;
            }
            Ok(())
        })?,
    )?;
    g.raw_set(
        "expect",
        lua.create_function(|lua, t: Value| {
            let data = read_data(lua, &t).map_err(|e| located(lua, format!("expect: {e}")))?;
            Expect::deserialize(&data).map_err(|e| located(lua, format!("expect: {}", e.to_string().replace('`', "\""))))?;
            with_host(lua, |h| h.expect = Some(data))
        })?,
    )?;
    g.raw_set("limits", lua.create_function(limits)?)?;
    g.raw_set(
        "at",
        lua.create_function(|lua, (t, f): (Value, mlua::Function)| {
            let time = duration(lua, &t, "at")?;
            let now = with_host(lua, |h| h.now)?;
            if time < now {
                return Err(located(lua, format!("at({}): that time has passed (now {})", Dur(time), Dur(now))));
            }
            schedule(lua, time, f, None)
        })?,
    )?;
    g.raw_set(
        "after",
        lua.create_function(|lua, (d, f): (Value, mlua::Function)| {
            let d = duration(lua, &d, "after")?;
            let now = with_host(lua, |h| h.now)?;
            schedule(lua, now + d, f, None)
        })?,
    )?;
    g.raw_set(
        "every",
        lua.create_function(|lua, (d, f): (Value, mlua::Function)| {
            let d = duration(lua, &d, "every")?;
            if d == 0 {
                return Err(located(lua, "every(0): the period must be more than 0"));
            }
            let now = with_host(lua, |h| h.now)?;
            schedule(lua, now + d, f, Some(d))
        })?,
    )?;
    g.raw_set("now", lua.create_function(|lua, ()| with_host(lua, |h| h.now as f64 / 1e6))?)?;
    g.raw_set(
        "stop",
        lua.create_function(|lua, ()| {
            if !with_host(lua, |h| h.running)? {
                return Err(located(lua, "stop() ends the running scenario: call it inside at(), after(), every() or a hook"));
            }
            send_out(lua, ScriptOut::Stop)
        })?,
    )?;
    g.raw_set(
        "print",
        lua.create_function(|lua, args: MultiValue| {
            let text = print_text(lua, args)?;
            send_out(lua, ScriptOut::Act(Action::Note(text)))
        })?,
    )?;
    g.raw_set(
        "crash",
        lua.create_function(|lua, n: Value| {
            let list = node_list(lua, &n, "crash")?;
            act(lua, "crash", Action::Crash(list))
        })?,
    )?;
    g.raw_set(
        "recover",
        lua.create_function(|lua, n: Value| {
            let list = node_list(lua, &n, "recover")?;
            act(lua, "recover", Action::Recover(list))
        })?,
    )?;
    g.raw_set(
        "partition",
        lua.create_function(|lua, groups: MultiValue| {
            let mut out = Vec::new();
            for g in groups {
                out.push(node_list(lua, &g, "partition")?);
            }
            if out.is_empty() {
                return Err(located(lua, "partition({1, 2}, {3, 4}): give at least one group"));
            }
            act(lua, "partition", Action::Partition(out))
        })?,
    )?;
    g.raw_set(
        "partition_oneway",
        lua.create_function(|lua, (a, b): (Value, Value)| {
            let from = node_list(lua, &a, "partition_oneway")?;
            let to = node_list(lua, &b, "partition_oneway")?;
            act(lua, "partition_oneway", Action::Block { from, to })
        })?,
    )?;
    g.raw_set("heal", lua.create_function(|lua, ()| act(lua, "heal", Action::Heal))?)?;
    g.raw_set(
        "set_loss",
        lua.create_function(|lua, p: Value| {
            let p = percent(lua, &p, "set_loss")?;
            act(lua, "set_loss", Action::SetLoss(p))
        })?,
    )?;
    g.raw_set(
        "set_duplicate",
        lua.create_function(|lua, p: Value| {
            let p = percent(lua, &p, "set_duplicate")?;
            act(lua, "set_duplicate", Action::SetDuplicate(p))
        })?,
    )?;
    g.raw_set(
        "set_latency",
        lua.create_function(|lua, (a, b): (Value, Option<Value>)| {
            let lo = duration(lua, &a, "set_latency")?;
            let hi = match b {
                Some(b) => duration(lua, &b, "set_latency")?,
                None => lo,
            };
            if hi < lo {
                return Err(located(lua, format!("set_latency({}, {}): the range's end is below its start", Dur(lo), Dur(hi))));
            }
            act(lua, "set_latency", Action::SetLatency(Latency { lo, hi }))
        })?,
    )?;
    g.raw_set(
        "show_clocks",
        lua.create_function(|lua, heading: Option<String>| {
            act(lua, "show_clocks", Action::ShowClocks(heading.map_or_else(|| "Clocks:".into(), |h| escape_output(&h))))
        })?,
    )?;
    g.raw_set(
        "set_drift",
        lua.create_function(|lua, (n, ppm): (Value, f64)| {
            let node = node(lua, &n, "set_drift")?;
            if !ppm.is_finite() || ppm.abs() >= 1e6 {
                return Err(located(lua, format!("set_drift: {ppm} ppm is out of range: expected between -999999 and 999999")));
            }
            act(lua, "set_drift", Action::SetDrift { node, ppm })
        })?,
    )?;
    g.raw_set(
        "set_offset",
        lua.create_function(|lua, (n, d): (Value, Value)| {
            let node = node(lua, &n, "set_offset")?;
            let offset_ns = match &d {
                Value::String(s) => {
                    crate::scenario::units::parse_signed(&s.to_string_lossy()).map_err(|e| located(lua, format!("set_offset: {e}")))?
                }
                Value::Integer(i) => i.saturating_mul(1_000_000),
                Value::Number(f) if f.is_finite() => (f * 1e6).round() as i64,
                other => {
                    return Err(located(
                        lua,
                        format!("set_offset: expected an offset like \"+5s\" or a number of ms, found {}", other.type_name()),
                    ));
                }
            };
            act(lua, "set_offset", Action::SetOffset { node, offset_ns })
        })?,
    )?;
    g.raw_set(
        "on_send",
        lua.create_function(|lua, f: mlua::Function| {
            push_hook(lua, SEND_HOOKS, f)?;
            with_host(lua, |h| h.send_hooks += 1)
        })?,
    )?;
    g.raw_set(
        "on_deliver",
        lua.create_function(|lua, f: mlua::Function| {
            push_hook(lua, DELIVER_HOOKS, f)?;
            with_host(lua, |h| h.deliver_hooks += 1)
        })?,
    )?;
    g.raw_set(
        "on_observe",
        lua.create_function(|lua, (kind, f): (String, mlua::Function)| {
            let Some(canonical) = OBSERVATION_KINDS.iter().find(|k| k.eq_ignore_ascii_case(&kind)) else {
                return Err(located(
                    lua,
                    format!("on_observe(\"{kind}\"): unknown observation, expected one of {}", OBSERVATION_KINDS.join(", ")),
                ));
            };
            let entry = lua.create_table()?;
            entry.raw_set("kind", *canonical)?;
            entry.raw_set("fn", f)?;
            push_hook(lua, OBSERVE_HOOKS, entry)?;
            with_host(lua, |h| h.observe_hooks += 1)
        })?,
    )?;

    // Reading a global nobody defined is a mistake worth naming.
    let meta = lua.create_table()?;
    meta.raw_set(
        "__index",
        lua.create_function(|lua, (_, key): (Value, Value)| -> LResult<Value> {
            let name = match &key {
                Value::String(s) => s.to_string_lossy(),
                other => format!("{other:?}"),
            };
            if matches!(name.as_str(), "io" | "os" | "debug" | "package" | "require" | "dofile" | "loadfile" | "collectgarbage") {
                return Err(located(lua, format!("\"{name}\" is not available: scenario scripts run in a sandbox without files, processes, modules or the debug library")));
            }
            let commands = with_host(lua, |h| h.algorithm.map(|a| (a.name, a.commands.iter().map(|c| c.name).collect::<Vec<_>>())))?;
            let hint = match commands {
                Some((alg, cmds)) => format!("; {alg}'s commands are {}", cmds.join(", ")),
                None => String::new(),
            };
            Err(located(lua, format!("\"{name}\" is not defined: not a distlab function nor a command{hint}")))
        })?,
    )?;
    g.set_metatable(Some(meta))?;
    Ok(())
}

/// One global function per command of `a`: `request(1)`, `call(2, "sqrt", 16)`.
pub(super) fn define_commands(lua: &Lua, a: &'static Algorithm) -> LResult<()> {
    let g = lua.globals();
    for spec in a.commands {
        let name = spec.name;
        let arity = spec.args.len();
        g.raw_set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                let mut args = args.into_iter();
                let target = args.next().unwrap_or(Value::Nil);
                let n = node(lua, &target, name)?;
                let rest: Vec<String> = args
                    .map(|v| match v {
                        Value::String(s) => s.to_string_lossy(),
                        Value::Integer(i) => i.to_string(),
                        Value::Number(f) => f.to_string(),
                        Value::Boolean(b) => b.to_string(),
                        other => format!("<{}>", other.type_name()),
                    })
                    .collect();
                if rest.len() != arity {
                    let usage = std::iter::once(format!("{name}(node"))
                        .chain(spec_args(a, name).iter().map(|s| format!(", {s}")))
                        .collect::<String>();
                    return Err(located(lua, format!("{name} takes a node and {arity} argument(s): {usage})")));
                }
                if let Some(bad) = rest.iter().find(|a| a.chars().any(char::is_control)) {
                    // It would reach the trace as it is: a newline could forge trace lines.
                    return Err(located(
                        lua,
                        format!(
                            "{name}: the argument \"{}\" holds a control character: command arguments are text on one line",
                            escape_output(bad)
                        ),
                    ));
                }
                act(lua, name, Action::Command { node: n, command: Command { name: name.to_string(), args: rest } })
            })?,
        )?;
    }
    Ok(())
}

pub(super) fn spec_args(a: &Algorithm, name: &str) -> &'static [&'static str] {
    a.commands.iter().find(|c| c.name == name).map_or(&[], |c| c.args)
}
