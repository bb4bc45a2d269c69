//! The string functions that can run for long inside one C call, replaced by
//! bounded ones: `find`, `match`, `gmatch` and `gsub` on the metered matcher
//! of [`super::pattern`], and `rep`, whose C loop runs `n` times even when
//! the result is empty (`string.rep("", math.maxinteger)`) and which may not
//! build a string larger than the script's memory limit.
//!
//! Each Rust function answers `true, results…` or `false, error, level`;
//! `prelude.lua` wraps it so that its errors are Lua strings located at the
//! caller (as `luaL_error` words them), and errors of the replacement
//! functions of `gsub` come through unchanged.

use std::cell::Cell;

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::host::{Host, LResult, with_host};
use super::limits::ReentryGuard;
use super::pattern::{Capture, Fail, MResult, Matcher, find_plain, no_specials, start_position};

/// `bad argument #n to 'name' (…)`, as Lua words it.
fn bad_argument(n: usize, name: &str, message: impl std::fmt::Display) -> Fail {
    Fail::Message(format!("bad argument #{n} to '{name}' ({message})"))
}

fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(other) => other.type_name(),
    }
}

/// A string argument; numbers are written as Lua writes them.
fn string_arg(lua: &Lua, args: &[Value], n: usize, name: &str) -> MResult<mlua::LuaString> {
    match args.get(n - 1) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => {
            lua.coerce_string(v.clone())?.ok_or_else(|| bad_argument(n, name, "string expected, got number"))
        }
        other => Err(bad_argument(n, name, format!("string expected, got {}", type_name(other)))),
    }
}

/// An optional integer argument.
fn integer_arg(lua: &Lua, args: &[Value], n: usize, name: &str, default: i64) -> MResult<i64> {
    match args.get(n - 1) {
        None | Some(Value::Nil) => Ok(default),
        Some(Value::Integer(i)) => Ok(*i),
        Some(v @ (Value::Number(_) | Value::String(_))) => match lua.coerce_integer(v.clone())? {
            Some(i) => Ok(i),
            None if matches!(v, Value::Number(_)) => Err(bad_argument(n, name, "number has no integer representation")),
            None => Err(bad_argument(n, name, "number expected, got string")),
        },
        other => Err(bad_argument(n, name, format!("number expected, got {}", type_name(other)))),
    }
}

/// A capture as a Lua value.
fn capture_value(lua: &Lua, src: &[u8], c: Capture) -> LResult<Value> {
    Ok(match c {
        Capture::Text(a, b) => Value::String(lua.create_string(&src[a..b])?),
        Capture::Position(p) => Value::Integer(p as i64),
    })
}

fn capture_values(lua: &Lua, src: &[u8], caps: Vec<Capture>) -> LResult<Vec<Value>> {
    caps.into_iter().map(|c| capture_value(lua, src, c)).collect()
}

/// The answer of a function to its Lua wrapper: `true, results…`, or
/// `false, error, level` (`level` as for Lua's `error`: 2 is the caller of
/// the wrapped function, 3 when the wrapper does not tail-call).
fn answer(lua: &Lua, r: MResult<Vec<Value>>, level: i64) -> LResult<MultiValue> {
    match r {
        Ok(values) => Ok(std::iter::once(Value::Boolean(true)).chain(values).collect()),
        Err(Fail::Message(m)) => {
            Ok(MultiValue::from_iter([Value::Boolean(false), Value::String(lua.create_string(&m)?), Value::Integer(level)]))
        }
        Err(Fail::Raise(v)) => Ok(MultiValue::from_iter([Value::Boolean(false), v, Value::Integer(0)])),
        Err(Fail::Lua(e)) => Err(e),
    }
}

/// `string.find` and `string.match` (`str_find_aux`).
fn find_aux(lua: &Lua, args: MultiValue, find: bool) -> MResult<Vec<Value>> {
    let name = if find { "find" } else { "match" };
    let args: Vec<Value> = args.into_iter().collect();
    let s = string_arg(lua, &args, 1, name)?;
    let p = string_arg(lua, &args, 2, name)?;
    let (src, pat) = (s.as_bytes(), p.as_bytes());
    let init = start_position(integer_arg(lua, &args, 3, name, 1)?, src.len()) - 1;
    if init > src.len() {
        return Ok(vec![Value::Nil]);
    }
    let plain = args.get(3).is_some_and(|v| !matches!(v, Value::Nil | Value::Boolean(false)));
    if find && (plain || no_specials(&pat)) {
        return Ok(match find_plain(&src[init..], &pat) {
            Some(at) => vec![Value::Integer((init + at + 1) as i64), Value::Integer((init + at + pat.len()) as i64)],
            None => vec![Value::Nil],
        });
    }
    let (anchor, pat) = match pat.first() {
        Some(b'^') => (true, &pat[1..]),
        _ => (false, &pat[..]),
    };
    let mut m = Matcher::new(lua, &src, pat);
    let mut s1 = init;
    loop {
        if let Some(e) = m.match_at(s1)? {
            m.meter.flush()?;
            if find {
                let mut out = vec![Value::Integer(s1 as i64 + 1), Value::Integer(e as i64)];
                out.extend(capture_values(lua, &src, m.captures(s1, e, false)?)?);
                return Ok(out);
            }
            return Ok(capture_values(lua, &src, m.captures(s1, e, true)?)?);
        }
        if s1 >= src.len() || anchor {
            break;
        }
        s1 += 1;
    }
    m.meter.flush()?;
    Ok(vec![Value::Nil])
}

