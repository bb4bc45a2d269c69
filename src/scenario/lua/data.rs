//! Lua tables as scenario data.
//!
//! A table given to `scenario { … }` or `expect { … }` is copied out of the
//! interpreter into [`Data`] — nil, booleans, integers, floats, strings and
//! tables, keys in a stable order — with a depth limit, cycle detection and a
//! cap on the number of values, so that no table can overflow the stack or
//! the memory of the process. Functions and other Lua objects are refused
//! with the path of the value (`params.weights[2]`).
//!
//! [`Data`] is a serde [`Deserializer`](serde::Deserializer), so the model's
//! own types read it as they read YAML. A Lua table is a map, and a table
//! keyed `1..n` is also a list; which one it is depends on the type that
//! reads it: `nodes = {0, 1, 2}` is a list, `weights = {3, 1, 1}` (the same
//! as `{[1] = 3, [2] = 1, [3] = 1}`) is a map from node to weight, as YAML's
//! `{1: 3, 2: 1, 3: 1}`. Where the type is only known later — the
//! algorithm's `params` — [`params_from_lua`] reads the table as the
//! algorithm's parameter type and then writes it out as the YAML value the
//! plan carries, with each table in the form that type asked for.

use std::cell::Cell;
use std::fmt;

use mlua::Value;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, VariantAccess, Visitor};

use crate::process::Process;

/// How deep tables may nest in a scenario (YAML scenarios use five levels).
pub const MAX_DEPTH: usize = 32;

/// A value copied out of Lua.
#[derive(Debug)]
pub enum Data {
    Nil,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(String),
    Table(Box<TableData>),
}

/// A Lua table: its entries, and whether it reads as a list.
#[derive(Debug)]
pub struct TableData {
    /// Keys in a stable order: numbers ascending, then strings, then booleans.
    pub entries: Vec<(Data, Data)>,
    /// The keys are exactly 1..n (n > 0), in order: the table may be a list.
    pub is_list: bool,
    /// A reader asked for a map (so `to_yaml` writes a mapping even for a list).
    read_as_map: Cell<bool>,
}

/// Copies Lua values out under limits: depth, cycles, total size.
pub struct Reader {
    /// Tables on the path from the root, to detect cycles.
    path: Vec<*const std::ffi::c_void>,
    /// Where we are, for messages: `params`, `weights`, `[2]`.
    names: Vec<String>,
    /// Values still allowed.
    left: usize,
    max_values: usize,
    /// Bytes of text still allowed (a string shared by many tables is copied
    /// for each).
    bytes_left: usize,
    max_bytes: usize,
}

impl Reader {
    /// A reader that copies at most `max_values` values and `max_bytes`
    /// bytes of text in all.
    pub fn new(max_values: usize, max_bytes: usize) -> Reader {
        Reader { path: Vec::new(), names: Vec::new(), left: max_values, max_values, bytes_left: max_bytes, max_bytes }
    }

    /// Copies `v`; errors name the path to the offending value.
    pub fn read(&mut self, v: &Value) -> Result<Data, String> {
        if self.left == 0 {
            return Err(format!("the tables hold more than {} values: a scenario is smaller than that", self.max_values));
        }
        self.left -= 1;
        Ok(match v {
            Value::Nil => Data::Nil,
            Value::Boolean(b) => Data::Bool(*b),
            Value::Integer(i) => Data::Int(*i),
            Value::Number(f) => Data::Num(*f),
            Value::String(s) => {
                let len = s.as_bytes().len();
                if len > self.bytes_left {
                    return Err(
                        self.at(format!("the tables hold more than {} bytes of text: a scenario is smaller than that", self.max_bytes))
                    );
                }
                self.bytes_left -= len;
                Data::Str(s.to_string_lossy())
            }
            Value::Table(t) => self.table(t)?,
            other => return Err(self.at(format!("a {} cannot be part of a scenario", other.type_name()))),
        })
    }

    fn table(&mut self, t: &mlua::Table) -> Result<Data, String> {
        let ptr = t.to_pointer();
        if self.path.contains(&ptr) {
            return Err(self.at("the table contains itself (a cycle): scenario data must be a tree".into()));
        }
        if self.path.len() >= MAX_DEPTH {
            return Err(self.at(format!("tables nest deeper than {MAX_DEPTH} levels")));
        }
        self.path.push(ptr);
        let result = self.entries(t);
        self.path.pop();
        let mut entries = result?;
        entries.sort_by(|a, b| key_order(&a.0, &b.0));
        let is_list = !entries.is_empty() && entries.iter().enumerate().all(|(i, (k, _))| matches!(k, Data::Int(n) if *n == i as i64 + 1));
        Ok(Data::Table(Box::new(TableData { entries, is_list, read_as_map: Cell::new(false) })))
    }

