//! Mutual exclusion against the textbook message counts, and under heavy load.
//!
//! Every node requesting once, no faults: Ricart–Agrawala 2(N−1) per entry;
//! Lamport 3(N−1);
//! central 3 per entry for the others and 0 for the coordinator's own request
//! (it does not message itself); Suzuki–Kasami N per entry for a site without
//! the token and 0 for the holder. Under load (every node asking repeatedly,
//! random latency, 20 seeds) safety and liveness hold; the seed variant of
//! Ricart–Agrawala breaks one of them and the checker says which.
//! Suzuki–Kasami after crashes: a site that crashed while idle, or while it
//! asked, is served again after recovery (50 seeds); its recovery costs
//! 2(N−1) messages and relearns the requests it missed while down; in 200
//! random runs with crashes, recoveries and (every other run) duplicated
//! messages, every run is safe and every run that keeps its token is live.

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

/// Suzuki–Kasami, 5 sites, token at 1: site `s` asks and is served, the
/// token moves on to site `o`, then `s` crashes while idle (it holds no
/// token). The other sites ask while it is down; it recovers and asks twice
/// more, at the same instant as another site or a little later.
fn idle_crash_yaml(seed: u64) -> (String, u32, u32) {
    let s = 2 + (seed % 4) as u32;
    let o = if s == 5 { 2 } else { s + 1 };
    let others: Vec<u32> = (1..=5).filter(|&x| x != s).collect();
    let mut yaml = format!(
        "name: t\nalgorithm: mutex.suzuki-kasami\nnodes: 5\nseed: {seed}\nnetwork: {{latency: 1ms..4ms}}\nparams: {{token: 1, hold: 2ms}}\ntimeline:\n"
    );
    let mut steps: Vec<(u64, String)> = vec![(0, format!("node: {s}, do: request")), (20, format!("node: {o}, do: request"))];
    steps.push((40, format!("crash: {s}")));
    for (k, &x) in others.iter().enumerate() {
        steps.push((41 + (seed * 7 + k as u64 * 5) % 19, format!("node: {x}, do: request")));
    }
    let back = 60 + seed % 5;
    let ask = back + seed % 3;
    steps.push((back, format!("recover: {s}")));
    steps.push((ask, format!("node: {s}, do: request")));
    steps.push((ask, format!("node: {s}, do: request")));
    steps.push((ask, format!("node: {}, do: request", others[(seed % 4) as usize])));
    steps.sort_by_key(|st| st.0);
    for (at, step) in steps {
        yaml.push_str(&format!("  - {{at: {at}ms, {step}}}\n"));
    }
    (yaml, s, o)
}

#[test]
fn suzuki_kasami_a_site_that_crashed_idle_enters_again_over_50_seeds() {
    for seed in 0..50 {
        let (yaml, s, _) = idle_crash_yaml(seed);
        let (trace, r) = run(&yaml);
        let why: Vec<String> = r.failures().map(|f| format!("{}: {}", f.name, f.detail)).collect();
        assert!(r.passed() && why.is_empty(), "seed {seed}: {why:?}\n{trace}");
        // 1 + 1 before the crash, 4 while it is down, 2 + 1 after.
        assert_eq!(r.stats.observations.get("enter"), 9, "seed {seed}\n{trace}");
        let mine = format!("Site {s} enters critical section.");
        assert_eq!(trace.matches(&mine).count(), 3, "seed {seed}: site {s} enters once before and twice after\n{trace}");
        // Its new requests carry numbers 2 and 3 (its own number survived).
        assert!(trace.contains(&format!("REQUEST({s}, 2)")), "seed {seed}\n{trace}");
        let after = &trace[trace.find(&format!("Process {s} recovers")).expect("recovers")..];
        assert!(!after.contains(&format!("REQUEST({s}, 1)")), "seed {seed}: an old number after recovery\n{trace}");
        // The recovery: RECOVER to the 4 others, an RN answer from each.
        assert_eq!((r.stats.sent.get("RECOVER"), r.stats.sent.get("RN")), (4, 4), "seed {seed}");
    }
}

#[test]
fn suzuki_kasami_recovery_costs_2_n_minus_1_and_then_n_per_entry() {
    for n in [3u32, 5, 10] {
        // Site 2 is served once, crashes idle, recovers, and asks again.
        let yaml = format!(
            "name: t\nalgorithm: mutex.suzuki-kasami\nnodes: {n}\nnetwork: {{latency: 1ms..3ms}}\nparams: {{token: 1}}\ntimeline:\n  - {{at: 0ms, node: 2, do: request}}\n  - {{at: 20ms, node: 1, do: request}}\n  - {{at: 40ms, crash: 2}}\n  - {{at: 50ms, recover: 2}}\n  - {{at: 70ms, node: 2, do: request}}\n"
        );
        let (trace, r) = run(&yaml);
        assert!(r.passed(), "n={n}\n{trace}");
        let n = u64::from(n);
        assert_eq!(r.stats.observations.get("enter"), 3);
        assert_eq!(r.stats.sent.get("RECOVER"), n - 1);
        assert_eq!(r.stats.sent.get("RN"), n - 1);
        // Two entries of site 2 at N each; site 1's own entry costs N as well
        // (the token is at site 2 then): 3 × (N−1) REQUEST + 3 TOKEN.
        assert_eq!(r.stats.sent.get("REQUEST"), 3 * (n - 1));
        assert_eq!(r.stats.sent.get("TOKEN"), 3);
    }
}

