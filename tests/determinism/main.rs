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