    fn entries(&mut self, t: &mlua::Table) -> Result<Vec<(Data, Data)>, String> {
        let mut entries = Vec::new();
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair.map_err(|e| self.at(super::errors::describe(&e)))?;
            let key = match &k {
                Value::Boolean(_) | Value::Integer(_) | Value::Number(_) | Value::String(_) => self.read(&k)?,
                other => return Err(self.at(format!("a table key of type {} cannot be a scenario key", other.type_name()))),
            };
            self.names.push(key_name(&key));
            let value = self.read(&v);
            self.names.pop();
            entries.push((key, value?));
        }
        Ok(entries)
    }

    /// `message`, prefixed with the path to the current value when there is one.
    fn at(&self, message: String) -> String {
        if self.names.is_empty() {
            return message;
        }
        let mut path = String::new();
        let shown = 8;
        for (i, n) in self.names.iter().enumerate() {
            if i == shown && self.names.len() > shown + 2 {
                path.push('…');
                continue;
            }
            if i > shown && i < self.names.len() - 2 {
                continue;
            }
            if !n.starts_with('[') && !path.is_empty() {
                path.push('.');
            }
            path.push_str(n);
        }
        format!("{path}: {message}")
    }
}

fn key_name(k: &Data) -> String {
    match k {
        Data::Str(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => s.clone(),
        Data::Str(s) => format!("[{s:?}]"),
        Data::Int(i) => format!("[{i}]"),
        Data::Num(f) => format!("[{f}]"),
        Data::Bool(b) => format!("[{b}]"),
        _ => "[?]".into(),
    }
}

/// The stable order of keys: numbers ascending, then strings, then false, true.
fn key_order(a: &Data, b: &Data) -> std::cmp::Ordering {
    fn rank(d: &Data) -> u8 {
        match d {
            Data::Int(_) | Data::Num(_) => 0,
            Data::Str(_) => 1,
            _ => 2,
        }
    }
    match (a, b) {
        (Data::Int(x), Data::Int(y)) => x.cmp(y),
        (Data::Int(x), Data::Num(y)) => (*x as f64).total_cmp(y),
        (Data::Num(x), Data::Int(y)) => x.total_cmp(&(*y as f64)),
        (Data::Num(x), Data::Num(y)) => x.total_cmp(y),
        (Data::Str(x), Data::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Data::Bool(x), Data::Bool(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

impl Data {
    /// The value under string key `key` of a table.
    pub fn get(&self, key: &str) -> Option<&Data> {
        let Data::Table(t) = self else { return None };
        t.entries.iter().find(|(k, _)| matches!(k, Data::Str(s) if s == key)).map(|(_, v)| v)
    }

    /// Removes and returns the value under string key `key` of a table.
    pub fn take(&mut self, key: &str) -> Option<Data> {
        let Data::Table(t) = self else { return None };
        let i = t.entries.iter().position(|(k, _)| matches!(k, Data::Str(s) if s == key))?;
        Some(t.entries.remove(i).1)
    }

    /// The value as YAML: a table is a sequence if it is a list nobody read
    /// as a map, a mapping otherwise (integer keys stay integers).
    pub fn to_yaml(&self) -> serde_yaml::Value {
        use serde_yaml::Value as Y;
        match self {
            Data::Nil => Y::Null,
            Data::Bool(b) => Y::Bool(*b),
            Data::Int(i) => Y::Number((*i).into()),
            Data::Num(_) if self.integral().is_some() => Y::Number(self.integral().unwrap_or_default().into()),
            Data::Num(f) => Y::Number((*f).into()),
            Data::Str(s) => Y::String(s.clone()),
            Data::Table(t) if t.is_list && !t.read_as_map.get() => Y::Sequence(t.entries.iter().map(|(_, v)| v.to_yaml()).collect()),
            Data::Table(t) => Y::Mapping(t.entries.iter().map(|(k, v)| (k.to_yaml(), v.to_yaml())).collect()),
        }
    }

    fn unexpected(&self) -> de::Unexpected<'_> {
        match self {
            Data::Nil => de::Unexpected::Unit,
            Data::Bool(b) => de::Unexpected::Bool(*b),
            Data::Int(i) => de::Unexpected::Signed(*i),
            Data::Num(f) => de::Unexpected::Float(*f),
            Data::Str(s) => de::Unexpected::Str(s),
            Data::Table(t) if t.is_list => de::Unexpected::Seq,
            Data::Table(_) => de::Unexpected::Map,
        }
    }

    /// A float with an integral value, as the integer it is (`2^3` is 8.0 in
    /// Lua): integers and integral floats read the same everywhere.
    fn integral(&self) -> Option<i64> {
        match self {
            Data::Int(i) => Some(*i),
            Data::Num(f) if f.fract() == 0.0 && *f >= -9.2e18 && *f <= 9.2e18 => Some(*f as i64),
            _ => None,
        }
    }
}

/// Reads the algorithm's parameter type `P::Params` from `data`, so that each
/// table takes the form the type asks for, and returns the value as YAML for
/// the plan. Errors are left to the plan's validation, which reads the YAML
/// as it reads a YAML file's and reports them the same way.
pub fn params_from_lua<P: Process>(data: &Data) -> serde_yaml::Value {
    if !matches!(data, Data::Nil) {
        let _ = P::Params::deserialize(data);
    }
    data.to_yaml()
}

/// A deserialisation error: serde's own messages.
#[derive(Debug)]
pub struct DataError(pub String);

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DataError {}

impl de::Error for DataError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DataError(msg.to_string())
    }
}

/// An integer as serde's own formats give it: `visit_u64` when it is not negative.
fn visit_integer<'de, V: Visitor<'de>>(i: i64, visitor: V) -> Result<V::Value, DataError> {
    if i >= 0 { visitor.visit_u64(i as u64) } else { visitor.visit_i64(i) }
}

impl<'de> serde::Deserializer<'de> for &Data {
    type Error = DataError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DataError> {
        match self {
            Data::Nil => visitor.visit_unit(),
            Data::Bool(b) => visitor.visit_bool(*b),
            Data::Int(i) => visit_integer(*i, visitor),
            Data::Num(_) if self.integral().is_some() => visit_integer(self.integral().unwrap_or_default(), visitor),
            Data::Num(f) => visitor.visit_f64(*f),
            Data::Str(s) => visitor.visit_str(s),
            Data::Table(t) if t.is_list => visitor.visit_seq(Items { it: t.entries.iter() }),
            Data::Table(t) => visitor.visit_map(Entries { it: t.entries.iter(), value: None }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DataError> {
        match self {
            Data::Nil => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DataError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DataError> {
        match self {
            Data::Table(t) => {
                t.read_as_map.set(true);
                visitor.visit_map(Entries { it: t.entries.iter(), value: None })
            }
            other => Err(de::Error::invalid_type(other.unexpected(), &visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DataError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DataError> {
        match self {
            Data::Table(t) if t.is_list => visitor.visit_seq(Items { it: t.entries.iter() }),
            Data::Table(t) if t.entries.is_empty() => visitor.visit_seq(Items { it: t.entries.iter() }),
            other => Err(de::Error::invalid_type(other.unexpected(), &visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DataError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(self, _name: &'static str, _len: usize, visitor: V) -> Result<V::Value, DataError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DataError> {
        match self {
            Data::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            Data::Table(t) if t.entries.len() == 1 => {
                t.read_as_map.set(true);
                visitor.visit_enum(Variant { key: &t.entries[0].0, value: &t.entries[0].1 })
            }
            other => Err(de::Error::invalid_type(other.unexpected(), &visitor)),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DataError> {
        match self {
            Data::Nil => visitor.visit_unit(),
            other => Err(de::Error::invalid_type(other.unexpected(), &visitor)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DataError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! { bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit_struct identifier }
}

struct Items<'a> {
    it: std::slice::Iter<'a, (Data, Data)>,
}

impl<'de> SeqAccess<'de> for Items<'_> {
    type Error = DataError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DataError> {
        self.it.next().map(|(_, v)| seed.deserialize(v)).transpose()
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.it.len())
    }
}

struct Entries<'a> {
    it: std::slice::Iter<'a, (Data, Data)>,
    value: Option<&'a Data>,
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = DataError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DataError> {
        match self.it.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(k).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DataError> {
        match self.value.take() {
            Some(v) => seed.deserialize(v),
            None => Err(de::Error::custom("a value without a key")),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.it.len())
    }
}

/// `{ variant = value }`: an enum written as a one-entry table.
struct Variant<'a> {
    key: &'a Data,
    value: &'a Data,
}

impl<'de, 'a> EnumAccess<'de> for Variant<'a> {
    type Error = DataError;
    type Variant = &'a Data;
    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, &'a Data), DataError> {
        Ok((seed.deserialize(self.key)?, self.value))
    }
}

impl<'de> VariantAccess<'de> for &Data {
    type Error = DataError;
    fn unit_variant(self) -> Result<(), DataError> {
        match self {
            Data::Nil => Ok(()),
            Data::Bool(true) => Ok(()),
            other => Err(de::Error::invalid_type(other.unexpected(), &"a unit variant")),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DataError> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DataError> {
        serde::Deserializer::deserialize_seq(self, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], visitor: V) -> Result<V::Value, DataError> {
        serde::Deserializer::deserialize_map(self, visitor)
    }
}
