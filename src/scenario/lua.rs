//! The Lua front end: a `.lua` scenario declares the same scenario as a YAML
//! file (`scenario { … }`, `expect { … }`) and schedules with logic: `at`,
//! `after`, `every`, hooks on sends, deliveries and observations. Lua never
//! implements a protocol; it tells the runner what to do and when.
//!
//! The script runs twice: once when the file is loaded, to read the
//! declaration and validate it like YAML; then in a fresh interpreter for each
//! run, where its callbacks and hooks drive the runner through the engine's
//! [`Director`] trait. Both runs see the same seed, so they agree.
//!
//! Sandbox: only the `string`, `table`, `math`, `utf8` and `coroutine`
//! libraries; no `io`, `os`, `debug`, `require`, `dofile` or `loadfile`;
//! `load` takes text only and `string.dump` is gone. An instruction budget and
//! a memory cap stop runaway scripts with a located error. `math.random` is
//! seeded from the scenario seed. Every error reads `file:line: message`.

use std::collections::BTreeMap;
use std::sync::Arc;

use mlua::{HookTriggers, Lua, LuaOptions, LuaSerdeExt, MultiValue, StdLib, Table, Value, VmState};

use super::error::{Diagnostic, LoadError};
use super::model::{Command, Expect, Scenario};
use super::plan::{Action, Plan};
use super::units::{Dur, Latency, Percent};
use super::validate::{describe_ids, validate};
use crate::algorithms::registry::{self, Algorithm};
use crate::engine::script::{Director, MsgView, ObsView, ScriptOut, Verdict};
use crate::process::{Nanos, NodeId};

/// Default instruction budget for one run of a script.
pub const DEFAULT_INSTRUCTIONS: u64 = 200_000_000;
/// Default memory cap of the interpreter.
pub const DEFAULT_MEMORY: usize = 64 << 20;

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
}

/// What the API functions share, stored as the interpreter's app data.
struct Host {
    file: String,
    /// False while the file is being read for its declaration.
    running: bool,
    scenario: Option<serde_json::Value>,
    scenario_line: usize,
    expect: Option<serde_json::Value>,
    algorithm: Option<&'static Algorithm>,
    nodes: Vec<NodeId>,
    now: Nanos,
    out: Vec<ScriptOut>,
    next_id: u32,
    every: BTreeMap<u32, Nanos>,
    send_hooks: usize,
    deliver_hooks: usize,
    observe_hooks: usize,
    instructions: u64,
    budget: u64,
    memory: usize,
}

const CALLBACKS: &str = "distlab.callbacks";
const SEND_HOOKS: &str = "distlab.send_hooks";
const DELIVER_HOOKS: &str = "distlab.deliver_hooks";
const OBSERVE_HOOKS: &str = "distlab.observe_hooks";

type LResult<T> = mlua::Result<T>;

/// The line of the Lua code that called the running Rust function.
fn caller_line(lua: &Lua) -> usize {
    lua.inspect_stack(1, |d| d.current_line()).flatten().unwrap_or(0)
}

/// An error located at the calling Lua line: `file:line: message`.
fn located(lua: &Lua, message: impl std::fmt::Display) -> mlua::Error {
    let file = lua.app_data_ref::<Host>().map(|h| h.file.clone()).unwrap_or_default();
    mlua::Error::RuntimeError(format!("{file}:{}: {message}", caller_line(lua)))
}

/// The message of a Lua error, without mlua's wrapping and tracebacks.
fn describe(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::MemoryError(_) => "the script went over its memory limit".to_string(),
        mlua::Error::CallbackError { cause, .. } => describe(cause),
        mlua::Error::WithContext { cause, .. } => describe(cause),
        other => other.to_string(),
    }
}

/// Names where a failing callback or hook was defined when the error itself
/// carries no location (memory exhaustion, a wrong return value).
fn in_function(file: &str, f: &mlua::Function, what: &str, e: &mlua::Error, memory: usize) -> String {
    let message = match e {
        mlua::Error::MemoryError(_) => format!("the script went over its memory limit of {} MiB", memory >> 20),
        other => describe(other),
    };
    if message.starts_with(&format!("{file}:")) {
        return message;
    }
    let line = f.info().line_defined.unwrap_or(0);
    format!("{file}:{line}: {message} (in the {what} defined here)")
}

