//! The remote-procedure-call family: a client node calls a calculator object
//! on a server node, which it finds through a registry node — the seed's RMI
//! lab (`Naming.lookup`, `calculateSquareRoot`) as a sans-IO algorithm, so
//! that loss, crashes and retries can be replayed deterministically.
//!
//! **Roles.** `params.registry` (default: the first node) keeps the name →
//! node bindings; `params.server` (default: the second node) holds the
//! calculator; every other node is a client.
//!
//! **Messages.** At start the server sends `BIND Calculator` to the registry,
//! which answers `BOUND` (the server repeats the BIND every `timeout` until it
//! is bound, and binds again after a recovery). A client's first call sends
//! `LOOKUP Calculator`; the registry answers `LOCATION Calculator at S`. Then
//! `CALL id method(args)` to the server and `RESULT id = value` (or `RESULT id
//! error: …`) back: 2 messages per call once the location is known, 4 for the
//! first, plus 2 per retry.
//!
//! **Retries.** A client that has no RESULT after `timeout` (default 2 × the
//! largest latency + 1ms) sends the same CALL again (or the LOOKUP, if the
//! location is still unknown), at most `retries` times (default 5; the
//! default timeout also adds the server's `work`); then it
//! gives up (`CallFailed`). What a retry means at the server is the
//! semantics: [`at_least_once`] executes every CALL it receives,
//! [`at_most_once`] keeps a reply cache by call id.
//!
//! **Commands.** The scenario format gives every command a fixed number of
//! arguments, so there are two: `call1 METHOD A` (sqrt) and `call2 METHOD A B`
//! (add, sub, mul, div, pow). The server checks the arity: `call2 sqrt 16 0`
//! is answered with an error, as is an unknown method. A domain error (the
//! square root of a negative number, a division by zero) is an error RESULT,
//! never `NaN`.
//!
//! **Work.** `params.work` (default 0) is the time the server takes between
//! executing a call and sending its RESULT: a crash inside that window leaves
//! a call executed but unanswered, the classic case for the call semantics.
//! Every execution replies when its own work is done (one timer per
//! execution), and the client takes the first RESULT of a call and ignores
//! the rest: so a server slower than the client's `timeout` still answers
//! (the first execution's RESULT comes `work` after it started, whatever the
//! retries do meanwhile), as long as it comes before the client gives up.
//!
//! **Source.** Birrell and Nelson, *Implementing Remote Procedure Calls*
//! (ACM TOCS, 1984); Coulouris et al., *Distributed Systems*, §5.3.1 (call
//! semantics: maybe, at-least-once, at-most-once).

pub mod at_least_once;
pub mod at_most_once;

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::algorithms::registry::{CommandSpec, ParamSpec};
use crate::check::Checker;
use crate::check::rpc::RpcChecker;
use crate::process::{Ctx, Message, Nanos, NodeId, Observation, Process, Setup};
use crate::rmi::server::{METHODS, eval, fmt_num};
use crate::scenario::Command;
use crate::scenario::units::Dur;

/// The name the server binds its calculator under.
pub const SERVICE: &str = "Calculator";

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec { name: "call1", args: &["METHOD", "A"], help: "the client calls a one-argument method, e.g. `call1 sqrt 16`" },
    CommandSpec { name: "call2", args: &["METHOD", "A", "B"], help: "the client calls a two-argument method, e.g. `call2 div 1 4`" },
];

pub const KINDS: &[&str] = &["BIND", "BOUND", "LOOKUP", "LOCATION", "CALL", "RESULT"];

pub const PARAMS: &[ParamSpec] = &[
    ParamSpec { name: "registry", help: "the registry node (default: the first node listed)" },
    ParamSpec { name: "server", help: "the server node (default: the second node listed)" },
    ParamSpec { name: "timeout", help: "a client's wait for a reply before it retries (default 2 x max latency + work + 1ms)" },
    ParamSpec { name: "retries", help: "how many times a client repeats a call before it gives up (default 5)" },
    ParamSpec { name: "work", help: "the server's time from executing a call to sending its RESULT (default 0)" },
];

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub registry: Option<NodeId>,
    #[serde(default)]
    pub server: Option<NodeId>,
    #[serde(default)]
    pub timeout: Option<Dur>,
    #[serde(default)]
    pub retries: Option<u32>,
    #[serde(default)]
    pub work: Option<Dur>,
}