/// `string.gmatch`: an iterator over the matches, as a closure.
fn gmatch(lua: &Lua, args: MultiValue) -> MResult<Vec<Value>> {
    let args: Vec<Value> = args.into_iter().collect();
    let s = string_arg(lua, &args, 1, "gmatch")?;
    let p = string_arg(lua, &args, 2, "gmatch")?;
    let len = s.as_bytes().len();
    let init = (start_position(integer_arg(lua, &args, 3, "gmatch", 1)?, len) - 1).min(len + 1);
    let next = Cell::new(init);
    let last: Cell<Option<usize>> = Cell::new(None);
    let iterator = lua.create_function(move |lua, ()| {
        let step = || -> MResult<Vec<Value>> {
            let (src, pat) = (s.as_bytes(), p.as_bytes());
            let mut m = Matcher::new(lua, &src, &pat);
            let mut at = next.get();
            while at <= src.len() {
                if let Some(e) = m.match_at(at)?
                    && Some(e) != last.get()
                {
                    m.meter.flush()?;
                    next.set(e);
                    last.set(Some(e));
                    return Ok(capture_values(lua, &src, m.captures(at, e, true)?)?);
                }
                at += 1;
            }
            m.meter.flush()?;
            Ok(Vec::new())
        };
        answer(lua, step(), 2)
    })?;
    Ok(vec![Value::Function(iterator)])
}

/// What `gsub` replaces each match with.
enum Replacement {
    Text(mlua::LuaString),
    Call(Function),
    Index(Table),
}

/// `string.gsub`, its output counted against the memory limit.
fn gsub(lua: &Lua, protected: &Function, index: &Function, args: MultiValue) -> MResult<Vec<Value>> {
    let args: Vec<Value> = args.into_iter().collect();
    let s = string_arg(lua, &args, 1, "gsub")?;
    let p = string_arg(lua, &args, 2, "gsub")?;
    let repl = match args.get(2) {
        Some(Value::String(r)) => Replacement::Text(r.clone()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => Replacement::Text(string_arg(lua, std::slice::from_ref(v), 1, "gsub")?),
        Some(Value::Function(f)) => Replacement::Call(f.clone()),
        Some(Value::Table(t)) => Replacement::Index(t.clone()),
        other => return Err(bad_argument(3, "gsub", format!("string/function/table expected, got {}", type_name(other)))),
    };
    let (src, pat) = (s.as_bytes(), p.as_bytes());
    let max = integer_arg(lua, &args, 4, "gsub", src.len() as i64 + 1)?;
    let (anchor, pat) = match pat.first() {
        Some(b'^') => (true, &pat[1..]),
        _ => (false, &pat[..]),
    };
    let limit = lua.app_data_ref::<Host>().map_or(0, |h| h.memory);
    let too_large = || Fail::Lua(mlua::Error::MemoryError("string.gsub: the result is larger than the memory limit".into()));
    let mut out: Vec<u8> = Vec::new();
    let mut m = Matcher::new(lua, &src, pat);
    let (mut n, mut changed, mut at, mut last) = (0i64, false, 0usize, None);
    let calls = Calls { protected, index };
    while n < max {
        match m.match_at(at)? {
            Some(e) if Some(e) != last => {
                n += 1;
                m.meter.flush()?;
                changed |= add_value(lua, &m, &mut out, &src, (at, e), &repl, &calls)?;
                at = e;
                last = Some(e);
            }
            _ if at < src.len() => {
                out.push(src[at]);
                at += 1;
            }
            _ => break,
        }
        if out.len() > limit {
            return Err(too_large());
        }
        if anchor {
            break;
        }
    }
    m.meter.flush()?;
    if !changed {
        return Ok(vec![Value::String(s.clone()), Value::Integer(n)]);
    }
    out.extend_from_slice(&src[at..]);
    if out.len() > limit {
        return Err(too_large());
    }
    Ok(vec![Value::String(lua.create_string(&out)?), Value::Integer(n)])
}

/// `pcall`, and `function(t, k) return t[k] end`: how `gsub` calls Lua code
/// and keeps its error values as they are.
struct Calls<'f> {
    protected: &'f Function,
    index: &'f Function,
}

impl Calls<'_> {
    fn call(&self, lua: &Lua, f: &Function, args: Vec<Value>) -> MResult<Value> {
        let _guard = ReentryGuard::enter(lua, "string.gsub")?;
        let mut results =
            self.protected.call::<MultiValue>(std::iter::once(Value::Function(f.clone())).chain(args).collect::<MultiValue>())?.into_iter();
        match results.next() {
            Some(Value::Boolean(true)) => Ok(results.next().unwrap_or(Value::Nil)),
            _ => Err(Fail::Raise(results.next().unwrap_or(Value::Nil))),
        }
    }
}

