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
//! **Failures.** The dispatcher watches the servers with a failure detector
//! in the manner of Chandra and Toueg's eventually perfect one (◇P). Every
//! `params.heartbeat` (default the larger of 25ms and 4 × the largest one-way
//! latency) it sends `PING` to each server that may hold an unfinished job
//! and has sent nothing since the last beat; the `PING` lists those jobs. A
//! server that leaves `params.patience` `PING`s in a row unanswered (default
//! 3) is suspected (`Suspects`) and its unfinished jobs are re-dispatched
//! under the policy. Suspicions are revised: while any job is unfinished the
//! dispatcher keeps `PING`ing every suspected server in rotation, and any
//! message from one puts it back in service (the jobs waiting in the backlog
//! are dispatched again). A suspicion so proved false gives that server one
//! more unanswered `PING` before the next one, so that on a lossy network the
//! detector errs less and less often; and the jobs it still holds are given
//! back to it, their copies elsewhere cancelled.
//!
//! A `PONG` lists the jobs the server holds and those of the `PING`'s it has
//! run: a run job counts as done (its `DONE` may have been lost), and a job
//! whose `JOB` was lost is sent again. A server remembers the jobs it has run
//! and answers a `JOB` for one of them with `DONE` instead of running it
//! again. The first `DONE` (or `PONG` report) of a job completes it, and the
//! dispatcher sends `CANCEL` to every other server that may hold a copy of
//! it, left there by a re-dispatch: a server drops a cancelled job, queued or
//! running. A recovering server has lost its jobs and its memory of them: it
//! says `UP`; a suspected one is back in service, and one not yet suspected
//! is `PING`ed about the jobs it held, which go to it again unless it ran
//! them. With no server in rotation up, jobs wait in a backlog, and the
//! rounds of `PING`s to the suspected servers thin out (the gap doubles, up
//! to [`MAX_IDLE_GAP`] heartbeats) until one answers.
//!
//! **Guarantee.** While the dispatcher lives, every submitted job is reported
//! done, exactly once (the first report), provided some server in rotation is
//! eventually up for good, linked to the dispatcher both ways by links that
//! do not lose every message: however many crashes, recoveries, partitions
//! and losses come first. A job is executed (run to completion by a server;
//! work cut short by a crash or a `CANCEL` does not count) at least once. It
//! is executed exactly once when no message is lost, no partition or block
//! separates a server from the dispatcher, and the `heartbeat` is longer than
//! a round trip (twice the largest latency; the default is at least four
//! times): then only a crashed server is ever suspected. Otherwise no
//! protocol can promise it, since a server cut off after it finished a job
//! looks exactly like one that crashed before. A job then runs twice when the
//! dispatcher suspects a server holding it and both that server and the one
//! the job moved to finish it before a `CANCEL` stops one of them, or when a
//! server that ran it crashes, forgetting so, before its report got through,
//! and is given it again. The `exactly-once` check counts executions and
//! fails in such a run.
//!
//! **Messages.** `JOB` and `DONE`: 2 per job. Plus, per heartbeat, a
//! `PING`/`PONG` pair for each server holding an unfinished job that has not
//! been heard from during the beat and, while jobs are unfinished, for each
//! suspected server in rotation (while all of them are suspected, after 1, 2,
//! 4, then every [`MAX_IDLE_GAP`] beats). After a suspicion, one `JOB` per
//! job moved, and one `CANCEL` per leftover copy once the job is done or
//! given back.
//!
//! **Source.** The seed lab's round-robin balancer; Tanenbaum and van Steen,
//! *Distributed Systems*, §3.4 (server clusters, request dispatching);
//! Chandra and Toueg, "Unreliable Failure Detectors for Reliable Distributed
//! Systems" (JACM 1996), the eventually perfect detector ◇P.

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

pub const KINDS: &[&str] = &["JOB", "DONE", "PING", "PONG", "UP", "CANCEL"];

const DISPATCHER: ParamSpec = ParamSpec { name: "dispatcher", help: "the dispatcher's id (default: the first node listed)" };
const SERVERS: ParamSpec = ParamSpec { name: "servers", help: "the servers in rotation at the start (default: every other node)" };
const CONCURRENCY: ParamSpec = ParamSpec { name: "concurrency", help: "jobs a server runs at once (default 1)" };
const HEARTBEAT: ParamSpec =
    ParamSpec { name: "heartbeat", help: "failure-detection period (default max(25ms, 4 x max latency); 0: no detection)" };