/// A call's id: the client's node and its sequence number there (`2.1`). The
/// at-most-once server keys its reply cache by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CallId {
    pub client: NodeId,
    pub seq: u32,
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.client, self.seq)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    Bind { name: String },
    Bound { name: String },
    Lookup { name: String },
    Location { name: String, node: Option<NodeId> },
    Call { call: CallId, method: String, args: Vec<f64> },
    Result { call: CallId, value: Result<f64, String> },
}

/// `sqrt(16)`, `add(3, 4)`.
pub fn signature(method: &str, args: &[f64]) -> String {
    let a: Vec<String> = args.iter().map(|x| fmt_num(*x)).collect();
    format!("{method}({})", a.join(", "))
}

/// A result as the trace prints it: `4` or `error: division by zero: 1 / 0`.
pub fn outcome(value: &Result<f64, String>) -> String {
    match value {
        Ok(x) => fmt_num(*x),
        Err(e) => format!("error: {e}"),
    }
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Bind { name } => write!(f, "BIND {name}"),
            Msg::Bound { name } => write!(f, "BOUND {name}"),
            Msg::Lookup { name } => write!(f, "LOOKUP {name}"),
            Msg::Location { name, node: Some(n) } => write!(f, "LOCATION {name} at {n}"),
            Msg::Location { name, node: None } => write!(f, "LOCATION {name} unbound"),
            Msg::Call { call, method, args } => write!(f, "CALL {call} {}", signature(method, args)),
            Msg::Result { call, value: Ok(x) } => write!(f, "RESULT {call} = {}", fmt_num(*x)),
            Msg::Result { call, value: Err(e) } => write!(f, "RESULT {call} error: {e}"),
        }
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Bind { .. } => "BIND",
            Msg::Bound { .. } => "BOUND",
            Msg::Lookup { .. } => "LOOKUP",
            Msg::Location { .. } => "LOCATION",
            Msg::Call { .. } => "CALL",
            Msg::Result { .. } => "RESULT",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Client: no RESULT (or LOCATION) for this call yet.
    Timeout(u32),
    /// Server: the work of this execution of the call (the nth since the
    /// server started) is done, send its RESULT. Every execution has its own
    /// timer: a retry never delays the reply of an earlier execution.
    Reply(CallId, u32),
    /// Server: no BOUND yet, bind again.
    Rebind,
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timer::Timeout(_) => f.write_str("call timed out"),
            Timer::Reply(c, 1) => write!(f, "call {c} done, reply"),
            Timer::Reply(c, n) => write!(f, "call {c} done (execution {n}), reply"),
            Timer::Rebind => f.write_str("not bound yet"),
        }
    }
}

/// What a retried CALL means at the server: one type per semantics.
pub trait Semantics: 'static {
    /// Keep a reply cache by call id and answer a duplicate CALL from it.
    const DEDUPE: bool;
}

/// The seed-style words for a computation: `Square Root of 16`.
pub fn words(method: &str, args: &[f64]) -> String {
    let n = |i: usize| args.get(i).map_or_else(String::new, |x| fmt_num(*x));
    match method {
        "sqrt" | "calculateSquareRoot" => format!("Square Root of {}", n(0)),
        "add" => format!("Sum of {} and {}", n(0), n(1)),
        "sub" => format!("Difference of {} and {}", n(0), n(1)),
        "mul" => format!("Product of {} and {}", n(0), n(1)),
        "div" => format!("Quotient of {} and {}", n(0), n(1)),
        "pow" => format!("{} to the power of {}", n(0), n(1)),
        _ => signature(method, args),
    }
}

/// Runs the calculator: the method's arity is checked here, so a wrong
/// argument count is an error result like an unknown method.
pub fn compute(method: &str, args: &[f64]) -> Result<f64, String> {
    if let Some((_, names, _)) = METHODS.iter().find(|m| m.0 == method && m.0 != "methods")
        && names.len() != args.len()
    {
        return Err(format!("{method} takes {} argument(s), got {}", names.len(), args.len()));
    }
    eval(method, args).map_err(|e| e.message)
}

