//! The YAML front end: text → [`Scenario`] → [`Plan`], with every problem
//! reported as `file:line:col: message`.
//!
//! Form errors (syntax, unknown fields, bad units) come located from serde_yaml.
//! Meaning errors come from [`validate`] as a path; [`locate`] finds the path's
//! line and column by walking the document again and stopping, on purpose, with
//! an error at the target value, which serde_yaml then locates for us.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::error::{Diagnostic, LoadError};
use super::model::Scenario;
use super::plan::Plan;
use super::validate::{Seg, validate};

/// Parses and validates a YAML scenario; `file` names it in messages.
pub fn load_str(file: &str, text: &str) -> Result<Plan, LoadError> {
    let scenario: Scenario = serde_yaml::from_str(text).map_err(|e| LoadError::from(yaml_diagnostic(file, &e)))?;
    validate(&scenario).map_err(|problems| {
        LoadError::new(
            problems
                .into_iter()
                .map(|p| {
                    let (line, col) = locate(text, &p.path).map_or((None, None), |(l, c)| (Some(l), Some(c)));
                    Diagnostic { file: file.to_string(), line, col, message: format!("{p}") }
                })
                .collect(),
        )
    })
}

/// Turns a serde_yaml error into a located diagnostic without the "at line X
/// column Y" tail that serde_yaml appends to its message.
pub fn yaml_diagnostic(file: &str, e: &serde_yaml::Error) -> Diagnostic {
    let mut message = e.to_string();
    let (mut line, mut col) = (None, None);
    if let Some(loc) = e.location() {
        line = Some(loc.line());
        col = Some(loc.column());
        let tail = format!(" at line {} column {}", loc.line(), loc.column());
        if let Some(pos) = message.find(&tail) {
            message.replace_range(pos..pos + tail.len(), "");
        }
    }
    if message.starts_with("missing field") && line == Some(1) {
        message = format!("{message} (every scenario needs name, algorithm and nodes)");
    }
    Diagnostic { file: file.to_string(), line, col, message: message.replace('`', "\"") }
}

const HERE: &str = "distlab-locate-here";

/// The 1-based line and column of the value at `path`, if the document has it.
pub fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let de = serde_yaml::Deserializer::from_str(text);
    match Locator(path).deserialize(de) {
        Err(e) if e.to_string().starts_with(HERE) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

struct Locator<'a>(&'a [Seg]);

impl<'de> DeserializeSeed<'de> for Locator<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.0.is_empty() {
            return Err(de::Error::custom(HERE));
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Locator<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("anything")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<serde_yaml::Value>()? {
            let hit = match (&self.0[0], &key) {
                (Seg::Key(k), serde_yaml::Value::String(s)) => k == s,
                (Seg::Key(k), serde_yaml::Value::Number(n)) => *k == n.to_string(),
                _ => false,
            };
            if hit {
                map.next_value_seed(Locator(&self.0[1..]))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let found = if self.0[0] == Seg::Index(i) {
                seq.next_element_seed(Locator(&self.0[1..]))?
            } else {
                seq.next_element::<IgnoredAny>()?.map(|_| ())
            };
            if found.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}
