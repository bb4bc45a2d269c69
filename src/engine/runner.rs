//! The discrete-event loop. One queue of `(time, seq)`-ordered entries; each
//! popped entry runs one handler of one node, whose recorded effects the runner
//! then performs: sends go through the [`Network`], timers into the queue,
//! observations to the checkers and the trace.
//!
//! Generic over the process type: messages live unboxed in the queue.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use super::clock::Clock;
use super::network::{DropReason, Fate, Network};
use super::prefetch::prefetch;
use super::queue::{Due, Ev, Queue};
use super::script::{Director, MsgView, ObsView, ScriptOut, Verdict};
use super::stats::Stats;
use crate::check::{CheckResult, Checker, EndState};
use crate::process::{Ctx, Effect, Message, Nanos, NodeId, NodeRng, Observation, Process, Setup};
use crate::scenario::{Action, Plan};
use crate::trace::event::{StopReason, TraceEvent, TraceSink};
use crate::transport::{Carrier, TransportKind, WireStats, codec};

/// Knobs that do not belong in the scenario file.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Stop after this many events (a guard against runaway scenarios).
    pub max_events: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_events: 100_000_000 }
    }
}

/// Bytes of node records from which the loop (and the queue's timer lanes)
/// prefetch: a run whose records fit in a core's L2 cache gains nothing and
/// pays the instructions.
const PREFETCH_FROM: usize = 1 << 20;

/// Everything the runner keeps about one node, together, so that handling an
/// event touches one record rather than one entry of each of several arrays.
struct Node<P> {
    proc: P,
    clock: NodeClock,
    rng: NodeRng,
    alive: bool,
}

/// A node's clock. `None` is the exact clock (no offset, drift or slew yet),
/// which most nodes keep all run: 8 bytes in the node's record, not 40.
struct NodeClock(Option<Box<Clock>>);

impl NodeClock {
    fn new(c: Clock) -> Self {
        NodeClock(if c == Clock::default() { None } else { Some(Box::new(c)) })
    }

    /// [`Clock::local`].
    #[inline]
    fn local(&self, t: Nanos) -> i64 {
        match &self.0 {
            None => Clock::default().local(t),
            Some(c) => c.local(t),
        }
    }

    /// [`Clock::true_delay`].
    #[inline]
    fn true_delay(&self, local: Nanos) -> Nanos {
        match &self.0 {
            None => local,
            Some(c) => c.true_delay(local),
        }
    }

    /// The clock, to change it.
    fn get_mut(&mut self) -> &mut Clock {
        self.0.get_or_insert_with(Box::default)
    }
}

/// How a message meets the real transport in `Runner::transmit`.
enum Carry {
    /// Carry it if there is a real transport.
    Now,
    /// A group send has already carried it.
    Done,
    /// A group send carried it and this receiver's copy did not decode.
    Undecodable(Vec<u8>),
}

pub struct Runner<'p, P: Process> {
    plan: &'p Plan,
    ids: Vec<NodeId>,
    /// id → dense index + 1; 0 where no node has that id.
    index: Vec<u32>,
    /// Per-node state, by dense index.
    nodes: Vec<Node<P>>,
    /// Whether the node records outgrow the caches ([`PREFETCH_FROM`]), so
    /// that the loop asks for the next event's lines ahead of time.
    prefetching: bool,
    net: Network,
    rng: ChaCha8Rng,
    queue: Queue<P>,
    now: Nanos,
    effects: Vec<Effect<P>>,
    pub stats: Stats,
    /// Figures the checkers report for the summary, filled in by `run`.
    pub metrics: Vec<(String, String)>,
    checkers: Vec<Box<dyn Checker<P>>>,
    /// The checkers that want message and timer events (`Checker::wants_messages`).
    msg_checkers: Vec<usize>,
    /// Whether the sink wants events at all (`TraceSink::wants_events`).
    sink_on: bool,
    trace_index: u64,
    limits: Limits,
    /// The scenario's script, if it has one, and what it asked for that is
    /// not done yet (hooks run inside handlers; their requests wait for the
    /// handler to finish).
    director: Option<Box<dyn Director>>,
    script_out: Vec<ScriptOut>,
    /// The first error the script raised; the run stops there.
    pub script_error: Option<String>,
    /// The real transport that carries each delivered message (`None`: in memory).
    wire: Option<Box<dyn Carrier>>,
    wire_buf: Vec<u8>,
    /// The first error of the transport; the run stops there.
    pub wire_error: Option<String>,
}

