//! Real transports in lockstep: every scenario under scenarios/ gives the
//! byte-identical trace on udp, tcp, multicast and file as in memory, and the
//! messages really crossed the kernel; a copy that does not decode is counted
//! and dropped; a transport that fails stops the run with an error, not a panic.

use std::path::Path;
use std::process::Command;

use distlab::algorithms::election::ring::RingNode;
use distlab::engine::{Limits, RunError, Runner, parse_params};
use distlab::process::Process;
use distlab::scenario::{self, Plan};
use distlab::snapshot::trace_of;
use distlab::trace::event::NullSink;
use distlab::transport::{Carrier, TransportError, TransportKind, TransportOptions, WireStats, udp::UdpCarrier};

fn all_plans() -> Vec<(String, Plan)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = scenario::discover(&[root.join("scenarios")]).expect("scenarios/ is readable");
    assert!(files.len() > 50);
    files.iter().map(|f| (f.strip_prefix(root).unwrap().display().to_string(), scenario::load(f).expect("loads"))).collect()
}

fn on(plan: &Plan, kind: TransportKind) -> Plan {
    Plan { transport: kind, ..plan.clone() }
}

#[test]
fn every_scenario_gives_the_same_trace_on_every_transport() {
    let plans = all_plans();
    for kind in TransportKind::REAL {
        let mut frames = 0;
        for (name, plan) in &plans {
            let (sim, sim_report) = trace_of(&on(plan, TransportKind::Sim)).expect("runs in memory");
            let (real, report) = trace_of(&on(plan, kind)).unwrap_or_else(|e| panic!("{name} on {kind}: {e}"));
            assert!(sim == real, "{name}: the {kind} trace differs from the simulated one");
            assert_eq!(report.transport, kind);
            // Every delivered message crossed the transport (a multicast
            // group send counts once for all its receivers).
            let carried = report.wire.frames;
            let delivered = sim_report.stats.delivered + sim_report.stats.receiver_down + sim_report.stats.partitioned;
            if kind != TransportKind::Multicast {
                assert!(carried >= sim_report.stats.delivered - sim_report.stats.duplicated, "{name} on {kind}: {carried} frames");
            }
            assert!(delivered == 0 || carried > 0, "{name} on {kind}: nothing crossed the transport");
            // Unicast endpoints are private to the run. A group port may be
            // shared with another run that binds the same group at the same
            // time (SO_REUSEADDR lets the kernel hand out one port twice):
            // its frames are skipped by run id, so only there may some be foreign.
            if kind != TransportKind::Multicast {
                assert_eq!(report.wire.foreign, 0, "{name} on {kind}");
            }
            frames += carried;
        }
        assert!(frames > 1_000, "{kind}: only {frames} frames over the whole tree");
    }
}

#[test]
fn multicast_sends_a_broadcast_as_one_datagram() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let plan = scenario::load(&root.join("scenarios/mutex/ricart-agrawala-concurrent.yaml")).unwrap();
    let (_, udp) = trace_of(&on(&plan, TransportKind::Udp)).unwrap();
    let (_, mc) = trace_of(&on(&plan, TransportKind::Multicast)).unwrap();
    // Ricart–Agrawala broadcasts each request to N − 1 peers: one frame per
    // request instead of N − 1.
    let requests = udp.stats.sent.get("REQUEST");
    let n = plan.nodes.len() as u64;
    assert!(requests > 0);
    assert_eq!(udp.wire.frames - mc.wire.frames, requests - requests / (n - 1), "udp {:?} multicast {:?}", udp.wire, mc.wire);
}

/// A transport that flips the first byte of every `every`-th payload.
struct Corrupt {
    inner: UdpCarrier,
    every: u64,
    count: u64,
}

impl Carrier for Corrupt {
    fn kind(&self) -> TransportKind {
        TransportKind::Udp
    }
    fn max_payload(&self) -> usize {
        self.inner.max_payload()
    }
    fn carry(&mut self, from: u32, to: u32, payload: &[u8]) -> Result<Vec<u8>, TransportError> {
        let mut got = self.inner.carry(from, to, payload)?;
        self.count += 1;
        if self.count.is_multiple_of(self.every) {
            got[0] = 0xff;
        }
        Ok(got)
    }
    fn stats(&self) -> WireStats {
        self.inner.stats()
    }
}

struct Broken;

impl Carrier for Broken {
    fn kind(&self) -> TransportKind {
        TransportKind::Tcp
    }
    fn max_payload(&self) -> usize {
        1 << 20
    }
    fn carry(&mut self, from: u32, to: u32, _: &[u8]) -> Result<Vec<u8>, TransportError> {
        Err(TransportError::Timeout { transport: "tcp", from, to, waited: std::time::Duration::from_secs(5) })
    }
    fn stats(&self) -> WireStats {
        WireStats::default()
    }
}

fn seed_ring() -> Plan {
    scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/election/seed-ring.yaml")).unwrap()
}

#[test]
fn an_undecodable_copy_is_counted_and_dropped() {
    let plan = seed_ring();
    let params = parse_params::<RingNode>(&plan).unwrap();
    let mut runner = Runner::<RingNode>::new(&plan, &params, RingNode::checkers(), Limits::default());
    runner.set_carrier(Box::new(Corrupt {
        inner: UdpCarrier::new(plan.nodes.len(), &TransportOptions::default()).unwrap(),
        every: 4,
        count: 0,
    }));
    let mut sink = NullSink;
    runner.run(&mut sink);
    assert!(runner.wire_error.is_none());
    let s = &runner.stats;
    assert!(s.undecodable > 0, "{s:?}");
    // Every message sent was delivered, lost on the way or undecodable.
    let sent = s.sent.total();
    assert_eq!(sent, s.delivered + s.undecodable + s.lost + s.partitioned + s.receiver_down + s.by_script - s.duplicated, "{s:?}");
}

