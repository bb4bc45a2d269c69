//! Where the values and keys of a YAML document are: one pass over libyaml's
//! events finds the line and column of every path asked for, so that pointing
//! at a thousand problems costs one parse of the file, not a thousand.
//!
//! The positions are those serde_yaml reports (the start of the node's event,
//! 1-based), so a located meaning error points where a form error at the same
//! value would. libyaml is the parser serde_yaml itself runs (the
//! `unsafe-libyaml` translation); [`Events`] is the one place that talks to it.

use std::collections::{HashMap, HashSet};
use std::mem::MaybeUninit;

use unsafe_libyaml as unsafe_sys;

use super::validate::Seg;

/// A 1-based line and column.
pub type Pos = (usize, usize);

/// What to find: the value at `path`, or, when `path` ends in a
/// [`Seg::KeyName`], that key itself — its occurrence after `skip` earlier ones
/// in the same mapping (a repeated key).
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub path: &'a [Seg],
    pub skip: usize,
}

/// The position of each target, in order; `None` where the document has no
/// such value (or is not valid YAML up to it).
pub fn locate_all(text: &str, targets: &[Target<'_>]) -> Vec<Option<Pos>> {
    // A key name inside a path stands for its value, as a key.
    let canon = |p: &[Seg]| -> Vec<Seg> {
        p.iter()
            .enumerate()
            .map(|(i, s)| match s {
                Seg::KeyName(k) if i + 1 < p.len() => Seg::Key(k.clone()),
                other => other.clone(),
            })
            .collect()
    };
    let wanted: Vec<Vec<Seg>> = targets.iter().map(|t| canon(t.path)).collect();
    let values: HashSet<&[Seg]> = wanted.iter().filter(|p| !matches!(p.last(), Some(Seg::KeyName(_)))).map(Vec::as_slice).collect();
    let keys: HashSet<&[Seg]> = wanted.iter().filter(|p| matches!(p.last(), Some(Seg::KeyName(_)))).map(Vec::as_slice).collect();
    let mut found_values: HashMap<Vec<Seg>, Pos> = HashMap::new();
    let mut found_keys: HashMap<Vec<Seg>, Vec<Pos>> = HashMap::new();
    walk(text, |path, is_key, at| {
        if is_key {
            if keys.contains(path) {
                found_keys.entry(path.to_vec()).or_default().push(at);
            }
        } else if values.contains(path) {
            found_values.entry(path.to_vec()).or_insert(at);
        }
    });
    wanted
        .iter()
        .zip(targets)
        .map(|(p, t)| match p.last() {
            Some(Seg::KeyName(_)) => found_keys.get(p).and_then(|all| all.get(t.skip)).copied(),
            _ => found_values.get(p).copied(),
        })
        .collect()
}

/// One open collection while walking.
enum Frame {
    Seq {
        next: usize,
        has_seg: bool,
    },
    /// `key`: `None` while the next node is a key; then the key read (`None`
    /// for a key that is itself a collection, which no path names).
    Map {
        key: Option<Option<String>>,
        has_seg: bool,
    },
}

/// Calls `visit(path, is_key, position)` for every node of the first
/// document: each value with its path, each scalar key with its parent's path
/// and a final [`Seg::KeyName`]. Stops quietly at a syntax error.
fn walk(text: &str, mut visit: impl FnMut(&[Seg], bool, Pos)) {
    let Some(mut events) = Events::new(text) else { return };
    let mut frames: Vec<Frame> = Vec::new();
    let mut path: Vec<Seg> = Vec::new();
    // Depth inside a collection used as a mapping key: nothing there is named.
    let mut in_complex_key = 0usize;
    while let Some(event) = events.next() {
        let (at, node) = match event {
            Event::DocumentEnd | Event::StreamEnd => return,
            Event::Other => continue,
            Event::End => {
                if in_complex_key > 0 {
                    in_complex_key -= 1;
                    continue;
                }
                if let Some(Frame::Seq { has_seg: true, .. } | Frame::Map { has_seg: true, .. }) = frames.pop() {
                    path.pop();
                }
                continue;
            }
            Event::Node { at, node } => (at, node),
        };
        if in_complex_key > 0 {
            in_complex_key += usize::from(node.opens());
            continue;
        }
        let seg = match frames.last_mut() {
            None => None,
            Some(Frame::Seq { next, .. }) => {
                *next += 1;
                Some(Seg::Index(*next - 1))
            }
            Some(Frame::Map { key: key @ None, .. }) => {
                match node {
                    Node::Scalar { value, plain } => {
                        let name = key_text(&value, plain);
                        path.push(Seg::KeyName(name.clone()));
                        visit(&path, true, at);
                        path.pop();
                        *key = Some(Some(name));
                    }
                    Node::Alias => *key = Some(None),
                    Node::Seq | Node::Map => {
                        *key = Some(None);
                        in_complex_key = 1;
                    }
                }
                continue;
            }
            Some(Frame::Map { key: key @ Some(_), .. }) => {
                // A complex key's value gets a name no path holds.
                let name = key.take().flatten().unwrap_or_else(|| "\u{0}complex key".into());
                Some(Seg::Key(name))
            }
        };
        let has_seg = seg.is_some();
        path.extend(seg);
        visit(&path, false, at);
        match node {
            Node::Seq => frames.push(Frame::Seq { next: 0, has_seg }),
            Node::Map => frames.push(Frame::Map { key: None, has_seg }),
            Node::Scalar { .. } | Node::Alias => {
                if has_seg {
                    path.pop();
                }
            }
        }
    }
}

/// A plain key as serde_yaml reads it: a whole number or a boolean in its
/// usual spelling (`0x10` is `16`, `True` is `true`), anything else as written.
fn key_text(value: &str, plain: bool) -> String {
    if !plain {
        return value.to_string();
    }
    let (sign, digits) = match value.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", value.strip_prefix('+').unwrap_or(value)),
    };
    let number = if let Some(h) = digits.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()
    } else if let Some(o) = digits.strip_prefix("0o") {
        i128::from_str_radix(o, 8).ok()
    } else {
        digits.parse::<i128>().ok().filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
    };
    match (number, value) {
        (Some(n), _) => (if sign == "-" { -n } else { n }).to_string(),
        (None, "true" | "True" | "TRUE") => "true".into(),
        (None, "false" | "False" | "FALSE") => "false".into(),
        _ => value.to_string(),
    }
}

