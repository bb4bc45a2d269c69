//! The load-balancing family: one dispatcher node hands jobs to server nodes
//! under a [`Policy`]; the servers run them and report completion.
//!
//! **Roles.** The dispatcher is `params.dispatcher` (default: the first node
//! listed); every other node is a server. `params.servers` limits the servers
//! in rotation at the start (default: all of them); `add_server N` and
//! `remove_server N` change the rotation later.
//!
//! **Jobs.** A job is an id, a duration (the work it costs a server) and an
//! optional key (consistent hashing hashes it; without one it hashes the id).
//! Jobs arrive on the timeline at the dispatcher (`submit`, `submit_key`,
//! `submit_many`, or `balance`, the seed's batch that prints its tables). A
//! duration range `2ms..8ms` gives each job a duration derived from its id
//! alone (not from a generator), so every policy sees the same arrival stream.
//! A server runs `params.concurrency` jobs at a time (default 1) and queues the
//! rest; when one finishes it sends `DONE`.
//!
//! **Failures.** The dispatcher detects a crashed server by heartbeat: every
//! `params.heartbeat` (default the larger of 25ms and 4 × the largest one-way
//! latency) it sends `PING` to each server that holds unfinished jobs and has
//! sent nothing since the last beat, and a server that has not answered by
//! the next beat is declared down
//! (`Suspects`); its unfinished jobs are re-dispatched under the policy. A
//! `PONG` lists the jobs the server holds, so a job whose `JOB` or `DONE`
//! message was lost is sent again. A recovering server has lost its jobs: it
//! says `UP`, and the dispatcher re-dispatches whatever it still thought was
//! there. With no server up, jobs wait in a backlog until one comes back. So
//! no job is lost while the dispatcher lives; completion is counted once (the
//! first `DONE`), even when a falsely suspected server finishes a job twice.
//!
//! **Messages.** `JOB` and `DONE`: 2 per job, plus `PING`/`PONG` per busy
//! server per heartbeat, plus re-dispatches after a failure.
//!
//! **Source.** The seed lab's round-robin balancer; Tanenbaum and van Steen,
//! *Distributed Systems*, §3.4 (server clusters, request dispatching).

pub mod consistent_hash;
pub mod least_connections;
pub mod power_of_two;
pub mod random;
pub mod round_robin;
pub mod weighted_round_robin;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::algorithms::registry::{CommandSpec, ParamSpec};
use crate::check::Checker;
use crate::check::balance::BalanceChecker;
use crate::process::{Ctx, Message, Nanos, NodeId, NodeRng, Observation, Process, Setup};
use crate::scenario::Command;
use crate::scenario::units::{Dur, Latency};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec { name: "submit", args: &["ID", "DURATION"], help: "a job arrives at the dispatcher (DURATION like 5ms or 2ms..8ms)" },
    CommandSpec { name: "submit_key", args: &["ID", "DURATION", "KEY"], help: "a job with a key (consistent hashing hashes it)" },
    CommandSpec { name: "submit_many", args: &["COUNT", "DURATION"], help: "COUNT jobs arrive, numbered after the highest id so far" },
    CommandSpec {
        name: "balance",
        args: &["COUNT", "DURATION"],
        help: "the seed's batch: prints the jobs before balancing, assigns them, prints each server's jobs",
    },
    CommandSpec { name: "show", args: &[], help: "prints each server's jobs (the seed's table)" },
    CommandSpec { name: "add_server", args: &["NODE"], help: "the dispatcher puts NODE in rotation" },
    CommandSpec { name: "remove_server", args: &["NODE"], help: "the dispatcher takes NODE out of rotation (its jobs still finish)" },
];

pub const KINDS: &[&str] = &["JOB", "DONE", "PING", "PONG", "UP"];

const DISPATCHER: ParamSpec = ParamSpec { name: "dispatcher", help: "the dispatcher's id (default: the first node listed)" };
const SERVERS: ParamSpec = ParamSpec { name: "servers", help: "the servers in rotation at the start (default: every other node)" };
const CONCURRENCY: ParamSpec = ParamSpec { name: "concurrency", help: "jobs a server runs at once (default 1)" };
const HEARTBEAT: ParamSpec =
    ParamSpec { name: "heartbeat", help: "failure-detection period (default max(25ms, 4 x max latency); 0: no detection)" };

