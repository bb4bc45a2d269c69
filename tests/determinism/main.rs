//! Determinism: the same scenario and seed give a byte-identical trace, in
//! text and in JSON lines; another seed changes the timings.

use std::path::Path;

use distlab::engine::{Format, RunOptions};
use distlab::scenario::{self, Plan};

fn render(plan: &Plan, format: Format) -> String {
    let mut out = Vec::new();
    (plan.algorithm.run)(plan, &RunOptions { format, ..Default::default() }, &mut out).expect("runs");
    String::from_utf8(out).expect("traces are UTF-8")
}

fn all_plans() -> Vec<(String, Plan)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = scenario::discover(&[root.join("scenarios")]).expect("scenarios/ is readable");
    assert!(!files.is_empty());
    files.iter().map(|f| (f.display().to_string(), scenario::load(f).expect("loads"))).collect()
}

#[test]
fn every_scenario_twice_gives_identical_traces() {
    for (name, plan) in all_plans() {
        for format in [Format::Text, Format::Jsonl] {
            let a = render(&plan, format);
            let b = render(&plan, format);
            assert!(a == b, "{name}: two runs differ in {format:?}");
            assert!(a.lines().count() > 3, "{name}: suspiciously short trace");
        }
    }
}

#[test]
fn another_seed_changes_the_timings() {
    let mut ranged = 0;
    let mut unchanged = Vec::new();
    for (name, mut plan) in all_plans() {
        if plan.latency.lo == plan.latency.hi {
            continue; // fixed latency: the seed has nothing to draw
        }
        ranged += 1;
        let a = render(&plan, Format::Text);
        plan.seed = plan.seed.wrapping_add(1000);
        if a == render(&plan, Format::Text) {
            unchanged.push(name);
        }
    }
    assert!(ranged >= 5, "only {ranged} scenarios draw latencies");
    assert!(unchanged.is_empty(), "another seed gave the same trace for {unchanged:?}");
}

#[test]
fn jsonl_lines_are_json_objects_with_time_and_verb() {
    let (_, plan) = all_plans().into_iter().find(|(n, _)| n.ends_with("seed-ring.yaml")).expect("seed scenario");
    let out = render(&plan, Format::Jsonl);
    let lines: Vec<&str> = out.lines().collect();
    for line in &lines[..lines.len() - 1] {
        let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        assert!(v["t"].is_u64() && v["ev"].is_string(), "{line}");
    }
    let last: serde_json::Value = serde_json::from_str(lines[lines.len() - 1]).expect("summary is JSON");
    assert_eq!(last["summary"]["algorithm"], "election.ring");
    let sends = lines.iter().filter(|l| l.contains(r#""ev":"send""#)).count() as u64;
    let counted: u64 = last["summary"]["stats"]["sent"].as_array().expect("tally").iter().map(|kv| kv[1].as_u64().expect("count")).sum();
    assert_eq!(sends, counted, "every send line is counted in the summary");
}

/// FNV-1a, 64 bits: a fixed hash of a whole trace.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A run large enough for the queue's large-run paths: more than 1,024
/// messages in flight (the timing wheel spreads into windows), more than
/// 4,096 nodes and 1 MiB of node records (the loop prefetches), Ack timers
/// that fire (loss) and nodes that crash mid-election. Its trace must be the
/// one the plain binary-heap queue gives: the hashes were first taken with
/// commit f680867, before the wheel, and retaken when the ring election
/// changed (FIFO links, w-election) with the wheel held unspread
/// (`SPREAD_AT = usize::MAX`, a plain heap): the wheel gives the same two.
/// (The scenarios under scenarios/ are all small enough to stay in the plain
/// heap, so their snapshots do not cover this.)
#[test]
fn a_large_run_through_the_timing_wheel_gives_the_binary_heap_trace() {
    let n = 6000;
    let mut yaml =
        format!("name: big ring\nalgorithm: election.ring\nnodes: {n}\nseed: 7\nnetwork: {{latency: 1ms..3ms, loss: 1%}}\ntimeline:\n");
    for k in 1..=n {
        yaml.push_str(&format!("  - {{at: 0ms, node: {k}, do: start_election}}\n"));
    }
    yaml.push_str(&format!("  - {{at: 2ms, crash: [{n}, 2999]}}\n"));
    let plan = distlab::scenario::yaml::load_str("big.yaml", &yaml).expect("loads");
    let text = render(&plan, Format::Text);
    assert!(text.lines().count() > 50_000, "{} lines", text.lines().count());
    let jsonl = render(&plan, Format::Jsonl);
    assert_eq!(
        (fnv1a(&text), fnv1a(&jsonl)),
        (16_742_616_663_832_089_151, 7_967_235_347_744_491_817),
        "trace hashes (text, jsonl) changed"
    );
}
