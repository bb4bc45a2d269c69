//! The arguments of the Lua API: durations, percentages, node ids.

use mlua::{Lua, Value};

use super::errors::located;
use super::host::{Host, LResult};
use crate::process::{Nanos, NodeId};
use crate::scenario::units::{Dur, Percent};
use crate::scenario::validate::describe_ids;

/// A time or duration argument: a string with a unit, or a number of ms.
pub(super) fn duration(lua: &Lua, v: &Value, what: &str) -> LResult<Nanos> {
    match v {
        Value::String(s) => Dur::parse(&s.to_string_lossy()).map(|d| d.0).map_err(|e| located(lua, format!("{what}: {e}"))),
        Value::Integer(i) if *i >= 0 => Ok(*i as Nanos * 1_000_000),
        Value::Number(f) if *f >= 0.0 && f.is_finite() => Ok((f * 1e6).round() as Nanos),
        other => Err(located(lua, format!("{what}: expected a duration like \"5ms\" or a number of ms, found {}", other.type_name()))),
    }
}

pub(super) fn percent(lua: &Lua, v: &Value, what: &str) -> LResult<Percent> {
    let r = match v {
        Value::String(s) => Percent::parse(&s.to_string_lossy()),
        Value::Integer(i) => Percent::parse(&format!("{i}%")),
        Value::Number(f) => Percent::parse(&format!("{f}%")),
        other => Err(format!("expected a percentage like \"10%\" or 10, found {}", other.type_name())),
    };
    r.map_err(|e| located(lua, format!("{what}: {e}")))
}

/// A node argument, checked against the declared nodes.
pub(super) fn node(lua: &Lua, v: &Value, what: &str) -> LResult<NodeId> {
    let id = match v {
        Value::Integer(i) if *i >= 0 && *i <= i64::from(u32::MAX) => *i as NodeId,
        Value::Number(f) if f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX) => *f as NodeId,
        other => return Err(located(lua, format!("{what}: expected a node id, found {}", other.type_name()))),
    };
    let known = {
        let h = lua.app_data_ref::<Host>().ok_or_else(|| mlua::Error::RuntimeError("distlab: no host".into()))?;
        if h.node_set.is_empty() {
            None
        } else if h.node_set.contains(id) {
            Some(Ok(()))
        } else {
            Some(Err(describe_ids(&h.nodes)))
        }
    };
    match known {
        None => return Err(located(lua, format!("{what}: call scenario {{ … }} first, to say which nodes exist"))),
        Some(Err(ids)) => return Err(located(lua, format!("{what}: node {id} is not in this scenario; {ids}"))),
        Some(Ok(())) => {}
    }
    Ok(id)
}

/// One node or a table of nodes.
pub(super) fn node_list(lua: &Lua, v: &Value, what: &str) -> LResult<Vec<NodeId>> {
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
