//! The YAML front end: text → [`Scenario`] → [`Plan`], with every problem
//! reported as `file:line:col: message`.
//!
//! Form errors (syntax, unknown fields, bad units) come located from serde_yaml;
//! [`yaml_diagnostic`] rewrites serde's wording for a reader who writes
//! scenarios, not Rust. Meaning errors come from [`validate`] as a path;
//! [`locate`] finds the path's line and column by walking the document again
//! and stopping, on purpose, with an error raised *inside* the target value (or
//! key), which serde_yaml then marks with that value's own position.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::error::{Diagnostic, LoadError};
use super::model::Scenario;
use super::plan::Plan;
use super::validate::{Seg, suggest, validate};

/// What every scenario must have, for messages about a missing or wrong whole.
const NEEDS: &str = "a scenario is a mapping with at least name:, algorithm: and nodes:";

/// Parses and validates a YAML scenario; `file` names it in messages.
pub fn load_str(file: &str, text: &str) -> Result<Plan, LoadError> {
    if is_blank(text) {
        return Err(LoadError::from(Diagnostic {
            file: file.to_string(),
            line: Some(1),
            col: Some(1),
            message: format!("the file is empty: {NEEDS} (see scenarios/ for examples)"),
        }));
    }
    let scenario: Scenario = serde_yaml::from_str(text).map_err(|e| LoadError::from(form_diagnostic(file, text, &e)))?;
    validate(&scenario).map_err(|problems| {
        let mut diags: Vec<Diagnostic> = problems
            .into_iter()
            .map(|p| {
                let (line, col) = locate(text, &p.path).map_or((None, None), |(l, c)| (Some(l), Some(c)));
                Diagnostic { file: file.to_string(), line, col, message: p.to_string() }
            })
            .collect();
        // Stable: problems at the same place keep the order validation found them.
        diags.sort_by_key(|d| (d.line.unwrap_or(usize::MAX), d.col.unwrap_or(0)));
        LoadError::new(diags)
    })
}

/// True when the text holds no YAML content at all (only blanks, comments or
/// document markers).
fn is_blank(text: &str) -> bool {
    text.lines().map(str::trim).all(|l| l.is_empty() || l.starts_with('#') || l == "---" || l == "...")
}

/// [`yaml_diagnostic`], plus what only the text can tell: where a repeated
/// key or a second document is, and whether a bad character is a tab.
fn form_diagnostic(file: &str, text: &str, e: &serde_yaml::Error) -> Diagnostic {
    let mut d = yaml_diagnostic(file, e);
    if let Some(i) = d.message.find("duplicate field \"") {
        let path = parse_path(&d.message[..i]);
        let key = d.message[i + "duplicate field \"".len()..].split('"').next().unwrap_or_default().to_string();
        let mut full = path.clone();
        full.push(Seg::KeyName(key.clone()));
        if let Some((l, c)) = locate_nth(text, &full, 1) {
            (d.line, d.col) = (Some(l), Some(c));
        }
        d.message = format!("{}\"{key}\" is given twice: give each field once", &d.message[..i]);
    } else if d.message.contains("more than one document") {
        d.message = "the file holds more than one YAML document (a line \"---\" starts another): expected one scenario per file".into();
        let mut content = false;
        for (n, l) in text.lines().enumerate() {
            let t = l.trim();
            if content && (t == "---" || t.starts_with("--- ")) {
                (d.line, d.col) = (Some(n + 1), Some(1));
                break;
            }
            content |= !(t.is_empty() || t.starts_with('#') || t == "---" || t.starts_with("--- "));
        }
    } else if let (Some(l), Some(c)) = (d.line, d.col)
        && text.lines().nth(l - 1).and_then(|line| line.chars().nth(c - 1)) == Some('\t')
    {
        d.message = format!("{} (a tab: YAML indents with spaces only)", d.message);
    } else {
        for (libyaml, hint) in [
            ("mapping values are not allowed", "check the indentation, or quote a value that contains \": \""),
            ("did not find expected key", "check the indentation of this line against the keys above it"),
            ("did not find expected ',' or ']'", "a list opened with [ is not closed"),
            ("did not find expected ',' or '}'", "a mapping opened with { is not closed"),
            ("did not find expected '-' indicator", "check the indentation of the list items"),
            ("found unexpected end of stream", "a quote or a bracket is not closed"),
            ("could not find expected ':'", "a key needs a colon, like name: value"),
        ] {
            if d.message.contains(libyaml) {
                d.message = format!("YAML syntax: {} ({hint})", d.message);
                break;
            }
        }
    }
    d
}