const PATIENCE: ParamSpec =
    ParamSpec { name: "patience", help: "unanswered PINGs before a server is suspected (default 3; one more after each false suspicion)" };

pub const PARAMS: &[ParamSpec] = &[DISPATCHER, SERVERS, CONCURRENCY, HEARTBEAT, PATIENCE];
pub const WEIGHTED_PARAMS: &[ParamSpec] = &[
    DISPATCHER,
    SERVERS,
    CONCURRENCY,
    HEARTBEAT,
    PATIENCE,
    ParamSpec { name: "weights", help: "each server's weight, e.g. {1: 3, 2: 1} (default 1)" },
];
pub const HASH_PARAMS: &[ParamSpec] = &[
    DISPATCHER,
    SERVERS,
    CONCURRENCY,
    HEARTBEAT,
    PATIENCE,
    ParamSpec { name: "vnodes", help: "virtual nodes per server on the hash ring (default 100)" },
];

/// The shortest default heartbeat period.
pub const DEFAULT_HEARTBEAT: Nanos = 25_000_000;

/// Unanswered `PING`s before a server is first suspected.
pub const DEFAULT_PATIENCE: u32 = 3;

/// The longest wait between two rounds of `PING`s, in heartbeats, while every
/// server in rotation is suspected.
pub const MAX_IDLE_GAP: u32 = 8;

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
    pub patience: Option<u32>,
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
    /// Are you alive? And what of these jobs (those you may hold)?
    Ping { jobs: Vec<u64> },
    /// Yes: these are the jobs I hold (running or queued), and these of the
    /// ones you asked about I have run (their `DONE` may have been lost).
    Pong { jobs: Vec<u64>, ran: Vec<u64> },
    /// I have recovered from a crash and hold no jobs.
    Up,
    /// Drop this job: a copy left by a re-dispatch, while another copy is
    /// done or kept.
    Cancel { id: u64 },
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Job { id, duration } => write!(f, "JOB {id} ({})", Dur(*duration)),
            Msg::Done { id } => write!(f, "DONE {id}"),
            Msg::Ping { jobs } => write!(f, "PING {}", list(jobs)),
            Msg::Pong { jobs, ran } if ran.is_empty() => write!(f, "PONG {}", list(jobs)),
            Msg::Pong { jobs, ran } => write!(f, "PONG {}, ran {}", list(jobs), list(ran)),
            Msg::Up => f.write_str("UP"),
            Msg::Cancel { id } => write!(f, "CANCEL {id}"),
        }
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Job { .. } => "JOB",
            Msg::Done { .. } => "DONE",
            Msg::Ping { .. } => "PING",
            Msg::Pong { .. } => "PONG",
            Msg::Up => "UP",
            Msg::Cancel { .. } => "CANCEL",
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
    /// Not suspected: it has answered within its patience since it was last
    /// suspected (or it never was).
    up: bool,
    in_rotation: bool,
    weight: u32,
    /// Unfinished jobs assigned to it (the policy's view of its load).
    jobs: BTreeSet<u64>,
    load: Nanos,
    /// Unfinished jobs of which it may hold a copy: its `jobs`, and those
    /// taken off it by a suspicion that may have been false. A `PING` asks
    /// about them; the first `DONE` of a job cancels its other copies. Each
    /// with the time (local ns) its `JOB` last went to this server: before a
    /// latency has passed, the job may still be on the way.
    copies: BTreeMap<u64, i64>,
    /// When the oldest unanswered `PING` went out (local ns), if one is out.
    ping_sent: Option<i64>,
    /// `PING`s sent to it since it was last heard from.
    silent: u32,
    /// Unanswered `PING`s it is allowed before it is suspected: 1 at first,
    /// one more after each suspicion it proved false.
    patience: u32,
    /// A message came from it since the last heartbeat (it needs no `PING`).
    heard: bool,
}

#[derive(Clone, Debug)]
struct JobInfo {
    duration: Nanos,
    key: Option<String>,
    server: Option<NodeId>,
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
    /// Heartbeats between two beats: 1, but while every server in rotation
    /// is suspected it doubles after each round of unanswered `PING`s, up to
    /// [`MAX_IDLE_GAP`], so that a dispatcher waiting for a server that may
    /// never come back does not flood the run.
    gap: u32,
    max_latency: Nanos,
}

