//! Bad scenario input is a normal input: each case writes a small broken
//! scenario, runs the real `distlab run FILE`, and checks exit code 2, no panic,
//! the exact `FILE:LINE:COL:` of the problem, and the words that say what was
//! found and what was expected.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The start of a valid scenario: name, algorithm and nodes 1..5, lines 1 to 3.
const HEAD: &str = "name: t\nalgorithm: election.ring\nnodes: 5\n";

/// A fresh, empty folder for one test, removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("distlab-errors-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temp folder");
        Scratch(dir)
    }

    /// Writes `text` as `name` in this folder.
    fn write(&self, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write the scenario");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn distlab(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_distlab")).args(args).output().expect("run distlab")
}

fn run(files: &[&Path], extra: &[&str]) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec!["run".as_ref(), "--quiet".as_ref()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    distlab(&args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `path` and checks: exit code 2, no panic, `path:line:col:` (or just
/// `path:` when `at` is `None`), and every word of `words` in that message.
fn assert_rejected(path: &Path, at: Option<(usize, usize)>, words: &[&str]) {
    let out = run(&[path], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "exit code for {}; stderr:\n{err}", path.display());
    assert!(!err.contains("panicked"), "a panic:\n{err}");
    let prefix = match at {
        Some((l, c)) => format!("{}:{l}:{c}: ", path.display()),
        None => format!("{}: ", path.display()),
    };
    let line = err.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{err}"));
    for w in words {
        assert!(line.contains(w), "{w:?} missing from {line:?}");
    }
}

/// Writes `text` for `test` and checks it is rejected at `line:col` with `words`.
fn bad(test: &str, text: &str, line: usize, col: usize, words: &[&str]) {
    let scratch = Scratch::new(test);
    let path = scratch.write(&format!("{test}.yaml"), text);
    assert_rejected(&path, Some((line, col)), words);
}

// Form: fields, syntax, shape.

#[test]
fn unknown_top_level_field() {
    let text = "name: t\nalgoritm: election.ring\nnodes: 5\n";
    bad(
        "unknown_top_level_field",
        text,
        2,
        1,
        &["unknown field \"algoritm\"", "did you mean \"algorithm\"", "expected one of name,", "nodes"],
    );
}

#[test]
fn unknown_field_in_a_step() {
    let text = format!("{HEAD}timeline:\n  - at: 0ms\n    crsh: 4\n");
    bad("unknown_field_in_a_step", &text, 6, 5, &["unknown field \"crsh\"", "did you mean \"crash\"", "expected one of", "crash, recover"]);
}

#[test]
fn unknown_field_in_a_nested_flow_mapping() {
    let text = format!("{HEAD}network: {{ latency: 1ms, los: 5% }}\n");
    bad("unknown_field_in_a_nested_flow_mapping", &text, 4, 26, &["unknown field \"los\"", "did you mean \"loss\"", "latency, loss"]);
}

#[test]
fn yaml_syntax_bad_indentation() {
    let text = "name: t\nalgorithm: election.ring\n nodes: 5\n";
    bad("yaml_syntax_bad_indentation", text, 3, 7, &["YAML syntax", "indentation"]);
}

#[test]
fn yaml_syntax_bad_indentation_in_a_step() {
    let text = format!("{HEAD}timeline:\n  - at: 1ms\n   crash: 1\n");
    bad("yaml_syntax_bad_indentation_in_a_step", &text, 6, 4, &["YAML syntax", "indentation"]);
}

#[test]
fn yaml_syntax_unclosed_bracket() {
    let text = "name: t\nalgorithm: election.ring\nnodes: [1, 2\n";
    bad("yaml_syntax_unclosed_bracket", text, 4, 1, &["YAML syntax", "expected ',' or ']'", "line 3 column 8", "not closed"]);
}

#[test]
fn yaml_syntax_tab() {
    let text = format!("{HEAD}timeline:\n\t- at: 1ms\n");
    bad("yaml_syntax_tab", &text, 5, 1, &["a tab", "spaces"]);
}

#[test]
fn empty_file() {
    bad("empty_file", "", 1, 1, &["the file is empty", "name:, algorithm: and nodes:"]);
    bad("empty_file_comments", "# nothing yet\n\n", 1, 1, &["the file is empty"]);
}

#[test]
fn not_a_mapping() {
    bad(
        "not_a_mapping",
        "- name: t\n- algorithm: election.ring\n",
        1,
        1,
        &["the file holds a list", "expected a mapping", "name:, algorithm: and nodes:"],
    );
    bad("not_a_mapping_scalar", "hello\n", 1, 1, &["string \"hello\"", "expected a mapping"]);
}

#[test]
fn missing_required_fields() {
    let needs = "a scenario is a mapping with at least name:, algorithm: and nodes:";
    bad("missing_name", "algorithm: election.ring\nnodes: 5\n", 1, 1, &["missing field \"name\"", needs]);
    bad("missing_algorithm", "# a comment first\nname: t\nnodes: 5\n", 2, 1, &["missing field \"algorithm\"", needs]);
    bad("missing_nodes", "name: t\nalgorithm: election.ring\n", 1, 1, &["missing field \"nodes\"", needs]);
}

#[test]
fn step_without_at() {
    let text = format!("{HEAD}timeline:\n  - crash: 1\n");
    bad("step_without_at", &text, 5, 5, &["timeline[0]", "missing field \"at\"", "every step needs at:"]);
}

#[test]
fn timeline_is_not_a_list() {
    let text = format!("{HEAD}timeline:\n  at: 5ms\n");
    bad("timeline_is_not_a_list", &text, 5, 3, &["timeline", "mapping", "expected a list of steps"]);
}

#[test]
fn field_given_twice() {
    let text = "name: t\nalgorithm: election.ring\nname: u\nnodes: 5\n";
    bad("field_given_twice", text, 3, 1, &["\"name\" is given twice"]);
}

#[test]
fn clock_offset_given_twice() {
    let text = format!("{HEAD}clocks: {{offsets: {{1: +1s, 1: +2s}}}}\n");
    bad("clock_offset_given_twice", &text, 4, 28, &["clocks.offsets", "\"1\" appears twice"]);
}

#[test]
fn two_documents() {
    let text = format!("{HEAD}---\n{HEAD}");
    bad("two_documents", &text, 4, 1, &["more than one YAML document", "one scenario per file"]);
}

// Nodes.

#[test]
fn zero_nodes() {
    bad("zero_nodes", "name: t\nalgorithm: election.ring\nnodes: 0\n", 3, 8, &["0 nodes", "expected a count from 1"]);
}

#[test]
fn duplicate_node_ids() {
    bad("duplicate_node_ids", "name: t\nalgorithm: election.ring\nnodes: [1, 2, 2]\n", 3, 15, &["nodes[2]", "node 2 is listed twice"]);
}

#[test]
fn negative_node_id() {
    bad("negative_node_id", "name: t\nalgorithm: election.ring\nnodes: [-1, 2]\n", 3, 9, &["\"-1\"", "expected a node id"]);
}

#[test]
fn node_out_of_range_in_crash() {
    let text = format!("{HEAD}timeline:\n  - at: 0ms\n    crash: 9\n");
    bad("node_out_of_range_in_crash", &text, 6, 12, &["node 9 is not in this scenario", "nodes are 1..5"]);
}

#[test]
fn node_out_of_range_in_a_crash_list() {
    let text = format!("{HEAD}timeline:\n  - at: 0ms\n    crash: [1, 9]\n");
    bad("node_out_of_range_in_a_crash_list", &text, 6, 16, &["crash[1]", "node 9 is not in this scenario", "nodes are 1..5"]);
}

#[test]
fn node_out_of_range_in_do() {
    let text = format!("{HEAD}timeline:\n  - at: 0ms\n    node: 9\n    do: start_election\n");
    bad("node_out_of_range_in_do", &text, 6, 11, &["timeline[0].node", "node 9 is not in this scenario"]);
}

#[test]
fn node_out_of_range_in_partition() {
    let text = format!("{HEAD}timeline:\n  - at: 0ms\n    partition: [[1, 2], [3, 9]]\n");
    bad("node_out_of_range_in_partition", &text, 6, 29, &["partition[1][1]", "node 9 is not in this scenario"]);
}

#[test]
fn node_out_of_range_in_expect_leader() {
    let text = format!("{HEAD}expect:\n  leader: 9\n");
    bad("node_out_of_range_in_expect_leader", &text, 5, 11, &["expect.leader", "node 9 is not in this scenario"]);
}

#[test]
fn node_out_of_range_in_clock_offsets() {
    let flow = format!("{HEAD}clocks: {{offsets: {{9: +1s}}}}\n");
    bad("node_out_of_range_in_clock_offsets_flow", &flow, 4, 20, &["clocks.offsets.9", "node 9 is not in this scenario"]);
    let block = format!("{HEAD}clocks:\n  offsets:\n    1: +1s\n    9: -2s\n");
    bad("node_out_of_range_in_clock_offsets_block", &block, 7, 5, &["clocks.offsets.9", "node 9 is not in this scenario"]);
}

#[test]
fn node_out_of_range_in_a_link() {
    let text = format!("{HEAD}network:\n  links:\n    - {{from: 1, to: 9}}\n");
    bad("node_out_of_range_in_a_link", &text, 6, 21, &["network.links[0].to", "node 9 is not in this scenario"]);
}

// Units.

#[test]
fn bad_duration_unit() {
    let text = format!("{HEAD}timeline:\n  - at: 5 parsecs\n    crash: 1\n");
    bad("bad_duration_unit", &text, 5, 9, &["\"5 parsecs\"", "unknown unit \"parsecs\"", "expected one of ns, us, ms, s"]);
}

#[test]
fn duration_without_unit() {
    let text = format!("{HEAD}timeline:\n  - at: 7\n    crash: 1\n");
    bad("duration_without_unit", &text, 5, 9, &["\"7\" has no unit", "7ms"]);
}

#[test]
fn negative_time() {
    let text = format!("{HEAD}timeline:\n  - at: -1ms\n    crash: 1\n");
    bad("negative_time", &text, 5, 9, &["\"-1ms\" is negative", "0 or more"]);
}

#[test]
fn bad_percentage() {
    let text = format!("{HEAD}network:\n  loss: 150%\n");
    bad("bad_percentage", &text, 5, 9, &["network.loss", "\"150%\" is out of range", "between 0% and 100%"]);
    let text = format!("{HEAD}network: {{ loss: 5 }}\n");
    bad("percentage_without_sign", &text, 4, 18, &["\"5\" is not a percentage", "5%"]);
}

#[test]
fn latency_range_reversed() {
    let text = format!("{HEAD}network: {{ latency: 3ms..1ms }}\n");
    bad("latency_range_reversed", &text, 4, 21, &["\"3ms..1ms\"", "end 1ms is below its start 3ms"]);
}

// The timeline.

#[test]
fn unsorted_times() {
    let text = format!("{HEAD}timeline:\n  - at: 5ms\n    crash: 1\n  - at: 2ms\n    crash: 2\n");
    bad("unsorted_times", &text, 7, 9, &["timeline[1].at", "time 2ms comes before the previous step's 5ms", "time order"]);
}

#[test]
fn step_with_two_actions() {
    let text = format!("{HEAD}timeline:\n  - at: 5ms\n    crash: 1\n    recover: 2\n");
    bad("step_with_two_actions", &text, 5, 5, &["timeline[0]", "crash and recover", "split it"]);
}

#[test]
fn step_with_no_action() {
    let text = format!("{HEAD}timeline:\n  - at: 5ms\n");
    bad("step_with_no_action", &text, 5, 5, &["timeline[0]", "does nothing", "expected one of do (with node), crash, recover"]);
}

#[test]
fn do_without_node() {
    let text = format!("{HEAD}timeline:\n  - at: 5ms\n    do: start_election\n");
    let scratch = Scratch::new("do_without_node");
    let path = scratch.write("do_without_node.yaml", &text);
    assert_rejected(&path, Some((6, 9)), &["`do:` needs `node:`"]);
    // One problem, one message: not also "this step does nothing".
    let err = stderr(&run(&[&path], &[]));
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn unknown_command() {
    let text = format!("{HEAD}timeline:\n  - at: 5ms\n    node: 1\n    do: start_elektion\n");
    bad(
        "unknown_command",
        &text,
        7,
        9,
        &["unknown command \"start_elektion\" for election.ring", "did you mean \"start_election\"", "start_election, detect_failure"],
    );
}

#[test]
fn wrong_argument_count() {
    let text = format!("{HEAD}timeline:\n  - at: 5ms\n    node: 1\n    do: start_election now\n");
    bad("wrong_argument_count", &text, 7, 9, &["\"start_election now\" has 1 argument(s)", "expected no arguments"]);
}

#[test]
fn empty_command() {
    let text = format!("{HEAD}timeline:\n  - at: 5ms\n    node: 1\n    do: ''\n");
    bad("empty_command", &text, 7, 9, &["an empty command", "expected a command name"]);
}

// The algorithm and its settings.

#[test]
fn unknown_algorithm() {
    let text = "name: t\nalgorithm: election.rng\nnodes: 5\n";
    bad(
        "unknown_algorithm",
        text,
        2,
        12,
        &["unknown algorithm \"election.rng\"", "did you mean \"election.ring\"", "expected one of election.ring, election.bully"],
    );
}

#[test]
fn unknown_param() {
    let text = format!("{HEAD}params: {{hartbeat: 5ms}}\n");
    bad(
        "unknown_param",
        &text,
        4,
        10,
        &["unknown parameter \"hartbeat\"", "did you mean \"heartbeat\"", "expected one of heartbeat, timeout"],
    );
}

#[test]
fn bad_param_value() {
    let text = format!("{HEAD}params:\n  timeout: 5 parsecs\n");
    bad("bad_param_value", &text, 5, 12, &["params.timeout", "unknown unit \"parsecs\""]);
}

#[test]
fn unknown_message_kind_and_check() {
    let text = format!("{HEAD}expect:\n  messages_by_kind:\n    Electon: {{ max: 3 }}\n  violations: [agreemnt]\n");
    let scratch = Scratch::new("unknown_message_kind_and_check");
    let path = scratch.write("x.yaml", &text);
    assert_rejected(&path, Some((6, 5)), &["no message kind \"Electon\"", "did you mean \"Election\"", "Election, Coordinator"]);
    assert_rejected(&path, Some((7, 16)), &["no check \"agreemnt\"", "did you mean \"agreement\""]);
}

// Files.

#[test]
fn unsupported_extension() {
    let scratch = Scratch::new("unsupported_extension");
    let path = scratch.write("scenario.txt", HEAD);
    assert_rejected(&path, None, &["unsupported scenario type .txt", "expected a .yaml, .yml or .lua file"]);
}

#[test]
fn missing_file() {
    let scratch = Scratch::new("missing_file");
    let path = scratch.0.join("nope.yaml");
    assert_rejected(&path, None, &["no such file"]);
}

#[test]
fn folder_given_as_a_file() {
    let scratch = Scratch::new("folder_given_as_a_file");
    let dir = scratch.0.join("dir.yaml");
    std::fs::create_dir_all(&dir).expect("create the folder");
    assert_rejected(&dir, None, &["is a folder", "expected a scenario file"]);
}

#[test]
fn not_utf8() {
    let scratch = Scratch::new("not_utf8");
    let path = scratch.write("latin1.yaml", b"name: caf\xe9\nalgorithm: election.ring\nnodes: 5\n");
    assert_rejected(&path, Some((1, 10)), &["not UTF-8"]);
}

// Several files, a valid run, the schema.

#[test]
fn every_problem_of_a_file_is_reported_in_line_order() {
    let text = "name: t\nalgorithm: election.ring\nnodes: [1, 2, 3]\nexpect: { leader: 7 }\ntimeline:\n  - at: 0ms\n    crash: 5\n";
    let scratch = Scratch::new("every_problem");
    let path = scratch.write("x.yaml", text);
    let err = stderr(&run(&[&path], &[]));
    let p = path.display();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with(&format!("{p}:4:19: expect.leader: node 7")), "{err}");
    assert!(lines[1].starts_with(&format!("{p}:7:12: timeline[0].crash: node 5")), "{err}");
}

#[test]
fn good_files_still_run_when_one_is_bad() {
    let scratch = Scratch::new("good_files_still_run");
    let good = scratch.write(
        "a-good.yaml",
        "name: good one\nalgorithm: election.ring\nnodes: 3\ntimeline:\n  - at: 0ms\n    node: 1\n    do: start_election\n",
    );
    let bad = scratch.write("b-bad.yaml", format!("{HEAD}timeline:\n  - at: 0ms\n    crsh: 1\n"));
    let good2 = scratch.write("c-good.yaml", "name: good two\nalgorithm: election.bully\nnodes: 3\n");
    let out = run(&[&good, &bad, &good2], &[]);
    let (err, stdout) = (stderr(&out), String::from_utf8_lossy(&out.stdout).into_owned());
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(&format!("{}:6:5: ", bad.display())), "{err}");
    assert!(stdout.contains("good one") && stdout.contains("good two"), "both good scenarios ran:\n{stdout}");
}

#[test]
fn valid_scenario_with_a_seed_runs() {
    let text = "name: ok\nalgorithm: election.ring\nnodes: [0, 1, 2, 3, 4]\nnetwork: { latency: 1ms..3ms }\ntimeline:\n  - at: 0ms\n    crash: 4\n  - at: 1ms\n    node: 3\n    do: start_election\nexpect:\n  leader: 3\n";
    let scratch = Scratch::new("valid_scenario_with_a_seed_runs");
    let path = scratch.write("ok.yaml", text);
    let out = run(&[&path], &["--seed", "7"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn schema_is_json_with_the_scenario_fields() {
    let out = distlab(&["schema".as_ref()]);
    assert_eq!(out.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the schema is JSON");
    let props = schema["properties"].as_object().expect("top-level properties");
    for field in ["name", "algorithm", "nodes", "timeline", "expect"] {
        assert!(props.contains_key(field), "no property {field}");
    }
    let defs = schema.get("$defs").or_else(|| schema.get("definitions")).expect("definitions");
    let step = defs["Step"]["properties"].as_object().expect("Step properties");
    assert!(step.contains_key("crash") && step.contains_key("do"), "{step:?}");
}

/// A reader that goes away early (`distlab list | head -1`) ends the command
/// quietly: no panic, exit code 0.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    use std::io::Read;
    // The second writes ~150 KB, more than a pipe holds: it must hit the closed pipe.
    for args in [&["list"][..], &["run", concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/lua/random-crashes-20-nodes.lua")][..]] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_distlab"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starts");
        let mut first = [0u8; 16];
        child.stdout.take().expect("stdout").read_exact(&mut first).expect("some output");
        // Dropping the pipe's read end closes it while the child still writes.
        let out = child.wait_with_output().expect("ends");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

#[test]
fn a_parameter_that_names_a_missing_node() {
    let text = "name: t\nalgorithm: mutex.central\nnodes: 3\nparams:\n  coordinator: 9\n";
    bad("coordinator_not_a_node", text, 5, 16, &["params.coordinator", "node 9 is not in this scenario", "nodes are 1..3"]);
    let text = "name: t\nalgorithm: rpc.at-most-once\nnodes: 3\nparams: { registry: 1, server: 4 }\n";
    bad("rpc_server_not_a_node", text, 4, 32, &["params.server", "node 4 is not in this scenario"]);
    let text = "name: t\nalgorithm: balance.round-robin\nnodes: 4\nparams: { servers: [2, 3, 7] }\n";
    bad("balance_servers_not_nodes", text, 4, 27, &["params.servers[2]", "node 7 is not in this scenario"]);
}

// Hostile sizes: each must be refused with a located error at once, not after
// minutes. The bound is generous (a debug build on a busy machine); the old
// quadratic code took minutes on these inputs.

/// Runs `distlab run --quiet FILE` and returns its output, killing it and
/// failing if it takes longer than `limit`.
fn run_within(path: &Path, limit: std::time::Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_distlab"))
        .args(["run", "--quiet"])
        .arg(path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run distlab");
    // Drained by threads, so that a long report cannot block the child.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut b).map(|_| b).unwrap_or_default()
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut b).map(|_| b).unwrap_or_default()
    });
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} still running after {limit:?}", path.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

#[test]
fn thousands_of_unknown_params_are_each_located_in_one_pass() {
    const N: usize = 4000;
    let mut text = format!("{HEAD}params:\n");
    for i in 0..N {
        text.push_str(&format!("  unknown{i}: 1\n"));
    }
    let scratch = Scratch::new("thousands_of_unknown_params");
    let path = scratch.write("x.yaml", &text);
    let out = run_within(&path, std::time::Duration::from_secs(30));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{}", &err[..err.len().min(2000)]);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), N, "one line per unknown parameter");
    for (i, line) in lines.iter().enumerate() {
        let want = format!("{}:{}:3: params.unknown{i}: unknown parameter \"unknown{i}\"", path.display(), i + 5);
        assert!(line.starts_with(&want), "{line:?}, expected {want:?}");
    }
}

#[test]
fn brackets_nested_100000_deep_are_refused_at_the_first_one_too_deep() {
    let scratch = Scratch::new("brackets_nested_deep");
    for (name, text, at) in [
        ("list.yaml", format!("name: t\nalgorithm: election.ring\nnodes: {}\n", "[".repeat(100_000)), (3, 8 + 64)),
        ("map.yaml", format!("{HEAD}params: {}\n", "{a: ".repeat(100_000)), (4, 9 + 4 * 64)),
        ("closed.yaml", format!("{HEAD}params: {{a: {}{}}}\n", "[".repeat(100_000), "]".repeat(100_000)), (4, 13 + 63)),
    ] {
        let path = scratch.write(name, text);
        let out = run_within(&path, std::time::Duration::from_secs(10));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        let want = format!("{}:{}:{}: brackets nested more than 64 deep", path.display(), at.0, at.1);
        assert!(err.starts_with(&want), "{err:?}, expected {want:?}");
    }
}

/// Ten million nodes pass every other check; the run would need gigabytes,
/// so the loader refuses it up front at `nodes:`, saying how much and how to
/// raise the limit — instead of aborting on a failed allocation.
#[test]
fn a_scenario_too_large_for_memory_is_refused_at_nodes() {
    let scratch = Scratch::new("too_large_for_memory");
    let path = scratch.write("big.yaml", "name: t\nalgorithm: election.ring\nnodes: 10000000\n");
    let out = run_within(&path, std::time::Duration::from_secs(30));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let want = format!("{}:3:8: nodes: 10000000 nodes of election.ring would need about 6.0 GiB of memory", path.display());
    assert!(err.starts_with(&want), "{err:?}");
    assert!(err.contains("more than the limit of 4 GiB") && err.contains("--max-memory"), "{err}");
    // The same in Lua, at the `nodes =` of the declaration.
    let lua = scratch.write("big.lua", "scenario { name = \"t\", algorithm = \"election.ring\",\n  nodes = 10000000 }\n");
    let out = run_within(&lua, std::time::Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).starts_with(&format!("{}:2:3: nodes: 10000000 nodes", lua.display())), "{}", stderr(&out));
}

/// `--max-memory` moves the limit both ways, and `--help` documents it.
#[test]
fn max_memory_moves_the_limit() {
    let scratch = Scratch::new("max_memory_moves_the_limit");
    let path = scratch.write("ring.yaml", "name: t\nalgorithm: election.ring\nnodes: 20000\n");
    assert_eq!(run(&[&path], &[]).status.code(), Some(0), "fits the default");
    let out = run(&[&path], &["--max-memory", "4MiB"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("more than the limit of 4 MiB"), "{}", stderr(&out));
    let quadratic = scratch.write("vector.yaml", "name: t\nalgorithm: clock.vector\nnodes: 30000\n");
    let out = run(&[&quadratic], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("per pair of nodes"), "{}", stderr(&out));
    let out = run(&[&path], &["--max-memory", "lots"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("expected a size like 4GiB"), "{}", stderr(&out));
    let help = distlab(&["run".as_ref(), "--help".as_ref()]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("--max-memory <SIZE>"));
}
