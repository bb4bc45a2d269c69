//! Raymond's tree algorithm and Maekawa's quorums against their textbook
//! message counts, and under heavy load.
//!
//! One request per node, spaced out so that requests never overlap: Raymond
//! costs 2·dist(token, requester) ≤ 2·D per entry (D the tree's diameter),
//! exact on the default binary tree and on a path; Maekawa costs exactly
//! 3(K−1) per entry on a perfect square (K = 2√N − 1), which lies between
//! 3√N and 6√N, and Σ 3(|quorum|−1) otherwise. Under load (every node asking
//! several times, random latency, 20 seeds) safety and liveness hold and
//! every request enters; Maekawa's INQUIRE/YIELD/FAILED paths are exercised.

use super::run;
use distlab::algorithms::mutex::maekawa::quorum;
use distlab::report::RunReport;

/// Runs `algorithm` on `nodes` with the given requests (node ids, in order),
/// `gap_ms` apart; every check must pass and every request must enter.
fn spaced(algorithm: &str, nodes: &str, params: &str, requests: &[u32], gap_ms: u64) -> (String, RunReport) {
    let mut yaml =
        format!("name: t\nalgorithm: {algorithm}\nnodes: {nodes}\nnetwork: {{latency: 1ms..3ms}}\nparams: {{{params}}}\ntimeline:\n");
    for (k, node) in requests.iter().enumerate() {
        yaml.push_str(&format!("  - {{at: {}ms, node: {node}, do: request}}\n", k as u64 * gap_ms));
    }
    let (trace, r) = run(&yaml);
    assert!(r.passed(), "{algorithm} {nodes}: {:?}\n{trace}", r.failures().map(|f| &f.detail).collect::<Vec<_>>());
    assert_eq!(r.stats.observations.get("enter"), requests.len() as u64, "{algorithm} {nodes}: every request entered");
    (trace, r)
}

/// Messages sent for each request, from the trace: everything sent from one
/// `request` line to the next (the requests never overlap), so a Maekawa
/// entry's RELEASEs count with it.
fn sends_per_entry(trace: &str) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for line in trace.lines() {
        match line.split_whitespace().nth(2) {
            Some("request") => out.push(0),
            Some("send") => {
                if let Some(last) = out.last_mut() {
                    *last += 1;
                }
            }
            _ => {}
        }
    }
    out
}

/// Node indices from `i` up to the root of the default binary tree.
fn ancestors(mut i: usize) -> Vec<usize> {
    let mut up = vec![i];
    while i > 0 {
        i = (i - 1) / 2;
        up.push(i);
    }
    up
}

/// Hops between indices `a` and `b` in the default binary tree.
fn tree_distance(a: usize, b: usize) -> u64 {
    let (ua, ub) = (ancestors(a), ancestors(b));
    let (da, db) = (ua.iter().position(|x| ub.contains(x)).unwrap_or(0), ub.iter().position(|x| ua.contains(x)).unwrap_or(0));
    (da + db) as u64
}

fn diameter(n: usize) -> u64 {
    (0..n).flat_map(|a| (0..n).map(move |b| tree_distance(a, b))).max().unwrap_or(0)
}

#[test]
fn raymond_on_the_default_tree_costs_twice_the_distance_to_the_token() {
    for n in [3u32, 5, 10] {
        let requests: Vec<u32> = (1..=n).collect();
        let (trace, r) = spaced("mutex.raymond", &n.to_string(), "", &requests, 60);
        let d = diameter(n as usize);
        // The token starts at the root (index 0) and follows the requests.
        let mut holder = 0usize;
        let mut want = Vec::new();
        for i in 0..n as usize {
            want.push(2 * tree_distance(holder, i));
            holder = i;
        }
        let got = sends_per_entry(&trace);
        assert_eq!(got, want, "n={n}: messages per entry");
        assert!(got.iter().all(|&m| m <= 2 * d), "n={n}: every entry costs at most 2D = {}", 2 * d);
        let hops: u64 = want.iter().sum::<u64>() / 2;
        assert_eq!(r.stats.sent.get("REQUEST"), hops, "n={n}");
        assert_eq!(r.stats.sent.get("PRIVILEGE"), hops, "n={n}");
    }
}

