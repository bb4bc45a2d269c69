//! One live node (`distlab node FILE --id N`): the scenario's process for
//! node N on real sockets and real timers.
//!
//! The loop waits for the earliest of: a frame from the sockets, a timer, a
//! held-back message whose emulated latency is over, the node's next timeline
//! step, the end of the run. The scenario's network model is applied on
//! receipt (latency, loss, duplication, partitions and one-way blocks, drawn
//! from the node's seeded stream), so a lab's timeouts sized for its latency
//! keep their meaning; a crash is emulated (the process keeps running, deaf
//! and silent, and forgets its timers) so that it can recover.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use super::endpoint::{Endpoint, Input};
use super::record::{EndRec, NodeLine, RecEv, Record, Start};
use super::{LiveError, NodeOptions};
use crate::engine::clock::Clock;
use crate::engine::network::{DropReason, Fate, Network};
use crate::engine::parse_params;
use crate::process::{Ctx, Effect, Nanos, NodeId, NodeRng, Observation, Process, Setup};
use crate::scenario::{Action, Plan};
use crate::trace::event::TraceEvent;
use crate::trace::text::render_line;
use crate::transport::codec;
use crate::transport::frame::Header;

/// How long an idle UDP node keeps polling its socket before it sleeps.
const SPIN: Duration = Duration::from_micros(150);

/// The frame `to` of a datagram sent to the whole group.
pub const GROUP: u32 = u32::MAX;

struct Node<'a, P: Process, W: Write + ?Sized> {
    plan: &'a Plan,
    id: NodeId,
    me: u32,
    opts: &'a NodeOptions,
    proc_: P,
    alive: bool,
    clock: Clock,
    net: Network,
    rng: ChaCha8Rng,
    node_rng: NodeRng,
    timers: Vec<(Nanos, u64, P::Timer)>,
    held: BTreeMap<(Nanos, u64), (NodeId, P::Msg)>,
    tick: u64,
    peers: BTreeMap<NodeId, SocketAddr>,
    /// Node id → dense index.
    index: BTreeMap<NodeId, u32>,
    endpoint: Endpoint,
    out: &'a mut W,
    k: u64,
    /// The time of the latest record.
    last_t: Nanos,
    seq: u64,
    fired: u64,
    undecodable: u64,
    frame: Vec<u8>,
    line: String,
    effects: Vec<Effect<P>>,
}

