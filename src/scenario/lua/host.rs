//! What the Lua API functions share (the interpreter's app data) and how a
//! Lua error becomes a located `file:line: message`.

use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

use mlua::Lua;

use super::LuaLimits;
use super::data::Data;
use super::limits::Budget;
use crate::algorithms::registry::Algorithm;
use crate::engine::script::ScriptOut;
use crate::process::{Nanos, NodeId};

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
    /// The ceilings from the command line: `limits { … }` may only lower them.
    pub(super) ceiling: LuaLimits,
    /// The instruction budget and the wall-clock limit (shared with the hook).
    pub(super) budget: Rc<Budget>,
    /// The memory limit: the interpreter's memory and the script's output
    /// (`output`: printed text, actions, timers) count against it together.
    pub(super) memory: usize,
    pub(super) output: usize,
    /// How deeply Rust functions that call back into Lua are nested.
    pub(super) reentry: usize,
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
    pub(super) fn new(file: &str, running: bool, limits: LuaLimits) -> Host {
        Host {
            file: file.to_string(),
            running,
            scenario: None,
            scenario_line: 0,
            expect: None,
            algorithm: None,
            nodes: Vec::new(),
            node_set: NodeSet::Empty,
            now: 0,
            out: Vec::new(),
            next_id: 0,
            every: BTreeMap::new(),
            send_hooks: 0,
            deliver_hooks: 0,
            observe_hooks: 0,
            ceiling: limits,
            budget: Rc::new(Budget::new(file, limits.instructions, limits.time)),
            memory: limits.memory,
            output: 0,
            reentry: 0,
        }
    }

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

pub(super) fn with_host<R>(lua: &Lua, f: impl FnOnce(&mut Host) -> R) -> LResult<R> {
    let mut h = lua.app_data_mut::<Host>().ok_or_else(|| mlua::Error::RuntimeError("distlab: no host".into()))?;
    Ok(f(&mut h))
}