/// A server's state (all of it volatile: a crash loses it).
#[derive(Default)]
struct Worker {
    concurrency: usize,
    running: BTreeSet<u64>,
    queue: VecDeque<(u64, Nanos)>,
    /// Jobs it has run to completion: a `JOB` for one of them (sent again
    /// because its `DONE` was lost) is answered with `DONE`, not run again.
    finished: BTreeSet<u64>,
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
    patience: u32,
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
                copies: BTreeMap::new(),
                ping_sent: None,
                silent: 0,
                patience: init.patience,
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
            gap: 1,
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
        self.jobs.insert(id, JobInfo { duration, key, server: None, done: false });
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
        }
        if let Some(s) = self.server(choice.server) {
            s.jobs.insert(id);
            s.copies.insert(id, now);
            s.load += duration;
        }
        ctx.emit(Observation::Assigned { job: id, server: choice.server, why });
        ctx.send(choice.server, Msg::Job { id, duration });
        self.beat_soon(ctx);
    }

    fn beat_soon(&mut self, ctx: &mut Ctx<'_, BalanceNode<P>>) {
        if !self.beating && self.heartbeat > 0 {
            self.beating = true;
            ctx.set_timer(Timer::Heartbeat, self.heartbeat.saturating_mul(u64::from(self.gap)));
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

    /// Jobs not done yet: held by a server or waiting in the backlog.
    fn has_work(&self) -> bool {
        !self.backlog.is_empty() || self.servers.iter().any(|s| !s.jobs.is_empty())
    }

    /// One beat of the failure detector (Chandra and Toueg's eventually
    /// perfect one): a server silent for `patience` `PING`s is suspected and
    /// its jobs move; while jobs are unfinished, every suspected server in
    /// rotation is `PING`ed too, so that a false suspicion is revised as soon
    /// as it answers.
    fn on_heartbeat(&mut self, ctx: &mut Ctx<'_, BalanceNode<P>>) {
        self.beating = false;
        let silent: Vec<NodeId> = self.servers.iter().filter(|s| s.up && s.silent >= s.patience).map(|s| s.id).collect();
        // All suspicions first, so that no job moves to a server suspected in the same beat.
        for &id in &silent {
            if let Some(s) = self.server(id) {
                s.up = false;
                s.silent = 0;
            }
            ctx.emit(Observation::Suspects(id));
        }
        for id in silent {
            self.redispatch(ctx, id);
        }
        if !self.has_work() {
            return;
        }
        let now = ctx.now();
        for s in self.servers.iter_mut() {
            let heard = std::mem::take(&mut s.heard);
            let ping = if s.up { !s.copies.is_empty() && !heard } else { s.in_rotation || !s.copies.is_empty() };
            if ping {
                s.silent = s.silent.saturating_add(1);
                s.ping_sent.get_or_insert(now);
                ctx.send(s.id, Msg::Ping { jobs: s.copies.keys().copied().collect() });
            }
        }
        let waiting = !self.servers.iter().any(|s| s.up && s.in_rotation);
        self.gap = if waiting { (self.gap * 2).min(MAX_IDLE_GAP) } else { 1 };
        self.beat_soon(ctx);
    }

    /// A message from `from`, which the dispatcher suspects: it is alive
    /// after all, and back in service. A suspicion that proved false
    /// (anything but `UP`, which says it did crash) earns the server one
    /// more unanswered `PING` of patience, so that on a lossy or slow network
    /// the detector errs less and less often (Chandra and Toueg's ◇P grows
    /// its timeout the same way). A recovered server whose `UP` was lost
    /// looks the same, and earns it too.
    fn reinstate(&mut self, ctx: &mut Ctx<'_, BalanceNode<P>>, from: NodeId, falsely: bool) {
        if self.gap > 1 && self.beating {
            // Back to a beat per period (the timer moves).
            ctx.set_timer(Timer::Heartbeat, self.heartbeat);
        }
        self.gap = 1;
        let Some(s) = self.server(from) else { return };
        s.up = true;
        s.silent = 0;
        s.ping_sent = None;
        if falsely {
            s.patience = s.patience.saturating_add(1);
            let patience = s.patience;
            ctx.emit(Observation::Note(format!(
                "Server {from} answers again: back in service, allowed {patience} unanswered PINGs from now on"
            )));
        }
        self.drain_backlog(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, BalanceNode<P>>, from: NodeId, msg: Msg) {
        let Some(s) = self.server(from) else { return };
        let suspected = !s.up;
        s.heard = true;
        s.silent = 0;
        if !matches!(msg, Msg::Pong { .. }) {
            s.ping_sent = None;
        }
        let says_up = matches!(msg, Msg::Up);
        match msg {
            Msg::Done { id } => self.on_done(ctx, from, id),
            Msg::Pong { jobs, ran } => self.on_pong(ctx, from, &jobs, &ran, suspected),
            Msg::Up => {
                ctx.emit(Observation::Note(format!("Server {from} is up")));
                if suspected {
                    // It crashed: no copy is left there.
                    if let Some(s) = self.server(from) {
                        s.copies.clear();
                    }
                } else {
                    self.recovered(ctx, from);
                    self.drain_backlog(ctx);
                }
            }
            Msg::Job { .. } | Msg::Ping { .. } | Msg::Cancel { .. } => {}
        }
        if suspected {
            self.reinstate(ctx, from, !says_up);
        }
    }

    /// The first `DONE` of a job completes it; a later one is ignored.
    fn on_done(&mut self, ctx: &mut Ctx<'_, BalanceNode<P>>, from: NodeId, id: u64) {
        let Some(job) = self.jobs.get_mut(&id) else { return };
        if job.done {
            return;
        }
        job.done = true;
        let duration = job.duration;
        let mut others = Vec::new();
        for s in self.servers.iter_mut() {
            if s.jobs.remove(&id) {
                s.load = s.load.saturating_sub(duration);
            }
            if s.copies.remove(&id).is_some() && s.id != from {
                others.push(s.id);
            }
        }
        self.backlog.retain(|j| *j != id);
        ctx.emit(Observation::JobDone { job: id, server: from });
        // A copy left over from a re-dispatch must not run to completion too.
        for server in others {
            ctx.send(server, Msg::Cancel { id });
        }
    }

    /// A `PONG` lists the jobs the server holds and those of the `PING`'s
    /// that it has run: each of these counts as its `DONE` (which may have
    /// been lost). A held job that is done, or that belongs to another
    /// server, is a leftover copy: it is cancelled. But a server answering a
    /// suspicion gets back the unfinished jobs it still holds (its copy is
    /// the older one), and their copies elsewhere are cancelled. A job it
    /// should hold (its `JOB` went out long enough before the `PING`) but
    /// neither holds nor has run never arrived: it is sent again if the job
    /// is still the server's, else the server simply holds no copy of it.
    fn on_pong(&mut self, ctx: &mut Ctx<'_, BalanceNode<P>>, from: NodeId, held: &[u64], ran: &[u64], suspected: bool) {
        for &id in ran {
            self.on_done(ctx, from, id);
        }
        for &id in held {
            let Some(job) = self.jobs.get(&id) else { continue };
            if job.server == Some(from) && !job.done {
                continue;
            }
            if !job.done && (suspected || job.server.is_none()) {
                self.give_back(ctx, id, from);
            } else {
                if let Some(s) = self.server(from) {
                    s.copies.remove(&id);
                }
                ctx.send(from, Msg::Cancel { id });
            }
        }
        let max_latency = self.max_latency as i64;
        let Some(s) = self.server(from) else { return };
        let Some(pinged) = s.ping_sent.take() else { return };
        // Its JOB went out a latency before the PING: it would have arrived.
        let absent: Vec<u64> = s
            .copies
            .iter()
            .filter(|(j, sent)| **sent + max_latency <= pinged && !held.contains(j) && !ran.contains(j))
            .map(|(j, _)| *j)
            .collect();
        let now = ctx.now();
        for id in absent {
            let Some(job) = self.jobs.get(&id) else { continue };
            let (mine, duration) = (job.server == Some(from), job.duration);
            let Some(s) = self.server(from) else { return };
            if mine {
                s.copies.insert(id, now);
                ctx.emit(Observation::Note(format!("Server {from} does not hold job {id}: sent again")));
                ctx.send(from, Msg::Job { id, duration });
            } else {
                s.copies.remove(&id);
            }
        }
    }

    /// Job `id`, moved off `to` by a suspicion that `to` has just disproved,
    /// goes back to it: `to` still holds it. The copy the job moved to is
    /// cancelled (or the job leaves the backlog).
    fn give_back(&mut self, ctx: &mut Ctx<'_, BalanceNode<P>>, id: u64, to: NodeId) {
        let now = ctx.now();
        let Some(job) = self.jobs.get_mut(&id) else { return };
        let (prev, duration) = (job.server.replace(to), job.duration);
        match prev {
            Some(p) => {
                if let Some(s) = self.server(p) {
                    if s.jobs.remove(&id) {
                        s.load = s.load.saturating_sub(duration);
                    }
                    s.copies.remove(&id);
                }
            }
            None => self.backlog.retain(|j| *j != id),
        }
        if let Some(s) = self.server(to) {
            s.jobs.insert(id);
            s.load += duration;
            s.copies.entry(id).or_insert(now);
        }
        let why = match prev {
            Some(p) => format!("back to Server {to}, which still holds it; the copy on Server {p} is cancelled"),
            None => format!("back to Server {to}, which still holds it"),
        };
        ctx.emit(Observation::Assigned { job: id, server: to, why });
        if let Some(p) = prev {
            ctx.send(p, Msg::Cancel { id });
        }
    }

    /// `server` crashed and recovered before a heartbeat noticed: the jobs
    /// it held are gone, and so is its memory of those it ran. They go to
    /// it again, not elsewhere (a `JOB` sent while its `UP` was on the way
    /// may have reached it after the recovery, and a server runs a job it
    /// holds only once), but only after a `PONG` to a `PING` sent at least
    /// a latency later, once a `DONE` it sent before crashing has arrived:
    /// resent at once, such a job would run twice.
    fn recovered(&mut self, ctx: &mut Ctx<'_, BalanceNode<P>>, server: NodeId) {
        let now = ctx.now();
        let Some(s) = self.server(server) else { return };
        s.heard = false;
        // Copies of jobs moved off it before the crash are gone; its own
        // jobs are asked about from a latency after now.
        s.copies = s.jobs.iter().map(|j| (*j, now)).collect();
        let held: Vec<u64> = s.jobs.iter().copied().collect();
        if held.is_empty() {
            return;
        }
        ctx.emit(Observation::Note(format!("Server {server} lost {} in its crash, unless it ran them: the next PING asks", list(&held))));
        self.beat_soon(ctx);
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

    /// Drops job `id` (queued, or running: its work stops unfinished).
    fn cancel(&mut self, ctx: &mut Ctx<'_, BalanceNode<impl Policy>>, id: u64) {
        if self.running.remove(&id) {
            ctx.cancel_timer(Timer::Finish(id));
            ctx.emit(Observation::Note(format!("Server {} stops job {id}: cancelled, another copy counts", ctx.id())));
            self.start(ctx);
        } else if let Some(k) = self.queue.iter().position(|(j, _)| *j == id) {
            self.queue.remove(k);
            ctx.emit(Observation::Note(format!("Server {} drops job {id}: cancelled, another copy counts", ctx.id())));
        }
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
        let init = Init {
            servers,
            rotation,
            weights: p.weights.clone(),
            params: p.clone(),
            heartbeat,
            patience: p.patience.unwrap_or(DEFAULT_PATIENCE).max(1),
            max_latency: setup.max_latency,
        };
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
                Msg::Job { id, .. } if w.finished.contains(&id) => ctx.send(from, Msg::Done { id }),
                Msg::Job { id, duration } if !w.holds(id) => {
                    w.queue.push_back((id, duration));
                    w.start(ctx);
                }
                Msg::Ping { jobs: asked } => {
                    let mut jobs: Vec<u64> = w.running.iter().copied().chain(w.queue.iter().map(|(j, _)| *j)).collect();
                    jobs.sort_unstable();
                    let ran: Vec<u64> = asked.into_iter().filter(|j| w.finished.contains(j)).collect();
                    ctx.send(from, Msg::Pong { jobs, ran });
                }
                Msg::Cancel { id } => w.cancel(ctx, id),
                _ => {}
            },
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match (&mut self.role, timer) {
            (Role::Dispatcher(d), Timer::Heartbeat) => d.on_heartbeat(ctx),
            (Role::Server(w), Timer::Finish(id)) if w.running.contains(&id) => {
                w.running.remove(&id);
                w.finished.insert(id);
                ctx.emit(Observation::JobExecuted { job: id });
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
                w.finished.clear();
                ctx.send(self.dispatcher, Msg::Up);
            }
        }
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(BalanceChecker::default())]
    }
}