fn scenario_file(name: &str) -> (String, RunReport) {
    let yaml = std::fs::read_to_string(format!("{}/scenarios/mutex/{name}", env!("CARGO_MANIFEST_DIR"))).expect("scenario");
    run(&yaml)
}

#[test]
fn suzuki_kasami_a_recovered_site_relearns_the_requests_it_missed() {
    let (trace, r) = scenario_file("suzuki-kasami-recovered-site-relearns.yaml");
    assert!(r.passed(), "{trace}");
    // Site 3's REQUEST was dropped at the down site 2; its RN answer makes
    // site 2, the idle holder by then, send the token.
    assert!(trace.contains("drop      <- 3  REQUEST(3, 1)  (receiver down)"), "{trace}");
    let answer = trace.find("recv      <- 3  RN(3, 1)").expect("answer");
    let token = trace.find("send      -> 3  TOKEN(Q [])").expect("token to 3");
    assert!(answer < token);
    assert_eq!(r.stats.sent.get("RECOVER"), 2);
    assert_eq!(r.stats.sent.get("RN"), 2);
}

#[test]
fn suzuki_kasami_sites_that_crash_while_asking_are_served_after_recovery() {
    let (trace, r) = scenario_file("suzuki-kasami-crash-while-asking.yaml");
    assert!(r.passed(), "{trace}");
    assert!(trace.contains("REQUEST(2, 2)"), "site 2 asks with a number newer than its dead request");
    assert!(trace.contains("Site 4 no longer asks: its request died in a crash."), "{trace}");
    // Site 4 hands the token on to site 5, the next in Q.
    let note = trace.find("no longer asks").expect("note");
    assert!(trace[note..].lines().nth(1).is_some_and(|l| l.contains("4  send      -> 5  TOKEN(Q [])")), "{trace}");
    assert!(trace.contains("REQUEST(4, 2)"), "site 4's next request is newer than its dead one");
}

#[test]
fn suzuki_kasami_drops_the_copies_of_a_duplicated_token() {
    let (trace, r) = scenario_file("suzuki-kasami-duplicated-token.yaml");
    assert!(r.passed(), "{trace}");
    let dups = trace.lines().filter(|l| l.contains(" dup ") && l.contains("TOKEN(")).count();
    assert!(dups > 0, "the network duplicated the token");
    assert_eq!(trace.matches("drops a copy of a token it has already had").count(), dups, "every copy is dropped\n{trace}");
}

mod tree_and_quorum;

/// Whether the token was lost in this trace: dropped on its way, or held by
/// a site when it crashed (the text trace's columns: time, node, event, …).
fn token_lost(trace: &str, first: &str) -> bool {
    let mut holder = Some(first.to_string());
    for line in trace.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 3 {
            continue;
        }
        let (node, event) = (cols[1], cols[2]);
        if event == "drop" && line.contains("TOKEN(") {
            return true;
        }
        if event == "send" && line.contains("TOKEN(") {
            holder = None;
        }
        if event == "recv" && line.contains("TOKEN(") {
            holder = Some(node.to_string());
        }
        if event == "crash" && holder.as_deref() == Some(node) {
            return true;
        }
    }
    false
}

#[test]
fn suzuki_kasami_is_safe_and_live_after_any_crash_that_keeps_the_token_over_200_runs() {
    let (mut lost, mut copies) = (0, 0);
    for seed in 0..200u64 {
        let n = 3 + (seed % 4) as u32;
        let mut steps: Vec<(u64, String)> = Vec::new();
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut next = |m: u64| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        for _ in 0..(3 * n) {
            steps.push((next(120), format!("node: {}, do: request", 1 + next(u64::from(n)))));
        }
        for _ in 0..2 {
            let site = 1 + next(u64::from(n));
            let down = next(80);
            steps.push((down, format!("crash: {site}")));
            steps.push((down + 1 + next(30), format!("recover: {site}")));
        }
        // Everyone asks once more at the end, when every site is up again.
        for i in 1..=n {
            steps.push((150 + next(10), format!("node: {i}, do: request")));
        }
        steps.sort_by_key(|s| s.0);
        // Every other run the network also duplicates 30% of the messages.
        let dup = if seed % 2 == 1 { 30 } else { 0 };
        let mut yaml = format!(
            "name: t\nalgorithm: mutex.suzuki-kasami\nnodes: {n}\nseed: {seed}\nnetwork: {{latency: 1ms..4ms, duplicate: {dup}%}}\nparams: {{hold: 2ms}}\ntimeline:\n"
        );
        for (at, s) in steps {
            yaml.push_str(&format!("  - {{at: {at}ms, {s}}}\n"));
        }
        let (trace, r) = run(&yaml);
        copies += trace.matches("drops a copy of a token").count();
        let safe = r.results.iter().find(|c| c.name == "safety").expect("safety ran");
        assert!(safe.ok, "seed {seed}: {}\n{yaml}\n{trace}", safe.detail);
        if token_lost(&trace, "1") {
            lost += 1;
            continue;
        }
        let live = r.results.iter().find(|c| c.name == "liveness").expect("liveness ran");
        assert!(live.ok, "seed {seed}: {}\n{yaml}\n{trace}", live.detail);
    }
    assert!(lost < 150, "most runs keep their token ({lost} of 200 lost it)");
    assert!(copies > 0, "the duplicated runs dropped copies of the token");
}
