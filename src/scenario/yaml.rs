//! The YAML front end: text → [`Scenario`] → [`Plan`], with every problem
//! reported as `file:line:col: message`.
//!
//! Form errors (syntax, unknown fields, bad units) come located from serde_yaml;
//! [`yaml_diagnostic`] rewrites serde's wording for a reader who writes
//! scenarios, not Rust. Meaning errors come from [`validate`] as a path;
//! [`positions`] finds the line and column of all of them in one more pass.
//!
//! Before serde_yaml sees the text, [`check_nesting`] refuses brackets nested
//! deeper than [`MAX_FLOW_DEPTH`]: libyaml's scanner takes time quadratic in
//! that depth, so 100,000 `[` would keep it busy for many seconds before the
//! recursion limit stops it.

use super::LoadOptions;
use super::budget;
use super::error::{Diagnostic, LoadError};
use super::model::Scenario;
use super::plan::Plan;
use super::positions::{self, Target};
use super::validate::{Seg, suggest, validate};

/// What every scenario must have, for messages about a missing or wrong whole.
const NEEDS: &str = "a scenario is a mapping with at least name:, algorithm: and nodes:";

/// Parses and validates a YAML scenario with the default [`LoadOptions`];
/// `file` names it in messages.
pub fn load_str(file: &str, text: &str) -> Result<Plan, LoadError> {
    load_str_with(file, text, &LoadOptions::default())
}

/// Parses and validates a YAML scenario; `file` names it in messages. A plan
/// whose estimated memory is over `opts.max_memory` is refused at `nodes:`.
pub fn load_str_with(file: &str, text: &str, opts: &LoadOptions) -> Result<Plan, LoadError> {
    if is_blank(text) {
        return Err(LoadError::from(Diagnostic {
            file: file.to_string(),
            line: Some(1),
            col: Some(1),
            message: format!("the file is empty: {NEEDS} (see scenarios/ for examples)"),
        }));
    }
    check_nesting(file, text)?;
    let scenario: Scenario = serde_yaml::from_str(text).map_err(|e| LoadError::from(form_diagnostic(file, text, &e)))?;
    let plan = validate(&scenario).map_err(|problems| {
        let targets: Vec<Target<'_>> = problems.iter().map(|p| Target { path: &p.path, skip: 0 }).collect();
        let found = positions::locate_all(text, &targets);
        let mut diags: Vec<Diagnostic> = problems
            .iter()
            .zip(found)
            .map(|(p, at)| {
                let (line, col) = at.map_or((None, None), |(l, c)| (Some(l), Some(c)));
                Diagnostic { file: file.to_string(), line, col, message: p.to_string() }
            })
            .collect();
        // Stable: problems at the same place keep the order validation found them.
        diags.sort_by_key(|d| (d.line.unwrap_or(usize::MAX), d.col.unwrap_or(0)));
        LoadError::new(diags)
    })?;
    if let Some(message) = budget::over_limit(plan.algorithm, &plan.nodes, opts.max_memory) {
        let at = locate(text, &[Seg::Key("nodes".into())]);
        return Err(LoadError::from(Diagnostic {
            file: file.to_string(),
            line: at.map(|a| a.0),
            col: at.map(|a| a.1),
            message: format!("nodes: {message}"),
        }));
    }
    Ok(plan)
}

/// How deep brackets (`[`, `{`) may nest in a scenario: far more than any
/// scenario needs, far less than what makes the parser slow.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Refuses flow collections nested deeper than [`MAX_FLOW_DEPTH`], pointing at
/// the first bracket too deep. A quick lexical pass: quotes, comments and
/// block scalars (`|`, `>`) are skipped, and outside brackets a `[` or `{`
/// counts only where a value can start (so `note: a[1]` is text).
fn check_nesting(file: &str, text: &str) -> Result<(), LoadError> {
    match too_deep(text) {
        None => Ok(()),
        Some((line, col)) => Err(LoadError::from(Diagnostic {
            file: file.to_string(),
            line: Some(line),
            col: Some(col),
            message: format!(
                "brackets nested more than {MAX_FLOW_DEPTH} deep: a scenario nests lists and mappings a few levels at most (is a closing bracket missing, or the file not a scenario?)"
            ),
        })),
    }
}