pub const PARAMS: &[ParamSpec] = &[DISPATCHER, SERVERS, CONCURRENCY, HEARTBEAT];
pub const WEIGHTED_PARAMS: &[ParamSpec] = &[
    DISPATCHER,
    SERVERS,
    CONCURRENCY,
    HEARTBEAT,
    ParamSpec { name: "weights", help: "each server's weight, e.g. {1: 3, 2: 1} (default 1)" },
];
pub const HASH_PARAMS: &[ParamSpec] = &[
    DISPATCHER,
    SERVERS,
    CONCURRENCY,
    HEARTBEAT,
    ParamSpec { name: "vnodes", help: "virtual nodes per server on the hash ring (default 100)" },
];

/// The shortest default heartbeat period.
pub const DEFAULT_HEARTBEAT: Nanos = 25_000_000;

/// `params:` of every balancing policy (`weights` and `vnodes` matter only
/// to the policies that read them).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub dispatcher: Option<NodeId>,
    #[serde(default)]
    pub servers: Option<Vec<NodeId>>,
    #[serde(default)]
    pub concurrency: Option<u32>,
    #[serde(default)]
    pub heartbeat: Option<Dur>,
    #[serde(default)]
    pub weights: BTreeMap<NodeId, u32>,
    #[serde(default)]
    pub vnodes: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// Run this job.
    Job { id: u64, duration: Nanos },
    /// This job is finished.
    Done { id: u64 },
    /// Are you alive?
    Ping,
    /// Yes, and these are the jobs I hold (running or queued).
    Pong { jobs: Vec<u64> },
    /// I have recovered from a crash and hold no jobs.
    Up,
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Job { id, duration } => write!(f, "JOB {id} ({})", Dur(*duration)),
            Msg::Done { id } => write!(f, "DONE {id}"),
            Msg::Ping => f.write_str("PING"),
            Msg::Pong { jobs } => write!(f, "PONG {}", list(jobs)),
            Msg::Up => f.write_str("UP"),
        }
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Job { .. } => "JOB",
            Msg::Done { .. } => "DONE",
            Msg::Ping => "PING",
            Msg::Pong { .. } => "PONG",
            Msg::Up => "UP",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// A server has finished running this job.
    Finish(u64),
    /// The dispatcher's heartbeat.
    Heartbeat,
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timer::Finish(id) => write!(f, "job {id} finished"),
            Timer::Heartbeat => f.write_str("heartbeat"),
        }
    }
}

/// `[1, 5]`, as Python prints a list.
pub fn list(ids: &[u64]) -> String {
    let parts: Vec<String> = ids.iter().map(u64::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// A job as a policy sees it.
#[derive(Clone, Debug)]
pub struct JobView<'a> {
    pub id: u64,
    pub duration: Nanos,
    /// The key to hash (the job's key, or its id as text).
    pub key: &'a str,
}

/// A server a policy may choose: up (as far as the dispatcher knows) and in
/// rotation, with the dispatcher's view of its load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub id: NodeId,
    /// Jobs sent to it and not yet reported done.
    pub running: usize,
    /// The work of those jobs, in ns.
    pub load: Nanos,
    /// Its weight (`params.weights`, default 1).
    pub weight: u32,
}

/// A policy's choice and its reason, for the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub server: NodeId,
    pub why: String,
}

/// How the dispatcher picks a server for a job.
pub trait Policy: Sized + 'static {
    /// `servers` are the servers in rotation at the start, in node order.
    fn new(servers: &[NodeId], params: &Params) -> Self;
    /// Picks one of `up` (never empty, in node order). Randomness only from `rng`.
    fn pick(&mut self, job: &JobView<'_>, up: &[Candidate], rng: &mut NodeRng) -> Choice;
    /// `server` joins the rotation.
    fn joined(&mut self, _server: NodeId) {}
    /// `server` leaves the rotation.
    fn left(&mut self, _server: NodeId) {}
}