#[test]
fn raymond_on_a_path_costs_exactly_2_d_from_end_to_end() {
    let chain = "tree: {2: 1, 3: 2, 4: 3, 5: 4, 6: 5}";
    // Token at node 1, requests alternate between the two ends: each entry
    // sends 5 REQUESTs up the path and the PRIVILEGE 5 hops back.
    let (trace, r) = spaced("mutex.raymond", "6", chain, &[6, 1, 6, 1], 60);
    assert_eq!(sends_per_entry(&trace), [10, 10, 10, 10]);
    assert_eq!(r.stats.sent.get("REQUEST"), 20);
    assert_eq!(r.stats.sent.get("PRIVILEGE"), 20);
    // Walking down the path one node at a time: 2 per entry, 0 at the root.
    let (trace, r) = spaced("mutex.raymond", "6", chain, &[1, 2, 3, 4, 5, 6], 60);
    assert_eq!(sends_per_entry(&trace), [0, 2, 2, 2, 2, 2]);
    assert_eq!(r.stats.sent.total(), 10);
    // The root in the middle of the path: at most D = 5 hops, here 3 then 5.
    let (trace, _) = spaced("mutex.raymond", "6", "tree: {1: 2, 2: 3, 4: 3, 5: 4, 6: 5}", &[1, 6], 60);
    assert_eq!(sends_per_entry(&trace), [4, 10]);
}

#[test]
fn raymond_re_enters_for_free_while_nobody_waits() {
    let (trace, r) = spaced("mutex.raymond", "5", "hold: 2ms", &[4, 4, 4], 20);
    assert_eq!(sends_per_entry(&trace), [4, 0, 0]);
    assert_eq!(r.stats.sent.total(), 4);
}

#[test]
fn a_tree_with_a_cycle_or_two_roots_is_rejected_when_the_scenario_loads() {
    for (tree, words) in [
        ("{2: 3, 3: 2, 4: 1}", "cycle"),
        ("{2: 1, 4: 3}", "two roots"),
        ("{}", "no edge"),
        ("{3: 3}", "its own parent"),
        ("{2: 1, 3: 1, 2: 3}", "duplicate"),
    ] {
        let yaml = format!("name: t\nalgorithm: mutex.raymond\nnodes: 4\nparams: {{tree: {tree}}}\ntimeline: []\n");
        let e = distlab::scenario::yaml::load_str("t.yaml", &yaml).expect_err("an invalid tree").to_string();
        assert!(e.contains(words) && e.contains("tree"), "{tree}: {e}");
    }
}

#[test]
fn a_tree_that_does_not_fit_the_nodes_falls_back_to_the_default_and_says_so() {
    // Node 9 is unknown and nodes 3, 4 are left out: only the run can tell.
    let (trace, r) = spaced("mutex.raymond", "4", "tree: {2: 1, 9: 1}", &[4, 2], 40);
    assert!(trace.contains("names unknown node(s) 9") && trace.contains("leaves out node(s) 3, 4"), "{trace}");
    assert!(trace.contains("using the default binary tree"), "{trace}");
    // Default tree over 1..=4: 4 is two hops below the root, then 2 is two hops from 4.
    assert_eq!(sends_per_entry(&trace), [4, 2]);
    assert_eq!(r.stats.sent.total(), 6);
}

#[test]
fn maekawa_costs_3_k_minus_1_per_entry_on_a_perfect_square() {
    for n in [4u32, 9, 16, 25] {
        let requests: Vec<u32> = (1..=n).collect();
        let (trace, r) = spaced("mutex.maekawa", &n.to_string(), "", &requests, 30);
        let sqrt = (1..=n).find(|s| s * s == n).expect("a square");
        let k = u64::from(2 * sqrt - 1);
        let per_entry = 3 * (k - 1);
        assert!(sends_per_entry(&trace).iter().all(|&m| m == per_entry), "n={n}: {:?}", sends_per_entry(&trace));
        let n = u64::from(n);
        for kind in ["REQUEST", "LOCKED", "RELEASE"] {
            assert_eq!(r.stats.sent.get(kind), n * (k - 1), "n={n} {kind}");
        }
        for kind in ["INQUIRE", "YIELD", "FAILED"] {
            assert_eq!(r.stats.sent.get(kind), 0, "n={n} {kind}: no contention");
        }
        assert_eq!(r.stats.sent.total(), n * per_entry);
        let s = u64::from(sqrt);
        assert!((3 * s..=6 * s).contains(&per_entry), "n={n}: {per_entry} per entry outside [3√N, 6√N]");
    }
}

#[test]
fn maekawa_on_a_non_square_costs_3_quorum_minus_1_per_entry() {
    for n in [2u32, 3, 5, 10, 12] {
        let requests: Vec<u32> = (1..=n).collect();
        let (trace, r) = spaced("mutex.maekawa", &n.to_string(), "", &requests, 30);
        let nodes: Vec<u32> = (1..=n).collect();
        let want: Vec<u64> = (0..nodes.len()).map(|i| 3 * (quorum(&nodes, i).len() as u64 - 1)).collect();
        assert_eq!(sends_per_entry(&trace), want, "n={n}");
        assert_eq!(r.stats.sent.total(), want.iter().sum::<u64>());
    }
}

