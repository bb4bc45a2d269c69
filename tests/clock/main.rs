//! The clock family against its analytic values.
//!
//! Cristian and NTP over fixed, asymmetric delays end exactly half the
//! asymmetry off the server, (a − b)/2 (within 1us); drifting clocks resynced
//! every period stay within 2 × drift × period of each other; Berkeley's
//! fault-tolerant average ignores a clock an hour ahead; Lamport and vector
//! clocks satisfy their conditions on 1,000 random message patterns each;
//! the seed scenario prints the seed lab's Before/After tables; and, for
//! every synchronisation algorithm, a clock stepped back between two samples
//! fails `monotonic` (once per step back) while the same correction slewed
//! passes.

use distlab::report::RunReport;
use distlab::scenario::units::parse_signed;
use distlab::scenario::yaml::load_str;
use distlab::snapshot::trace_of;

fn run(yaml: &str) -> (String, RunReport) {
    let plan = load_str("test.yaml", yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    trace_of(&plan).expect("runs")
}

fn metric<'a>(r: &'a RunReport, name: &str) -> &'a str {
    r.metrics.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no metric {name}: {:?}", r.metrics))
}

/// The achieved errors from the `errors` metric: (node, error ns, bound ns).
fn errors(r: &RunReport) -> Vec<(u32, i64, i64)> {
    metric(r, "errors")
        .split(", ")
        .map(|part| {
            let (node, rest) = part.split_once(": ").expect("node: error");
            let (err, bound) = rest.split_once(" (bound ±").expect("bound");
            let bound = bound.trim_end_matches(')');
            (node.parse().expect("node"), parse_signed(err).expect("error"), parse_signed(bound).expect("bound"))
        })
        .collect()
}

fn assert_passed(r: &RunReport, what: &str) {
    assert!(r.passed(), "{what}: {:?}", r.failures().map(|f| format!("{}: {}", f.name, f.detail)).collect::<Vec<_>>());
}

/// One sync of node 2 over a link whose requests take `up` ns and replies `down` ns.
fn asymmetric(algorithm: &str, up: u64, down: u64, offset: &str) -> RunReport {
    let yaml = format!(
        "name: t\nalgorithm: {algorithm}\nnodes: 2\nnetwork:\n  latency: 1ms\n  links:\n    - {{from: 2, to: 1, latency: {up}ns}}\n    - {{from: 1, to: 2, latency: {down}ns}}\nclocks: {{offsets: {{2: '{offset}'}}}}\ntimeline:\n  - {{at: 1ms, node: 2, do: sync}}\n"
    );
    let (_, r) = run(&yaml);
    assert_passed(&r, algorithm);
    r
}

#[test]
fn cristian_and_ntp_err_by_exactly_half_the_asymmetry() {
    let cases: &[(u64, u64)] =
        &[(5_000_000, 1_000_000), (1_000_000, 7_000_000), (3_000_000, 3_000_000), (2_500_000, 500_000), (123_457, 9_876_543)];
    for algorithm in ["clock.cristian", "clock.ntp"] {
        for &(up, down) in cases {
            for offset in ["+700ms", "-3s", "+0ns"] {
                let r = asymmetric(algorithm, up, down, offset);
                let errs = errors(&r);
                assert!(!errs.is_empty(), "{algorithm}: a sync happened");
                let analytic = (up as i64 - down as i64) / 2;
                for (node, err, bound) in errs {
                    assert_eq!(node, 2);
                    assert!(
                        (err - analytic).abs() <= 1_000,
                        "{algorithm} up {up} down {down} offset {offset}: error {err}ns, analytic {analytic}ns"
                    );
                    // The promised bound covers it: RTT/2 (Cristian), delay/2 (NTP).
                    assert!(err.abs() <= bound, "{algorithm}: |{err}| <= {bound}");
                    assert!((bound - (up + down) as i64 / 2).abs() <= 1_000, "{algorithm}: bound {bound} is (a + b)/2");
                }
            }
        }
    }
}