/// A duration for job `id` from `range`: the low end when it is fixed, else a
/// value from a hash of the id, in steps of 100us (the same for every policy).
pub fn job_duration(range: Latency, id: u64) -> Nanos {
    if range.hi <= range.lo {
        return range.lo;
    }
    let steps = (range.hi - range.lo) / 100_000 + 1;
    if steps <= 1 {
        return range.lo;
    }
    range.lo + (mix(id) % steps) * 100_000
}

/// SplitMix64's finaliser: a well-spread hash of a 64-bit value.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What the dispatcher knows of one server.
#[derive(Clone, Debug)]
struct ServerInfo {
    id: NodeId,
    /// Believed up (no missed heartbeat since it last answered or said `UP`).
    up: bool,
    in_rotation: bool,
    weight: u32,
    /// Unfinished jobs sent to it.
    jobs: BTreeSet<u64>,
    load: Nanos,
    /// When the unanswered `PING` went out (local ns), if one is out.
    ping_sent: Option<i64>,
    /// A message came from it since the last heartbeat (it needs no `PING`).
    heard: bool,
}

#[derive(Clone, Debug)]
struct JobInfo {
    duration: Nanos,
    key: Option<String>,
    server: Option<NodeId>,
    assigned_at: i64,
    done: bool,
}

/// The dispatcher's state.
struct Dispatcher<P> {
    policy: P,
    servers: Vec<ServerInfo>,
    jobs: BTreeMap<u64, JobInfo>,
    /// Jobs waiting for a server to come up, in arrival order.
    backlog: VecDeque<u64>,
    heartbeat: Nanos,
    beating: bool,
    max_latency: Nanos,
}

/// A server's state.
#[derive(Default)]
struct Worker {
    concurrency: usize,
    running: BTreeSet<u64>,
    queue: VecDeque<(u64, Nanos)>,
}

enum Role<P> {
    Dispatcher(Box<Dispatcher<P>>),
    Server(Worker),
}

/// A node of the balance family under policy `P`: the dispatcher or a server.
pub struct BalanceNode<P> {
    id: NodeId,
    dispatcher: NodeId,
    role: Role<P>,
    /// Kept to rebuild the dispatcher after a crash.
    init: Init,
}

#[derive(Clone)]
struct Init {
    servers: Vec<NodeId>,
    rotation: Vec<NodeId>,
    weights: BTreeMap<NodeId, u32>,
    params: Params,
    heartbeat: Nanos,
    max_latency: Nanos,
}

impl<P: Policy> Dispatcher<P> {
    fn new(init: &Init) -> Self {
        let servers = init
            .servers
            .iter()
            .map(|&id| ServerInfo {
                id,
                up: true,
                in_rotation: init.rotation.contains(&id),
                weight: init.weights.get(&id).copied().unwrap_or(1).max(1),
                jobs: BTreeSet::new(),
                load: 0,
                ping_sent: None,
                heard: false,
            })
            .collect();
        Dispatcher {
            policy: P::new(&init.rotation, &init.params),
            servers,
            jobs: BTreeMap::new(),
            backlog: VecDeque::new(),
            heartbeat: init.heartbeat,
            beating: false,
            max_latency: init.max_latency,
        }
    }

    fn server(&mut self, id: NodeId) -> Option<&mut ServerInfo> {
        self.servers.iter_mut().find(|s| s.id == id)
    }

    fn submit(&mut self, ctx: &mut Ctx<'_, BalanceNode<P>>, id: u64, duration: Nanos, key: Option<String>) {
        if self.jobs.contains_key(&id) {
            ctx.emit(Observation::Note(format!("Job {id} was already submitted: ignored")));
            return;
        }
        ctx.emit(Observation::JobSubmitted { job: id, duration });
        self.jobs.insert(id, JobInfo { duration, key, server: None, assigned_at: 0, done: false });
        self.dispatch(ctx, id, None);
    }