/// A client's call in progress.
#[derive(Clone, Debug)]
struct Pending {
    method: String,
    args: Vec<f64>,
    /// Retries sent so far.
    retries: u32,
}

/// One node of either semantics; its role comes from the parameters.
pub struct RpcNode<S: Semantics> {
    id: NodeId,
    registry: NodeId,
    server: NodeId,
    timeout: Nanos,
    retries: u32,
    work: Nanos,
    /// Registry: name → node.
    bindings: BTreeMap<String, NodeId>,
    /// Server: bound at the registry.
    bound: bool,
    /// Server, at-most-once only: the reply cache (volatile: a crash loses it).
    cache: BTreeMap<CallId, Result<f64, String>>,
    /// Server: results waiting for their work time to pass, by call and
    /// execution number.
    outbox: BTreeMap<(CallId, u32), Result<f64, String>>,
    /// Server: executions of each call since it last started (volatile).
    executions: BTreeMap<CallId, u32>,
    /// Client: where the calculator is, once looked up.
    location: Option<NodeId>,
    next_seq: u32,
    calls: BTreeMap<u32, Pending>,
    _semantics: PhantomData<S>,
}

impl<S: Semantics> RpcNode<S> {
    fn call_id(&self, seq: u32) -> CallId {
        CallId { client: self.id, seq }
    }

    fn bind(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.registry == self.id {
            self.bindings.insert(SERVICE.into(), self.id);
            self.bound = true;
        } else {
            ctx.send(self.registry, Msg::Bind { name: SERVICE.into() });
            ctx.set_timer(Timer::Rebind, self.timeout);
        }
    }

    /// Client: sends the call (or the lookup it waits for) and arms its timeout.
    fn attempt(&mut self, ctx: &mut Ctx<'_, Self>, seq: u32) {
        let Some(p) = self.calls.get(&seq) else { return };
        match self.location {
            Some(server) => {
                let msg = Msg::Call { call: self.call_id(seq), method: p.method.clone(), args: p.args.clone() };
                ctx.send(server, msg);
            }
            None => ctx.send(self.registry, Msg::Lookup { name: SERVICE.into() }),
        }
        ctx.set_timer(Timer::Timeout(seq), self.timeout);
    }

    fn start_call(&mut self, ctx: &mut Ctx<'_, Self>, method: &str, args: Vec<f64>) {
        self.next_seq += 1;
        let seq = self.next_seq;
        ctx.emit(Observation::CallStarted { call: self.call_id(seq).to_string(), what: signature(method, &args) });
        let waiting_for_lookup = self.location.is_none() && !self.calls.is_empty();
        self.calls.insert(seq, Pending { method: method.to_string(), args, retries: 0 });
        if waiting_for_lookup {
            // A LOOKUP is already out; the LOCATION sends this call too.
            ctx.set_timer(Timer::Timeout(seq), self.timeout);
        } else {
            self.attempt(ctx, seq);
        }
    }

    /// Server: a CALL arrives.
    fn serve(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, call: CallId, method: &str, args: &[f64]) {
        if S::DEDUPE
            && let Some(value) = self.cache.get(&call)
        {
            if self.outbox.range((call, 0)..=(call, u32::MAX)).next().is_some() {
                ctx.emit(Observation::Note(format!("Server {}: call {call} is a duplicate, its result is on the way", self.id)));
            } else {
                ctx.emit(Observation::Note(format!("Server {}: call {call} is a duplicate, resending the cached result", self.id)));
                ctx.send(from, Msg::Result { call, value: value.clone() });
            }
            return;
        }
        let value = compute(method, args);
        ctx.emit(Observation::Executed {
            call: call.to_string(),
            method: method.to_string(),
            what: words(method, args),
            result: outcome(&value),
        });
        if S::DEDUPE {
            self.cache.insert(call, value.clone());
        }
        let n = self.executions.entry(call).or_default();
        *n += 1;
        if self.work == 0 {
            ctx.send(from, Msg::Result { call, value });
        } else {
            // Its own timer: re-arming one shared timer per call would push
            // the reply back on every retry, past the client's give-up.
            self.outbox.insert((call, *n), value);
            ctx.set_timer(Timer::Reply(call, *n), self.work);
        }
    }
}

