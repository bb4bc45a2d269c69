//! What the Lua API functions share (the interpreter's app data) and how a
//! Lua error becomes a located `file:line: message`.

use std::collections::{BTreeMap, HashSet};

use mlua::Lua;

use super::data::Data;
use crate::algorithms::registry::Algorithm;
use crate::engine::script::ScriptOut;
use crate::process::{Nanos, NodeId};
use crate::scenario::error::Diagnostic;

/// What the API functions share, stored as the interpreter's app data.
pub(super) struct Host {
    pub(super) file: String,
    /// False while the file is being read for its declaration.
    pub(super) running: bool,
    pub(super) scenario: Option<Data>,
    pub(super) scenario_line: usize,
    pub(super) expect: Option<Data>,
    pub(super) algorithm: Option<&'static Algorithm>,
    /// The declared nodes, in order (for messages), and as a set (to check
    /// a node argument in O(1): a script may name every node of a million).
    pub(super) nodes: Vec<NodeId>,
    pub(super) node_set: NodeSet,
    pub(super) now: Nanos,
    pub(super) out: Vec<ScriptOut>,
    pub(super) next_id: u32,
    pub(super) every: BTreeMap<u32, Nanos>,
    pub(super) send_hooks: usize,
    pub(super) deliver_hooks: usize,
    pub(super) observe_hooks: usize,
    pub(super) instructions: u64,
    pub(super) budget: u64,
    pub(super) memory: usize,
}

/// Which node ids exist: a range when the ids are consecutive (`nodes = 5`,
/// `nodes = {0, 1, 2}`), a hash set otherwise (only looked up, never iterated).
#[derive(Debug, Default)]
pub(super) enum NodeSet {
    #[default]
    Empty,
    Range(NodeId, NodeId),
    Set(HashSet<NodeId>),
}

impl NodeSet {
    pub(super) fn of(ids: &[NodeId]) -> NodeSet {
        let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else { return NodeSet::Empty };
        let consecutive = ids.windows(2).all(|w| w[0].checked_add(1) == Some(w[1]));
        if consecutive { NodeSet::Range(first, last) } else { NodeSet::Set(ids.iter().copied().collect()) }
    }

    pub(super) fn is_empty(&self) -> bool {
        matches!(self, NodeSet::Empty)
    }

    pub(super) fn contains(&self, id: NodeId) -> bool {
        match self {
            NodeSet::Empty => false,
            NodeSet::Range(lo, hi) => (*lo..=*hi).contains(&id),
            NodeSet::Set(s) => s.contains(&id),
        }
    }
}

impl Host {
    pub(super) fn set_nodes(&mut self, nodes: Vec<NodeId>) {
        self.node_set = NodeSet::of(&nodes);
        self.nodes = nodes;
    }
}

pub(super) const CALLBACKS: &str = "distlab.callbacks";
pub(super) const SEND_HOOKS: &str = "distlab.send_hooks";
pub(super) const DELIVER_HOOKS: &str = "distlab.deliver_hooks";
pub(super) const OBSERVE_HOOKS: &str = "distlab.observe_hooks";

pub(super) type LResult<T> = mlua::Result<T>;

/// The line of the Lua code that called the running Rust function.
pub(super) fn caller_line(lua: &Lua) -> usize {
    lua.inspect_stack(1, |d| d.current_line()).flatten().unwrap_or(0)
}

/// An error located at the calling Lua line: `file:line: message`.
pub(super) fn located(lua: &Lua, message: impl std::fmt::Display) -> mlua::Error {
    let file = lua.app_data_ref::<Host>().map(|h| h.file.clone()).unwrap_or_default();
    mlua::Error::RuntimeError(format!("{file}:{}: {message}", caller_line(lua)))
}

/// The message of a Lua error, without mlua's wrapping and tracebacks.
pub(super) fn describe(e: &mlua::Error) -> String {
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
pub(super) fn in_function(file: &str, f: &mlua::Function, what: &str, e: &mlua::Error, memory: usize) -> String {
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

/// Splits `file:line: message` into a diagnostic.
pub(super) fn diagnostic(file: &str, text: &str) -> Diagnostic {
    let first = text.lines().next().unwrap_or(text);
    if let Some(rest) = first.strip_prefix(file).and_then(|r| r.strip_prefix(':'))
        && let Some((line, msg)) = rest.split_once(':')
        && let Ok(line) = line.trim().parse::<usize>()
    {
        return Diagnostic { file: file.to_string(), line: Some(line), col: None, message: msg.trim().to_string() };
    }
    Diagnostic { file: file.to_string(), line: None, col: None, message: first.to_string() }
}

pub(super) fn with_host<R>(lua: &Lua, f: impl FnOnce(&mut Host) -> R) -> LResult<R> {
    let mut h = lua.app_data_mut::<Host>().ok_or_else(|| mlua::Error::RuntimeError("distlab: no host".into()))?;
    Ok(f(&mut h))
}