    /// Sends job `id` to a server chosen by the policy, or backlogs it.
    /// `from` is the server it is taken from after a failure.
    fn dispatch(&mut self, ctx: &mut Ctx<'_, BalanceNode<P>>, id: u64, from: Option<NodeId>) {
        let Some(job) = self.jobs.get(&id) else { return };
        let up: Vec<Candidate> = self
            .servers
            .iter()
            .filter(|s| s.up && s.in_rotation)
            .map(|s| Candidate { id: s.id, running: s.jobs.len(), load: s.load, weight: s.weight })
            .collect();
        if up.is_empty() {
            ctx.emit(Observation::Note(format!("Job {id} waits: no server is up")));
            self.backlog.push_back(id);
            return;
        }
        let id_text = id.to_string();
        let key = job.key.clone().unwrap_or(id_text);
        let duration = job.duration;
        let view = JobView { id, duration, key: &key };
        let choice = self.policy.pick(&view, &up, ctx.rng());
        let why = match from {
            Some(f) => format!("re-dispatched from Server {f}; {}", choice.why),
            None => choice.why,
        };
        let now = ctx.now();
        if let Some(job) = self.jobs.get_mut(&id) {
            job.server = Some(choice.server);
            job.assigned_at = now;
        }
        if let Some(s) = self.server(choice.server) {
            s.jobs.insert(id);
            s.load += duration;
        }
        ctx.emit(Observation::Assigned { job: id, server: choice.server, why });
        ctx.send(choice.server, Msg::Job { id, duration });
        self.beat_soon(ctx);
    }

    fn beat_soon(&mut self, ctx: &mut Ctx<'_, BalanceNode<P>>) {
        if !self.beating && self.heartbeat > 0 {
            self.beating = true;
            ctx.set_timer(Timer::Heartbeat, self.heartbeat);
        }
    }

    fn drain_backlog(&mut self, ctx: &mut Ctx<'_, BalanceNode<P>>) {
        let waiting: Vec<u64> = self.backlog.drain(..).collect();
        for id in waiting {
            self.dispatch(ctx, id, None);
        }
    }

    /// Takes every unfinished job off `server` and dispatches it again.
    fn redispatch(&mut self, ctx: &mut Ctx<'_, BalanceNode<P>>, server: NodeId) {
        let Some(s) = self.server(server) else { return };
        let jobs: Vec<u64> = std::mem::take(&mut s.jobs).into_iter().collect();
        s.load = 0;
        s.ping_sent = None;
        for id in jobs {
            self.dispatch(ctx, id, Some(server));
        }
    }