/// A Lua value as JSON: a table with keys 1..n is an array, any other table
/// an object whose keys are written as text (`{[2] = "+10s"}` gives `{"2": "+10s"}`).
fn to_json(v: &Value) -> Result<serde_json::Value, String> {
    Ok(match v {
        Value::Nil => serde_json::Value::Null,
        Value::Boolean(b) => serde_json::Value::Bool(*b),
        Value::Integer(i) => serde_json::Value::from(*i),
        Value::Number(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::String(s) => serde_json::Value::String(s.to_string_lossy()),
        Value::Table(t) => {
            let len = t.raw_len();
            let pairs: Vec<(Value, Value)> = t.pairs::<Value, Value>().collect::<mlua::Result<_>>().map_err(|e| describe(&e))?;
            let is_array =
                pairs.len() == len && pairs.iter().all(|(k, _)| matches!(k, Value::Integer(i) if *i >= 1 && (*i as usize) <= len));
            if is_array && len > 0 {
                let mut items = vec![serde_json::Value::Null; len];
                for (k, v) in &pairs {
                    if let Value::Integer(i) = k {
                        items[*i as usize - 1] = to_json(v)?;
                    }
                }
                serde_json::Value::Array(items)
            } else {
                let mut map = serde_json::Map::new();
                for (k, v) in &pairs {
                    let key = match k {
                        Value::String(s) => s.to_string_lossy(),
                        Value::Integer(i) => i.to_string(),
                        Value::Number(f) => f.to_string(),
                        other => return Err(format!("a table key of type {} cannot be a scenario key", other.type_name())),
                    };
                    map.insert(key, to_json(v)?);
                }
                serde_json::Value::Object(map)
            }
        }
        other => return Err(format!("a {} cannot be part of a scenario", other.type_name())),
    })
}

/// Splits `file:line: message` into a diagnostic.
fn diagnostic(file: &str, text: &str) -> Diagnostic {
    let first = text.lines().next().unwrap_or(text);
    if let Some(rest) = first.strip_prefix(file).and_then(|r| r.strip_prefix(':'))
        && let Some((line, msg)) = rest.split_once(':')
        && let Ok(line) = line.trim().parse::<usize>()
    {
        return Diagnostic { file: file.to_string(), line: Some(line), col: None, message: msg.trim().to_string() };
    }
    Diagnostic { file: file.to_string(), line: None, col: None, message: first.to_string() }
}

/// A time or duration argument: a string with a unit, or a number of ms.
fn duration(lua: &Lua, v: &Value, what: &str) -> LResult<Nanos> {
    match v {
        Value::String(s) => Dur::parse(&s.to_string_lossy()).map(|d| d.0).map_err(|e| located(lua, format!("{what}: {e}"))),
        Value::Integer(i) if *i >= 0 => Ok(*i as Nanos * 1_000_000),
        Value::Number(f) if *f >= 0.0 && f.is_finite() => Ok((f * 1e6).round() as Nanos),
        other => Err(located(lua, format!("{what}: expected a duration like \"5ms\" or a number of ms, found {}", other.type_name()))),
    }
}

fn percent(lua: &Lua, v: &Value, what: &str) -> LResult<Percent> {
    let r = match v {
        Value::String(s) => Percent::parse(&s.to_string_lossy()),
        Value::Integer(i) => Percent::parse(&format!("{i}%")),
        Value::Number(f) => Percent::parse(&format!("{f}%")),
        other => Err(format!("expected a percentage like \"10%\" or 10, found {}", other.type_name())),
    };
    r.map_err(|e| located(lua, format!("{what}: {e}")))
}

fn with_host<R>(lua: &Lua, f: impl FnOnce(&mut Host) -> R) -> LResult<R> {
    let mut h = lua.app_data_mut::<Host>().ok_or_else(|| mlua::Error::RuntimeError("distlab: no host".into()))?;
    Ok(f(&mut h))
}

/// A node argument, checked against the declared nodes.
fn node(lua: &Lua, v: &Value, what: &str) -> LResult<NodeId> {
    let id = match v {
        Value::Integer(i) if *i >= 0 && *i <= i64::from(u32::MAX) => *i as NodeId,
        Value::Number(f) if f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX) => *f as NodeId,
        other => return Err(located(lua, format!("{what}: expected a node id, found {}", other.type_name()))),
    };
    let nodes = with_host(lua, |h| h.nodes.clone())?;
    if nodes.is_empty() {
        return Err(located(lua, format!("{what}: call scenario {{ … }} first, to say which nodes exist")));
    }
    if !nodes.contains(&id) {
        return Err(located(lua, format!("{what}: node {id} is not in this scenario; {}", describe_ids(&nodes))));
    }
    Ok(id)
}