/// Appends the replacement of the match `s..e`; true if the text changed.
fn add_value(
    lua: &Lua,
    m: &Matcher<'_, '_>,
    out: &mut Vec<u8>,
    src: &[u8],
    (s, e): (usize, usize),
    repl: &Replacement,
    calls: &Calls<'_>,
) -> MResult<bool> {
    let value = match repl {
        Replacement::Text(r) => {
            add_text(m, out, src, s, e, &r.as_bytes())?;
            return Ok(true);
        }
        Replacement::Call(f) => calls.call(lua, f, capture_values(lua, src, m.captures(s, e, true)?)?)?,
        Replacement::Index(t) => {
            let key = capture_value(lua, src, m.capture(0, s, e)?)?;
            calls.call(lua, calls.index, vec![Value::Table(t.clone()), key])?
        }
    };
    match value {
        Value::Nil | Value::Boolean(false) => {
            out.extend_from_slice(&src[s..e]);
            Ok(false)
        }
        v @ (Value::String(_) | Value::Integer(_) | Value::Number(_)) => {
            let text = string_arg(lua, &[v], 1, "gsub")?;
            out.extend_from_slice(&text.as_bytes());
            Ok(true)
        }
        other => Err(Fail::Message(format!("invalid replacement value (a {})", other.type_name()))),
    }
}

/// A replacement string with `%0`–`%9` and `%%` (`add_s`).
fn add_text(m: &Matcher<'_, '_>, out: &mut Vec<u8>, src: &[u8], s: usize, e: usize, news: &[u8]) -> MResult<()> {
    let mut i = 0;
    while i < news.len() {
        let c = news[i];
        i += 1;
        if c != b'%' {
            out.push(c);
            continue;
        }
        let d = news.get(i).copied().unwrap_or(0);
        i += 1;
        match d {
            b'%' => out.push(b'%'),
            b'0' => out.extend_from_slice(&src[s..e]),
            b'1'..=b'9' => match m.capture(usize::from(d - b'1'), s, e)? {
                Capture::Text(a, b) => out.extend_from_slice(&src[a..b]),
                Capture::Position(p) => out.extend_from_slice(p.to_string().as_bytes()),
            },
            _ => return Err(Fail::Message("invalid use of '%' in replacement string".into())),
        }
    }
    Ok(())
}

/// `string.rep` with its size checked first: no empty loop of `n` turns, no
/// string beyond the memory limit.
fn rep(lua: &Lua, raw: &Function, args: MultiValue) -> MResult<Vec<Value>> {
    let args: Vec<Value> = args.into_iter().collect();
    let s = string_arg(lua, &args, 1, "rep")?;
    if matches!(args.get(1), None | Some(Value::Nil)) {
        return Err(bad_argument(2, "rep", format!("number expected, got {}", type_name(args.get(1)))));
    }
    let n = integer_arg(lua, &args, 2, "rep", 0)?;
    let sep_len = match args.get(2) {
        None | Some(Value::Nil) => 0,
        Some(_) => string_arg(lua, &args, 3, "rep")?.as_bytes().len(),
    };
    let l = s.as_bytes().len();
    if n <= 0 || l + sep_len == 0 {
        return Ok(vec![Value::String(lua.create_string("")?)]);
    }
    let n = n as u128;
    let total = n * l as u128 + (n - 1) * sep_len as u128;
    let limit = with_host(lua, |h| h.memory)?;
    if total > limit as u128 {
        return Err(Fail::Message(format!(
            "string.rep: the result would be {total} bytes, more than the memory limit of {} MiB",
            limit >> 20
        )));
    }
    Ok(raw.call::<MultiValue>(MultiValue::from_iter(args))?.into_iter().collect())
}

/// Puts the bounded functions in the `string` table, to be wrapped by
/// `prelude.lua` (which also covers the strings' metatable: its `__index`
/// is the `string` table, so `("x"):rep(9)` is the bounded one too).
pub(super) fn install(lua: &Lua) -> LResult<()> {
    let g = lua.globals();
    let string: Table = g.raw_get("string")?;
    let protected: Function = g.raw_get("pcall")?;
    let index: Function = lua.load("local t, k = ...; return t[k]").set_name("=?").into_function()?;
    string.raw_set("find", lua.create_function(|lua, args: MultiValue| answer(lua, find_aux(lua, args, true), 2))?)?;
    string.raw_set("match", lua.create_function(|lua, args: MultiValue| answer(lua, find_aux(lua, args, false), 2))?)?;
    string.raw_set("gmatch", lua.create_function(|lua, args: MultiValue| answer(lua, gmatch(lua, args), 3))?)?;
    string.raw_set("gsub", lua.create_function(move |lua, args: MultiValue| answer(lua, gsub(lua, &protected, &index, args), 2))?)?;
    let raw: Function = string.raw_get("rep")?;
    string.raw_set("rep", lua.create_function(move |lua, args: MultiValue| answer(lua, rep(lua, &raw, args), 2))?)?;
    Ok(())
}