/// A node's kind, as the walk needs it.
enum Node {
    Scalar { value: String, plain: bool },
    Alias,
    Seq,
    Map,
}

impl Node {
    fn opens(&self) -> bool {
        matches!(self, Node::Seq | Node::Map)
    }
}

enum Event {
    Node {
        at: Pos,
        node: Node,
    },
    /// The end of a sequence or a mapping.
    End,
    DocumentEnd,
    StreamEnd,
    Other,
}

/// libyaml's event parser over a borrowed text.
struct Events<'t> {
    /// Boxed: libyaml keeps a pointer to the parser inside the parser, so it
    /// must not move once its input is set.
    parser: Box<MaybeUninit<unsafe_sys::yaml_parser_t>>,
    _text: std::marker::PhantomData<&'t str>,
}

impl<'t> Events<'t> {
    fn new(text: &'t str) -> Option<Events<'t>> {
        let mut parser = Box::new(MaybeUninit::<unsafe_sys::yaml_parser_t>::uninit());
        // SAFETY: `yaml_parser_initialize` zeroes and sets up the boxed parser
        // (on failure it has allocated nothing that needs freeing); the input
        // pointer stays valid for 't, which the parser cannot outlive.
        unsafe {
            if unsafe_sys::yaml_parser_initialize(parser.as_mut_ptr()).fail {
                return None;
            }
            unsafe_sys::yaml_parser_set_encoding(parser.as_mut_ptr(), unsafe_sys::YAML_UTF8_ENCODING);
            unsafe_sys::yaml_parser_set_input_string(parser.as_mut_ptr(), text.as_ptr(), text.len() as u64);
        }
        Some(Events { parser, _text: std::marker::PhantomData })
    }

    /// The next event, or `None` at an error (the walk stops there).
    fn next(&mut self) -> Option<Event> {
        let mut raw = MaybeUninit::<unsafe_sys::yaml_event_t>::uninit();
        // SAFETY: the parser was initialised in `new`; a successful
        // `yaml_parser_parse` fills `raw`, whose scalar value is read (and
        // copied) before `yaml_event_delete` frees it.
        unsafe {
            let parser = self.parser.as_mut_ptr();
            if unsafe_sys::yaml_parser_parse(parser, raw.as_mut_ptr()).fail {
                return None;
            }
            let e = raw.as_mut_ptr();
            let mark = (*e).start_mark;
            let at = (mark.line as usize + 1, mark.column as usize + 1);
            let event = match (*e).type_ {
                unsafe_sys::YAML_SCALAR_EVENT => {
                    let s = (*e).data.scalar;
                    let bytes = if s.value.is_null() { &[][..] } else { std::slice::from_raw_parts(s.value, s.length as usize) };
                    let value = String::from_utf8_lossy(bytes).into_owned();
                    Event::Node { at, node: Node::Scalar { value, plain: s.style == unsafe_sys::YAML_PLAIN_SCALAR_STYLE } }
                }
                unsafe_sys::YAML_ALIAS_EVENT => Event::Node { at, node: Node::Alias },
                unsafe_sys::YAML_SEQUENCE_START_EVENT => Event::Node { at, node: Node::Seq },
                unsafe_sys::YAML_MAPPING_START_EVENT => Event::Node { at, node: Node::Map },
                unsafe_sys::YAML_SEQUENCE_END_EVENT | unsafe_sys::YAML_MAPPING_END_EVENT => Event::End,
                unsafe_sys::YAML_DOCUMENT_END_EVENT => Event::DocumentEnd,
                unsafe_sys::YAML_STREAM_END_EVENT => Event::StreamEnd,
                _ => Event::Other,
            };
            unsafe_sys::yaml_event_delete(e);
            Some(event)
        }
    }
}

impl Drop for Events<'_> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new` (a failed initialisation returns no `Events`).
        unsafe { unsafe_sys::yaml_parser_delete(self.parser.as_mut_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Seg {
        Seg::Key(k.into())
    }

    fn one(text: &str, path: &[Seg]) -> Option<Pos> {
        locate_all(text, &[Target { path, skip: 0 }])[0]
    }

    #[test]
    fn finds_values_keys_repeated_keys_and_the_root() {
        let text = "a: 1\nb:\n  - x\n  - {c: [7, 8], 0x9: q}\na: 2\n? [k]\n: v\nd: *x\n";
        assert_eq!(one(text, &[]), Some((1, 1)));
        assert_eq!(one(text, &[key("a")]), Some((1, 4)));
        assert_eq!(one(text, &[key("b"), Seg::Index(1), key("c"), Seg::Index(1)]), Some((4, 13)));
        assert_eq!(one(text, &[key("b"), Seg::Index(1), Seg::KeyName("9".into())]), Some((4, 17)));
        assert_eq!(locate_all(text, &[Target { path: &[Seg::KeyName("a".into())], skip: 1 }]), vec![Some((5, 1))]);
        assert_eq!(one(text, &[Seg::KeyName("d".into())]), Some((8, 1)));
        assert_eq!(one(text, &[key("b"), Seg::Index(2)]), None);
        assert_eq!(one("a: [1\n", &[key("a"), Seg::Index(0)]), Some((1, 5)), "what comes before a syntax error is found");
    }

    #[test]
    fn plain_keys_read_as_serde_yaml_reads_them() {
        assert_eq!(key_text("0x10", true), "16");
        assert_eq!(key_text("+7", true), "7");
        assert_eq!(key_text("-3", true), "-3");
        assert_eq!(key_text("True", true), "true");
        assert_eq!(key_text("0x10", false), "0x10");
        assert_eq!(key_text("1e3", true), "1e3");
    }

    #[test]
    fn many_targets_in_one_pass() {
        let text: String = (0..2000).map(|i| format!("k{i}: {i}\n")).collect();
        let paths: Vec<Vec<Seg>> = (0..2000).map(|i| vec![Seg::KeyName(format!("k{i}"))]).collect();
        let targets: Vec<Target<'_>> = paths.iter().map(|p| Target { path: p, skip: 0 }).collect();
        let found = locate_all(&text, &targets);
        assert!(found.iter().enumerate().all(|(i, p)| *p == Some((i + 1, 1))));
    }
}