/// One node or a table of nodes.
fn node_list(lua: &Lua, v: &Value, what: &str) -> LResult<Vec<NodeId>> {
    match v {
        Value::Table(t) => {
            let mut out = Vec::new();
            for item in t.sequence_values::<Value>() {
                out.push(node(lua, &item?, what)?);
            }
            if out.is_empty() {
                return Err(located(lua, format!("{what}: an empty node list")));
            }
            Ok(out)
        }
        other => Ok(vec![node(lua, other, what)?]),
    }
}

/// Queues an action; only allowed while the scenario runs.
fn act(lua: &Lua, name: &str, action: Action) -> LResult<()> {
    let running = with_host(lua, |h| h.running)?;
    if !running {
        return Err(located(lua, format!("{name}() acts on the running scenario: call it inside at(), after(), every() or a hook")));
    }
    with_host(lua, |h| h.out.push(ScriptOut::Act(action)))
}

/// Registers `f` as callback number `id` due at `time` (and every `period`).
fn schedule(lua: &Lua, time: Nanos, f: mlua::Function, period: Option<Nanos>) -> LResult<()> {
    let id = with_host(lua, |h| {
        let id = h.next_id;
        h.next_id += 1;
        if let Some(p) = period {
            h.every.insert(id, p);
        }
        h.out.push(ScriptOut::Schedule(time, id));
        id
    })?;
    let table: Table = lua.named_registry_value(CALLBACKS)?;
    table.raw_set(id, f)
}

fn push_hook(lua: &Lua, key: &str, value: impl mlua::IntoLua) -> LResult<()> {
    let table: Table = lua.named_registry_value(key)?;
    table.raw_push(value)
}

