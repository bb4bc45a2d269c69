//! Remote calls under loss and crashes: at-least-once executes a retried call
//! again (and the checker's count matches the `execute` lines of the trace),
//! at-most-once never does while the server stays up, every answered call was
//! executed, and domain errors come back as error results rather than NaN.

use std::collections::BTreeMap;

use distlab::report::RunReport;
use distlab::scenario::yaml::load_str;
use distlab::snapshot::trace_of;

fn run(yaml: &str) -> (String, RunReport) {
    let plan = load_str("test.yaml", yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    trace_of(&plan).expect("runs")
}

/// Two clients, five calls each, 20ms apart, over a lossy network.
fn lossy(algorithm: &str, seed: u64, loss: u32) -> String {
    let mut yaml = format!(
        "name: t\nalgorithm: {algorithm}\nnodes: 4\nseed: {seed}\nnetwork: {{latency: 1ms..3ms, loss: {loss}%}}\nparams: {{retries: 10}}\ntimeline:\n"
    );
    for i in 0..5 {
        yaml.push_str(&format!("  - {{at: {}ms, node: 3, do: call1 sqrt {}}}\n", 10 + i * 20, i * i));
        yaml.push_str(&format!("  - {{at: {}ms, node: 4, do: call2 add {i} 1}}\n", 10 + i * 20));
    }
    yaml
}

/// The trace lines whose verb column is `verb`.
fn lines_of<'a>(trace: &'a str, verb: &'a str) -> impl Iterator<Item = &'a str> {
    trace.lines().filter(move |l| l.split_whitespace().nth(2) == Some(verb))
}

/// Call id → number of `execute` lines in the trace.
fn executions_in_trace(trace: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for line in lines_of(trace, "execute") {
        let call = line.rsplit("(call ").next().unwrap().trim_end_matches(')').to_string();
        *m.entry(call).or_default() += 1;
    }
    m
}

fn metric<'a>(r: &'a RunReport, name: &str) -> &'a str {
    &r.metrics.iter().find(|(k, _)| k == name).unwrap_or_else(|| panic!("no metric {name}")).1
}

fn check<'a>(r: &'a RunReport, name: &str) -> &'a distlab::check::CheckResult {
    r.results.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no check {name}"))
}

#[test]
fn at_least_once_executes_a_retried_call_again() {
    let seed = (1..=20)
        .find(|&s| {
            let (trace, _) = run(&lossy("rpc.at-least-once", s, 20));
            executions_in_trace(&trace).values().any(|&n| n > 1)
        })
        .expect("some seed with 20% loss shows a duplicate execution");
    let (trace, r) = run(&lossy("rpc.at-least-once", seed, 20));
    let counts = executions_in_trace(&trace);
    let dups: u64 = counts.values().map(|n| n - 1).sum();
    assert!(dups > 0);
    assert!(metric(&r, "duplicates").starts_with(&format!("{dups} (")), "seed {seed}: {} vs {dups}", metric(&r, "duplicates"));
    for (call, n) in counts.iter().filter(|(_, n)| **n > 1) {
        assert!(metric(&r, "duplicates").contains(&format!("{call} {n}x")), "seed {seed}: {call} {n}x");
    }
    assert!(check(&r, "answered").ok);
    assert_eq!(r.stats.observations.get("execute"), counts.values().sum::<u64>());
}

#[test]
fn at_most_once_never_executes_twice_without_a_crash() {
    let mut retried = 0;
    for seed in 1..=20 {
        let (trace, r) = run(&lossy("rpc.at-most-once", seed, 20));
        assert!(r.passed(), "seed {seed}: {:?}", r.failures().map(|f| &f.detail).collect::<Vec<_>>());
        assert!(check(&r, "at-most-once").ok, "seed {seed}");
        assert!(executions_in_trace(&trace).values().all(|&n| n == 1), "seed {seed}");
        assert_eq!(metric(&r, "duplicates"), "0");
        retried += trace.matches("is a duplicate, resending the cached result").count();
    }
    assert!(retried > 0, "20% loss over 20 seeds should make the cache answer some retry");
}

#[test]
fn every_answered_call_was_executed() {
    for algorithm in ["rpc.at-least-once", "rpc.at-most-once"] {
        for seed in 1..=10 {
            let (trace, r) = run(&lossy(algorithm, seed, 30));
            assert!(check(&r, "answered").ok, "{algorithm} seed {seed}");
            let executed = executions_in_trace(&trace);
            for line in lines_of(&trace, "return") {
                let call = line.rsplit("(call ").next().unwrap().trim_end_matches(')');
                assert!(executed.contains_key(call), "{algorithm} seed {seed}: {call} returned unexecuted");
            }
        }
    }
}