impl<P: Process, W: Write + ?Sized> Node<'_, P, W> {
    /// The dense index of node `id` (looked up on every frame received).
    fn idx(&self, id: NodeId) -> Option<u32> {
        self.index.get(&id).copied()
    }

    fn record(&mut self, t: Nanos, ev: &TraceEvent<'_, P>, rec: RecEv<&P::Msg>) -> Result<(), LiveError> {
        // A node's records never go back in time: a timer that fired late is
        // stamped when it ran, after the frames handled before it.
        let t = t.max(self.last_t);
        self.last_t = t;
        self.line.clear();
        render_line::<P>(&mut self.line, t, ev);
        let r = Record { t, n: self.id, k: self.k, line: std::mem::take(&mut self.line), ev: rec };
        self.k += 1;
        let json = serde_json::to_string(&r).map_err(|e| LiveError::Setup(format!("cannot encode a record: {e}")))?;
        self.line = r.line;
        writeln!(self.out, "{json}").map_err(LiveError::io("write to the parent"))
    }

    fn dispatch(&mut self, t: Nanos, f: impl FnOnce(&mut P, &mut Ctx<'_, P>)) -> Result<(), LiveError> {
        let mut effects = std::mem::take(&mut self.effects);
        {
            let mut ctx = Ctx {
                id: self.id,
                local_now: self.clock.local(t),
                nodes: &self.plan.nodes,
                rng: &mut self.node_rng,
                effects: &mut effects,
            };
            f(&mut self.proc_, &mut ctx);
        }
        for e in effects.drain(..) {
            self.perform(t, e)?;
        }
        self.effects = effects;
        Ok(())
    }

    fn encode(&mut self, to: u32, msg: &P::Msg) -> Result<(), LiveError> {
        self.seq += 1;
        self.frame.clear();
        Header { run: self.opts.run, seq: self.seq, from: self.id, to }.write(&mut self.frame);
        codec::encode(msg, &mut self.frame).map_err(|e| LiveError::Setup(format!("cannot encode {msg}: {e}")))?;
        let limit = match self.opts.transport {
            crate::transport::TransportKind::Tcp => crate::transport::tcp::MAX_FRAME,
            _ => crate::transport::udp::MAX_DATAGRAM,
        };
        if self.frame.len() > limit {
            return Err(LiveError::Setup(format!("message {msg} is {} bytes; a frame holds at most {limit}", self.frame.len())));
        }
        Ok(())
    }

    fn send_one(&mut self, t: Nanos, to: NodeId, msg: &P::Msg, wire: bool) -> Result<(), LiveError> {
        let (from, id) = (self.id, self.id);
        self.record(t, &TraceEvent::Send { from, to, msg }, RecEv::Send { to, msg })?;
        if !wire {
            return Ok(());
        }
        let Some(&addr) = self.peers.get(&to) else { return Ok(()) };
        self.encode(to, msg)?;
        let frame = std::mem::take(&mut self.frame);
        if let Err(e) = self.endpoint.send(to, addr, &frame) {
            // The peer's process is gone: the message is lost, the node goes on.
            eprintln!("node {id}: {e}");
        }
        self.frame = frame;
        Ok(())
    }

    fn perform(&mut self, t: Nanos, e: Effect<P>) -> Result<(), LiveError> {
        match e {
            Effect::Send(to, msg) => self.send_one(t, to, &msg, true)?,
            Effect::Broadcast(msg) => {
                let group = self.endpoint.has_group();
                let others: Vec<NodeId> = self.plan.nodes.iter().copied().filter(|&n| n != self.id).collect();
                for to in others {
                    self.send_one(t, to, &msg, !group)?;
                }
                if group {
                    self.encode(GROUP, &msg)?;
                    let frame = std::mem::take(&mut self.frame);
                    if let Err(e) = self.endpoint.send_group(&frame) {
                        eprintln!("node {}: {e}", self.id);
                    }
                    self.frame = frame;
                }
            }
            Effect::SetTimer(timer, after) => {
                self.timers.retain(|(_, _, x)| *x != timer);
                self.tick += 1;
                self.timers.push((t + self.clock.true_delay(after), self.tick, timer));
            }
            Effect::CancelTimer(timer) => self.timers.retain(|(_, _, x)| *x != timer),
            Effect::AdjustClock(delta) => {
                let before = self.clock.local(t);
                self.clock.adjust(t, delta, self.plan.adjust, self.plan.slew_ppm);
                let after = self.clock.local(t);
                self.observe(t, Observation::ClockAdjusted { before, delta, after })?;
            }
            Effect::Observe(obs) => self.observe(t, obs)?,
        }
        Ok(())
    }

    fn observe(&mut self, t: Nanos, obs: Observation) -> Result<(), LiveError> {
        let node = self.id;
        let ev = TraceEvent::Observe { node, obs: &obs };
        let rec = RecEv::Observe { obs: obs.clone() };
        self.record(t, &ev, rec)
    }

    fn on_frame(&mut self, t: Nanos, bytes: &[u8]) -> Result<(), LiveError> {
        let Some((h, payload)) = Header::parse(bytes) else {
            self.undecodable += 1;
            return Ok(());
        };
        if h.run != self.opts.run || (h.to != self.id && h.to != GROUP) {
            self.undecodable += 1;
            return Ok(());
        }
        if h.from == self.id {
            return Ok(()); // Our own group datagram, looped back.
        }
        let Ok(msg) = codec::decode::<P::Msg>(payload) else {
            self.undecodable += 1;
            return Ok(());
        };
        let (from, to) = (h.from, self.id);
        let Some(fi) = self.idx(from) else {
            self.undecodable += 1;
            return Ok(());
        };
        if !self.alive {
            let reason = DropReason::ReceiverDown;
            return self.record(t, &TraceEvent::Drop { from, to, msg: &msg, reason }, RecEv::Drop { from, to, msg: &msg, reason });
        }
        match self.net.transmit(&mut self.rng, fi, self.me) {
            Fate::Dropped(reason) => {
                self.record(t, &TraceEvent::Drop { from, to, msg: &msg, reason }, RecEv::Drop { from, to, msg: &msg, reason })
            }
            Fate::Delivered { delay: 0, duplicate: None } if self.held.is_empty() => self.deliver(t, from, msg),
            Fate::Delivered { delay, duplicate } => {
                if let Some(d2) = duplicate {
                    self.record(t, &TraceEvent::Duplicate { from, to, msg: &msg }, RecEv::Duplicate { from, to, msg: &msg })?;
                    self.tick += 1;
                    self.held.insert((t + d2, self.tick), (from, msg.clone()));
                }
                self.tick += 1;
                self.held.insert((t + delay, self.tick), (from, msg));
                Ok(())
            }
        }
    }

    fn deliver(&mut self, t: Nanos, from: NodeId, msg: P::Msg) -> Result<(), LiveError> {
        let to = self.id;
        let reason = if !self.alive {
            Some(DropReason::ReceiverDown)
        } else if !self.idx(from).is_some_and(|fi| self.net.can_reach(fi, self.me)) {
            Some(DropReason::Partition)
        } else {
            None
        };
        if let Some(reason) = reason {
            return self.record(t, &TraceEvent::Drop { from, to, msg: &msg, reason }, RecEv::Drop { from, to, msg: &msg, reason });
        }
        self.record(t, &TraceEvent::Deliver { from, to, msg: &msg }, RecEv::Deliver { from, msg: &msg })?;
        self.dispatch(t, |p, ctx| p.on_message(ctx, from, msg))
    }

    /// Performs one timeline step; true when the run must stop.
    fn step(&mut self, t: Nanos, action: &Action) -> Result<bool, LiveError> {
        let to_idx = |s: &Self, ids: &[NodeId]| ids.iter().filter_map(|&n| s.idx(n)).collect::<Vec<u32>>();
        let node = self.id;
        match action {
            Action::Crash(nodes) if nodes.contains(&node) && self.alive => {
                self.alive = false;
                self.timers.clear();
                self.record(t, &TraceEvent::Crash { node }, RecEv::Crash)?;
            }
            Action::Recover(nodes) if nodes.contains(&node) && !self.alive => {
                self.alive = true;
                self.record(t, &TraceEvent::Recover { node }, RecEv::Recover)?;
                self.dispatch(t, |p, ctx| p.on_recover(ctx))?;
            }
            Action::Partition(groups) => {
                let g: Vec<Vec<u32>> = groups.iter().map(|g| to_idx(self, g)).collect();
                self.net.partition(&g);
            }
            Action::Block { from, to } => {
                let (f, t2) = (to_idx(self, from), to_idx(self, to));
                self.net.block(&f, &t2);
            }
            Action::Heal => self.net.heal(),
            Action::Command { node: n, command } if *n == node => {
                let text = command.to_string();
                if self.alive {
                    self.record(t, &TraceEvent::Command { node, command }, RecEv::Command { command: text })?;
                    self.dispatch(t, |p, ctx| p.on_command(ctx, command))?;
                } else {
                    self.record(t, &TraceEvent::CommandIgnored { node, command }, RecEv::CommandIgnored { command: text })?;
                }
            }
            Action::SetLoss(p) => self.net.default.loss = *p,
            Action::SetDuplicate(p) => self.net.default.duplicate = *p,
            Action::SetLatency(l) => self.net.default.latency = *l,
            Action::ShowClocks(_) if self.alive => self.observe(t, Observation::Clock(self.clock.local(t)))?,
            Action::SetDrift { node: n, ppm } if *n == node => self.clock.set_drift(t, *ppm),
            Action::SetOffset { node: n, offset_ns } if *n == node => self.clock.set_offset(t, *offset_ns),
            Action::Stop => return Ok(true),
            _ => {}
        }
        Ok(false)
    }
}