/// Node 2 drifts +`ppm`, node 3 −`ppm`, a sync every `period_ms`, fixed 2ms
/// symmetric delays, clocks sampled every 50ms for 3s.
fn drifting(algorithm: &str, ppm: u32, period_ms: u64, extra: &str) -> RunReport {
    let mut yaml = format!(
        "name: t\nalgorithm: {algorithm}\nnodes: 3\nuntil: 3s\nnetwork: {{latency: 2ms}}\nclocks: {{offsets: {{2: +5ms, 3: -7ms}}, drift_ppm: {{2: {ppm}, 3: -{ppm}}}}}\nparams: {{period: {period_ms}ms{extra}}}\ntimeline:\n"
    );
    for k in 1..60 {
        yaml.push_str(&format!("  - {{at: {}ms, show_clocks: s}}\n", k * 50));
    }
    let bound_ns = 2 * u64::from(ppm) * period_ms + 1_000; // 2 × drift × period (ppm × ms = ns), +1us
    yaml.push_str(&format!("expect:\n  skew: {{max: {bound_ns}ns, from: 50ms}}\n"));
    let (_, r) = run(&yaml);
    assert_passed(&r, &format!("{algorithm} {ppm} ppm every {period_ms}ms"));
    r
}

#[test]
fn drift_with_periodic_resync_keeps_skew_under_2_drift_period() {
    for (algorithm, extra) in [("clock.cristian", ""), ("clock.ntp", ", samples: 2")] {
        for period in [200u64, 500, 1000] {
            let r = drifting(algorithm, 100, period, extra);
            // The bound is tight: the largest sampled skew comes close to it.
            let skew = metric(&r, "skew");
            let largest = skew.split("largest ").nth(1).and_then(|s| s.split(';').next()).expect("largest");
            let largest = parse_signed(largest).expect("duration");
            let bound = 2 * 100 * period as i64;
            assert!(
                largest <= bound + 1_000 && largest * 10 >= bound * 8,
                "{algorithm} every {period}ms: largest {largest}ns vs bound {bound}ns"
            );
        }
    }
}

#[test]
fn without_resync_the_same_clocks_drift_past_the_bound() {
    let yaml = "name: t\nalgorithm: clock.cristian\nnodes: 3\nuntil: 3s\nnetwork: {latency: 2ms}\nclocks: {drift_ppm: {2: 100, 3: -100}}\ntimeline:\n  - {at: 2999ms, show_clocks: s}\nexpect:\n  skew: {max: 201us}\n";
    let (_, r) = run(yaml);
    assert!(!r.passed(), "600us of drift breaks a 201us bound");
}

fn berkeley(threshold: &str) -> (String, RunReport) {
    let yaml = format!(
        "name: t\nalgorithm: clock.berkeley\nnodes: 5\nseed: 4\nnetwork: {{latency: 1ms..2ms}}\nclocks: {{offsets: {{1: +10ms, 2: -20ms, 3: +5ms, 4: +1h, 5: -15ms}}}}\nparams: {{threshold: {threshold}}}\ntimeline:\n  - {{at: 1ms, node: 1, do: sync}}\n  - {{at: 30ms, show_clocks: After}}\n"
    );
    run(&yaml)
}

#[test]
fn berkeley_ignores_the_faulty_clock() {
    let (trace, r) = berkeley("50ms");
    assert_passed(&r, "berkeley");
    assert!(trace.contains("4 +3599.99") && trace.contains("(ignored)"), "{trace}");
    assert!(trace.contains("average of 4 good clock(s)"), "{trace}");
    // Every clock, the faulty one included, ends near the average of the
    // good ones (10 - 20 + 5 - 15)/4 = -5ms, within the round trips.
    let after = trace.split("After").nth(1).expect("after table");
    for line in after.lines().filter(|l| l.contains(" clock: ")) {
        let reading = line.rsplit(' ').next().expect("reading").trim_end_matches('s');
        let local: f64 = reading.parse().expect("seconds");
        let offset_ms = (local - 0.030) * 1000.0;
        assert!((offset_ms + 5.0).abs() < 2.5, "{line}: offset {offset_ms}ms");
    }
    // Without the threshold the hour-fast clock drags everyone 12 minutes ahead.
    let (trace, _) = berkeley("2h");
    assert!(trace.contains("average of 5 good clock(s) +719.98"), "{trace}");
}