#[test]
fn maekawa_alone_enters_without_a_message() {
    let (_, r) = spaced("mutex.maekawa", "1", "", &[1, 1], 20);
    assert_eq!(r.stats.sent.total(), 0);
}

#[test]
fn safety_and_liveness_hold_under_load_for_20_seeds() {
    let cases = [
        ("mutex.raymond", "", 5u32, 4u32),
        ("mutex.raymond", "", 10, 3),
        ("mutex.raymond", ", tree: {2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 6}", 7, 3),
        ("mutex.maekawa", "", 5, 4),
        ("mutex.maekawa", "", 9, 3),
        ("mutex.maekawa", "", 16, 2),
    ];
    for (algorithm, params, n, rounds) in cases {
        let mut contention = 0;
        for seed in 0..20 {
            let r = super::heavy(algorithm, params, seed, n, rounds);
            assert!(
                r.passed(),
                "{algorithm} n={n} seed {seed}: {:?}",
                r.failures().map(|f| format!("{}: {}", f.name, f.detail)).collect::<Vec<_>>()
            );
            assert_eq!(r.stats.observations.get("enter"), u64::from(n * rounds), "{algorithm} n={n} seed {seed}: every request entered");
            contention += r.stats.sent.get("INQUIRE") + r.stats.sent.get("YIELD") + r.stats.sent.get("FAILED");
        }
        if algorithm == "mutex.maekawa" {
            assert!(contention > 0, "n={n}: the load makes voters INQUIRE, requesters YIELD and FAIL");
        }
    }
}

#[test]
fn maekawa_under_load_stays_within_6_k_minus_1_per_entry_on_average() {
    // K = 5 on 9 nodes: 12 per entry alone, at most about 24 with contention.
    for seed in 0..20 {
        let r = super::heavy("mutex.maekawa", "", seed, 9, 3);
        let entries = r.stats.observations.get("enter");
        assert!(r.stats.sent.total() <= 24 * entries, "seed {seed}: {} messages for {entries} entries", r.stats.sent.total());
    }
}

#[test]
fn raymond_under_load_costs_less_than_2_d_per_entry() {
    // Default tree over 10 nodes: D = 5 (index 7 to index 5 or 6 via the root).
    for seed in 0..20 {
        let r = super::heavy("mutex.raymond", "", seed, 10, 3);
        let entries = r.stats.observations.get("enter");
        assert!(r.stats.sent.total() <= 2 * diameter(10) * entries, "seed {seed}");
    }
}

fn scenario(name: &str) -> (String, RunReport) {
    let path = format!("{}/scenarios/mutex/{name}", env!("CARGO_MANIFEST_DIR"));
    run(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

#[test]
fn a_crashed_raymond_holder_loses_the_token_and_liveness_fails_without_a_panic() {
    let (trace, r) = scenario("raymond-holder-crash.yaml");
    assert!(r.passed(), "the scenario expects the liveness violation");
    let live = r.results.iter().find(|c| c.name == "liveness").expect("liveness ran");
    assert!(live.expected_to_fail && live.detail.contains("never granted"), "{}", live.detail);
    assert!(trace.contains("fails"), "{trace}");
}

#[test]
fn maekawa_contention_goes_through_inquire_and_yield() {
    let (_, r) = scenario("maekawa-contention.yaml");
    assert!(r.passed());
    for kind in ["INQUIRE", "YIELD", "FAILED"] {
        assert!(r.stats.sent.get(kind) > 0, "{kind}");
    }
}

#[test]
fn a_crashed_maekawa_voter_starves_the_quorums_it_belongs_to() {
    let (_, r) = scenario("maekawa-node-crash.yaml");
    assert!(r.passed(), "the scenario expects the liveness violation");
    let live = r.results.iter().find(|c| c.name == "liveness").expect("liveness ran");
    assert!(live.expected_to_fail, "{}", live.detail);
}

#[test]
fn maekawa_tells_an_overtaken_request_failed_and_so_does_not_deadlock() {
    let (trace, r) = scenario("maekawa-overtaken-request.yaml");
    assert!(r.passed(), "{:?}", r.failures().map(|f| &f.detail).collect::<Vec<_>>());
    // Voter 9 receives 1's request and tells 5, whose request it overtook, FAILED.
    let lines: Vec<&str> = trace.lines().collect();
    let at = lines.iter().position(|l| l.contains("9  recv      <- 1  REQUEST")).expect("1's request reaches voter 9");
    assert!(lines[at + 1].contains("9  send      -> 5  FAILED"), "{}", lines[at + 1]);
    assert!(trace.contains("5  send      -> 4  YIELD"), "5 gives 4's vote back");
}
