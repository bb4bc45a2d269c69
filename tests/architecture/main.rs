//! The house's layers, read from the code: every `crate::…` path in `src/`
//! gives an edge between two top-level modules (`src/<module>.rs` or
//! `src/<module>/`), and the module graph must have no cycle except the ones
//! still listed in `KNOWN_BACK_EDGES`, a ratchet that may only shrink. Every
//! import must point down `LAYERS` unless it is such a known back edge.
//!
//! A known back edge that is gone must be struck from the list (the test says
//! so), so the list always tells the truth about what is left to untangle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Edges (from, to) that still close a cycle between top-level modules.
/// Remove an entry when its imports are gone; never add one.
const KNOWN_BACK_EDGES: &[(&str, &str)] = &[
    ("algorithms", "check"),
    ("algorithms", "engine"),
    ("algorithms", "live"),
    ("algorithms", "report"),
    ("algorithms", "rmi"),
    ("algorithms", "scenario"),
    ("algorithms", "trace"),
    ("check", "engine"),
    ("check", "scenario"),
    ("engine", "report"),
    ("engine", "transport"),
    ("process", "check"),
    ("process", "scenario"),
    ("report", "transport"),
    ("scenario", "engine"),
    ("scenario", "transport"),
    ("trace", "engine"),
    ("trace", "report"),
    ("trace", "scenario"),
    ("transport", "bench"),
];

/// The layers from the bottom up: a module may import only modules before it.
/// The contract comes first; the command line, which only the binary has, last.
const LAYERS: &[&str] = &[
    "process",
    "algorithms",
    "trace",
    "check",
    "scenario",
    "engine",
    "report",
    "snapshot",
    "transport",
    "live",
    "bench",
    "rmi",
    "tools",
    "cli",
];

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("src/ is readable").map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for lib.rs and
/// the binary's main.rs, which stand above every module).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// The code without comments and string literals, so that a doc example or
/// a message text naming `crate::x` is not an import.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !in_str && c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' && !(prev == '\'' && chars.get(i + 1) == Some(&'\'')) {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = if prev == '\\' && c == '\\' { ' ' } else { c };
            i += 1;
        }
        out.push('\n');
    }
    out
}

/// The top-level modules a piece of code names through `crate::`, including
/// the members of a `use crate::{a, b::c}` group.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let mut rest = code;
    while let Some(pos) = rest.find("crate::") {
        let before = rest[..pos].chars().next_back();
        rest = &rest[pos + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::`, `mycrate::`
        }
        let trimmed = rest.trim_start();
        if let Some(group) = trimmed.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            let mut at_start = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => at_start = true,
                    c if at_start && (c.is_alphanumeric() || c == '_') => item.push(c),
                    _ if at_start && !item.is_empty() => {
                        refs.insert(std::mem::take(&mut item));
                        at_start = false;
                    }
                    _ => {}
                }
            }
            if !item.is_empty() {
                refs.insert(item);
            }
        } else {
            let name: String = trimmed.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                refs.insert(name);
            }
        }
    }
    refs
}

fn module_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let mut graph: Graph = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for file in &files {
        let Some(from) = module_of(&src, file) else { continue };
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        for to in crate_refs(&code) {
            if to != from && modules.contains(&to) {
                graph.get_mut(&from).unwrap().insert(to);
            }
        }
    }
    graph
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(graph: &Graph) -> Vec<BTreeSet<String>> {
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in &s.graph[v] {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                s.out.push(comp);
            }
        }
    }
    let mut s =
        State { graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), on_stack: BTreeSet::new(), out: Vec::new() };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// The graph without the known back edges.
fn without_known(graph: &Graph) -> Graph {
    let mut g = graph.clone();
    for (from, to) in KNOWN_BACK_EDGES {
        if let Some(set) = g.get_mut(*from) {
            set.remove(*to);
        }
    }
    g
}

fn describe(graph: &Graph, comp: &BTreeSet<String>) -> String {
    let mut lines = Vec::new();
    for from in comp {
        for to in &graph[from] {
            if comp.contains(to) {
                lines.push(format!("  {from} -> {to}"));
            }
        }
    }
    lines.join("\n")
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let graph = module_graph();
    let left = without_known(&graph);
    let found = cycles(&left);
    let text: Vec<String> = found.iter().map(|c| describe(&left, c)).collect();
    assert!(found.is_empty(), "import cycles between top-level modules (edges inside each):\n{}", text.join("\n\n"));
}

#[test]
fn every_known_back_edge_still_exists() {
    let graph = module_graph();
    let gone: Vec<String> = KNOWN_BACK_EDGES
        .iter()
        .filter(|(f, t)| !graph.get(*f).is_some_and(|s| s.contains(*t)))
        .map(|(f, t)| format!("({f:?}, {t:?})"))
        .collect();
    assert!(gone.is_empty(), "these known back edges are gone: strike them from KNOWN_BACK_EDGES: {}", gone.join(", "));
}

#[test]
fn every_import_points_down_the_layers() {
    let graph = module_graph();
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut wrong = Vec::new();
    for (from, tos) in &graph {
        let Some(rf) = rank(from) else {
            wrong.push(format!("{from} is not in LAYERS: give it its place"));
            continue;
        };
        for to in tos {
            let up = rank(to).is_none_or(|rt| rt > rf);
            if up && !KNOWN_BACK_EDGES.contains(&(from.as_str(), to.as_str())) {
                wrong.push(format!("{from} imports {to}, which is above it"));
            }
        }
    }
    assert!(wrong.is_empty(), "layer rules broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_reader_sees_imports_and_only_imports() {
    let code = code_only(
        "use crate::{engine::x, trace::{A, B}, units};\nlet s = \"crate::fake\"; // crate::comment\nfoo(crate::check::run());\n$crate::macro_path;",
    );
    let refs: Vec<String> = crate_refs(&code).into_iter().collect();
    assert_eq!(refs, ["check", "engine", "trace", "units"]);
    let mut g = Graph::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        g.entry(a.into()).or_default().insert(b.into());
        g.entry(b.into()).or_default();
    }
    let comps = cycles(&g);
    assert_eq!(comps.len(), 1);
    assert_eq!(comps[0].iter().cloned().collect::<Vec<_>>(), ["a", "b", "c"]);
}