/// `timeline[0].crash: ` (serde_yaml's prefix) as a path; empty for none.
fn parse_path(prefix: &str) -> Vec<Seg> {
    let prefix = prefix.trim().trim_end_matches(':');
    let mut path = Vec::new();
    for part in prefix.split('.').filter(|p| !p.is_empty()) {
        let mut pieces = part.split('[');
        if let Some(k) = pieces.next().filter(|k| !k.is_empty()) {
            path.push(Seg::Key(k.to_string()));
        }
        for idx in pieces {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                path.push(Seg::Index(i));
            }
        }
    }
    path
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
    Diagnostic { file: file.to_string(), line, col, message: polish(&message) }
}

/// Rewrites serde's wording: quotes instead of backticks, the expected field
/// names as a plain list with a "did you mean" when one is close, Rust type
/// names as what a scenario writes, and a hint on what a scenario needs.
fn polish(message: &str) -> String {
    let mut m = message.to_string();
    // Unknown field or variant: `unknown field `crsh`, expected one of `at`, ...`.
    if let Some(start) = m.find("unknown field `").or_else(|| m.find("unknown variant `")) {
        let name_at = m[start..].find('`').map_or(0, |i| start + i + 1);
        let name_end = m[name_at..].find('`').map_or(m.len(), |i| name_at + i);
        let found = m[name_at..name_end].to_string();
        if let Some(exp) = m[name_end..].find(", expected ").map(|i| name_end + i) {
            let list = m[exp + ", expected ".len()..].to_string();
            let names: Vec<&str> = list.split('`').skip(1).step_by(2).collect();
            let hint = suggest(&found, &names).map_or(String::new(), |s| format!(" (did you mean \"{s}\"?)"));
            let plain = list.replace('`', "");
            m = format!("{}{hint}, expected {plain}", &m[..exp]);
        }
    }
    if let Some(rest) = m.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        m = format!("missing field \"{field}\": {NEEDS}");
    } else if m.contains(": missing field `") && m.ends_with('`') && m.contains("timeline[") {
        m.push_str(" (every step needs at: and one action)");
    }
    if m.contains("expected struct Scenario") {
        let found = m.strip_prefix("invalid type: ").and_then(|r| r.split(", expected").next()).unwrap_or("something else");
        m = format!("the file holds {}, expected a mapping: {NEEDS}", article(found));
    }
    for (rust, reader) in [
        ("expected struct Step", "expected a timeline step like {at: 5ms, crash: 1}"),
        ("expected struct NetworkSpec", "expected a mapping like {latency: 1ms..3ms, loss: 1%}"),
        ("expected struct ClocksSpec", "expected a mapping with offsets: and drift_ppm:"),
        ("expected struct LinkSpec", "expected a link like {from: 1, to: 2, loss: 50%}"),
        ("expected struct Block", "expected a cut like {from: 1, to: [2, 3]}"),
        ("expected struct Bound", "expected a bound like {max: 12} (keys min, max, exact)"),
        ("expected struct Expect", "expected a mapping with leader:, messages:, messages_by_kind: or violations:"),
        ("expected u32", "expected a node id (a whole number, 0 or more)"),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected a list like [1, 2]"),
        ("invalid type: map,", "invalid type: mapping,"),
        (" as u128,", ","),
    ] {
        m = m.replace(rust, reader);
    }
    if m.starts_with("timeline: invalid type") {
        m = m.replace("expected a list like [1, 2]", "expected a list of steps, each starting with \"- at:\"");
    }
    m.replace('`', "\"")
}

/// "a sequence" for serde's "sequence", keeping a value's own text.
fn article(found: &str) -> String {
    match found {
        "sequence" => "a list".into(),
        "map" => "a mapping".into(),
        "unit value" => "nothing (null)".into(),
        other => other.replace('`', "\""),
    }
}