/// A fresh sandboxed interpreter with the distlab API, the script not yet run.
fn interpreter(file: &str, running: bool, seed: u64) -> Result<Lua, String> {
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

/// Installs the sandbox and the API.
fn install(lua: &Lua, seed: u64) -> LResult<()> {
    let g = lua.globals();
    for name in ["dofile", "loadfile", "require", "collectgarbage"] {
        g.raw_set(name, Value::Nil)?;
    }
    lua.load(
        "do local rawload = load; load = function(chunk, name, _, env) return rawload(chunk, name, 't', env) end end; string.dump = nil",
    )
    .set_name("=distlab")
    .exec()?;
    lua.load(format!("math.randomseed({})", seed as i64)).set_name("=distlab").exec()?;
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
            let json = to_json(&Value::Table(t)).map_err(|e| located(lua, format!("scenario: {e}")))?;
            let algorithm = json.get("algorithm").and_then(|a| a.as_str()).and_then(registry::find);
            let nodes: Vec<NodeId> = json
                .get("nodes")
                .and_then(|n| serde_json::from_value::<super::model::Nodes>(n.clone()).ok())
                .map(|n| n.0)
                .unwrap_or_default();
            let line = caller_line(lua);
            with_host(lua, |h| {
                h.scenario = Some(json);
                h.scenario_line = line;
                h.algorithm = algorithm;
                h.nodes = nodes;
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
            let json = to_json(&t).map_err(|e| located(lua, format!("expect: {e}")))?;
            serde_json::from_value::<Expect>(json.clone()).map_err(|e| located(lua, format!("expect: {e}")))?;
            with_host(lua, |h| h.expect = Some(json))
        })?,
    )?;
    g.raw_set(
        "limits",
        lua.create_function(|lua, t: Table| {
            if let Some(n) = t.get::<Option<u64>>("instructions")? {
                with_host(lua, |h| h.budget = n)?;
            }
            if let Some(mb) = t.get::<Option<usize>>("memory_mb")? {
                let bytes = mb.saturating_mul(1 << 20);
                with_host(lua, |h| h.memory = bytes)?;
                lua.set_memory_limit(bytes)?;
            }
            Ok(())
        })?,
    )?;
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
            with_host(lua, |h| h.out.push(ScriptOut::Stop))
        })?,
    )?;
    g.raw_set(
        "print",
        lua.create_function(|lua, args: MultiValue| {
            let mut parts = Vec::new();
            for v in args {
                parts.push(match v {
                    Value::String(s) => s.to_string_lossy(),
                    Value::Nil => "nil".into(),
                    Value::Boolean(b) => b.to_string(),
                    Value::Integer(i) => i.to_string(),
                    Value::Number(n) => n.to_string(),
                    other => format!("<{}>", other.type_name()),
                });
            }
            with_host(lua, |h| h.out.push(ScriptOut::Act(Action::Note(parts.join("\t")))))
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
            act(lua, "show_clocks", Action::ShowClocks(heading.unwrap_or_else(|| "Clocks:".into())))
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
                    super::units::parse_signed(&s.to_string_lossy()).map_err(|e| located(lua, format!("set_offset: {e}")))?
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
fn define_commands(lua: &Lua, a: &'static Algorithm) -> LResult<()> {
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
                act(lua, name, Action::Command { node: n, command: Command { name: name.to_string(), args: rest } })
            })?,
        )?;
    }
    Ok(())
}

fn spec_args(a: &Algorithm, name: &str) -> &'static [&'static str] {
    a.commands.iter().find(|c| c.name == name).map_or(&[], |c| c.args)
}

/// Runs the script's top level in `lua`.
fn run_top(lua: &Lua, script: &LuaScript) -> Result<(), String> {
    lua.load(&script.text).set_name(format!("@{}", script.file)).set_mode(mlua::chunk::ChunkMode::Text).exec().map_err(|e| describe(&e))
}

/// Reads a Lua scenario's declaration and validates it into a plan.
pub fn load_str(file: &str, text: &str) -> Result<Plan, LoadError> {
    let script = LuaScript { file: file.to_string(), text: text.to_string() };
    let fail = |msg: String| LoadError::from(diagnostic(file, &msg));
    let lua = interpreter(file, false, 0).map_err(fail)?;
    run_top(&lua, &script).map_err(fail)?;
    let (declared, line, expect) = {
        let h = lua.app_data_ref::<Host>().ok_or_else(|| fail("distlab: no host".into()))?;
        (h.scenario.clone(), h.scenario_line, h.expect.clone())
    };
    let at = |message: String| LoadError::from(Diagnostic { file: file.to_string(), line: Some(line), col: None, message });
    let Some(mut json) = declared else {
        return Err(LoadError::from(Diagnostic {
            file: file.to_string(),
            line: None,
            col: None,
            message: "no scenario { … }: a Lua scenario declares its name, algorithm and nodes with scenario { … }".into(),
        }));
    };
    if let (Some(e), Some(obj)) = (expect, json.as_object_mut()) {
        if obj.contains_key("expect") {
            return Err(at("expect is given both inside scenario { … } and as expect { … }: keep one".into()));
        }
        obj.insert("expect".into(), e);
    }
    let scenario: Scenario = serde_json::from_value(json).map_err(|e| at(format!("scenario: {}", e.to_string().replace('`', "\""))))?;
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
