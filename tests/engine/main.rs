//! The engine's contract, tested with a small probe process: event order,
//! latency, loss, duplication, partitions (two-way and one-way), crashes and
//! recoveries, timers on drifting clocks, cancellation, and seeded generators.

use std::fmt;

use distlab::check::{CheckResult, Checker, EndState};
use distlab::engine::{Limits, Runner};
use distlab::process::{Ctx, Message, Nanos, NodeId, Observation, Process, Setup};
use distlab::scenario::model::Expect;
use distlab::scenario::{Command, Plan, yaml::load_str};
use distlab::trace::{TraceEvent, TraceSink};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Ping(u32);

impl fmt::Display for Ping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ping({})", self.0)
    }
}
impl Message for Ping {
    fn kind(&self) -> &'static str {
        "Ping"
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum T {
    Tick(u32),
}
impl fmt::Display for T {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Commands: `ping TO COUNT` sends COUNT pings; `timer MS` sets Tick after MS
/// of local time; `cancel` cancels Tick(1); `clock` and `draw` note the local
/// clock and a random draw; `all` broadcasts one ping.
#[derive(Default)]
struct Probe {
    received: Vec<(NodeId, u32)>,
    recovered: u32,
}

impl Process for Probe {
    type Msg = Ping;
    type Timer = T;
    type Params = ();
    fn new(_: NodeId, _: &Setup<'_, ()>) -> Self {
        Probe::default()
    }
    fn on_message(&mut self, _: &mut Ctx<'_, Self>, from: NodeId, msg: Ping) {
        self.received.push((from, msg.0));
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: T) {
        let T::Tick(n) = timer;
        ctx.emit(Observation::Note(format!("tick {n} local {}", ctx.now())));
    }
    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, cmd: &Command) {
        let arg = |i: usize| cmd.args[i].parse::<u32>().expect("number");
        match cmd.name.as_str() {
            "ping" => (0..arg(1)).for_each(|k| ctx.send(arg(0), Ping(k))),
            "all" => ctx.broadcast(Ping(0)),
            "timer" => ctx.set_timer(T::Tick(1), u64::from(arg(0)) * 1_000_000),
            "timer2" => ctx.set_timer(T::Tick(2), u64::from(arg(0)) * 1_000_000),
            "cancel" => ctx.cancel_timer(T::Tick(1)),
            "clock" => ctx.emit(Observation::Note(format!("local {}", ctx.now()))),
            "draw" => {
                let v = ctx.rng().below(1_000_000);
                ctx.emit(Observation::Note(format!("draw {v}")));
            }
            _ => unreachable!(),
        }
    }
    fn on_recover(&mut self, _: &mut Ctx<'_, Self>) {
        self.recovered += 1;
    }
}

/// Records every event as (time, rendered line).
#[derive(Default)]
struct Recorder(Vec<(Nanos, String)>);

impl TraceSink<Probe> for Recorder {
    fn event(&mut self, time: Nanos, ev: &TraceEvent<'_, Probe>) {
        let mut line = String::new();
        distlab::trace::text::render_line(&mut line, time, ev);
        self.0.push((time, line));
    }
}

/// Builds a plan from YAML where `cmd: X` is a probe command. The YAML front
/// end validates commands against a registered algorithm, so each `cmd:` is
/// loaded as election.ring's `start_election` and swapped back afterwards.
fn plan(yaml_tail: &str) -> Plan {
    let mut cmds = Vec::new();
    let mut text = String::from("name: probe\nalgorithm: election.ring\n");
    for line in yaml_tail.lines() {
        match line.split_once("cmd:") {
            Some((head, rest)) => {
                let (cmd, tail) = rest.split_once('}').unwrap_or((rest, ""));
                cmds.push(cmd.trim().to_string());
                text.push_str(&format!("{head}do: start_election}}{tail}\n"));
            }
            None => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    let mut plan = load_str("probe.yaml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut it = cmds.iter();
    for (_, action) in plan.timeline.iter_mut() {
        if let distlab::scenario::Action::Command { command, .. } = action {
            *command = Command::parse(it.next().expect("one command per cmd:")).expect("parses");
        }
    }
    plan
}

fn run(plan: &Plan) -> (Runner<'_, Probe>, Recorder) {
    let mut runner = Runner::<Probe>::new(plan, &(), Vec::new(), Limits::default());
    let mut rec = Recorder::default();
    runner.run(&mut rec);
    (runner, rec)
}

fn lines(rec: &Recorder) -> Vec<&str> {
    rec.0.iter().map(|(_, l)| l.as_str()).collect()
}

#[test]
fn events_come_out_in_time_order_and_fifo_on_ties() {
    let p = plan("nodes: 2\nnetwork: {latency: 2ms}\ntimeline:\n  - {at: 1ms, node: 1, cmd: ping 2 5}\n");
    let (runner, rec) = run(&p);
    assert!(rec.0.windows(2).all(|w| w[0].0 <= w[1].0), "time never goes back");
    // Same latency for all five: they arrive at the same instant, in send order.
    let got: Vec<u32> = runner.process(2).expect("node 2").received.iter().map(|r| r.1).collect();
    assert_eq!(got, [0, 1, 2, 3, 4]);
    assert!(rec.0.iter().filter(|(_, l)| l.contains("recv")).all(|(t, _)| *t == 3_000_000));
}

#[test]
fn latency_stays_in_its_range_and_links_override_it() {
    let p = plan(
        "nodes: 3\nseed: 11\nnetwork:\n  latency: 1ms..3ms\n  links: [{from: 1, to: 3, latency: 10ms}]\ntimeline:\n  - {at: 0ms, node: 1, cmd: ping 2 200}\n  - {at: 0ms, node: 1, cmd: ping 3 5}\n",
    );
    let (_, rec) = run(&p);
    let to2: Vec<Nanos> = rec.0.iter().filter(|(_, l)| l.contains("    2  recv")).map(|(t, _)| *t).collect();
    assert_eq!(to2.len(), 200);
    assert!(to2.iter().all(|t| (1_000_000..=3_000_000).contains(t)));
    assert!(to2.iter().any(|t| *t < 1_500_000) && to2.iter().any(|t| *t > 2_500_000), "draws spread over the range");
    assert!(to2.iter().all(|t| t % 1000 == 0), "whole microseconds");
    let to3: Vec<Nanos> = rec.0.iter().filter(|(_, l)| l.contains("    3  recv")).map(|(t, _)| *t).collect();
    assert_eq!(to3, vec![10_000_000; 5]);
}

#[test]
fn loss_and_duplication_follow_their_probabilities() {
    let p = plan(
        "nodes: 2\nseed: 5\nnetwork: {latency: 1ms, loss: 30%, duplicate: 20%}\ntimeline:\n  - {at: 0ms, node: 1, cmd: ping 2 2000}\n",
    );
    let (runner, _) = run(&p);
    let s = &runner.stats;
    assert_eq!(s.sent.get("Ping"), 2000);
    assert!((520..=680).contains(&s.lost), "lost {}", s.lost);
    // 20% of the ~1400 that survive are duplicated.
    assert!((220..=340).contains(&s.duplicated), "duplicated {}", s.duplicated);
    assert_eq!(s.delivered, 2000 - s.lost + s.duplicated);
    assert_eq!(runner.process(2).expect("node 2").received.len() as u64, s.delivered);
}

#[test]
fn partitions_cut_both_ways_blocks_one_way_and_heal_restores() {
    let p = plan(
        "nodes: 3\ntimeline:\n  - {at: 0ms, partition: [[1], [2, 3]]}\n  - {at: 1ms, node: 1, cmd: ping 2 1}\n  - {at: 1ms, node: 2, cmd: ping 1 1}\n  - {at: 1ms, node: 2, cmd: ping 3 1}\n  - {at: 10ms, heal: true}\n  - {at: 11ms, block: {from: 1, to: 2}}\n  - {at: 12ms, node: 1, cmd: ping 2 1}\n  - {at: 12ms, node: 2, cmd: ping 1 1}\n  - {at: 20ms, heal: true}\n  - {at: 21ms, node: 1, cmd: ping 2 1}\n",
    );
    let (runner, rec) = run(&p);
    assert_eq!(runner.process(1).expect("1").received, [(2, 0)], "only the ping after the partition was lifted in the 2 -> 1 direction");
    assert_eq!(runner.process(2).expect("2").received, [(1, 0)], "1 -> 2 only after the last heal");
    assert_eq!(runner.process(3).expect("3").received, [(2, 0)], "inside a group messages flow");
    assert_eq!(runner.stats.partitioned, 3);
    assert!(lines(&rec).iter().any(|l| l.contains("partition {1} | {2, 3}")));
    assert!(lines(&rec).iter().any(|l| l.contains("block     {1} -/-> {2}")));
}

#[test]
fn crashed_nodes_miss_messages_and_timers_and_recover() {
    let p = plan(
        "nodes: 2\nnetwork: {latency: 5ms}\ntimeline:\n  - {at: 0ms, node: 2, cmd: timer 10}\n  - {at: 1ms, node: 1, cmd: ping 2 1}\n  - {at: 2ms, crash: 2}\n  - {at: 3ms, node: 2, cmd: clock}\n  - {at: 20ms, recover: 2}\n  - {at: 21ms, node: 1, cmd: ping 2 1}\n",
    );
    let (runner, rec) = run(&p);
    let two = runner.process(2).expect("2");
    assert_eq!(two.received.len(), 1, "the ping in flight during the crash is dropped");
    assert_eq!(two.recovered, 1);
    assert_eq!(runner.stats.receiver_down, 1);
    let l = lines(&rec);
    assert!(!l.iter().any(|l| l.contains("tick 1")), "a crash clears timers");
    assert!(l.iter().any(|l| l.contains("(ignored: process 2 is down)")));
    assert!(l.iter().any(|l| l.contains("Process 2 recovers")));
}

#[test]
fn clocks_have_offsets_and_drift_and_timers_run_on_local_time() {
    let p = plan(
        "nodes: 2\nclocks: {offsets: {1: +10s, 2: -5s}, drift_ppm: {2: 100000}}\ntimeline:\n  - {at: 0ms, node: 1, cmd: clock}\n  - {at: 0ms, node: 2, cmd: timer 110}\n  - {at: 1s, node: 2, cmd: clock}\n",
    );
    let (_, rec) = run(&p);
    let l = lines(&rec);
    assert!(l.iter().any(|l| l.contains("local 10000000000")), "{l:#?}");
    // Node 2 runs 10% fast: 110ms of its time pass in 100ms of true time.
    let tick = rec.0.iter().find(|(_, l)| l.contains("tick 1")).expect("tick fired");
    assert_eq!(tick.0, 100_000_000);
    assert!(tick.1.contains("local -4890000000"), "{}", tick.1);
    // After 1s of true time node 2 reads -5s + 1.1s.
    assert!(l.iter().any(|l| l.contains("local -3900000000")));
}

#[test]
fn set_timer_moves_a_pending_timer_and_cancel_removes_it() {
    let p = plan(
        "nodes: 1\ntimeline:\n  - {at: 0ms, node: 1, cmd: timer 10}\n  - {at: 5ms, node: 1, cmd: timer 10}\n  - {at: 6ms, node: 1, cmd: timer2 1}\n  - {at: 7ms, node: 1, cmd: timer 10}\n  - {at: 8ms, node: 1, cmd: cancel}\n",
    );
    let (runner, rec) = run(&p);
    let ticks: Vec<&str> = lines(&rec).into_iter().filter(|l| l.contains("tick")).collect();
    assert_eq!(ticks.len(), 1, "{ticks:?}");
    assert!(ticks[0].contains("tick 2"));
    assert_eq!(runner.stats.timers, 1);
    assert_eq!(runner.stats.end_time, 8_000_000, "cancelled timers do not stretch the run");
}

#[test]
fn node_generators_are_seeded_and_independent() {
    let text = "nodes: 2\nseed: 42\ntimeline:\n  - {at: 0ms, node: 1, cmd: draw}\n  - {at: 0ms, node: 2, cmd: draw}\n  - {at: 1ms, node: 1, cmd: draw}\n";
    let draws =
        |p: &Plan| -> Vec<String> { lines(&run(p).1).iter().filter(|l| l.contains("note      draw")).map(|l| l.to_string()).collect() };
    let a = draws(&plan(text));
    assert_eq!(a, draws(&plan(text)), "same seed, same draws");
    assert_ne!(a, draws(&plan(&text.replace("seed: 42", "seed: 43"))));
    // Node 1's stream does not depend on whether node 2 draws.
    let solo = draws(&plan("nodes: 2\nseed: 42\ntimeline:\n  - {at: 0ms, node: 1, cmd: draw}\n  - {at: 1ms, node: 1, cmd: draw}\n"));
    assert_eq!(solo, vec![a[0].clone(), a[2].clone()]);
}

#[test]
fn the_horizon_and_the_stop_step_end_a_run() {
    let p = plan("nodes: 1\nuntil: 5ms\ntimeline:\n  - {at: 0ms, node: 1, cmd: timer 10}\n");
    let (runner, rec) = run(&p);
    assert_eq!(runner.stats.stop, distlab::trace::StopReason::Horizon);
    assert_eq!(runner.stats.end_time, 5_000_000);
    assert!(lines(&rec).last().expect("a stop line").contains("time limit reached (1 events left)"));
    let p = plan("nodes: 1\ntimeline:\n  - {at: 0ms, node: 1, cmd: timer 10}\n  - {at: 2ms, stop: true}\n");
    assert_eq!(run(&p).0.stats.stop, distlab::trace::StopReason::Stopped);
}

#[test]
fn broadcast_reaches_every_other_node_once() {
    let p = plan("nodes: [3, 7, 9, 11]\ntimeline:\n  - {at: 0ms, node: 7, cmd: all}\n");
    let (runner, _) = run(&p);
    assert_eq!(runner.stats.sent.get("Ping"), 3);
    for id in [3, 9, 11] {
        assert_eq!(runner.process(id).expect("node").received, [(7, 0)]);
    }
    assert!(runner.process(7).expect("7").received.is_empty());
}

/// A checker that counts pings delivered to node 2 and points at the first.
#[derive(Default)]
struct NoPingTo2 {
    first: Option<distlab::check::At>,
    count: u32,
}
impl Checker<Probe> for NoPingTo2 {
    fn on_event(&mut self, index: u64, time: Nanos, ev: &TraceEvent<'_, Probe>) {
        if let TraceEvent::Deliver { to: 2, .. } = ev {
            self.count += 1;
            self.first.get_or_insert(distlab::check::At { event: index, time });
        }
    }
    fn finish(&mut self, end: &EndState<'_>, _: &Expect) -> Vec<CheckResult> {
        vec![
            CheckResult::new("no-ping-to-2", self.count == 0, format!("{} pings reached 2", self.count)).at(self.first),
            CheckResult::new("all-alive", end.live().count() == end.nodes.len(), "every node is up"),
        ]
    }
}

#[test]
fn checkers_see_events_in_order_and_judge_the_end_state() {
    let p = plan("nodes: 2\nnetwork: {latency: 2ms}\ntimeline:\n  - {at: 1ms, node: 1, cmd: ping 2 3}\n  - {at: 10ms, crash: 2}\n");
    let mut runner = Runner::<Probe>::new(&p, &(), vec![Box::new(NoPingTo2::default())], Limits::default());
    let mut rec = Recorder::default();
    let results = runner.run(&mut rec);
    assert_eq!(results.len(), 2);
    assert!(!results[0].ok && results[0].detail == "3 pings reached 2");
    let at = results[0].at.expect("the first delivery is named");
    assert_eq!(at.time, 3_000_000);
    assert!(
        rec.0[at.event as usize].1.contains("recv      <- 1  Ping(0)"),
        "the index points at the event: {:?}",
        rec.0[at.event as usize]
    );
    assert!(!results[1].ok, "node 2 is down at the end");
}

#[test]
fn a_timer_from_before_a_crash_never_fires_but_one_set_after_recovery_does() {
    let p = plan(
        "nodes: 1\ntimeline:\n  - {at: 0ms, node: 1, cmd: timer 10}\n  - {at: 2ms, crash: 1}\n  - {at: 4ms, recover: 1}\n  - {at: 5ms, node: 1, cmd: timer2 20}\n",
    );
    let (runner, rec) = run(&p);
    let ticks: Vec<&(Nanos, String)> = rec.0.iter().filter(|(_, l)| l.contains("tick")).collect();
    assert_eq!(ticks.len(), 1);
    assert!(ticks[0].1.contains("tick 2") && ticks[0].0 == 25_000_000);
    assert_eq!(runner.stats.end_time, 25_000_000);
}

#[test]
fn a_message_in_flight_reaches_a_node_that_recovered_before_it_arrived() {
    let p = plan(
        "nodes: 2\nnetwork: {latency: 10ms}\ntimeline:\n  - {at: 0ms, crash: 2}\n  - {at: 1ms, node: 1, cmd: ping 2 1}\n  - {at: 5ms, recover: 2}\n",
    );
    let (runner, _) = run(&p);
    assert_eq!(runner.process(2).expect("2").received, [(1, 0)]);
    assert_eq!(runner.stats.receiver_down, 0);
}

#[test]
fn the_event_limit_stops_a_run_and_the_stop_line_counts_live_entries_only() {
    let p = plan("nodes: 2\ntimeline:\n  - {at: 0ms, node: 1, cmd: ping 2 50}\n");
    let mut runner = Runner::<Probe>::new(&p, &(), Vec::new(), Limits { max_events: 10 });
    let mut rec = Recorder::default();
    runner.run(&mut rec);
    assert_eq!(runner.stats.stop, distlab::trace::StopReason::EventLimit);
    assert_eq!(runner.stats.events, 10);
    assert!(rec.0.last().expect("stop line").1.contains("event limit reached (41 events left)"), "{:?}", rec.0.last());
    // Cancelled and replaced timers are not "events left".
    let p = plan(
        "nodes: 1\nuntil: 1ms\ntimeline:\n  - {at: 0ms, node: 1, cmd: timer 10}\n  - {at: 0ms, node: 1, cmd: timer 20}\n  - {at: 0ms, node: 1, cmd: timer2 30}\n",
    );
    let (_, rec) = run(&p);
    assert!(rec.0.last().expect("stop line").1.contains("time limit reached (2 events left)"), "{:?}", rec.0.last());
}

#[test]
fn the_timeline_can_change_a_clock_drift_and_make_it_jump() {
    let p = plan(
        "nodes: 1\ntimeline:\n  - {at: 1s, set_drift: {node: 1, ppm: 1000}}\n  - {at: 2s, node: 1, cmd: clock}\n  - {at: 3s, set_offset: {node: 1, offset: -1s}}\n  - {at: 3s, node: 1, cmd: clock}\n",
    );
    let (_, rec) = run(&p);
    let l = lines(&rec);
    // 1s at the true rate, then 1s at +1000 ppm: 2.001s.
    assert!(l.iter().any(|l| l.contains("local 2001000000")), "{l:#?}");
    // After the jump the clock reads true time − 1s.
    assert!(l.iter().any(|l| l.contains("local 2000000000")), "{l:#?}");
    assert!(l.iter().any(|l| l.contains("clock of 1 now drifts 1000 ppm")) && l.iter().any(|l| l.contains("clock of 1 jumps to -1s")));
}