const HERE: &str = "distlab-locate-here";

/// The 1-based line and column of the value at `path` (or of the key itself
/// for a final [`Seg::KeyName`]), if the document has it.
pub fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    locate_nth(text, path, 0)
}

/// Like [`locate`], but a final [`Seg::KeyName`] finds the key's occurrence
/// after `skip` earlier ones in the same mapping (a repeated key).
fn locate_nth(text: &str, path: &[Seg], skip: usize) -> Option<(usize, usize)> {
    let de = serde_yaml::Deserializer::from_str(text);
    match (Locator { path, skip }).deserialize(de) {
        Err(e) if e.to_string().contains(HERE) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

/// Walks down `path`; at its end, deserializes the target with [`Here`].
struct Locator<'a> {
    path: &'a [Seg],
    skip: usize,
}

impl<'de> DeserializeSeed<'de> for Locator<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.path.is_empty() {
            return d.deserialize_any(Here);
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
        let (target, at_key) = match &self.path[0] {
            Seg::Key(k) => (Some(k.as_str()), false),
            Seg::KeyName(k) => (Some(k.as_str()), true),
            Seg::Index(_) => (None, false),
        };
        let mut skip = self.skip;
        let last = at_key && self.path.len() == 1;
        while let Some(hit) = map.next_key_seed(KeyProbe { target, raise: last && skip == 0 })? {
            if hit && last {
                skip = skip.saturating_sub(1);
                map.next_value::<IgnoredAny>()?;
            } else if hit {
                map.next_value_seed(Locator { path: &self.path[1..], skip: self.skip })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let found = if self.path[0] == Seg::Index(i) {
                seq.next_element_seed(Locator { path: &self.path[1..], skip: self.skip })?
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

/// Reads one mapping key and tells whether it is `target`; with `raise`, a
/// matching key stops the walk right there, so its own position is reported.
struct KeyProbe<'a> {
    target: Option<&'a str>,
    raise: bool,
}

impl<'de> DeserializeSeed<'de> for KeyProbe<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl KeyProbe<'_> {
    fn check<E: de::Error>(&self, key: &str) -> Result<bool, E> {
        let hit = self.target == Some(key);
        if hit && self.raise {
            return Err(E::custom(HERE));
        }
        Ok(hit)
    }
}

impl<'de> Visitor<'de> for KeyProbe<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        self.check(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

/// Raises the locating error from inside the target value.
struct Here;

impl Here {
    fn stop<E: de::Error>() -> Result<(), E> {
        Err(E::custom(HERE))
    }
}

impl<'de> Visitor<'de> for Here {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("anything")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Here::stop()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Here::stop()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Here::stop()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Here::stop()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Here::stop()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Here::stop()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Here::stop()
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Here::stop()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Here::stop()
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Here::stop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Seg {
        Seg::Key(k.into())
    }

    #[test]
    fn locates_values_keys_and_flow_collections() {
        let text = "name: t\nalgorithm: x\nnodes: [1, 2, 2]\nclocks: {offsets: {9: +1s}}\ntimeline:\n  - at: 0ms\n    crash: [1, 9]\n";
        assert_eq!(locate(text, &[key("algorithm")]), Some((2, 12)));
        assert_eq!(locate(text, &[key("nodes"), Seg::Index(2)]), Some((3, 15)));
        assert_eq!(locate(text, &[key("clocks"), key("offsets"), Seg::KeyName("9".into())]), Some((4, 20)));
        assert_eq!(locate(text, &[key("timeline"), Seg::Index(0)]), Some((6, 5)));
        assert_eq!(locate(text, &[key("timeline"), Seg::Index(0), key("crash"), Seg::Index(1)]), Some((7, 16)));
        assert_eq!(locate(text, &[key("nope")]), None);
    }

    #[test]
    fn polishes_serde_wording() {
        let m = polish("timeline[0]: unknown field `crsh`, expected one of `at`, `crash`, `recover`");
        assert_eq!(m, "timeline[0]: unknown field \"crsh\" (did you mean \"crash\"?), expected one of at, crash, recover");
        assert!(polish("invalid type: sequence, expected struct Scenario").starts_with("the file holds a list, expected a mapping"));
    }
}