    fn on_heartbeat(&mut self, ctx: &mut Ctx<'_, BalanceNode<P>>) {
        self.beating = false;
        let silent: Vec<NodeId> = self.servers.iter().filter(|s| s.up && s.ping_sent.is_some()).map(|s| s.id).collect();
        for id in silent {
            if let Some(s) = self.server(id) {
                s.up = false;
            }
            ctx.emit(Observation::Suspects(id));
            self.redispatch(ctx, id);
        }
        let now = ctx.now();
        let mut any = false;
        for s in self.servers.iter_mut().filter(|s| s.up && !s.jobs.is_empty()) {
            any = true;
            if std::mem::take(&mut s.heard) {
                continue;
            }
            s.ping_sent = Some(now);
            ctx.send(s.id, Msg::Ping);
        }
        if any {
            self.beat_soon(ctx);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, BalanceNode<P>>, from: NodeId, msg: Msg) {
        if let Some(s) = self.server(from)
            && s.up
        {
            s.heard = true;
            if !matches!(msg, Msg::Pong { .. }) {
                s.ping_sent = None;
            }
        }
        match msg {
            Msg::Done { id } => {
                let Some(job) = self.jobs.get_mut(&id) else { return };
                if job.done {
                    return;
                }
                job.done = true;
                let duration = job.duration;
                for s in self.servers.iter_mut() {
                    if s.jobs.remove(&id) {
                        s.load = s.load.saturating_sub(duration);
                    }
                }
                self.backlog.retain(|j| *j != id);
                ctx.emit(Observation::JobDone { job: id, server: from });
            }
            Msg::Pong { jobs } => {
                let max_latency = self.max_latency;
                let Some(s) = self.server(from) else { return };
                let sent = s.ping_sent.take();
                if !s.up {
                    // A false suspicion: it answers after all; its jobs have moved.
                    s.up = true;
                    ctx.emit(Observation::Note(format!("Server {from} answers again: back in service")));
                    self.drain_backlog(ctx);
                    return;
                }
                let Some(sent) = sent else { return };
                let held: Vec<u64> = s.jobs.iter().copied().collect();
                // Jobs it should hold (sent long enough before the PING) but does not: resend.
                let missing: Vec<(u64, Nanos)> = held
                    .iter()
                    .filter(|j| !jobs.contains(j))
                    .filter_map(|j| self.jobs.get(j).map(|info| (*j, info)))
                    .filter(|(_, info)| info.assigned_at + max_latency as i64 <= sent)
                    .map(|(j, info)| (j, info.duration))
                    .collect();
                for (id, duration) in missing {
                    ctx.emit(Observation::Note(format!("Server {from} does not hold job {id}: sent again")));
                    ctx.send(from, Msg::Job { id, duration });
                }
            }
            Msg::Up => {
                let Some(s) = self.server(from) else { return };
                let was_up = s.up;
                s.up = true;
                s.ping_sent = None;
                ctx.emit(Observation::Note(format!("Server {from} is up")));
                if was_up {
                    // It crashed and recovered before a heartbeat noticed: its jobs are gone.
                    self.redispatch(ctx, from);
                }
                self.drain_backlog(ctx);
            }
            Msg::Job { .. } | Msg::Ping => {}
        }
    }

    /// The seed's table: `Server 1 Processes: [1, 5]`, one line per server,
    /// each job under the server it was last sent to.
    fn show(&self, ctx: &mut Ctx<'_, BalanceNode<P>>) {
        for s in &self.servers {
            let jobs: Vec<u64> = self.jobs.iter().filter(|(_, j)| j.server == Some(s.id)).map(|(id, _)| *id).collect();
            ctx.emit(Observation::Table(format!("Server {} Processes: {}", s.id, list(&jobs))));
        }
    }

    fn next_id(&self) -> u64 {
        self.jobs.keys().next_back().map_or(1, |m| m + 1)
    }

    fn on_command(&mut self, ctx: &mut Ctx<'_, BalanceNode<P>>, cmd: &Command) {
        let num = |i: usize| cmd.args.get(i).and_then(|a| a.parse::<u64>().ok());
        let dur = |i: usize| cmd.args.get(i).and_then(|a| Latency::parse(a).ok());
        let bad = |ctx: &mut Ctx<'_, BalanceNode<P>>, usage: &str| {
            ctx.emit(Observation::Note(format!("cannot do \"{cmd}\": expected {usage}")));
        };
        match cmd.name.as_str() {
            "submit" | "submit_key" => match (num(0), dur(1)) {
                (Some(id), Some(range)) => {
                    let key = cmd.args.get(2).cloned();
                    self.submit(ctx, id, job_duration(range, id), key);
                }
                _ => bad(ctx, "a job id and a duration, like submit 3 5ms"),
            },
            "submit_many" | "balance" => match (num(0), dur(1)) {
                (Some(count), Some(range)) if count <= 100_000 => {
                    let first = self.next_id();
                    let ids: Vec<u64> = (first..first + count).collect();
                    let seed = cmd.name == "balance";
                    if seed {
                        ctx.emit(Observation::Table("Processes before balancing:".into()));
                        let words: Vec<String> = ids.iter().map(u64::to_string).collect();
                        ctx.emit(Observation::Table(words.join(" ")));
                    }
                    for id in ids {
                        self.submit(ctx, id, job_duration(range, id), None);
                    }
                    if seed {
                        ctx.emit(Observation::Table("Processes after balancing:".into()));
                        self.show(ctx);
                    }
                }
                _ => bad(ctx, "a count (at most 100000) and a duration, like submit_many 10 2ms..8ms"),
            },
            "show" => self.show(ctx),
            "add_server" | "remove_server" => {
                let adding = cmd.name == "add_server";
                let Some(node) = num(0).and_then(|n| NodeId::try_from(n).ok()) else {
                    return bad(ctx, "a server's node id");
                };
                let Some(s) = self.server(node) else {
                    return bad(ctx, "a server's node id (not the dispatcher's)");
                };
                if s.in_rotation == adding {
                    let state = if adding { "already" } else { "not" };
                    ctx.emit(Observation::Note(format!("Server {node} is {state} in rotation")));
                    return;
                }
                s.in_rotation = adding;
                if adding {
                    self.policy.joined(node);
                    ctx.emit(Observation::Note(format!("Server {node} joins the rotation")));
                    self.drain_backlog(ctx);
                } else {
                    self.policy.left(node);
                    ctx.emit(Observation::Note(format!("Server {node} leaves the rotation (its jobs still finish)")));
                }
            }
            _ => {}
        }
    }
}

