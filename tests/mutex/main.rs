//! Mutual exclusion against the textbook message counts, and under heavy load.
//!
//! Every node requesting once, no faults: Ricart–Agrawala 2(N−1) per entry;
//! Lamport 3(N−1);
//! central 3 per entry for the others and 0 for the coordinator's own request
//! (it does not message itself); Suzuki–Kasami N per entry for a site without
//! the token and 0 for the holder. Under load (every node asking repeatedly,
//! random latency, 20 seeds) safety and liveness hold; the seed variant of
//! Ricart–Agrawala breaks one of them and the checker says which.

use distlab::report::RunReport;
use distlab::scenario::yaml::load_str;
use distlab::snapshot::trace_of;

fn run(yaml: &str) -> (String, RunReport) {
    let plan = load_str("test.yaml", yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    trace_of(&plan).expect("runs")
}

/// Every node asks once, 30ms apart, so that requests do not overlap.
fn one_each(algorithm: &str, n: u32, params: &str) -> RunReport {
    let mut yaml =
        format!("name: t\nalgorithm: {algorithm}\nnodes: {n}\nnetwork: {{latency: 1ms..3ms}}\nparams: {{{params}}}\ntimeline:\n");
    for i in 1..=n {
        yaml.push_str(&format!("  - {{at: {}ms, node: {i}, do: request}}\n", (i - 1) * 30));
    }
    let (_, r) = run(&yaml);
    assert!(r.passed(), "{algorithm} n={n}: {:?}", r.failures().map(|f| &f.detail).collect::<Vec<_>>());
    assert_eq!(r.stats.observations.get("enter"), u64::from(n));
    r
}

#[test]
fn ricart_agrawala_costs_2_n_minus_1_per_entry() {
    for n in [3u32, 5, 10] {
        let r = one_each("mutex.ricart-agrawala", n, "");
        let n = u64::from(n);
        assert_eq!(r.stats.sent.get("REQUEST"), n * (n - 1));
        assert_eq!(r.stats.sent.get("REPLY"), n * (n - 1));
        assert_eq!(r.stats.sent.total(), n * 2 * (n - 1));
    }
}

#[test]
fn lamport_costs_3_n_minus_1_per_entry() {
    for n in [3u32, 5, 10] {
        let r = one_each("mutex.lamport", n, "");
        let n = u64::from(n);
        for kind in ["REQUEST", "REPLY", "RELEASE"] {
            assert_eq!(r.stats.sent.get(kind), n * (n - 1), "{kind}");
        }
        assert_eq!(r.stats.sent.total(), n * 3 * (n - 1));
    }
}

#[test]
fn central_costs_3_per_entry_and_0_for_the_coordinator() {
    for n in [3u32, 5, 10] {
        let r = one_each("mutex.central", n, "");
        let n = u64::from(n);
        for kind in ["REQUEST", "GRANT", "RELEASE"] {
            assert_eq!(r.stats.sent.get(kind), n - 1, "{kind}");
        }
        assert_eq!(r.stats.sent.total(), 3 * (n - 1));
    }
}

#[test]
fn suzuki_kasami_costs_n_without_the_token_and_0_with_it() {
    for n in [3u32, 5, 10] {
        // Node 1 holds the token first: its entry is free, every other costs N.
        let r = one_each("mutex.suzuki-kasami", n, "token: 1");
        let n = u64::from(n);
        assert_eq!(r.stats.sent.get("REQUEST"), (n - 1) * (n - 1));
        assert_eq!(r.stats.sent.get("TOKEN"), n - 1);
        assert_eq!(r.stats.sent.total(), (n - 1) * n);
    }
}

/// Every node asks `rounds` times at spread-out times with random latency.
fn heavy(algorithm: &str, params: &str, seed: u64, n: u32, rounds: u32) -> RunReport {
    let mut yaml = format!(
        "name: t\nalgorithm: {algorithm}\nnodes: {n}\nseed: {seed}\nnetwork: {{latency: 1ms..4ms}}\nparams: {{hold: 1ms{params}}}\ntimeline:\n"
    );
    let mut steps = Vec::new();
    for i in 1..=n {
        for k in 0..rounds {
            // A fixed scramble of start times: overlapping requests from all nodes.
            let at = (u64::from(i) * 7 + u64::from(k) * 13 + seed * 3) % 40;
            steps.push((at, i));
        }
    }
    steps.sort();
    for (at, i) in steps {
        yaml.push_str(&format!("  - {{at: {at}ms, node: {i}, do: request}}\n"));
    }
    run(&yaml).1
}

#[test]
fn safety_and_liveness_hold_under_load_for_20_seeds() {
    for algorithm in ["mutex.central", "mutex.lamport", "mutex.ricart-agrawala", "mutex.suzuki-kasami"] {
        for seed in 0..20 {
            let r = heavy(algorithm, "", seed, 5, 4);
            assert!(
                r.passed(),
                "{algorithm} seed {seed}: {:?}",
                r.failures().map(|f| format!("{}: {}", f.name, f.detail)).collect::<Vec<_>>()
            );
            assert_eq!(r.stats.observations.get("enter"), 20, "{algorithm} seed {seed}: every request entered");
        }
    }
}

#[test]
fn the_seed_variant_breaks_safety_or_liveness_and_the_checker_says_which() {
    let mut broken = Vec::new();
    for seed in 0..20 {
        let r = heavy("mutex.ricart-agrawala", ", variant: seed", seed, 5, 2);
        let names: Vec<String> = r.failures().map(|f| f.name.clone()).filter(|n| n == "safety" || n == "liveness").collect();
        if !names.is_empty() {
            broken.push((seed, names));
        }
    }
    assert!(!broken.is_empty(), "the seed's reply rule must break something on some seed");
    let (_, trace) = {
        let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/mutex/ricart-agrawala-seed-variant.yaml"))
            .expect("scenario");
        let (t, r) = run(&yaml);
        (r, t)
    };
    assert!(trace.contains("FAIL") || trace.contains("fails as the scenario expects: never granted"), "{trace}");
}

#[test]
fn ricart_agrawala_enters_in_timestamp_order() {
    let yaml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/mutex/ricart-agrawala-concurrent.yaml")).expect("scenario");
    let (trace, r) = run(&yaml);
    assert!(r.passed());
    let enters: Vec<&str> = trace.lines().filter(|l| l.contains("enters critical section")).collect();
    let order: Vec<char> = enters.iter().map(|l| l.split("Site ").nth(1).and_then(|s| s.chars().next()).expect("site")).collect();
    assert_eq!(order, ['1', '2', '3', '4', '5']);
}

#[test]
fn a_crash_with_the_token_is_a_liveness_failure_not_a_panic() {
    let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/mutex/suzuki-kasami-holder-crashes.yaml"))
        .expect("scenario");
    let (trace, r) = run(&yaml);
    assert!(r.passed(), "the scenario expects the liveness violation");
    let live = r.results.iter().find(|c| c.name == "liveness").expect("liveness ran");
    assert!(live.expected_to_fail && live.detail.contains("never granted: 3") && live.detail.contains("4"), "{}", live.detail);
    assert!(trace.contains("Process 2 fails"));
}

mod tree_and_quorum;