fn unix_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// Runs node `id` of `plan`: binds, reports ready, waits for the start
/// message on `control`, runs until the end, reports its end state. A failure
/// is also reported to the parent as an `error` line.
pub fn run_node<P: Process>(
    plan: &Plan,
    id: NodeId,
    opts: &NodeOptions,
    control: Box<dyn BufRead + Send>,
    out: &mut dyn Write,
) -> Result<(), LiveError> {
    let result = run_inner::<P>(plan, id, opts, control, out);
    if let Err(e) = &result {
        let line = serde_json::to_string(&NodeLine::Error { error: e.to_string() }).unwrap_or_default();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    result
}

fn run_inner<P: Process>(
    plan: &Plan,
    id: NodeId,
    opts: &NodeOptions,
    mut control: Box<dyn BufRead + Send>,
    out: &mut dyn Write,
) -> Result<(), LiveError> {
    let Some(me) = plan.nodes.iter().position(|&n| n == id) else {
        return Err(LiveError::Setup(format!("node {id} is not in the scenario")));
    };
    let params = parse_params::<P>(plan).map_err(|e| LiveError::Setup(e.to_string()))?;
    let (net, max_latency) = Network::from_plan(plan, |id| plan.nodes.iter().position(|&n| n == id).map(|i| i as u32));
    let highest = plan.nodes.iter().copied().max().unwrap_or(0);
    let proc_ = P::new(id, &Setup { nodes: &plan.nodes, params: &params, max_latency, index: me, highest });
    let (tx, rx) = mpsc::channel();
    let endpoint = Endpoint::bind(opts, tx.clone())?;
    let ready = serde_json::to_string(&NodeLine::Ready { ready: endpoint.addr() }).expect("serialisable");
    writeln!(out, "{ready}").map_err(LiveError::io("write to the parent"))?;
    out.flush().map_err(LiveError::io("write to the parent"))?;

    let mut first = String::new();
    if control.read_line(&mut first).map_err(LiveError::io("read the start message"))? == 0 {
        return Ok(()); // The parent went away before the start.
    }
    let start: Start = serde_json::from_str(&first).map_err(|e| LiveError::Setup(format!("bad start message: {e}")))?;
    // From now on the control stream only tells us to stop: by a second
    // line, or by closing (the parent died).
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = control.read_until(b'\n', &mut rest);
        let _ = tx.send(Input::Stop(String::new()));
    });

    let now_unix = unix_ns();
    let until_start = Duration::from_nanos(start.start_unix_ns.saturating_sub(now_unix) as u64);
    // A node that reads the start message late keeps the common origin.
    let late = Duration::from_nanos(now_unix.saturating_sub(start.start_unix_ns) as u64);
    let t0 = (Instant::now() + until_start).checked_sub(late).unwrap_or_else(Instant::now);
    let clock = plan.clocks.get(&id).map_or_else(Clock::default, |c| Clock::new(c.offset_ns, c.drift_ppm));
    let seed = plan.seed ^ u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x4C49_5645; // "LIVE"
    let mut node = Node::<P, dyn Write> {
        plan,
        id,
        me: me as u32,
        opts,
        proc_,
        alive: true,
        clock,
        net,
        rng: ChaCha8Rng::seed_from_u64(seed),
        node_rng: NodeRng::new(plan.seed, id),
        timers: Vec::new(),
        held: BTreeMap::new(),
        tick: 0,
        peers: start.peers,
        index: plan.nodes.iter().enumerate().map(|(i, &n)| (n, i as u32)).collect(),
        endpoint,
        out,
        k: 0,
        last_t: 0,
        seq: 0,
        fired: 0,
        undecodable: 0,
        frame: Vec::new(),
        line: String::new(),
        effects: Vec::new(),
    };
    std::thread::sleep(until_start);
    let now = || Instant::now().saturating_duration_since(t0).as_nanos() as Nanos;
    let mut end = opts.duration;
    let mut buf = vec![0u8; crate::transport::udp::MAX_DATAGRAM + 1];
    node.dispatch(0, |p, ctx| p.on_start(ctx))?;
    let mut next_step = 0;
    'run: loop {
        let now_t = now();
        // Everything that is due, earliest first (a step exactly at the end
        // still happens, as in the simulator).
        let t = now_t.min(end);
        loop {
            let step_at = plan.timeline.get(next_step).map(|(at, _)| *at).filter(|&at| at <= t);
            let held_at = node.held.first_key_value().map(|(k, _)| k.0).filter(|&at| at <= t);
            let timer_at = node.timers.iter().map(|(at, s, _)| (*at, *s)).min().filter(|&(at, _)| at <= t);
            let earliest = [step_at, held_at, timer_at.map(|x| x.0)].into_iter().flatten().min();
            let Some(at) = earliest else { break };
            if step_at == Some(at) {
                let action = &plan.timeline[next_step].1;
                next_step += 1;
                if node.step(at, action)? {
                    end = at;
                    break 'run;
                }
            } else if held_at == Some(at) {
                let (_, (from, msg)) = node.held.pop_first().expect("held");
                node.deliver(at, from, msg)?;
            } else if let Some((_, seq)) = timer_at {
                let k = node.timers.iter().position(|(_, s, _)| *s == seq).expect("timer");
                let (_, _, timer) = node.timers.swap_remove(k);
                node.fired += 1;
                let n = node.id;
                node.record(at, &TraceEvent::Timer { node: n, timer: &timer }, RecEv::Timer)?;
                node.dispatch(at, |p, ctx| p.on_timer(ctx, timer))?;
            }
        }
        if now_t >= end {
            break;
        }
        let t = now();
        let next = [
            plan.timeline.get(next_step).map(|(at, _)| *at),
            node.held.first_key_value().map(|(k, _)| k.0),
            node.timers.iter().map(|(at, _, _)| *at).min(),
            Some(end),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(end);
        let wait = Duration::from_nanos(next.saturating_sub(t)).min(Duration::from_millis(50));
        if wait > Duration::from_millis(1) {
            node.out.flush().map_err(LiveError::io("write to the parent"))?;
        }
        if node.endpoint.direct() {
            // A short spin (yielding the CPU) before sleeping: under load a
            // reply usually comes within microseconds, and a sleep-and-wake
            // costs more than that.
            let spin_until = Instant::now() + wait.min(SPIN);
            let mut got = node.endpoint.try_recv(&mut buf)?;
            while got.is_none() && Instant::now() < spin_until {
                std::thread::yield_now();
                got = node.endpoint.try_recv(&mut buf)?;
            }
            if let Some(len) = got {
                node.on_frame(now(), &buf[..len])?;
            } else {
                node.endpoint.wait(wait)?;
            }
            while let Some(len) = node.endpoint.try_recv(&mut buf)? {
                node.on_frame(now(), &buf[..len])?;
            }
            match rx.try_recv() {
                Ok(Input::Stop(why)) => {
                    if !why.is_empty() {
                        return Err(LiveError::Node { node: id, message: why });
                    }
                    end = end.min(now());
                    break;
                }
                Ok(Input::Frame(f)) => node.on_frame(now(), &f)?,
                Err(_) => {}
            }
            continue;
        }
        match rx.recv_timeout(wait) {
            Ok(Input::Frame(bytes)) => {
                let t = now();
                node.on_frame(t, &bytes)?;
                // Take whatever else has arrived without waiting.
                while let Ok(Input::Frame(bytes)) = rx.try_recv() {
                    node.on_frame(now(), &bytes)?;
                }
            }
            Ok(Input::Stop(why)) => {
                if !why.is_empty() {
                    return Err(LiveError::Node { node: id, message: why });
                }
                end = end.min(now());
                break;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let endrec = EndRec { n: id, alive: node.alive, clock: node.clock.local(end), timers: node.fired, undecodable: node.undecodable };
    let line = serde_json::to_string(&NodeLine::End { end: endrec }).expect("serialisable");
    writeln!(node.out, "{line}").map_err(LiveError::io("write to the parent"))?;
    node.out.flush().map_err(LiveError::io("write to the parent"))?;
    Ok(())
}
