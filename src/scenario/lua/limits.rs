//! The limits of a script — instructions, wall-clock time, memory (the
//! interpreter's and what the script sends out) — and how they hold.
//!
//! The instruction budget is counted by a count hook on the main thread;
//! Lua copies a thread's hook into every coroutine it creates, so code in a
//! coroutine is counted too (a per-thread mlua hook, as before, was not).
//! Rust functions that work long inside one call (the pattern matcher)
//! charge their work with [`charge`].
//!
//! Once a limit is reached the [`Budget`] is *tripped*: from then on the hook
//! fires on every instruction of every thread (each thread switches at its
//! next hook; new coroutines inherit it) and fails each time, so a `pcall`
//! that catches the error cannot run one more instruction, and every later
//! call into the script fails with the first message.
//!
//! The hook is a plain C hook that raises a Lua string error. mlua's hook
//! wrapper, on an error, resets the stack top of the *running Lua function*,
//! which runs the function's to-be-closed variables from inside the hook,
//! where Lua runs no hook at all: a `__close` that loops would run forever.
//! What else runs without hooks is closed off by the sandbox (`prelude.lua`):
//! finalizers, message handlers of errors raised in the hook, and closing a
//! coroutine the hook killed.

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_int, c_void};
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::{Lua, ffi};

use super::errors::located;
use super::host::{LResult, with_host};
use crate::engine::script::ScriptOut;
use crate::scenario::plan::Action;
use crate::scenario::units::Dur;

/// Instructions between two calls of the hook while no limit is reached.
const HOOK_STEP: c_int = 1000;
/// How deeply Rust functions that call back into Lua may nest (the C stack
/// of a run is not the place for 200 levels of Rust frames).
const MAX_REENTRY: usize = 16;

/// The instruction budget and the wall-clock limit of one interpreter.
pub(super) struct Budget {
    /// The name of the script's chunk (see `errors::chunk_name`).
    pub(super) chunk: String,
    /// Instructions allowed, and used.
    pub(super) limit: Cell<u64>,
    used: Cell<u64>,
    /// Wall-clock time allowed inside the script, spent, and since when the
    /// script runs now.
    time: Duration,
    spent: Cell<Duration>,
    entered: Cell<Option<Instant>>,
    /// The message of the limit that was reached.
    tripped: RefCell<Option<String>>,
    /// The script's line the hook last saw running, since the last call
    /// into the script (0: none): where an error without any location, such
    /// as running out of memory, most likely happened.
    pub(super) last_line: Cell<usize>,
}

impl Budget {
    pub(super) fn new(file: &str, instructions: u64, time: Duration) -> Budget {
        Budget {
            chunk: super::errors::chunk_name(file),
            limit: Cell::new(instructions),
            used: Cell::new(0),
            time,
            spent: Cell::new(Duration::ZERO),
            entered: Cell::new(None),
            tripped: RefCell::new(None),
            last_line: Cell::new(0),
        }
    }

    /// The message of the limit that was reached, if one was.
    pub(super) fn tripped(&self) -> Option<String> {
        self.tripped.borrow().clone()
    }

    /// Counts `n` instructions; the limit that is exceeded, if any.
    fn add(&self, n: u64) -> Option<String> {
        self.used.set(self.used.get().saturating_add(n));
        if self.used.get() > self.limit.get() {
            return Some(format!(
                "the script used up its instruction budget ({} instructions): an endless loop? (the budget is set with --lua-instructions; limits {{ instructions = … }} may lower it)",
                self.limit.get()
            ));
        }
        let running = self.entered.get().map_or(Duration::ZERO, |t| t.elapsed());
        if self.spent.get() + running > self.time {
            let limit = Dur(self.time.as_nanos().min(u128::from(u64::MAX)) as u64);
            return Some(format!("the script ran for more than {limit} of wall-clock time (the limit is set with --lua-timeout)"));
        }
        None
    }