/// A small deterministic generator for the property tests.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn pattern(algorithm: &str, rng: &mut Lcg, seed: u64) -> String {
    let n = 2 + rng.below(4);
    let events = 5 + rng.below(25);
    let dup = if rng.below(4) == 0 { 10 } else { 0 };
    let mut yaml = format!(
        "name: t\nalgorithm: {algorithm}\nnodes: {n}\nseed: {seed}\nnetwork: {{latency: 1ms..{}ms, duplicate: {dup}%}}\ntimeline:\n",
        2 + rng.below(8)
    );
    let mut at = 0;
    for _ in 0..events {
        let node = 1 + rng.below(n);
        at += rng.below(3);
        if rng.below(10) < 7 {
            let mut to = 1 + rng.below(n - 1);
            if to >= node {
                to += 1;
            }
            yaml.push_str(&format!("  - {{at: {at}ms, node: {node}, do: send {to}}}\n"));
        } else {
            yaml.push_str(&format!("  - {{at: {at}ms, node: {node}, do: local}}\n"));
        }
    }
    yaml
}

#[test]
fn lamport_and_vector_conditions_hold_on_1000_random_patterns() {
    for algorithm in ["clock.lamport", "clock.vector"] {
        let mut rng = Lcg(0x5eed);
        let mut concurrent = 0;
        for seed in 0..1000 {
            let yaml = pattern(algorithm, &mut rng, seed);
            let (_, r) = run(&yaml);
            assert_passed(&r, &format!("{algorithm} pattern {seed}\n{yaml}"));
            if !metric(&r, "pairs").starts_with("no ") {
                concurrent += 1;
            }
        }
        assert!(concurrent > 500, "{algorithm}: most patterns have concurrent events ({concurrent})");
    }
}

#[test]
fn the_seed_scenario_prints_the_before_and_after_tables() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/clock/seed-time-server.yaml");
    let text = std::fs::read_to_string(path).expect("scenario");
    let (trace, r) = run(&text);
    assert_passed(&r, "seed");
    let before = trace.split("Before:").nth(1).and_then(|s| s.split("command").next()).expect("before table");
    for want in ["Node0 clock: 0.000000s", "Node1 clock: 10.000000s", "Node2 clock: -5.000000s", "Node3 clock: 20.000000s"] {
        assert!(before.contains(want), "{want} in\n{before}");
    }
    // After: the server reads 10ms; every other node lags it by the 1ms-3ms
    // delay its TIME message took.
    let after = trace.split("After:").nth(1).expect("after table");
    let readings: Vec<f64> = after
        .lines()
        .filter(|l| l.contains(" clock: "))
        .map(|l| l.rsplit(' ').next().and_then(|s| s.trim_end_matches('s').parse().ok()).expect("reading"))
        .collect();
    assert_eq!(readings.len(), 4);
    assert!((readings[0] - 0.010).abs() < 1e-9);
    for &c in &readings[1..] {
        let lag_ms = (0.010 - c) * 1000.0;
        assert!((1.0..=3.0).contains(&lag_ms), "lag {lag_ms}ms");
    }
}