impl<'p, P: Process> Runner<'p, P> {
    pub fn new(plan: &'p Plan, params: &P::Params, checkers: Vec<Box<dyn Checker<P>>>, limits: Limits) -> Self {
        let mut runner = Self::build(plan, params, checkers, limits);
        if let Some(script) = &plan.script {
            match script.director(plan.seed) {
                Ok(d) => runner.director = Some(d),
                Err(e) => runner.script_error = Some(e),
            }
        }
        if plan.transport != TransportKind::Sim {
            match crate::transport::open(plan.transport, plan.nodes.len(), &plan.wire) {
                Ok(w) => runner.wire = w,
                Err(e) => runner.wire_error = Some(e.to_string()),
            }
        }
        runner
    }

    /// Carries messages over `carrier` instead of the plan's transport (a
    /// custom transport, or a test's faulty one).
    pub fn set_carrier(&mut self, carrier: Box<dyn Carrier>) {
        self.wire_error = None;
        self.wire = Some(carrier);
    }

    /// What the real transport did (zeros on the simulated network).
    pub fn wire_stats(&self) -> WireStats {
        self.wire.as_ref().map(|w| w.stats()).unwrap_or_default()
    }

    /// Carries `msg` from `i` to `j` over the real transport: encode, send,
    /// read at the receiver, decode. `None` when it did not arrive intact
    /// (counted, traced as a drop) or the transport failed (the run stops).
    fn carry(&mut self, sink: &mut dyn TraceSink<P>, i: u32, j: u32, msg: P::Msg) -> Option<P::Msg> {
        if self.wire_error.is_some() {
            return None; // The run is stopping: no more waits on the transport.
        }
        let wire = self.wire.as_mut()?;
        self.wire_buf.clear();
        if let Err(e) = codec::encode(&msg, &mut self.wire_buf) {
            self.wire_error.get_or_insert(format!("cannot encode {msg}: {e}"));
            return None;
        }
        match wire.carry(i, j, &self.wire_buf) {
            Ok(bytes) => self.decode_copy(sink, i, j, &msg, &bytes),
            Err(e) => {
                let (from, to) = (self.ids[i as usize], self.ids[j as usize]);
                self.wire_error.get_or_insert(format!("message {msg} from {from} to {to}: {e}"));
                None
            }
        }
    }

    /// Decodes what the receiver read; a copy that does not decode is counted and dropped.
    fn decode_copy(&mut self, sink: &mut dyn TraceSink<P>, i: u32, j: u32, msg: &P::Msg, bytes: &[u8]) -> Option<P::Msg> {
        match codec::decode::<P::Msg>(bytes) {
            Ok(m) => Some(m),
            Err(_) => {
                self.stats.undecodable += 1;
                self.stats.dropped(DropReason::Undecodable);
                let (from, to) = (self.ids[i as usize], self.ids[j as usize]);
                self.trace_msg(sink, TraceEvent::Drop { from, to, msg, reason: DropReason::Undecodable });
                None
            }
        }
    }