#[test]
fn a_failing_transport_stops_the_run_with_an_error() {
    let plan = seed_ring();
    let params = parse_params::<RingNode>(&plan).unwrap();
    let mut runner = Runner::<RingNode>::new(&plan, &params, RingNode::checkers(), Limits::default());
    runner.set_carrier(Box::new(Broken));
    runner.run(&mut NullSink);
    let e = runner.wire_error.clone().expect("the run failed");
    assert!(e.contains("did not arrive within 5s") && e.contains("Election(3) from 3 to 4"), "{e}");
    assert_eq!(runner.stats.stop.describe(), "the transport failed");
}

#[test]
fn a_multicast_group_that_is_not_one_is_an_error() {
    let mut plan = on(&seed_ring(), TransportKind::Multicast);
    plan.wire.group = "10.1.2.3".parse().unwrap();
    let Err(e) = trace_of(&plan) else { panic!("a unicast group was accepted") };
    assert!(matches!(e, RunError::Transport { .. }));
    assert!(e.to_string().contains("10.1.2.3 is not a multicast group"), "{e}");
}

fn distlab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_distlab")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_cli_takes_a_transport_and_the_scenario_can_name_one() {
    let (code, udp, _) = distlab(&["run", "scenarios/election/seed-ring.yaml", "--transport", "udp"]);
    let (_, sim, _) = distlab(&["run", "scenarios/election/seed-ring.yaml"]);
    assert_eq!(code, 0);
    assert_eq!(udp, sim);
    let dir = std::env::temp_dir().join(format!("distlab-transport-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ring-over-tcp.yaml");
    std::fs::write(
        &file,
        "name: over tcp\nalgorithm: election.ring\nnodes: 4\ntransport: tcp\ntimeline:\n  - at: 0ms\n    do: start_election\n    node: 1\n",
    )
    .unwrap();
    let (code, out, err) = distlab(&["run", file.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{out}{err}");
    let bad = dir.join("pigeon.yaml");
    std::fs::write(&bad, "name: bad\nalgorithm: election.ring\nnodes: 4\ntransport: pigeon\n").unwrap();
    let (code, _, err) = distlab(&["run", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pigeon.yaml:4:") && err.contains("udp") && err.contains("multicast"), "{err}");
    let (code, _, err) = distlab(&["test", "scenarios/election/seed-ring.yaml", "--transport", "multicast", "--group", "192.168.1.1"]);
    assert_eq!(code, 1, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn basic_multicast_over_the_multicast_transport_is_one_datagram_per_multicast() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let plan = scenario::load(&root.join("scenarios/multicast/basic-no-faults.yaml")).unwrap();
    let (_, mc) = trace_of(&on(&plan, TransportKind::Multicast)).unwrap();
    let multicasts = mc.stats.observations.get("multicast");
    assert!(multicasts > 0);
    assert_eq!(mc.wire.frames, multicasts, "{:?}", mc.wire);
    // Each reached the N − 1 others.
    assert_eq!(mc.stats.delivered, multicasts * (plan.nodes.len() as u64 - 1));
}

/// A multicast transport whose first group send arrives corrupted at one member.
struct CorruptGroup {
    inner: distlab::transport::multicast::MulticastCarrier,
    done: bool,
}

impl Carrier for CorruptGroup {
    fn kind(&self) -> TransportKind {
        TransportKind::Multicast
    }
    fn max_payload(&self) -> usize {
        self.inner.max_payload()
    }
    fn carry(&mut self, from: u32, to: u32, payload: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.inner.carry(from, to, payload)
    }
    fn carry_group(&mut self, from: u32, payload: &[u8]) -> Result<Option<Vec<Option<Vec<u8>>>>, TransportError> {
        let mut copies = self.inner.carry_group(from, payload)?;
        if !self.done
            && let Some(c) = copies.as_mut().and_then(|v| v.iter_mut().flatten().next())
        {
            c[0] = 0xff;
            self.done = true;
        }
        Ok(copies)
    }
    fn stats(&self) -> WireStats {
        self.inner.stats()
    }
}

#[test]
fn an_undecodable_group_copy_is_sent_then_dropped_like_any_copy() {
    use distlab::algorithms::mutex::ricart_agrawala::RaNode;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let plan = scenario::load(&root.join("scenarios/mutex/ricart-agrawala-concurrent.yaml")).unwrap();
    let params = parse_params::<RaNode>(&plan).unwrap();
    let mut runner = Runner::<RaNode>::new(&plan, &params, Vec::new(), Limits::default());
    let inner = distlab::transport::multicast::MulticastCarrier::new(plan.nodes.len(), &TransportOptions::default()).unwrap();
    runner.set_carrier(Box::new(CorruptGroup { inner, done: false }));
    runner.run(&mut NullSink);
    assert!(runner.wire_error.is_none());
    let s = &runner.stats;
    assert_eq!(s.undecodable, 1, "{s:?}");
    // Every copy sent is accounted for: delivered, dropped by the network, or undecodable.
    assert_eq!(s.sent.total(), s.delivered + s.undecodable + s.lost + s.partitioned + s.receiver_down + s.by_script - s.duplicated);
}
