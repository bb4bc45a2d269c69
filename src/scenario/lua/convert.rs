//! Lua tables as scenario data.

use mlua::Value;

use super::host::describe;

/// A Lua value as JSON: a table with keys 1..n is an array, any other table
/// an object whose keys are written as text (`{[2] = "+10s"}` gives `{"2": "+10s"}`).
pub(super) fn to_json(v: &Value) -> Result<serde_json::Value, String> {
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
