//! Lua 5.4's pattern matching (`lstrlib.c`), ported so that its work counts
//! against the script's instruction budget: the C matcher runs inside one C
//! call, where no instruction hook fires, and a pattern such as
//! `string.rep("a*", 30) .. "b"` backtracks for longer than the universe.
//! Here every step of the matcher is metered ([`Meter`]); plain searches use
//! a linear-time substring search instead of `lmemfind`'s quadratic one.
//!
//! The semantics are Lua's, case by case: classes (`%a` … `%x`, `%z`),
//! sets, `*`, `+`, `-`, `?`, anchors, captures (position captures too),
//! back references `%1`–`%9`, `%b` and `%f`, with Lua's error messages and
//! its limits (32 captures, 200 nested calls: "pattern too complex").

use mlua::Lua;

use mlua::Value;

use super::limits::charge;

/// How many captures a pattern may hold (`LUA_MAXCAPTURES`).
const MAX_CAPTURES: usize = 32;
/// How deep the matcher may recurse (`MAXCCALLS` of `lstrlib.c`).
const MAX_DEPTH: usize = 200;
const ESC: u8 = b'%';
const SPECIALS: &[u8] = b"^$*+?.([%-";
/// Steps of the matcher charged to the budget at a time.
const METER_CHUNK: u64 = 1024;

/// Why a string function failed.
pub(super) enum Fail {
    /// A message Lua would raise from the C function (`malformed pattern …`):
    /// raised as a string, located at the caller.
    Message(String),
    /// An error value of Lua code the function called: raised again as is.
    Raise(Value),
    /// The interpreter's own failure (a limit, memory): passed on.
    Lua(mlua::Error),
}

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Fail {
        Fail::Lua(e)
    }
}

pub(super) type MResult<T> = Result<T, Fail>;

/// Counts the matcher's steps and charges them to the script's budget.
pub(super) struct Meter<'l> {
    lua: &'l Lua,
    pending: u64,
}

impl<'l> Meter<'l> {
    pub(super) fn new(lua: &'l Lua) -> Self {
        Meter { lua, pending: 0 }
    }

