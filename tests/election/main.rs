//! Election algorithms against their textbook message counts and invariants.
//!
//! Chang-Roberts: one initiator sends at most 3n−1 Election and Coordinator
//! messages (exactly 3n−1 when the initiator follows the highest id); every
//! node initiating in a ring of decreasing ids costs exactly n(n+1)/2 + n.
//! Bully: best case n−2 when the second-highest detects the failure; when the
//! lowest of m live nodes does, every live node holds one election:
//! m(m−1)/2 Election and OK among the live nodes.

use distlab::report::RunReport;
use distlab::scenario::yaml::load_str;
use distlab::snapshot::trace_of;

fn run(yaml: &str) -> (String, RunReport) {
    let plan = load_str("test.yaml", yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    trace_of(&plan).expect("runs")
}

fn ids(list: impl IntoIterator<Item = u32>) -> String {
    list.into_iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

fn ring_counts(report: &RunReport) -> u64 {
    report.stats.sent.get("Election") + report.stats.sent.get("Coordinator")
}

#[test]
fn chang_roberts_single_initiator_within_3n_minus_1() {
    for n in [3u32, 5, 10, 20] {
        for k in 1..=n {
            let yaml = format!(
                "name: t\nalgorithm: election.ring\nnodes: {n}\nnetwork: {{latency: 1ms..3ms}}\ntimeline:\n  - {{at: 1ms, node: {k}, do: start_election}}\nexpect: {{leader: {n}}}\n"
            );
            let (_, r) = run(&yaml);
            assert!(r.passed(), "n={n} k={k}: {:?}", r.failures().collect::<Vec<_>>());
            let n64 = u64::from(n);
            // Election(k) climbs to n ((n−k) hops), Election(n) goes round (n), Coordinator(n) goes round (n).
            assert_eq!(r.stats.sent.get("Election"), (n64 - u64::from(k)) + n64, "n={n} k={k}");
            assert_eq!(r.stats.sent.get("Coordinator"), n64, "n={n} k={k}");
            assert!(ring_counts(&r) < 3 * n64);
            // Every ring message is acknowledged once on a reliable network.
            assert_eq!(r.stats.sent.get("Ack"), ring_counts(&r), "n={n} k={k}");
        }
        // The worst initiator is the successor of the highest id: exactly 3n−1.
        let yaml = format!("name: t\nalgorithm: election.ring\nnodes: {n}\ntimeline:\n  - {{at: 1ms, node: 1, do: start_election}}\n");
        assert_eq!(ring_counts(&run(&yaml).1), 3 * u64::from(n) - 1);
    }
}

#[test]
fn chang_roberts_all_initiate_worst_case_is_n_n_plus_1_over_2_plus_n() {
    for n in [3u32, 5, 10, 25] {
        let order = ids((1..=n).rev());
        let mut yaml = format!("name: t\nalgorithm: election.ring\nnodes: [{order}]\nnetwork: {{latency: 1ms}}\ntimeline:\n");
        for id in 1..=n {
            yaml.push_str(&format!("  - {{at: 0ms, node: {id}, do: start_election}}\n"));
        }
        let (_, r) = run(&yaml);
        assert!(r.passed(), "n={n}");
        let n64 = u64::from(n);
        assert_eq!(r.stats.sent.get("Election"), n64 * (n64 + 1) / 2, "n={n}");
        assert_eq!(ring_counts(&r), n64 * (n64 + 1) / 2 + n64, "n={n}");
    }
}

#[test]
fn chang_roberts_all_initiate_any_order_stays_within_the_bound() {
    // Ring orders produced by a fixed multiplicative permutation, random latencies.
    for n in [7u32, 11, 16] {
        for mult in [3u32, 5] {
            let order: Vec<u32> = (0..n).map(|i| (i * mult) % n + 1).collect();
            let mut uniq = order.clone();
            uniq.sort();
            uniq.dedup();
            if uniq.len() != n as usize {
                continue;
            }
            let mut yaml = format!(
                "name: t\nalgorithm: election.ring\nnodes: [{}]\nnetwork: {{latency: 1ms..4ms}}\nseed: {mult}\ntimeline:\n",
                ids(order)
            );
            for id in 1..=n {
                yaml.push_str(&format!("  - {{at: 0ms, node: {id}, do: start_election}}\n"));
            }
            let (_, r) = run(&yaml);
            assert!(r.passed(), "n={n} mult={mult}");
            let n64 = u64::from(n);
            assert!(ring_counts(&r) <= n64 * (n64 + 1) / 2 + n64, "n={n} mult={mult}: {}", ring_counts(&r));
            assert!(ring_counts(&r) >= 2 * n64, "at least one full Election round and one Coordinator round");
        }
    }
}

#[test]
fn bully_best_case_is_n_minus_2() {
    for n in [3u32, 5, 10, 20] {
        let yaml = format!(
            "name: t\nalgorithm: election.bully\nnodes: {n}\ntimeline:\n  - {{at: 0ms, crash: {n}}}\n  - {{at: 1ms, node: {}, do: detect_failure}}\nexpect: {{leader: {}}}\n",
            n - 1,
            n - 1
        );
        let (_, r) = run(&yaml);
        assert!(r.passed(), "n={n}");
        assert_eq!(r.stats.sent.total(), u64::from(n) - 2, "n={n}");
        assert_eq!(r.stats.sent.get("Coordinator"), u64::from(n) - 2);
    }
}

#[test]
fn bully_lowest_initiator_elects_the_highest_live_with_the_textbook_counts() {
    for n in [4u32, 8, 16] {
        for seed in 1..=50u64 {
            let yaml = format!(
                "name: t\nalgorithm: election.bully\nnodes: {n}\nseed: {seed}\nnetwork: {{latency: 1ms..3ms}}\ntimeline:\n  - {{at: 0ms, crash: {n}}}\n  - {{at: 1ms, node: 1, do: detect_failure}}\nexpect: {{leader: {}}}\n",
                n - 1
            );
            let (_, r) = run(&yaml);
            assert!(r.passed(), "n={n} seed={seed}");
            let m = u64::from(n) - 1; // live nodes
            // Every live node holds one election (Garcia-Molina): each sends
            // Election to the higher live ids, and to the failed n unless it
            // is node 1, which detected the failure; each Election to a live
            // node is answered by one OK; the winner tells the m−1 others.
            assert_eq!(r.stats.observations.get("election"), m, "n={n} seed={seed}");
            assert_eq!(r.stats.sent.get("Election"), m * (m - 1) / 2 + (m - 1), "n={n} seed={seed}");
            assert_eq!(r.stats.receiver_down, m - 1, "n={n} seed={seed}: only node 1 leaves out the failed coordinator");
            assert_eq!(r.stats.sent.get("OK"), m * (m - 1) / 2, "n={n} seed={seed}");
            assert_eq!(r.stats.sent.get("Coordinator"), m - 1, "n={n} seed={seed}");
        }
    }
}

#[test]
fn the_seed_story_in_the_seed_words() {
    let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/election/seed-ring.yaml")).expect("seed scenario");
    let (trace, r) = run(&yaml);
    assert!(r.passed());
    let pos = |s: &str| trace.find(s).unwrap_or_else(|| panic!("missing {s:?} in\n{trace}"));
    let fails = pos("Process 4 fails");
    let initiated = pos("Election initiated by 3");
    let becomes = pos("Process 3 becomes coordinator");
    assert!(fails < initiated && initiated < becomes);
    // The coordinator message goes round the ring 0 -> 1 -> 2 -> back to 3.
    let hops: Vec<usize> = [
        "3  send      -> 0  Coordinator(3)",
        "0  send      -> 1  Coordinator(3)",
        "1  send      -> 2  Coordinator(3)",
        "2  send      -> 3  Coordinator(3)",
    ]
    .iter()
    .map(|s| pos(s))
    .collect();
    assert!(hops.windows(2).all(|w| w[0] < w[1]) && becomes < hops[0]);
    for p in 0..3 {
        assert!(trace.contains(&format!("Process {p} accepts 3 as coordinator")));
    }
}

#[test]
fn split_brain_is_caught_by_the_checkers() {
    let yaml = "name: t\nalgorithm: election.bully\nnodes: 5\nparams: {heartbeat: 20ms}\nuntil: 300ms\ntimeline:\n  - {at: 40ms, partition: [[1, 2, 3], [4, 5]]}\n";
    let (trace, r) = run(yaml);
    let failed: Vec<&str> = r.failures().map(|f| f.name.as_str()).collect();
    assert_eq!(failed, ["one-leader", "agreement", "highest-live"]);
    let one = r.failures().next().expect("one-leader failed");
    assert_eq!(one.detail, "3 and 5 all consider themselves coordinator");
    assert!(!one.prefix.is_empty(), "a failed check shows the trace prefix");
    assert!(trace.contains("broken at event #"));
}

#[test]
fn crashed_receivers_drop_messages_and_recovered_nodes_rejoin() {
    let root = env!("CARGO_MANIFEST_DIR");
    let yaml = std::fs::read_to_string(format!("{root}/scenarios/election/bully-crash-during-election.yaml")).expect("scenario");
    let (trace, r) = run(&yaml);
    assert!(r.passed());
    assert!(r.stats.receiver_down >= 1, "Elections to the crashed 4 are dropped");
    assert!(trace.contains("drop      <- 2  Election  (receiver down)") || trace.contains("drop      <- 3  Election  (receiver down)"));
    let yaml = std::fs::read_to_string(format!("{root}/scenarios/election/bully-old-coordinator-recovers.yaml")).expect("scenario");
    let (trace, r) = run(&yaml);
    assert!(r.passed());
    assert!(trace.contains("Process 5 recovers") && trace.contains("Process 5 becomes coordinator"));
}

/// Runs `yaml` with an event cap; panics with the failures if checks fail.
fn sweep_run(yaml: &str) -> RunReport {
    let plan = load_str("sweep.yaml", yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let opts =
        distlab::engine::RunOptions { format: distlab::engine::Format::Quiet, limits: distlab::engine::Limits { max_events: 200_000 } };
    let r = (plan.algorithm.run)(&plan, &opts, &mut std::io::sink()).expect("runs");
    assert_ne!(r.stats.stop, distlab::trace::StopReason::EventLimit, "runaway:\n{yaml}");
    r
}

fn failures(r: &RunReport) -> Vec<String> {
    r.failures().map(|f| format!("{}: {}", f.name, f.detail)).collect()
}

#[test]
fn elections_survive_crashes_recoveries_duplicates_and_slow_links_over_many_seeds() {
    for algorithm in ["election.ring", "election.bully"] {
        for seed in 0..30u64 {
            let n = 5 + seed % 4;
            let yaml = format!(
                "name: sweep\nalgorithm: {algorithm}\nnodes: {n}\nseed: {seed}\nnetwork: {{latency: 1ms..4ms, duplicate: 30%}}\ntimeline:\n  - {{at: 0ms, crash: {n}}}\n  - {{at: 1ms, node: {}, do: detect_failure}}\n  - {{at: 5ms, crash: {}}}\n  - {{at: 50ms, set_latency: 5ms..12ms}}\n  - {{at: 80ms, recover: {}}}\n  - {{at: 300ms, recover: {n}}}\n",
                1 + seed % (n - 2),
                n - 1,
                n - 1
            );
            let r = sweep_run(&yaml);
            assert!(r.passed(), "{algorithm} seed {seed}: {:?}", failures(&r));
        }
    }
}

#[test]
fn with_heartbeats_elections_converge_over_a_lossy_network() {
    for algorithm in ["election.ring", "election.bully"] {
        for seed in 0..20u64 {
            let yaml = format!(
                "name: sweep\nalgorithm: {algorithm}\nnodes: 6\nseed: {seed}\nnetwork: {{latency: 1ms..3ms, loss: 5%}}\nparams: {{heartbeat: 20ms}}\nuntil: 2s\ntimeline:\n  - {{at: 30ms, crash: 6}}\n  - {{at: 600ms, set_loss: 0%}}\n"
            );
            let r = sweep_run(&yaml);
            assert!(r.passed(), "{algorithm} seed {seed}: {:?}", failures(&r));
        }
    }
}

#[test]
fn a_recovered_middle_node_is_probed_again_and_rejoins() {
    // Node 3 is skipped while it is down; after it recovers the next election
    // must reach it (suspicion does not outlive an election).
    let yaml = "name: t\nalgorithm: election.ring\nnodes: 5\nnetwork: {latency: 1ms..3ms}\ntimeline:\n  - {at: 0ms, crash: 3}\n  - {at: 1ms, node: 1, do: start_election}\n  - {at: 100ms, recover: 3}\nuntil: 2s\n";
    let r = sweep_run(yaml);
    assert!(r.passed(), "{:?}", failures(&r));
    assert_eq!(r.stats.observations.get("election"), 2, "one election before, one by the recovered node");
}

#[test]
fn slow_links_and_one_way_cuts_do_not_make_ring_messages_multiply() {
    // Latency raised far above the first hops at once: default timeouts follow it.
    let slow = "name: t\nalgorithm: election.ring\nnodes: 5\ntimeline:\n  - {at: 0ms, set_latency: 20ms}\n  - {at: 0ms, crash: 5}\n  - {at: 1ms, node: 1, do: detect_failure}\nuntil: 5s\n";
    let r = sweep_run(slow);
    assert!(r.passed(), "{:?}", failures(&r));
    assert!(r.stats.sent.get("Coordinator") <= 3 * 4, "announcements stay bounded: {}", r.stats.sent.get("Coordinator"));
    // 3 cannot reach 2 (its Acks to 2 and its ring messages are cut one way).
    let block = "name: t\nalgorithm: election.ring\nnodes: 5\ntimeline:\n  - {at: 0ms, block: {from: 3, to: 2}}\n  - {at: 1ms, node: 1, do: start_election}\nuntil: 1s\n";
    let r = sweep_run(block);
    assert!(r.passed(), "{:?}", failures(&r));
    assert!(r.stats.observations.get("elected") <= 3, "re-elections stay few: {:?}", r.stats.observations);
}

#[test]
fn a_random_crash_and_recovery_schedule_does_not_set_off_an_election_storm() {
    let root = env!("CARGO_MANIFEST_DIR");
    let plan = distlab::scenario::load(format!("{root}/scenarios/lua/random-crashes-20-nodes.lua").as_ref()).expect("loads");
    let (_, r) = trace_of(&plan).expect("runs");
    assert!(r.passed());
    // About 30 faults over 600ms, 20 nodes, heartbeats every 25ms: a few
    // thousand messages at most, not the hundreds of thousands of a storm.
    assert!(r.stats.sent.total() < 5_000, "{} messages", r.stats.sent.total());
}

/// Every node starts an election at once; ring order `order`, latencies that
/// reorder messages (1ms..3ms), scenario seed `seed`.
fn ring_all_initiate(order: &[u32], seed: u64, stagger_ms: u32) -> String {
    let mut yaml = format!(
        "name: t\nalgorithm: election.ring\nnodes: [{}]\nnetwork: {{latency: 1ms..3ms}}\nseed: {seed}\ntimeline:\n",
        ids(order.iter().copied())
    );
    for (k, id) in order.iter().enumerate() {
        yaml.push_str(&format!("  - {{at: {}ms, node: {id}, do: start_election}}\n", k as u32 * stagger_ms));
    }
    yaml
}

#[test]
fn chang_roberts_all_initiate_bound_holds_for_every_seed_on_links_that_reorder() {
    // Decreasing ids: exactly n(n+1)/2 Election and n Coordinator messages on
    // every seed, as on FIFO links: no stale Election outlives the election.
    for n in [5u32, 8, 12] {
        let order: Vec<u32> = (1..=n).rev().collect();
        let n64 = u64::from(n);
        for seed in 1..=50u64 {
            let r = sweep_run(&ring_all_initiate(&order, seed, 0));
            assert!(r.passed(), "n={n} seed={seed}: {:?}", failures(&r));
            assert_eq!(r.stats.sent.get("Election"), n64 * (n64 + 1) / 2, "n={n} seed={seed}");
            assert_eq!(r.stats.sent.get("Coordinator"), n64, "n={n} seed={seed}");
            assert_eq!(r.stats.observations.get("elected"), 1, "n={n} seed={seed}: one election, one winner");
        }
    }
    // Any ring order, and initiators a millisecond or two apart, all before
    // the election ends (a late initiator is often a participant already,
    // and must not send a second Election): never above n(n+1)/2 + n.
    for n in [7u32, 11] {
        let n64 = u64::from(n);
        for seed in 1..=50u64 {
            let mult = [2u32, 3, 5][seed as usize % 3];
            let shuffled: Vec<u32> = (0..n).map(|i| (i * mult + seed as u32) % n + 1).collect();
            let descending: Vec<u32> = (1..=n).rev().collect();
            for order in [&shuffled, &descending] {
                for stagger in [0, 1, 2] {
                    let r = sweep_run(&ring_all_initiate(order, seed, stagger));
                    let at = format!("n={n} seed={seed} stagger={stagger} order={order:?}");
                    assert!(r.passed(), "{at}: {:?}", failures(&r));
                    assert!(ring_counts(&r) <= n64 * (n64 + 1) / 2 + n64, "{at}: {}", ring_counts(&r));
                    assert_eq!(r.stats.observations.get("elected"), 1, "{at}");
                }
            }
        }
    }
}

#[test]
fn chang_roberts_a_live_candidate_replaces_a_dead_one_in_the_same_round() {
    // The highest id's Election goes round, then it crashes before its
    // message comes back: the node that finds it dead stands instead, and
    // the election must end in that round, with no election timeout: two
    // elections started (1's and the replacement), one winner.
    // Ring 1..6 (6 down): 5 dies, 4 replaces it; 1, 2 and 3 passed 5 on and
    // pass the greater id 4 on too.
    // Ring [4, 2, 5, 1, 3]: 5 dies, 2 replaces it; 3 and 4 passed 5 on and
    // stand for themselves when the lower Election(2) or Election(3) comes.
    let cases: [(&str, &str, u32, std::ops::RangeInclusive<u32>); 2] =
        [("6", "  - {at: 0ms, crash: 6}\n", 4, 12..=14), ("[4, 2, 5, 1, 3]", "", 4, 6..=9)];
    for (nodes, before, leader, crash_times) in cases {
        for crash_at in crash_times {
            let yaml = format!(
                "name: t\nalgorithm: election.ring\nnodes: {nodes}\nnetwork: {{latency: 1ms}}\ntimeline:\n{before}  - {{at: 1ms, node: 1, do: start_election}}\n  - {{at: {crash_at}ms, crash: 5}}\nexpect: {{leader: {leader}}}\n"
            );
            let r = sweep_run(&yaml);
            assert!(r.passed(), "{nodes}, crash at {crash_at}ms: {:?}", failures(&r));
            assert_eq!(r.stats.observations.get("election"), 2, "{nodes}, crash at {crash_at}ms: {:?}", r.stats.observations);
            assert_eq!(r.stats.observations.get("elected"), 1, "{nodes}, crash at {crash_at}ms");
        }
    }
}

#[test]
fn bully_the_highest_live_wins_from_every_start_after_the_highest_crashes() {
    // Plain start_election (nobody says the coordinator is down): the nodes
    // that still follow the dead highest id must hold their own elections.
    for n in [3u32, 5, 8] {
        for start in 1..n {
            for seed in 1..=50u64 {
                let yaml = format!(
                    "name: t\nalgorithm: election.bully\nnodes: {n}\nseed: {seed}\nnetwork: {{latency: 1ms..3ms}}\ntimeline:\n  - {{at: 0ms, crash: {n}}}\n  - {{at: 1ms, node: {start}, do: start_election}}\nexpect: {{leader: {}}}\n",
                    n - 1
                );
                let r = sweep_run(&yaml);
                assert!(r.passed(), "n={n} start={start} seed={seed}: {:?}", failures(&r));
                assert_eq!(r.stats.observations.get("elected"), 1, "n={n} start={start} seed={seed}");
            }
        }
    }
}

#[test]
fn bully_a_recovering_node_elects_the_highest_live_while_the_old_coordinator_is_down() {
    // The seed lab's ids 0..4: 4 (the coordinator) and another process fail,
    // the other one comes back and holds its own election: 3 must win.
    for node in 0..3u32 {
        for seed in 1..=50u64 {
            let yaml = format!(
                "name: t\nalgorithm: election.bully\nnodes: [0, 1, 2, 3, 4]\nseed: {seed}\nnetwork: {{latency: 1ms..3ms}}\ntimeline:\n  - {{at: 0ms, crash: 4}}\n  - {{at: 0ms, crash: {node}}}\n  - {{at: 5ms, recover: {node}}}\nexpect: {{leader: 3}}\n"
            );
            let r = sweep_run(&yaml);
            assert!(r.passed(), "node={node} seed={seed}: {:?}", failures(&r));
        }
    }
}