    /// Trips the budget (the first reason wins); the message to raise.
    fn trip(&self, line: usize, reason: &str) -> String {
        self.tripped.borrow_mut().get_or_insert_with(|| format!("{}:{line}: {reason}", self.chunk)).clone()
    }
}

/// The registry key of the budget's address.
static BUDGET_KEY: u8 = 0;

fn key() -> *const c_void {
    std::ptr::addr_of!(BUDGET_KEY).cast()
}

/// Installs the count hook on the main thread of `lua`. `budget` must live as
/// long as the interpreter (the host keeps it).
pub(super) fn install_hook(lua: &Lua, budget: &Rc<Budget>) -> LResult<()> {
    let ptr = Rc::as_ptr(budget) as *mut c_void;
    // SAFETY: plain stack and registry operations on the state mlua hands
    // over, in protected mode; the budget outlives the state (see above).
    unsafe {
        lua.exec_raw::<()>((), |l| {
            ffi::lua_pushlightuserdata(l, ptr);
            ffi::lua_rawsetp(l, ffi::LUA_REGISTRYINDEX, key());
            ffi::lua_sethook(l, Some(count_hook), ffi::LUA_MASKCOUNT, HOOK_STEP);
        })
    }
}

/// The count hook of every thread: counts, and once a limit is reached
/// raises its message on every instruction.
unsafe extern "C-unwind" fn count_hook(l: *mut ffi::lua_State, ar: *mut ffi::lua_Debug) {
    // SAFETY: the budget's address was stored by `install_hook` and the host
    // keeps the budget alive as long as the state. Nothing that needs
    // dropping is alive when `lua_error` jumps out of this function.
    unsafe {
        ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, key());
        let budget = ffi::lua_touserdata(l, -1) as *const Budget;
        ffi::lua_pop(l, 1);
        let Some(budget) = budget.as_ref() else { return };
        if let Some(line) = script_line_of(l, ar, &budget.chunk) {
            budget.last_line.set(line);
        }
        let raise = {
            let message = match budget.tripped() {
                Some(m) => Some(m),
                None => budget.add(HOOK_STEP as u64).map(|reason| budget.trip(raw_script_line(l, &budget.chunk), &reason)),
            };
            match message {
                Some(m) => {
                    ffi::lua_sethook(l, Some(count_hook), ffi::LUA_MASKCOUNT, 1);
                    // Not dropped if pushing fails and jumps out (a leak, not a double drop).
                    let m = std::mem::ManuallyDrop::new(m);
                    ffi::lua_pushlstring(l, m.as_ptr().cast(), m.len());
                    drop(std::mem::ManuallyDrop::into_inner(m));
                    true
                }
                None => false,
            }
        };
        if raise {
            ffi::lua_error(l);
        }
    }
}

/// The running line of the function `ar` describes, if it is the script's.
unsafe fn script_line_of(l: *mut ffi::lua_State, ar: *mut ffi::lua_Debug, chunk: &str) -> Option<usize> {
    // SAFETY: `ar` is the live debug record Lua handed to the hook.
    unsafe {
        if ffi::lua_getinfo(l, c"Sl".as_ptr(), ar) == 0 || (*ar).source.is_null() || (*ar).currentline <= 0 {
            return None;
        }
        let source = CStr::from_ptr((*ar).source).to_bytes();
        (source.strip_prefix(b"=") == Some(chunk.as_bytes())).then_some((*ar).currentline as usize)
    }
}

/// The running line of the script's chunk, read from the raw stack.
unsafe fn raw_script_line(l: *mut ffi::lua_State, chunk: &str) -> usize {
    // SAFETY: `lua_getstack`/`lua_getinfo` on a live state; the debug record
    // is plain data that Lua fills in.
    unsafe {
        for level in 0..1000 {
            let mut ar: ffi::lua_Debug = std::mem::zeroed();
            if ffi::lua_getstack(l, level, &mut ar) == 0 {
                break;
            }
            if let Some(line) = script_line_of(l, &mut ar, chunk) {
                return line;
            }
        }
    }
    0
}