/// Nodes 2 and 3 run 40ms and 30ms fast; one sync round at 1ms sets them
/// back. The samples, at 0ms and 500ms, both read more than any clock did
/// before, so only the readings just before and after a correction show it.
fn set_back(algorithm: &str, adjust: &str) -> (String, RunReport) {
    let syncs = match algorithm {
        "clock.server" | "clock.berkeley" => "  - {at: 1ms, node: 1, do: sync}\n",
        _ => "  - {at: 1ms, node: 2, do: sync}\n  - {at: 1ms, node: 3, do: sync}\n",
    };
    let yaml = format!(
        "name: t\nalgorithm: {algorithm}\nnodes: 3\nseed: 4\nnetwork: {{latency: 1ms..2ms}}\nclocks: {{adjust: {adjust}, slew_ppm: 500, offsets: {{2: +40ms, 3: +30ms}}}}\ntimeline:\n  - {{at: 0ms, show_clocks: 'Before:'}}\n{syncs}  - {{at: 500ms, show_clocks: 'After:'}}\nexpect:\n  skew: {{monotonic: true}}\n"
    );
    run(&yaml)
}

fn monotonic(r: &RunReport) -> &distlab::check::CheckResult {
    r.results.iter().find(|c| c.name == "monotonic").expect("monotonic is reported when the scenario asks")
}

#[test]
fn a_clock_stepped_back_between_samples_fails_monotonic_in_every_sync_algorithm() {
    for algorithm in ["clock.server", "clock.cristian", "clock.ntp", "clock.berkeley"] {
        let (trace, r) = set_back(algorithm, "step");
        let events = trace.split("\nsummary").next().expect("the trace");
        let back = events.lines().filter(|l| l.contains(" adjust ") && l.contains("(adjusted by -")).count();
        assert!(back >= 2, "{algorithm}: nodes 2 and 3 are set back\n{trace}");
        let m = monotonic(&r);
        assert!(!m.ok && m.detail.contains("clock was set back from"), "{algorithm}: {}\n{trace}", m.detail);
        assert!(m.detail.contains(&format!("({back} backward readings)")), "{algorithm}: one per step back: {}", m.detail);
        // No sample saw it: each node's sampled readings go forward.
        let sampled = |node: &str| -> Vec<String> {
            let tag = format!("clock     Node{node} clock: ");
            events.lines().filter_map(|l| l.split_once(&tag)).map(|(_, v)| v.to_string()).collect()
        };
        for node in ["1", "2", "3"] {
            let v = sampled(node);
            assert_eq!(v.len(), 2, "{algorithm}: node {node} sampled twice\n{trace}");
            let secs = |x: &str| x.trim_end_matches('s').parse::<f64>().expect("seconds");
            assert!(secs(&v[1]) > secs(&v[0]), "{algorithm}: node {node}'s samples go forward: {v:?}");
        }
    }
}

#[test]
fn the_same_correction_slewed_keeps_monotonic_in_every_sync_algorithm() {
    for algorithm in ["clock.server", "clock.cristian", "clock.ntp", "clock.berkeley"] {
        let (trace, r) = set_back(algorithm, "slew");
        assert!(trace.contains("(adjusted by -"), "{algorithm}: a correction back was slewed\n{trace}");
        let m = monotonic(&r);
        assert!(m.ok && m.detail == "no clock reading went backwards", "{algorithm}: {}\n{trace}", m.detail);
        assert_passed(&r, algorithm);
    }
}

#[test]
fn the_regression_scenarios_step_fails_and_slew_holds() {
    let root = env!("CARGO_MANIFEST_DIR");
    let step = std::fs::read_to_string(format!("{root}/scenarios/clock/cristian-step-back-unseen.yaml")).expect("scenario");
    let (_, r) = run(&step);
    assert_passed(&r, "the scenario expects the violation");
    let m = monotonic(&r);
    assert!(m.expected_to_fail && m.detail.contains("node 2's clock was set back from 0.045000s to 0.005000s"), "{}", m.detail);
    let slew = std::fs::read_to_string(format!("{root}/scenarios/clock/cristian-slew-back-unseen.yaml")).expect("scenario");
    let (_, r) = run(&slew);
    assert_passed(&r, "slew");
    assert!(monotonic(&r).ok);
}
