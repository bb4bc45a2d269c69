//! How a Lua error becomes `file:line: message`.
//!
//! The script is loaded under its file name ([`chunk_name`]) rather than its
//! path: Lua cuts chunk names to 60 characters ("...ong/path/s.lua"), which
//! lost the file of every error in a deep folder. Messages inside the
//! interpreter — Lua's own and distlab's, as a `pcall` sees them — name the
//! chunk (`s.lua:12: attempt to index a nil value`); the final message names
//! the path. Errors without a location — raised by a C function ("C stack
//! overflow"), or by mlua ("error converting Lua integer to u64") — take the
//! innermost line of the script from their traceback.

use mlua::Lua;

use super::host::{Host, LResult};
use crate::scenario::error::Diagnostic;

/// The name the script's chunk is loaded under (after `=`, as Lua prints
/// it): the file name, short enough for Lua to keep whole.
pub(super) fn chunk_name(file: &str) -> String {
    let name = std::path::Path::new(file).file_name().map_or_else(|| file.to_string(), |n| n.to_string_lossy().into_owned());
    let mut end = name.len().min(48);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    if end == 0 { "script".to_string() } else { name[..end].to_string() }
}

fn chunk_of(lua: &Lua) -> String {
    lua.app_data_ref::<Host>().map(|h| h.budget.chunk.clone()).unwrap_or_default()
}

/// The line of the script that is running: the innermost frame of the
/// script's chunk (a Rust function is level 0; the sandbox's own Lua code,
/// loaded without line information, is skipped).
pub(super) fn script_line(lua: &Lua) -> usize {
    let chunk = chunk_of(lua);
    for level in 0..1000 {
        let frame = lua.inspect_stack(level, |d| {
            let ours = d.source().source.is_some_and(|s| s.strip_prefix('=') == Some(chunk.as_str()));
            (ours, d.current_line())
        });
        match frame {
            None => break,
            Some((true, Some(line))) => return line,
            Some(_) => {}
        }
    }
    0
}

/// An error located at the running line of the script, as Lua would word
/// it: `s.lua:line: message` (the final message names the whole path).
pub(super) fn located(lua: &Lua, message: impl std::fmt::Display) -> mlua::Error {
    mlua::Error::RuntimeError(located_text(lua, message))
}

pub(super) fn located_text(lua: &Lua, message: impl std::fmt::Display) -> String {
    format!("{}:{}: {message}", chunk_of(lua), script_line(lua))
}

/// The message of a Lua error, without mlua's wrapping and tracebacks.
pub(super) fn describe(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => m.split("\nstack traceback:").next().unwrap_or(m).to_string(),
        mlua::Error::MemoryError(_) => "the script went over its memory limit".to_string(),
        mlua::Error::CallbackError { cause, .. } => describe(cause),
        mlua::Error::WithContext { cause, .. } => describe(cause),
        other => other.to_string(),
    }
}

/// The tracebacks an error carries, innermost first.
fn traceback(e: &mlua::Error, out: &mut String) {
    match e {
        mlua::Error::RuntimeError(m) => {
            if let Some((_, t)) = m.split_once("\nstack traceback:") {
                out.push_str(t);
            }
        }
        mlua::Error::CallbackError { traceback: t, cause } => {
            traceback(cause, out);
            out.push('\n');
            out.push_str(t);
        }
        mlua::Error::WithContext { cause, .. } => traceback(cause, out),
        _ => {}
    }
}

/// Each `chunk:N:` of `text` that stands on its own (not the end of a longer
/// name or path): its position and N.
fn chunk_marks<'t>(text: &'t str, chunk: &str) -> impl Iterator<Item = (usize, usize, usize)> + 't {
    let marker = format!("{chunk}:");
    let mut from = 0;
    std::iter::from_fn(move || {
        while let Some(found) = text[from..].find(&marker) {
            let at = from + found;
            from = at + marker.len();
            let standalone = text[..at].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || "/\\._-".contains(c)));
            let digits = text[from..].chars().take_while(char::is_ascii_digit).count();
            if standalone && digits > 0 && text[from + digits..].starts_with(':') {
                let line = text[from..from + digits].parse().unwrap_or(0);
                return Some((at, from + digits, line));
            }
        }
        None
    })
}

/// `text` with every `chunk:N:` written as `file:N:`.
pub(super) fn relocate(text: &str, chunk: &str, file: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    for (at, end, line) in chunk_marks(text, chunk) {
        out.push_str(&text[done..at]);
        out.push_str(&format!("{file}:{line}"));
        done = end;
    }
    out.push_str(&text[done..]);
    out
}

/// Where a failing function of the script was defined, for errors that carry
/// no location at all (memory exhaustion, a wrong return value).
pub(super) struct Origin<'a> {
    pub function: &'a mlua::Function,
    pub what: &'a str,
}

/// The final `file:line: message` of an error that came out of the script:
/// the limit that stopped it if one did (whatever a `pcall` made of it), else
/// Lua's message, relocated and given the script's line when it has none.
pub(super) fn finish(lua: &Lua, e: &mlua::Error, origin: Option<Origin<'_>>) -> String {
    let (file, chunk, memory, tripped, last_line) = match lua.app_data_ref::<Host>() {
        Some(h) => (h.file.clone(), h.budget.chunk.clone(), h.memory, h.budget.tripped(), h.budget.last_line.get()),
        None => (String::new(), String::new(), 0, None, 0),
    };
    if let Some(t) = tripped {
        return relocate(&t, &chunk, &file);
    }
    let message = if is_memory(e) {
        format!("the script went over its memory limit of {} MiB", memory >> 20)
    } else {
        relocate(&describe(e), &chunk, &file)
    };
    if message.starts_with(&format!("{file}:")) {
        return message;
    }
    let mut tb = String::new();
    traceback(e, &mut tb);
    if let Some((_, _, line)) = chunk_marks(&tb, &chunk).next() {
        return format!("{file}:{line}: {message}");
    }
    if last_line > 0 {
        return format!("{file}:{last_line}: {message}");
    }
    match origin {
        Some(o) => format!("{file}:{}: {message} (in the {} defined here)", o.function.info().line_defined.unwrap_or(0), o.what),
        None => format!("{file}: {message}"),
    }
}

/// Whether the error is the memory limit (wrapped or not).
fn is_memory(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => is_memory(cause),
        _ => false,
    }
}

/// A result out of the script, with the limit that stopped it if one did:
/// once tripped, even a call that returned normally is a failure.
pub(super) fn settle<T>(lua: &Lua, r: LResult<T>, origin: Option<Origin<'_>>) -> Result<T, String> {
    match r {
        Ok(v) => match lua.app_data_ref::<Host>().and_then(|h| h.budget.tripped().map(|t| relocate(&t, &h.budget.chunk, &h.file))) {
            Some(t) => Err(t),
            None => Ok(v),
        },
        Err(e) => Err(finish(lua, &e, origin)),
    }
}

/// Splits `file:line: message` into a diagnostic.
pub(super) fn diagnostic(file: &str, text: &str) -> Diagnostic {
    let first = text.lines().next().unwrap_or(text);
    if let Some(rest) = first.strip_prefix(file).and_then(|r| r.strip_prefix(':'))
        && let Some((line, msg)) = rest.split_once(':')
        && let Ok(line) = line.trim().parse::<usize>()
    {
        return Diagnostic { file: file.to_string(), line: Some(line), col: None, message: msg.trim().to_string() };
    }
    let message = first.strip_prefix(file).and_then(|r| r.strip_prefix(": ")).unwrap_or(first);
    Diagnostic { file: file.to_string(), line: None, col: None, message: message.to_string() }
}