/// The 1-based line and column of the first `[` or `{` nested deeper than
/// [`MAX_FLOW_DEPTH`], if any.
fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    // A block scalar's content: lines indented more than this.
    let mut block_scalar: Option<usize> = None;
    for (n, line) in text.split('\n').enumerate() {
        let indent = line.chars().take_while(|c| *c == ' ').count();
        if let Some(parent) = block_scalar {
            if line.trim().is_empty() || indent > parent {
                continue;
            }
            block_scalar = None;
        }
        // The last significant character; `None` at the start of a line in
        // block context, where a value may start.
        let mut last: Option<char> = if depth == 0 && quote.is_none() { None } else { Some(',') };
        let mut prev_space = true;
        let mut property = false;
        let mut chars = line.chars().enumerate().peekable();
        while let Some((i, c)) = chars.next() {
            if let Some(q) = quote {
                match (q, c) {
                    ('"', '\\') => {
                        chars.next();
                    }
                    ('\'', '\'') if chars.peek().is_some_and(|(_, d)| *d == '\'') => {
                        chars.next();
                    }
                    (q, c) if q == c => {
                        quote = None;
                        last = Some(c);
                    }
                    _ => {}
                }
                continue;
            }
            if c == ' ' || c == '\t' || c == '\r' {
                prev_space = true;
                property = false;
                continue;
            }
            if property {
                continue;
            }
            let value_start = if depth > 0 {
                matches!(last, Some('[' | '{' | ',' | ':' | '?'))
            } else {
                last.is_none() || (prev_space && matches!(last, Some('-' | ':' | '?')))
            };
            let after_space = std::mem::replace(&mut prev_space, false);
            match c {
                '#' if after_space => break,
                '"' | '\'' if value_start => quote = Some(c),
                // A tag or an anchor before a value leaves the value's start as it was.
                '!' | '&' if value_start => {
                    property = true;
                    continue;
                }
                '|' | '>' if depth == 0 && value_start => {
                    block_scalar = Some(indent);
                    break;
                }
                '[' | '{' if depth > 0 || value_start => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Some((n + 1, i + 1));
                    }
                }
                ']' | '}' if depth > 0 => depth -= 1,
                _ => {}
            }
            last = Some(c);
        }
    }
    None
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

/// The 1-based line and column of the value at `path` (or of the key itself
/// for a final [`Seg::KeyName`]), if the document has it.
pub fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    locate_nth(text, path, 0)
}

/// Like [`locate`], but a final [`Seg::KeyName`] finds the key's occurrence
/// after `skip` earlier ones in the same mapping (a repeated key).
fn locate_nth(text: &str, path: &[Seg], skip: usize) -> Option<(usize, usize)> {
    positions::locate_all(text, &[Target { path, skip }])[0]
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

    #[test]
    fn nesting_counts_brackets_where_values_start() {
        let deep = |open: &str, close: &str, n: usize| format!("{}{}", open.repeat(n), close.repeat(n));
        let at = |text: &str| too_deep(text);
        assert_eq!(at(&format!("a: {}\n", deep("[", "]", MAX_FLOW_DEPTH))), None);
        assert_eq!(at(&format!("a: {}\n", deep("[", "]", MAX_FLOW_DEPTH + 1))), Some((1, 4 + MAX_FLOW_DEPTH)));
        assert_eq!(at(&format!("a:\n  - !!seq {}\n", deep("{b: ", "}", 100))), Some((2, 11 + 4 * MAX_FLOW_DEPTH)));
        assert_eq!(at(&format!("x: &a\n  {}", "[".repeat(100))), Some((2, 3 + MAX_FLOW_DEPTH)));
        // Text, not brackets: in a plain scalar, quotes, comments, block scalars.
        for text in [
            format!("note: a{}\n", "[".repeat(100)),
            format!("note: '{}'\n", "[".repeat(100)),
            format!("note: \"\\\"{}\"\n", "[".repeat(100)),
            format!("note: x # {}\n", "[".repeat(100)),
            format!("note: |\n  '\n  {}\nname: t\n", "[".repeat(100)),
            format!("note: [it''s, 'it''s {}']\n", "[".repeat(100)),
        ] {
            assert_eq!(at(&text), None, "{text}");
        }
        // A quote inside a plain scalar does not hide the brackets after it.
        assert!(at(&format!("a: [b 'c, {}]\n", "[".repeat(100))).is_some());
    }
}