    #[inline]
    fn tick(&mut self) -> MResult<()> {
        self.pending += 1;
        if self.pending >= METER_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Charges the steps not charged yet.
    pub(super) fn flush(&mut self) -> MResult<()> {
        let n = std::mem::take(&mut self.pending);
        Ok(charge(self.lua, n)?)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Len {
    Unfinished,
    Position,
    Bytes(usize),
}

/// A capture of the last match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Capture {
    /// `src[start..end]`.
    Text(usize, usize),
    /// A position capture `()`: 1-based.
    Position(usize),
}

/// One matcher over a subject and a pattern (without its `^` anchor).
pub(super) struct Matcher<'a, 'l> {
    src: &'a [u8],
    pat: &'a [u8],
    level: usize,
    capture: [(usize, Len); MAX_CAPTURES],
    depth: usize,
    pub(super) meter: Meter<'l>,
}

impl<'a, 'l> Matcher<'a, 'l> {
    pub(super) fn new(lua: &'l Lua, src: &'a [u8], pat: &'a [u8]) -> Self {
        Matcher { src, pat, level: 0, capture: [(0, Len::Unfinished); MAX_CAPTURES], depth: MAX_DEPTH, meter: Meter::new(lua) }
    }

    fn err(&self, message: &str) -> Fail {
        Fail::Message(message.to_string())
    }

    /// The pattern byte at `i`, or 0 past the end (as C's terminating NUL).
    #[inline]
    fn p(&self, i: usize) -> u8 {
        self.pat.get(i).copied().unwrap_or(0)
    }

    #[inline]
    fn s(&self, i: usize) -> u8 {
        self.src.get(i).copied().unwrap_or(0)
    }

    /// Tries to match the whole pattern at `s`: the end of the match.
    pub(super) fn match_at(&mut self, s: usize) -> MResult<Option<usize>> {
        self.level = 0;
        self.depth = MAX_DEPTH;
        self.do_match(s, 0)
    }

    fn do_match(&mut self, mut s: usize, mut p: usize) -> MResult<Option<usize>> {
        if self.depth == 0 {
            return Err(self.err("pattern too complex"));
        }
        self.depth -= 1;
        let result = loop {
            self.meter.tick()?;
            if p == self.pat.len() {
                break Some(s);
            }
            match self.pat[p] {
                b'(' => {
                    break if self.p(p + 1) == b')' {
                        self.start_capture(s, p + 2, Len::Position)?
                    } else {
                        self.start_capture(s, p + 1, Len::Unfinished)?
                    };
                }
                b')' => break self.end_capture(s, p + 1)?,
                b'$' if p + 1 == self.pat.len() => break (s == self.src.len()).then_some(s),
                ESC if self.p(p + 1) == b'b' => match self.match_balance(s, p + 2)? {
                    Some(next) => {
                        s = next;
                        p += 4;
                    }
                    None => break None,
                },
                ESC if self.p(p + 1) == b'f' => {
                    p += 2;
                    if self.p(p) != b'[' {
                        return Err(self.err("missing '[' after '%f' in pattern"));
                    }
                    let ep = self.class_end(p)?;
                    let previous = if s == 0 { 0 } else { self.src[s - 1] };
                    if !self.match_bracket_class(previous, p, ep - 1) && self.match_bracket_class(self.s(s), p, ep - 1) {
                        p = ep;
                    } else {
                        break None;
                    }
                }
                ESC if self.p(p + 1).is_ascii_digit() => match self.match_capture(s, self.p(p + 1))? {
                    Some(next) => {
                        s = next;
                        p += 2;
                    }
                    None => break None,
                },
                _ => {
                    let ep = self.class_end(p)?;
                    let suffix = self.p(ep);
                    if !self.single_match(s, p, ep) {
                        if matches!(suffix, b'*' | b'?' | b'-') {
                            p = ep + 1;
                            continue;
                        }
                        break None;
                    }
                    match suffix {
                        b'?' => {
                            if let Some(r) = self.do_match(s + 1, ep + 1)? {
                                break Some(r);
                            }
                            p = ep + 1;
                        }
                        b'+' => break self.max_expand(s + 1, p, ep)?,
                        b'*' => break self.max_expand(s, p, ep)?,
                        b'-' => break self.min_expand(s, p, ep)?,
                        _ => {
                            s += 1;
                            p = ep;
                        }
                    }
                }
            }
        };
        self.depth += 1;
        Ok(result)
    }

    /// The index just past the single-character class at `p`.
    fn class_end(&self, p: usize) -> MResult<usize> {
        let len = self.pat.len();
        let c = self.pat[p];
        let mut p = p + 1;
        match c {
            ESC => {
                if p == len {
                    return Err(self.err("malformed pattern (ends with '%')"));
                }
                Ok(p + 1)
            }
            b'[' => {
                if self.p(p) == b'^' {
                    p += 1;
                }
                loop {
                    if p >= len {
                        return Err(self.err("malformed pattern (missing ']')"));
                    }
                    let c = self.pat[p];
                    p += 1;
                    if c == ESC && p < len {
                        p += 1;
                    }
                    if self.p(p) == b']' {
                        break;
                    }
                }
                Ok(p + 1)
            }
            _ => Ok(p),
        }
    }

    fn single_match(&self, s: usize, p: usize, ep: usize) -> bool {
        let Some(&c) = self.src.get(s) else { return false };
        match self.pat[p] {
            b'.' => true,
            ESC => match_class(c, self.p(p + 1)),
            b'[' => self.match_bracket_class(c, p, ep - 1),
            other => other == c,
        }
    }

    /// Whether `c` is in the set `[…]` from `p` (the `[`) to `ec` (the `]`).
    fn match_bracket_class(&self, c: u8, p: usize, ec: usize) -> bool {
        let mut p = p;
        let mut sig = true;
        if self.p(p + 1) == b'^' {
            sig = false;
            p += 1;
        }
        loop {
            p += 1;
            if p >= ec {
                break;
            }
            if self.p(p) == ESC {
                p += 1;
                if match_class(c, self.p(p)) {
                    return sig;
                }
            } else if self.p(p + 1) == b'-' && p + 2 < ec {
                p += 2;
                if self.p(p - 2) <= c && c <= self.p(p) {
                    return sig;
                }
            } else if self.p(p) == c {
                return sig;
            }
        }
        !sig
    }

    fn match_balance(&mut self, s: usize, p: usize) -> MResult<Option<usize>> {
        if p + 1 >= self.pat.len() {
            return Err(self.err("malformed pattern (missing arguments to '%b')"));
        }
        if self.s(s) != self.pat[p] {
            return Ok(None);
        }
        let (open, close) = (self.pat[p], self.pat[p + 1]);
        let mut depth = 1usize;
        let mut s = s + 1;
        while s < self.src.len() {
            self.meter.tick()?;
            let c = self.src[s];
            if c == close {
                depth -= 1;
                if depth == 0 {
                    return Ok(Some(s + 1));
                }
            } else if c == open {
                depth += 1;
            }
            s += 1;
        }
        Ok(None)
    }

    fn max_expand(&mut self, s: usize, p: usize, ep: usize) -> MResult<Option<usize>> {
        let mut i = 0;
        while self.single_match(s + i, p, ep) {
            self.meter.tick()?;
            i += 1;
        }
        loop {
            if let Some(r) = self.do_match(s + i, ep + 1)? {
                return Ok(Some(r));
            }
            if i == 0 {
                return Ok(None);
            }
            i -= 1;
        }
    }

    fn min_expand(&mut self, mut s: usize, p: usize, ep: usize) -> MResult<Option<usize>> {
        loop {
            if let Some(r) = self.do_match(s, ep + 1)? {
                return Ok(Some(r));
            }
            if self.single_match(s, p, ep) {
                s += 1;
            } else {
                return Ok(None);
            }
        }
    }

    fn start_capture(&mut self, s: usize, p: usize, what: Len) -> MResult<Option<usize>> {
        if self.level >= MAX_CAPTURES {
            return Err(self.err("too many captures"));
        }
        self.capture[self.level] = (s, what);
        self.level += 1;
        let r = self.do_match(s, p)?;
        if r.is_none() {
            self.level -= 1;
        }
        Ok(r)
    }

    fn end_capture(&mut self, s: usize, p: usize) -> MResult<Option<usize>> {
        let Some(l) = (0..self.level).rev().find(|&l| self.capture[l].1 == Len::Unfinished) else {
            return Err(self.err("invalid pattern capture"));
        };
        self.capture[l].1 = Len::Bytes(s - self.capture[l].0);
        let r = self.do_match(s, p)?;
        if r.is_none() {
            self.capture[l].1 = Len::Unfinished;
        }
        Ok(r)
    }

    fn match_capture(&mut self, s: usize, digit: u8) -> MResult<Option<usize>> {
        let l = i32::from(digit) - i32::from(b'1');
        if l < 0 || l as usize >= self.level || self.capture[l as usize].1 == Len::Unfinished {
            return Err(self.err(&format!("invalid capture index %{}", l + 1)));
        }
        let (init, len) = self.capture[l as usize];
        let Len::Bytes(len) = len else { return Ok(None) };
        let end = s.checked_add(len).filter(|&e| e <= self.src.len());
        Ok(end.filter(|&e| self.src[init..init + len] == self.src[s..e]))
    }

    /// Capture `i` of the match `s..e` (the whole match when the pattern has none).
    pub(super) fn capture(&self, i: usize, s: usize, e: usize) -> MResult<Capture> {
        if i >= self.level {
            if i != 0 {
                return Err(self.err(&format!("invalid capture index %{}", i + 1)));
            }
            return Ok(Capture::Text(s, e));
        }
        let (init, len) = self.capture[i];
        match len {
            Len::Unfinished => Err(self.err("unfinished capture")),
            Len::Position => Ok(Capture::Position(init + 1)),
            Len::Bytes(n) => Ok(Capture::Text(init, init + n)),
        }
    }

    /// Every capture of the match `s..e` (`whole`: the match itself when the
    /// pattern has no capture, as `match` and `gmatch` return it; `find` not).
    pub(super) fn captures(&self, s: usize, e: usize, whole: bool) -> MResult<Vec<Capture>> {
        let n = if self.level == 0 && whole { 1 } else { self.level };
        (0..n).map(|i| self.capture(i, s, e)).collect()
    }
}

/// Whether `c` is in class `cl` (`%a`, `%D` …) in the C locale.
fn match_class(c: u8, cl: u8) -> bool {
    let res = match cl.to_ascii_lowercase() {
        b'a' => c.is_ascii_alphabetic(),
        b'c' => c.is_ascii_control(),
        b'd' => c.is_ascii_digit(),
        b'g' => c.is_ascii_graphic(),
        b'l' => c.is_ascii_lowercase(),
        b'p' => c.is_ascii_punctuation(),
        b's' => matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        b'z' => c == 0,
        _ => return cl == c,
    };
    if cl.is_ascii_lowercase() { res } else { !res }
}

/// Whether the pattern has no special character (then `find` searches plainly).
pub(super) fn no_specials(pat: &[u8]) -> bool {
    !pat.iter().any(|c| SPECIALS.contains(c))
}

/// A plain search in linear time (`lmemfind` is quadratic at worst).
pub(super) fn find_plain(src: &[u8], pat: &[u8]) -> Option<usize> {
    memchr::memmem::find(src, pat)
}

/// A start position as Lua reads it (`posrelatI`): negative counts from the
/// end, 0 is 1; the result is 1-based and at least 1.
pub(super) fn start_position(pos: i64, len: usize) -> usize {
    if pos > 0 {
        pos as usize
    } else if pos == 0 || pos.unsigned_abs() > len as u64 {
        1
    } else {
        len - pos.unsigned_abs() as usize + 1
    }
}