    /// A broadcast over a transport with a group send: one frame to the
    /// group, then each receiver's decoded copy goes its own way through the
    /// network model. `false` when the transport has no group send.
    fn broadcast_group(&mut self, sink: &mut dyn TraceSink<P>, i: u32, msg: &P::Msg) -> bool {
        if self.wire_error.is_some() {
            return true;
        }
        let Some(wire) = self.wire.as_mut() else { return false };
        self.wire_buf.clear();
        if let Err(e) = codec::encode(msg, &mut self.wire_buf) {
            self.wire_error.get_or_insert(format!("cannot encode {msg}: {e}"));
            return true;
        }
        let copies = match wire.carry_group(i, &self.wire_buf) {
            Ok(Some(c)) => c,
            Ok(None) => return false,
            Err(e) => {
                let from = self.ids[i as usize];
                self.wire_error.get_or_insert(format!("broadcast {msg} from {from}: {e}"));
                return true;
            }
        };
        for (j, copy) in copies.into_iter().enumerate() {
            let Some(bytes) = copy else { continue };
            let j = j as u32;
            match codec::decode::<P::Msg>(&bytes) {
                Ok(m) => self.transmit(sink, i, j, m, Carry::Done),
                // Sent, then lost to corruption, after the same hooks and
                // network draws as on every other transport.
                Err(_) => self.transmit(sink, i, j, msg.clone(), Carry::Undecodable(bytes)),
            }
        }
        true
    }

    fn build(plan: &'p Plan, params: &P::Params, checkers: Vec<Box<dyn Checker<P>>>, limits: Limits) -> Self {
        let ids = plan.nodes.clone();
        let max_id = ids.iter().copied().max().unwrap_or(0) as usize;
        let mut index = vec![0u32; max_id + 1];
        for (i, &id) in ids.iter().enumerate() {
            index[id as usize] = i as u32 + 1;
        }
        let (net, max_latency) = Network::from_plan(plan, |id| index.get(id as usize).and_then(|&i| i.checked_sub(1)));
        let setup_nodes = ids.clone();
        let highest = ids.iter().copied().max().unwrap_or(0);
        let nodes = ids
            .iter()
            .enumerate()
            .map(|(index, &id)| Node {
                proc: P::new(id, &Setup { nodes: &setup_nodes, params, max_latency, index, highest }),
                clock: NodeClock::new(plan.clocks.get(&id).map_or_else(Clock::default, |c| Clock::new(c.offset_ns, c.drift_ppm))),
                rng: NodeRng::new(plan.seed, id),
                alive: true,
            })
            .collect();
        let n = ids.len();
        let prefetching = n * std::mem::size_of::<Node<P>>() >= PREFETCH_FROM;
        Runner {
            plan,
            ids,
            index,
            nodes,
            net,
            rng: ChaCha8Rng::seed_from_u64(plan.seed),
            queue: Queue::new(n, max_latency, prefetching),
            prefetching,
            now: 0,
            effects: Vec::new(),
            stats: Stats::default(),
            metrics: Vec::new(),
            msg_checkers: (0..checkers.len()).filter(|&k| checkers[k].wants_messages()).collect(),
            checkers,
            sink_on: true,
            trace_index: 0,
            limits,
            director: None,
            script_out: Vec::new(),
            script_error: None,
            wire: None,
            wire_buf: Vec::new(),
            wire_error: None,
        }
    }

    #[inline]
    fn idx(&self, id: NodeId) -> Option<u32> {
        match self.index.get(id as usize) {
            Some(&i) if i > 0 => Some(i - 1),
            _ => None,
        }
    }

    #[inline]
    fn trace(&mut self, sink: &mut dyn TraceSink<P>, ev: TraceEvent<'_, P>) {
        for c in self.checkers.iter_mut() {
            c.on_event(self.trace_index, self.now, &ev);
        }
        if self.sink_on {
            sink.event(self.now, &ev);
        }
        self.trace_index += 1;
    }