#[test]
fn domain_errors_are_error_results_not_nan() {
    let yaml = "name: t\nalgorithm: rpc.at-most-once\nnodes: 3\nnetwork: {latency: 1ms}\ntimeline:\n  \
                - {at: 1ms, node: 3, do: call1 sqrt -1}\n  \
                - {at: 10ms, node: 3, do: call2 div 1 0}\n  \
                - {at: 20ms, node: 3, do: call1 nosuch 1}\n  \
                - {at: 30ms, node: 3, do: call1 sqrt 2.25}\n";
    let (trace, r) = run(yaml);
    assert!(r.passed());
    assert!(!trace.contains("NaN") && !trace.contains("inf"), "{trace}");
    assert!(trace.contains("Client 3 gets error: square root of a negative number: -1 (call 3.1)"), "{trace}");
    assert!(trace.contains("Client 3 gets error: division by zero: 1 / 0 (call 3.2)"), "{trace}");
    assert!(trace.contains("Client 3 gets error: no method \"nosuch\""), "{trace}");
    assert!(trace.contains("Square Root of 2.25 is: 1.5 (call 3.4)"), "{trace}");
    assert_eq!(r.stats.observations.get("return"), 4);
}

#[test]
fn rpc_expectations_belong_to_the_rpc_family() {
    let yaml = "name: t\nalgorithm: mutex.central\nnodes: 3\ntimeline: []\nexpect: {duplicate_executions: {exact: 0}}\n";
    let err = load_str("test.yaml", yaml).unwrap_err().to_string();
    assert!(err.contains("expectation of the rpc family"), "{err}");
}

/// One call to a server whose work (12ms) outlasts the client's timeout (4ms).
fn slow(algorithm: &str, seed: u64) -> String {
    format!(
        "name: t\nalgorithm: {algorithm}\nnodes: 3\nseed: {seed}\nnetwork: {{latency: 1ms..3ms}}\n\
         params: {{work: 12ms, timeout: 4ms, retries: 6}}\ntimeline:\n  - {{at: 10ms, node: 3, do: call1 sqrt 16}}\n"
    )
}

#[test]
fn a_server_slower_than_the_timeout_still_answers() {
    // The scenario: the first execution's RESULT ends the call; the retries'
    // executions reply too, after it, and are ignored.
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/rpc/slow-server-at-least-once.yaml")).unwrap();
    let (trace, r) = run(&text);
    assert!(r.passed(), "{:?}", r.failures().map(|f| &f.detail).collect::<Vec<_>>());
    assert!(trace.contains("24.000ms     3  return    Client 3 gets 4 (call 3.1)"), "{trace}");
    assert_eq!(lines_of(&trace, "give-up").count(), 0);
    // Over seeds: the client gives up 4ms x 7 after the CALL, long after the
    // first RESULT is due (12ms of work plus at most 6ms of round trip).
    for seed in 1..=20 {
        for algorithm in ["rpc.at-least-once", "rpc.at-most-once"] {
            let (trace, r) = run(&slow(algorithm, seed));
            assert!(r.passed(), "{algorithm} seed {seed}");
            assert_eq!(lines_of(&trace, "return").count(), 1, "{algorithm} seed {seed}: {trace}");
            // Every execution replies: one RESULT sent per `execute` line.
            let executed = lines_of(&trace, "execute").count();
            let results = trace.lines().filter(|l| l.contains("  send      -> 3  RESULT 3.1")).count();
            if algorithm == "rpc.at-least-once" {
                assert!(executed > 1, "seed {seed}: the retries are executed too");
                assert_eq!(results, executed, "seed {seed}: {trace}");
            } else {
                assert_eq!(executed, 1, "seed {seed}");
            }
            // The first RESULT is sent when the first execution's work is done.
            let first_exec = time_of(lines_of(&trace, "execute").next().unwrap());
            let first_result = time_of(trace.lines().find(|l| l.contains("  send      -> 3  RESULT 3.1")).unwrap());
            assert!((first_result - first_exec - 12.0).abs() < 1e-6, "{algorithm} seed {seed}: {first_exec} -> {first_result}");
        }
    }
}

/// The time column of a trace line, in ms.
fn time_of(line: &str) -> f64 {
    line.split_whitespace().next().and_then(|t| t.trim_end_matches("ms").parse().ok()).expect("a time in ms")
}