/// Charges `n` instructions of work done inside a Rust function.
pub(super) fn charge(lua: &Lua, n: u64) -> LResult<()> {
    let budget = with_host(lua, |h| h.budget.clone())?;
    if let Some(m) = budget.tripped() {
        return Err(mlua::Error::RuntimeError(m));
    }
    match budget.add(n) {
        None => Ok(()),
        Some(reason) => Err(mlua::Error::RuntimeError(budget.trip(super::errors::script_line(lua), &reason))),
    }
}

/// Whether a limit has been reached.
pub(super) fn tripped(lua: &Lua) -> bool {
    with_host(lua, |h| h.budget.tripped().is_some()).unwrap_or(false)
}

/// Measures the wall-clock time of one call into the script.
pub(super) struct Stopwatch(Rc<Budget>);

impl Stopwatch {
    pub(super) fn start(lua: &Lua) -> Option<Self> {
        let budget = with_host(lua, |h| h.budget.clone()).ok()?;
        budget.entered.set(Some(Instant::now()));
        budget.last_line.set(0);
        Some(Stopwatch(budget))
    }
}

impl Drop for Stopwatch {
    fn drop(&mut self) {
        if let Some(t) = self.0.entered.take() {
            self.0.spent.set(self.0.spent.get() + t.elapsed());
        }
    }
}

/// A Rust function calling back into Lua: counted, so that such calls cannot
/// nest deeper than [`MAX_REENTRY`].
pub(super) struct ReentryGuard<'l>(&'l Lua);

impl<'l> ReentryGuard<'l> {
    pub(super) fn enter(lua: &'l Lua, what: &str) -> LResult<Self> {
        let depth = with_host(lua, |h| {
            h.reentry += 1;
            h.reentry
        })?;
        let guard = ReentryGuard(lua);
        if depth > MAX_REENTRY {
            return Err(located(lua, format!("{what}: calls nest more than {MAX_REENTRY} levels deep")));
        }
        Ok(guard)
    }
}

impl Drop for ReentryGuard<'_> {
    fn drop(&mut self) {
        let _ = with_host(self.0, |h| h.reentry = h.reentry.saturating_sub(1));
    }
}

/// Roughly what one request of the script costs outside the interpreter: the
/// request itself, its text, and its place in the runner's queue and trace.
fn cost(out: &ScriptOut) -> usize {
    let heap = match out {
        ScriptOut::Act(Action::Note(text)) => text.len(),
        ScriptOut::Act(Action::ShowClocks(text)) => text.len(),
        ScriptOut::Act(Action::Command { command, .. }) => command.name.len() + command.args.iter().map(|a| a.len() + 24).sum::<usize>(),
        ScriptOut::Act(Action::Crash(ids) | Action::Recover(ids)) => 4 * ids.len(),
        ScriptOut::Act(Action::Partition(groups)) => groups.iter().map(|g| 24 + 4 * g.len()).sum(),
        ScriptOut::Act(Action::Block { from, to }) => 4 * (from.len() + to.len()),
        _ => 0,
    };
    std::mem::size_of::<ScriptOut>() + 64 + heap
}

/// Queues `out` for the runner, counting it against the memory limit: what
/// the script prints, asks and schedules lives outside the interpreter, and
/// 30 million prints would otherwise take the process down. The interpreter
/// gets what the output leaves.
pub(super) fn send_out(lua: &Lua, out: ScriptOut) -> LResult<()> {
    let bytes = cost(&out);
    let room = with_host(lua, |h| {
        h.output = h.output.saturating_add(bytes);
        if h.output > h.memory {
            return None;
        }
        h.out.push(out);
        Some(h.memory - h.output)
    })?;
    match room {
        // (A limit of 0 would mean no limit at all.)
        Some(room) => lua.set_memory_limit(room.max(1)).map(|_| ()),
        None => {
            let memory = with_host(lua, |h| h.memory)?;
            Err(located(lua, format!("the script's output (prints, actions, timers) went over its memory limit of {} MiB", memory >> 20)))
        }
    }
}