    /// [`Self::trace`] for a message or timer event: only the checkers that
    /// want those see it.
    #[inline]
    fn trace_msg(&mut self, sink: &mut dyn TraceSink<P>, ev: TraceEvent<'_, P>) {
        for k in 0..self.msg_checkers.len() {
            self.checkers[self.msg_checkers[k]].on_event(self.trace_index, self.now, &ev);
        }
        if self.sink_on {
            sink.event(self.now, &ev);
        }
        self.trace_index += 1;
    }

    /// Runs `f` as a handler of node `i` and performs the effects it records.
    fn dispatch(&mut self, sink: &mut dyn TraceSink<P>, i: u32, f: impl FnOnce(&mut P, &mut Ctx<'_, P>)) {
        let iu = i as usize;
        let mut effects = std::mem::take(&mut self.effects);
        {
            let node = &mut self.nodes[iu];
            let mut ctx = Ctx {
                id: self.ids[iu],
                local_now: node.clock.local(self.now),
                nodes: &self.ids,
                rng: &mut node.rng,
                effects: &mut effects,
            };
            f(&mut node.proc, &mut ctx);
        }
        self.perform_all(sink, i, &mut effects);
        self.effects = effects;
    }

    /// Performs, in order, the effects a handler of node `i` recorded.
    #[inline(never)]
    fn perform_all(&mut self, sink: &mut dyn TraceSink<P>, i: u32, effects: &mut Vec<Effect<P>>) {
        for effect in effects.drain(..) {
            self.perform(sink, i, effect);
        }
    }

    #[inline(always)]
    fn perform(&mut self, sink: &mut dyn TraceSink<P>, i: u32, effect: Effect<P>) {
        match effect {
            Effect::Send(to, msg) => match self.idx(to) {
                Some(j) => self.transmit(sink, i, j, msg, Carry::Now),
                None => {
                    let text =
                        format!("process {} sent {msg} to {to}, which is not in the scenario: message discarded", self.ids[i as usize]);
                    self.trace(sink, TraceEvent::Note { text: &text });
                }
            },
            Effect::Broadcast(msg) => {
                if self.wire.is_some() && self.broadcast_group(sink, i, &msg) {
                    return;
                }
                let n = self.ids.len() as u32;
                for j in 0..n {
                    if j != i {
                        self.transmit(sink, i, j, msg.clone(), Carry::Now);
                    }
                }
            }
            Effect::SetTimer(timer, after) => {
                let iu = i as usize;
                let delay = self.nodes[iu].clock.true_delay(after);
                self.queue.set_timer(i, timer, self.now + delay, delay);
            }
            Effect::AdjustClock(delta) => {
                let iu = i as usize;
                let before = self.nodes[iu].clock.local(self.now);
                self.nodes[iu].clock.get_mut().adjust(self.now, delta, self.plan.adjust, self.plan.slew_ppm);
                let after = self.nodes[iu].clock.local(self.now);
                self.observe(sink, i, &Observation::ClockAdjusted { before, delta, after });
            }
            Effect::CancelTimer(timer) => self.queue.cancel_timer(i, &timer),
            Effect::Observe(obs) => self.observe(sink, i, &obs),
        }
    }

    /// Reports node `i`'s observation to the stats, the checkers, the trace and the script.
    fn observe(&mut self, sink: &mut dyn TraceSink<P>, i: u32, obs: &Observation) {
        self.stats.observations.add(obs.tag());
        let node = self.ids[i as usize];
        self.trace(sink, TraceEvent::Observe { node, obs });
        if self.director.as_ref().is_some_and(|d| d.wants_observations()) {
            self.observe_hook(node, obs);
        }
    }

    /// Sends one message from `i` to `j` through the network model; `carry`
    /// says whether the real transport (if any) still has to take it.
    fn transmit(&mut self, sink: &mut dyn TraceSink<P>, i: u32, j: u32, msg: P::Msg, carry: Carry) {
        self.stats.sent.add(msg.kind());
        let (from, to) = (self.ids[i as usize], self.ids[j as usize]);
        self.trace_msg(sink, TraceEvent::Send { from, to, msg: &msg });
        let verdict =
            if self.director.as_ref().is_some_and(|d| d.wants_sends()) { self.message_hook(true, from, to, &msg) } else { Verdict::Pass };
        if verdict == Verdict::Drop {
            self.stats.dropped(DropReason::Script);
            self.trace_msg(sink, TraceEvent::Drop { from, to, msg: &msg, reason: DropReason::Script });
            return;
        }
        match self.net.transmit(&mut self.rng, i, j) {
            Fate::Dropped(reason) => {
                self.stats.dropped(reason);
                self.trace_msg(sink, TraceEvent::Drop { from, to, msg: &msg, reason });
            }
            Fate::Delivered { mut delay, mut duplicate } => {
                let msg = match carry {
                    Carry::Now if self.wire.is_some() => match self.carry(sink, i, j, msg) {
                        Some(m) => m,
                        None => return,
                    },
                    Carry::Undecodable(bytes) => {
                        self.decode_copy(sink, i, j, &msg, &bytes);
                        return;
                    }
                    _ => msg,
                };
                match verdict {
                    Verdict::Delay(d) => delay += d,
                    Verdict::Duplicate if duplicate.is_none() => duplicate = Some(delay),
                    _ => {}
                }
                match duplicate {
                    None => {
                        self.queue.push(self.now + delay, Ev::Deliver { from: i, to: j, msg });
                    }
                    Some(d2) => {
                        self.stats.duplicated += 1;
                        self.trace_msg(sink, TraceEvent::Duplicate { from, to, msg: &msg });
                        self.queue.push(self.now + delay, Ev::Deliver { from: i, to: j, msg: msg.clone() });
                        self.queue.push(self.now + d2, Ev::Deliver { from: i, to: j, msg });
                    }
                }
            }
        }
    }

    /// Runs the scenario to its end and returns the check results.
    pub fn run(&mut self, sink: &mut dyn TraceSink<P>) -> Vec<CheckResult> {
        self.sink_on = sink.wants_events();
        self.queue.reserve_steps(self.plan.timeline.len());
        for (k, _) in self.plan.timeline.iter().enumerate() {
            let at = self.plan.timeline[k].0;
            self.queue.push(at, Ev::Step(k as u32));
        }
        if let Some(d) = self.director.as_mut() {
            match d.start() {
                Ok(out) => self.script_out.extend(out),
                Err(e) => self.script_error = Some(e),
            }
        }
        let stopped_early = self.perform_script(sink);
        for i in 0..self.ids.len() as u32 {
            self.dispatch(sink, i, |p, ctx| p.on_start(ctx));
        }
        let until = self.plan.until;
        let stop = loop {
            if self.script_error.is_some() {
                break StopReason::ScriptError;
            }
            if self.wire_error.is_some() {
                break StopReason::TransportError;
            }
            if stopped_early {
                break StopReason::Stopped;
            }
            // Cancelled, replaced and cleared timers never come out of the queue.
            let Some(time) = self.queue.peek_time() else { break StopReason::Quiescent };
            if time > until {
                self.now = until;
                break StopReason::Horizon;
            }
            if self.stats.events >= self.limits.max_events {
                break StopReason::EventLimit;
            }
            self.stats.queue_len_sum += self.queue.len() as u64;
            let Some((time, due)) = self.queue.pop() else { break StopReason::Quiescent };
            // On large runs the receiver's record, the message and the
            // timer slots are cache misses: ask for the next delivery's,
            // which load while this event is handled.
            if self.prefetching
                && let Some(j) = self.queue.upcoming_target()
                && let Some(node) = self.nodes.get(j as usize)
            {
                prefetch(node);
                self.queue.prefetch_timers(j);
            }
            self.now = time;
            let ev = match due {
                Due::Ev(ev) => ev,
                Due::Timer { node, timer } => {
                    self.stats.events += 1;
                    self.stats.timers += 1;
                    let n = self.ids[node as usize];
                    self.trace_msg(sink, TraceEvent::Timer { node: n, timer: &timer });
                    self.dispatch(sink, node, |p, ctx| p.on_timer(ctx, timer));
                    if self.script_error.is_some() {
                        break StopReason::ScriptError;
                    }
                    if !self.script_out.is_empty() && self.perform_script(sink) {
                        break StopReason::Stopped;
                    }
                    continue;
                }
            };
            match ev {
                Ev::Deliver { from, to, msg } => {
                    self.stats.events += 1;
                    let (f, t) = (self.ids[from as usize], self.ids[to as usize]);
                    if !self.nodes[to as usize].alive {
                        self.stats.dropped(DropReason::ReceiverDown);
                        self.trace_msg(sink, TraceEvent::Drop { from: f, to: t, msg: &msg, reason: DropReason::ReceiverDown });
                    } else if !self.net.can_reach(from, to) {
                        self.stats.dropped(DropReason::Partition);
                        self.trace_msg(sink, TraceEvent::Drop { from: f, to: t, msg: &msg, reason: DropReason::Partition });
                    } else {
                        let verdict = if self.director.as_ref().is_some_and(|d| d.wants_deliveries()) {
                            self.message_hook(false, f, t, &msg)
                        } else {
                            Verdict::Pass
                        };
                        match verdict {
                            Verdict::Drop => {
                                self.stats.dropped(DropReason::Script);
                                self.trace_msg(sink, TraceEvent::Drop { from: f, to: t, msg: &msg, reason: DropReason::Script });
                            }
                            Verdict::Delay(d) => {
                                // Held back by the script: it arrives later, unseen by the hooks again.
                                self.queue.push(self.now + d, Ev::Held { from, to, msg });
                            }
                            Verdict::Duplicate => {
                                self.stats.delivered += 2;
                                self.stats.duplicated += 1;
                                self.trace_msg(sink, TraceEvent::Deliver { from: f, to: t, msg: &msg });
                                let copy = msg.clone();
                                self.dispatch(sink, to, |p, ctx| p.on_message(ctx, f, copy));
                                if self.nodes[to as usize].alive {
                                    self.trace_msg(sink, TraceEvent::Deliver { from: f, to: t, msg: &msg });
                                    self.dispatch(sink, to, |p, ctx| p.on_message(ctx, f, msg));
                                }
                            }
                            Verdict::Pass => {
                                self.stats.delivered += 1;
                                self.trace_msg(sink, TraceEvent::Deliver { from: f, to: t, msg: &msg });
                                self.dispatch(sink, to, |p, ctx| p.on_message(ctx, f, msg));
                            }
                        }
                    }
                }
                Ev::Held { from, to, msg } => {
                    self.stats.events += 1;
                    let (f, t) = (self.ids[from as usize], self.ids[to as usize]);
                    if !self.nodes[to as usize].alive {
                        self.stats.dropped(DropReason::ReceiverDown);
                        self.trace_msg(sink, TraceEvent::Drop { from: f, to: t, msg: &msg, reason: DropReason::ReceiverDown });
                    } else {
                        self.stats.delivered += 1;
                        self.trace_msg(sink, TraceEvent::Deliver { from: f, to: t, msg: &msg });
                        self.dispatch(sink, to, |p, ctx| p.on_message(ctx, f, msg));
                    }
                }
                Ev::Step(k) => {
                    self.stats.events += 1;
                    let plan = self.plan;
                    if self.step(sink, &plan.timeline[k as usize].1) {
                        break StopReason::Stopped;
                    }
                }
                Ev::Script(id) => {
                    let now = self.now;
                    let out = match self.director.as_mut().map(|d| d.fire(now, id)) {
                        Some(Ok(out)) => out,
                        Some(Err(e)) => {
                            self.script_error = Some(e);
                            break StopReason::ScriptError;
                        }
                        None => Vec::new(),
                    };
                    self.script_out.extend(out);
                }
            }
            if self.script_error.is_some() {
                break StopReason::ScriptError;
            }
            if !self.script_out.is_empty() && self.perform_script(sink) {
                break StopReason::Stopped;
            }
        };
        self.stats.stop = stop;
        self.stats.end_time = self.now;
        // What is left, not counting timers that were cancelled or replaced.
        let pending = self.queue.len();
        self.trace(sink, TraceEvent::Stop { reason: stop, pending });
        let clocks: Vec<i64> = self.nodes.iter().map(|n| n.clock.local(self.now)).collect();
        let alive: Vec<bool> = self.nodes.iter().map(|n| n.alive).collect();
        let end = EndState { nodes: &self.ids, alive: &alive, time: self.now, clocks: &clocks, stats: &self.stats };
        let mut results = Vec::new();
        for c in self.checkers.iter_mut() {
            results.extend(c.finish(&end, &self.plan.expect));
            self.metrics.extend(c.metrics());
        }
        results
    }

    /// Performs what the script asked for since the last call; true if it
    /// asked to stop.
    fn perform_script(&mut self, sink: &mut dyn TraceSink<P>) -> bool {
        while !self.script_out.is_empty() {
            let out = std::mem::take(&mut self.script_out);
            for o in out {
                match o {
                    ScriptOut::Act(a) => {
                        self.stats.events += 1;
                        if self.step(sink, &a) {
                            return true;
                        }
                    }
                    ScriptOut::Schedule(t, id) => {
                        self.queue.push(t, Ev::Script(id));
                    }
                    ScriptOut::Stop => return true,
                }
            }
        }
        false
    }

    /// Runs the script's send (`outgoing`) or delivery hooks on one message.
    fn message_hook(&mut self, outgoing: bool, from: NodeId, to: NodeId, msg: &P::Msg) -> Verdict {
        let Some(d) = self.director.as_mut() else { return Verdict::Pass };
        let text = msg.to_string();
        let view = MsgView { from, to, kind: msg.kind(), text: &text, body: serde_json::to_value(msg).unwrap_or(serde_json::Value::Null) };
        let r = if outgoing { d.on_send(self.now, &view) } else { d.on_deliver(self.now, &view) };
        match r {
            Ok((verdict, out)) => {
                self.script_out.extend(out);
                verdict
            }
            Err(e) => {
                self.script_error.get_or_insert(e);
                Verdict::Pass
            }
        }
    }

    fn observe_hook(&mut self, node: NodeId, obs: &Observation) {
        let Some(d) = self.director.as_mut() else { return };
        let mut text = String::new();
        let _ = obs.describe(node, &mut text);
        let value = serde_json::to_value(obs).unwrap_or(serde_json::Value::Null);
        let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("").to_string();
        let view = ObsView {
            node,
            kind: &kind,
            tag: obs.tag(),
            value: value.get("value").cloned().unwrap_or(serde_json::Value::Null),
            text: &text,
        };
        match d.on_observe(self.now, &view) {
            Ok(out) => self.script_out.extend(out),
            Err(e) => {
                self.script_error.get_or_insert(e);
            }
        }
    }

    /// Performs one timeline action; true if the run must stop.
    fn step(&mut self, sink: &mut dyn TraceSink<P>, action: &Action) -> bool {
        let to_idx = |r: &Self, ids: &[NodeId]| ids.iter().filter_map(|&n| r.idx(n)).collect::<Vec<u32>>();
        match action {
            Action::Crash(nodes) => {
                for &n in nodes {
                    let Some(i) = self.idx(n) else { continue };
                    if self.nodes[i as usize].alive {
                        self.nodes[i as usize].alive = false;
                        self.queue.clear_timers(i);
                        self.trace(sink, TraceEvent::Crash { node: n });
                    } else {
                        let text = format!("process {n} is already down");
                        self.trace(sink, TraceEvent::Note { text: &text });
                    }
                }
            }
            Action::Recover(nodes) => {
                for &n in nodes {
                    let Some(i) = self.idx(n) else { continue };
                    if self.nodes[i as usize].alive {
                        let text = format!("process {n} is already up");
                        self.trace(sink, TraceEvent::Note { text: &text });
                    } else {
                        self.nodes[i as usize].alive = true;
                        self.trace(sink, TraceEvent::Recover { node: n });
                        self.dispatch(sink, i, |p, ctx| p.on_recover(ctx));
                    }
                }
            }
            Action::Partition(groups) => {
                let g: Vec<Vec<u32>> = groups.iter().map(|g| to_idx(self, g)).collect();
                self.net.partition(&g);
                self.trace(sink, TraceEvent::Partition { groups });
            }
            Action::Block { from, to } => {
                let (f, t) = (to_idx(self, from), to_idx(self, to));
                self.net.block(&f, &t);
                self.trace(sink, TraceEvent::Block { from, to });
            }
            Action::Heal => {
                self.net.heal();
                self.trace(sink, TraceEvent::Heal);
            }
            Action::Command { node, command } => {
                let Some(i) = self.idx(*node) else { return false };
                if self.nodes[i as usize].alive {
                    self.trace(sink, TraceEvent::Command { node: *node, command });
                    self.dispatch(sink, i, |p, ctx| p.on_command(ctx, command));
                } else {
                    self.trace(sink, TraceEvent::CommandIgnored { node: *node, command });
                }
            }
            Action::SetLoss(p) => {
                self.net.default.loss = *p;
                let change = format!("loss {p}");
                self.trace(sink, TraceEvent::Network { change: &change });
            }
            Action::SetDuplicate(p) => {
                self.net.default.duplicate = *p;
                let change = format!("duplicate {p}");
                self.trace(sink, TraceEvent::Network { change: &change });
            }
            Action::SetLatency(l) => {
                self.net.set_default_latency(*l);
                let change = format!("latency {l}");
                self.trace(sink, TraceEvent::Network { change: &change });
            }
            Action::ShowClocks(heading) => {
                self.trace(sink, TraceEvent::Note { text: heading });
                for k in 0..self.ids.len() {
                    if self.nodes[k].alive {
                        let obs = Observation::Clock(self.nodes[k].clock.local(self.now));
                        let node = self.ids[k];
                        self.stats.observations.add(obs.tag());
                        self.trace(sink, TraceEvent::Observe { node, obs: &obs });
                    }
                }
            }
            Action::SetDrift { node, ppm } => {
                let Some(i) = self.idx(*node) else { return false };
                self.nodes[i as usize].clock.get_mut().set_drift(self.now, *ppm);
                let change = format!("clock of {node} now drifts {ppm} ppm");
                self.trace(sink, TraceEvent::Network { change: &change });
            }
            Action::SetOffset { node, offset_ns } => {
                let Some(i) = self.idx(*node) else { return false };
                self.nodes[i as usize].clock.get_mut().set_offset(self.now, *offset_ns);
                let change = format!("clock of {node} jumps to {}", crate::scenario::units::SignedDur(*offset_ns));
                self.trace(sink, TraceEvent::Network { change: &change });
            }
            Action::Note(text) => self.trace(sink, TraceEvent::Note { text }),
            Action::Stop => return true,
        }
        false
    }

    /// Which nodes are up right now, by id.
    pub fn alive(&self) -> impl Iterator<Item = (NodeId, bool)> + '_ {
        self.ids.iter().copied().zip(self.nodes.iter().map(|n| n.alive))
    }

    /// The process state of node `id` (for tests).
    pub fn process(&self, id: NodeId) -> Option<&P> {
        self.idx(id).map(|i| &self.nodes[i as usize].proc)
    }
}