impl Worker {
    fn start(&mut self, ctx: &mut Ctx<'_, BalanceNode<impl Policy>>) {
        while self.running.len() < self.concurrency {
            let Some((id, duration)) = self.queue.pop_front() else { break };
            self.running.insert(id);
            ctx.set_timer(Timer::Finish(id), duration);
        }
    }

    fn holds(&self, id: u64) -> bool {
        self.running.contains(&id) || self.queue.iter().any(|(j, _)| *j == id)
    }
}

impl<P: Policy> BalanceNode<P> {
    /// This node's role: true for the dispatcher.
    pub fn is_dispatcher(&self) -> bool {
        self.id == self.dispatcher
    }
}

impl<P: Policy> Process for BalanceNode<P> {
    type Msg = Msg;
    type Timer = Timer;
    type Params = Params;

    fn new(id: NodeId, setup: &Setup<'_, Params>) -> Self {
        let p = setup.params;
        let dispatcher = p.dispatcher.filter(|d| setup.nodes.contains(d)).unwrap_or(setup.nodes[0]);
        let servers: Vec<NodeId> = setup.nodes.iter().copied().filter(|n| *n != dispatcher).collect();
        let rotation: Vec<NodeId> = match &p.servers {
            Some(list) => servers.iter().copied().filter(|s| list.contains(s)).collect(),
            None => servers.clone(),
        };
        let heartbeat = match p.heartbeat {
            Some(Dur(h)) => h,
            None => (4 * setup.max_latency).max(DEFAULT_HEARTBEAT),
        };
        let init = Init { servers, rotation, weights: p.weights.clone(), params: p.clone(), heartbeat, max_latency: setup.max_latency };
        let role = if id == dispatcher {
            Role::Dispatcher(Box::new(Dispatcher::new(&init)))
        } else {
            Role::Server(Worker { concurrency: p.concurrency.unwrap_or(1).max(1) as usize, ..Worker::default() })
        };
        BalanceNode { id, dispatcher, role, init }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match &mut self.role {
            Role::Dispatcher(d) => d.on_message(ctx, from, msg),
            Role::Server(w) => match msg {
                Msg::Job { id, duration } if !w.holds(id) => {
                    w.queue.push_back((id, duration));
                    w.start(ctx);
                }
                Msg::Ping => {
                    let mut jobs: Vec<u64> = w.running.iter().copied().chain(w.queue.iter().map(|(j, _)| *j)).collect();
                    jobs.sort_unstable();
                    ctx.send(from, Msg::Pong { jobs });
                }
                _ => {}
            },
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match (&mut self.role, timer) {
            (Role::Dispatcher(d), Timer::Heartbeat) => d.on_heartbeat(ctx),
            (Role::Server(w), Timer::Finish(id)) if w.running.contains(&id) => {
                w.running.remove(&id);
                ctx.send(self.dispatcher, Msg::Done { id });
                w.start(ctx);
            }
            _ => {}
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, cmd: &Command) {
        match &mut self.role {
            Role::Dispatcher(d) => d.on_command(ctx, cmd),
            Role::Server(_) => ctx
                .emit(Observation::Note(format!("Server {} is not the dispatcher (node {}): \"{cmd}\" ignored", self.id, self.dispatcher))),
        }
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        match &mut self.role {
            Role::Dispatcher(d) => {
                // Volatile state: the jobs it knew of are gone.
                **d = Dispatcher::new(&self.init);
            }
            Role::Server(w) => {
                w.running.clear();
                w.queue.clear();
                ctx.send(self.dispatcher, Msg::Up);
            }
        }
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(BalanceChecker::default())]
    }
}