impl<S: Semantics> Process for RpcNode<S> {
    type Msg = Msg;
    type Timer = Timer;
    type Params = Params;

    fn new(id: NodeId, setup: &Setup<'_, Params>) -> Self {
        let p = setup.params;
        let registry = p.registry.unwrap_or(setup.nodes[0]);
        let server = p.server.unwrap_or_else(|| setup.nodes.get(1).copied().unwrap_or(setup.nodes[0]));
        let work = p.work.map_or(0, |d| d.0);
        RpcNode {
            id,
            registry,
            server,
            timeout: p.timeout.map_or(2 * setup.max_latency + work + 1_000_000, |d| d.0.max(1)),
            retries: p.retries.unwrap_or(5),
            work,
            bindings: BTreeMap::new(),
            bound: false,
            cache: BTreeMap::new(),
            outbox: BTreeMap::new(),
            executions: BTreeMap::new(),
            location: None,
            next_seq: 0,
            calls: BTreeMap::new(),
            _semantics: PhantomData,
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.id == self.server {
            self.bind(ctx);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Bind { name } if self.id == self.registry => {
                self.bindings.insert(name.clone(), from);
                ctx.send(from, Msg::Bound { name });
            }
            Msg::Bound { .. } if self.id == self.server && !self.bound => {
                self.bound = true;
                ctx.cancel_timer(Timer::Rebind);
            }
            Msg::Lookup { name } if self.id == self.registry => {
                let node = self.bindings.get(&name).copied();
                ctx.send(from, Msg::Location { name, node });
            }
            Msg::Location { node: Some(node), .. } if self.location.is_none() => {
                self.location = Some(node);
                let seqs: Vec<u32> = self.calls.keys().copied().collect();
                for seq in seqs {
                    self.attempt(ctx, seq);
                }
            }
            Msg::Call { call, method, args } if self.id == self.server => self.serve(ctx, from, call, &method, &args),
            // A late RESULT of a call already answered (or given up) is ignored.
            Msg::Result { call, value } if call.client == self.id && self.calls.remove(&call.seq).is_some() => {
                ctx.cancel_timer(Timer::Timeout(call.seq));
                ctx.emit(Observation::CallReturned { call: call.to_string(), result: outcome(&value) });
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Rebind => {
                if !self.bound {
                    self.bind(ctx);
                }
            }
            Timer::Reply(call, n) => {
                if let Some(value) = self.outbox.remove(&(call, n)) {
                    ctx.send(call.client, Msg::Result { call, value });
                }
            }
            Timer::Timeout(seq) => {
                let Some(p) = self.calls.get_mut(&seq) else { return };
                if p.retries >= self.retries {
                    self.calls.remove(&seq);
                    ctx.emit(Observation::CallFailed { call: self.call_id(seq).to_string() });
                    return;
                }
                p.retries += 1;
                self.attempt(ctx, seq);
            }
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, cmd: &Command) {
        if self.id == self.registry || self.id == self.server {
            ctx.emit(Observation::Note(format!("node {} is not a client; `{cmd}` ignored", self.id)));
            return;
        }
        let Some((method, rest)) = cmd.args.split_first() else { return };
        let mut args = Vec::with_capacity(rest.len());
        for a in rest {
            match a.parse::<f64>() {
                Ok(x) if x.is_finite() => args.push(x),
                _ => {
                    ctx.emit(Observation::Note(format!("`{cmd}`: \"{a}\" is not a number; call not made")));
                    return;
                }
            }
        }
        self.start_call(ctx, method, args);
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        // Volatile state: the reply cache, the results not yet sent, a
        // client's calls in progress and its cached location. The registry's
        // bindings survive (it would keep them on disk).
        self.cache.clear();
        self.outbox.clear();
        self.executions.clear();
        self.calls.clear();
        self.location = None;
        if self.id == self.server {
            self.bound = false;
            self.bind(ctx);
        }
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(RpcChecker::new(S::DEDUPE))]
    }
}
