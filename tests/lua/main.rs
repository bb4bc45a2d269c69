//! Lua scenarios: the same model as YAML (byte-identical traces for the same
//! timeline), hooks that change what the network does, a sandbox that keeps
//! scripts away from files and processes, and limits that stop runaway
//! scripts with a located error and exit code 2.

use std::path::PathBuf;
use std::process::Command;

use distlab::engine::script::ScriptOut;
use distlab::report::RunReport;
use distlab::scenario;
use distlab::scenario::Action;
use distlab::snapshot::trace_of;

const HEAD: &str = "scenario { name = \"t\", algorithm = \"election.ring\", nodes = 3, network = { latency = \"1ms..3ms\" } }\n";

/// A scenario file in a fresh folder of its own.
fn write(test: &str, name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("distlab-lua-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write scenario");
    path
}

/// Runs the binary on `path`: (exit code, stdout, stderr).
fn distlab(args: &[&str], path: &PathBuf) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_distlab")).args(args).arg(path).output().expect("runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Asserts exit code 2, no panic, and every piece in stderr.
fn rejected(test: &str, body: &str, pieces: &[&str]) {
    let path = write(test, "s.lua", body);
    let (code, _, err) = distlab(&["run", "--quiet"], &path);
    assert_eq!(code, 2, "{test}: exit code, stderr:\n{err}");
    assert!(!err.contains("panicked"), "{test}: {err}");
    for p in pieces {
        assert!(err.contains(p), "{test}: missing {p:?} in:\n{err}");
    }
}

fn run_text(path: &str) -> (String, RunReport) {
    let plan = scenario::load(path.as_ref()).unwrap_or_else(|e| panic!("{e}"));
    trace_of(&plan).expect("runs")
}

#[test]
fn yaml_and_lua_with_the_same_timeline_give_byte_identical_traces() {
    let root = env!("CARGO_MANIFEST_DIR");
    let (yaml, _) = run_text(&format!("{root}/scenarios/election/seed-ring.yaml"));
    let (lua, _) = run_text(&format!("{root}/scenarios/lua/seed-ring.lua"));
    assert_eq!(yaml, lua);
    // A richer timeline: partition, heal, loss change, recovery, several actions at once.
    let y = write(
        "same",
        "b.yaml",
        "name: same\nalgorithm: election.bully\nnodes: 5\nseed: 9\nnetwork: {latency: 1ms..3ms}\nparams: {heartbeat: 20ms}\nuntil: 300ms\ntimeline:\n  - {at: 0ms, crash: 5}\n  - {at: 1ms, node: 2, do: detect_failure}\n  - {at: 40ms, partition: [[1, 2], [3, 4]]}\n  - {at: 40ms, set_loss: 10%}\n  - {at: 120ms, heal: true}\n  - {at: 120ms, set_loss: 0%}\n  - {at: 150ms, recover: 5}\nexpect: {leader: 5}\n",
    );
    let l = write(
        "same",
        "b.lua",
        "scenario { name = \"same\", algorithm = \"election.bully\", nodes = 5, seed = 9, network = { latency = \"1ms..3ms\" }, params = { heartbeat = \"20ms\" }, [\"until\"] = \"300ms\" }\nat(0, function() crash(5) end)\nat(\"1ms\", function() detect_failure(2) end)\nat(\"40ms\", function() partition({1, 2}, {3, 4}); set_loss(\"10%\") end)\nat(120, function() heal(); set_loss(0) end)\nat(\"150ms\", function() recover(5) end)\nexpect { leader = 5 }\n",
    );
    let (a, ra) = run_text(y.to_str().expect("utf-8 path"));
    let (b, rb) = run_text(l.to_str().expect("utf-8 path"));
    assert!(ra.passed() && rb.passed());
    assert_eq!(a, b);
}

#[test]
fn hooks_drop_duplicate_and_delay_messages() {
    let root = env!("CARGO_MANIFEST_DIR");
    let (trace, r) = run_text(&format!("{root}/scenarios/lua/suzuki-kasami-token-dropped.lua"));
    assert_eq!(r.stats.by_script, 1);
    assert!(trace.contains("(dropped by the script)"));
    let (_, r) = run_text(&format!("{root}/scenarios/lua/lamport-duplicated-requests.lua"));
    assert!(r.passed());
    assert_eq!(r.stats.duplicated, r.stats.sent.get("REQUEST"), "every REQUEST was doubled");
    // Delay on delivery: every REPLY to site 1 arrives 15ms late.
    let (fast, _) = run_text(&format!("{root}/scenarios/mutex/ricart-agrawala-concurrent.yaml"));
    let (slow, r) = run_text(&format!("{root}/scenarios/lua/ricart-agrawala-slow-replies.lua"));
    assert!(r.passed() && fast != slow);
    let enter1 = slow.lines().find(|l| l.contains("Site 1 enters")).expect("site 1 enters");
    let ms: f64 = enter1.trim_start().split("ms").next().expect("time").parse().expect("number");
    assert!(ms >= 15.0, "site 1 waited for delayed replies: {enter1}");
}

#[test]
fn on_observe_lets_a_script_react_to_the_algorithm() {
    let root = env!("CARGO_MANIFEST_DIR");
    let (trace, r) = run_text(&format!("{root}/scenarios/lua/ring-leader-crashes-after-election.lua"));
    assert!(r.passed());
    let elected = trace.find("Process 4 becomes coordinator").expect("4 elected");
    let crash = trace.find("Process 4 fails").expect("4 crashed");
    assert!(elected < crash && trace.contains("Process 3 becomes coordinator"));
}

#[test]
fn math_random_is_seeded_by_the_scenario_seed() {
    let text = |seed: u64| {
        format!(
            "scenario {{ name = \"r\", algorithm = \"election.bully\", nodes = 8, seed = {seed} }}\nevery(\"5ms\", function() if now() < 50 then print(math.random(1, 1000)) end end)\nat(\"60ms\", function() stop() end)\n"
        )
    };
    let a = write("rand", "a.lua", &text(1));
    let b = write("rand", "b.lua", &text(2));
    let (ta, _) = run_text(a.to_str().expect("path"));
    let (ta2, _) = run_text(a.to_str().expect("path"));
    let (tb, _) = run_text(b.to_str().expect("path"));
    assert_eq!(ta, ta2);
    let notes = |t: &str| t.lines().filter(|l| l.contains("note")).map(|l| l.to_string()).collect::<Vec<_>>();
    assert_eq!(notes(&ta).len(), 9);
    assert_ne!(notes(&ta), notes(&tb));
}

#[test]
fn the_sandbox_keeps_files_processes_modules_and_bytecode_out() {
    for (name, line) in [
        ("io", "io.open('/etc/passwd')"),
        ("os", "os.execute('true')"),
        ("debug", "debug.getinfo(1)"),
        ("require", "require('socket')"),
        ("dofile", "dofile('/etc/passwd')"),
        ("loadfile", "loadfile('/etc/passwd')"),
        ("package", "package.loadlib('x', 'y')"),
    ] {
        rejected(name, &format!("{HEAD}{line}\n"), &["s.lua:2:", "not available", name]);
    }
    rejected("bytecode", &format!("{HEAD}local f, e = load('\\27Lua bytes')\nerror(e, 0)\n"), &["attempt to load a binary chunk"]);
    rejected("dump", &format!("{HEAD}local d = string.dump(function() end)\n"), &["s.lua:2:", "dump"]);
}

#[test]
fn limits_stop_endless_loops_and_memory_bombs_with_the_script_line() {
    rejected("loop", &format!("{HEAD}at('1ms', function()\n  while true do end\nend)\n"), &["s.lua:3:", "instruction budget"]);
    rejected(
        "small-budget",
        &format!("{HEAD}limits {{ instructions = 50000 }}\nfor i = 1, 1e7 do end\n"),
        &["s.lua:3:", "50000 instructions"],
    );
    rejected(
        "memory",
        &format!("{HEAD}at('1ms', function()\n  local t = {{}}\n  for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end\nend)\n"),
        &["s.lua:2:", "memory limit of 64 MiB"],
    );
}

#[test]
fn lua_errors_are_located_and_exit_2() {
    rejected("syntax", "scenario { name = 'x', algorithm = 'election.ring', nodes = 3\n", &["s.lua:2:", "'}' expected"]);
    rejected(
        "runtime-in-hook",
        &format!("{HEAD}on_send(function(m) local x = nil; return x.field end)\nat('1ms', function() start_election(1) end)\n"),
        &["s.lua:2:", "attempt to index"],
    );
    rejected(
        "bad-return",
        &format!("{HEAD}on_send(function(m) return 42 end)\nat('1ms', function() start_election(1) end)\n"),
        &["s.lua:2:", "returned integer"],
    );
    rejected(
        "unknown-command",
        &format!("{HEAD}at('1ms', function() sync(1) end)\n"),
        &["s.lua:2:", "\"sync\" is not defined", "start_election, detect_failure"],
    );
    rejected(
        "bad-node",
        &format!("{HEAD}at('1ms', function() crash(9) end)\n"),
        &["s.lua:2:", "node 9 is not in this scenario; nodes are 1..3"],
    );
    rejected(
        "bad-field",
        "scenario { name = 'x', algorithm = 'election.ring', nodes = 3, crsh = 1 }\n",
        &["s.lua:1:", "unknown field \"crsh\""],
    );
    rejected(
        "bad-algorithm",
        "scenario { name = 'x', algorithm = 'election.rng', nodes = 3 }\n",
        &["s.lua:1:", "unknown algorithm \"election.rng\""],
    );
    rejected("no-scenario", "at('1ms', function() end)\n", &["no scenario { … }"]);
    rejected("past", &format!("{HEAD}at('5ms', function() at('1ms', function() end) end)\n"), &["s.lua:2:", "that time has passed"]);
    rejected("top-level-act", &format!("{HEAD}crash(1)\n"), &["s.lua:2:", "inside at()"]);
    rejected("bad-duration", &format!("{HEAD}at('5 parsecs', function() end)\n"), &["s.lua:2:", "unknown unit \"parsecs\""]);
    rejected("bad-observation", &format!("{HEAD}on_observe('Crowned', function() end)\n"), &["s.lua:2:", "unknown observation", "Elected"]);
}

#[test]
fn every_lua_scenario_passes_its_checks() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = scenario::discover(&[root.join("scenarios/lua")]).expect("scenarios/lua");
    assert!(files.len() >= 8, "{} Lua scenarios", files.len());
    for f in files {
        let (_, r) = run_text(f.to_str().expect("path"));
        assert!(r.passed(), "{}: {:?}", f.display(), r.failures().map(|x| &x.detail).collect::<Vec<_>>());
    }
}

#[test]
fn lua_tables_keyed_by_node_declare_clocks() {
    let path = write(
        "clocks",
        "c.lua",
        "scenario { name = \"c\", algorithm = \"clock.server\", nodes = {0, 1, 2}, clocks = { offsets = { [1] = \"+10s\", [2] = \"-5s\" }, drift_ppm = { [2] = 50 } } }\nat(\"0ms\", function() show_clocks(\"Before:\") end)\n",
    );
    let (trace, _) = run_text(path.to_str().expect("path"));
    assert!(trace.contains("Node1 clock: 10.000000s") && trace.contains("Node2 clock: -5.000000s"), "{trace}");
}

/// A YAML value written as a Lua expression (`{[1] = 3, ["until"] = "1s"}`).
fn lua_literal(v: &serde_yaml::Value) -> String {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => "nil".into(),
        Y::Bool(b) => b.to_string(),
        Y::Number(n) => n.to_string(),
        Y::String(s) => {
            let mut out = String::from("\"");
            for b in s.bytes() {
                match b {
                    b'"' | b'\\' => out.extend(['\\', b as char]),
                    b' '..=b'~' => out.push(b as char),
                    _ => out.push_str(&format!("\\{b:03}")),
                }
            }
            out.push('"');
            out
        }
        Y::Sequence(items) => format!("{{{}}}", items.iter().map(lua_literal).collect::<Vec<_>>().join(", ")),
        Y::Mapping(m) => {
            format!("{{{}}}", m.iter().map(|(k, v)| format!("[{}] = {}", lua_literal(k), lua_literal(v))).collect::<Vec<_>>().join(", "))
        }
        Y::Tagged(t) => panic!("no tagged values in scenarios: {t:?}"),
    }
}

#[test]
fn every_yaml_scenario_with_params_or_clocks_reads_the_same_as_a_lua_table() {
    // The YAML file's mapping, written as one Lua table, declares the same
    // scenario: node-keyed maps (weights, Raymond's tree, clock offsets),
    // node lists (servers), single nodes (token, sequencer), durations,
    // counts and variants all read as they do in YAML.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = scenario::discover(&[root.join("scenarios")]).expect("scenarios");
    let mut kinds = std::collections::BTreeSet::new();
    let mut compared = 0;
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "yaml")) {
        let text = std::fs::read_to_string(f).expect("read");
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
        let params = yaml.get("params").and_then(|p| p.as_mapping());
        if params.is_none() && yaml.get("clocks").is_none() {
            continue;
        }
        kinds.extend(params.into_iter().flat_map(|p| p.keys().filter_map(|k| k.as_str().map(str::to_string))));
        let name = f.file_stem().expect("stem").to_string_lossy().into_owned();
        let lua = write("from-yaml", &format!("{name}.lua"), &format!("scenario {}\n", lua_literal(&yaml)));
        let (expected, _) = run_text(f.to_str().expect("path"));
        let (actual, _) = run_text(lua.to_str().expect("path"));
        assert_eq!(expected, actual, "{}", f.display());
        compared += 1;
    }
    assert!(compared >= 30, "{compared} scenarios compared");
    for k in ["weights", "tree", "servers", "token", "sequencer", "variant", "hold", "samples"] {
        assert!(kinds.contains(k), "no scenario with params.{k}: {kinds:?}");
    }
}

#[test]
fn lua_tables_keyed_by_node_give_node_keyed_params() {
    let run_lua = |test: &str, text: &str| run_text(write(test, "s.lua", text).to_str().expect("path"));
    let root = env!("CARGO_MANIFEST_DIR");
    // Weighted round robin: `{3, 1, 1}` is `{[1] = 3, [2] = 1, [3] = 1}` in Lua, a map from server to weight.
    let (yaml, _) = run_text(&format!("{root}/scenarios/balance/weighted-round-robin-3-1-1.yaml"));
    for weights in ["{3, 1, 1}", "{[1] = 3, [2] = 1, [3] = 1}", "{[3] = 1, [1] = 3, [2] = 1.0}"] {
        let (lua, r) = run_lua(
            "wrr",
            &format!(
                "scenario {{ name = \"Weighted round robin, weights 3:1:1\", algorithm = \"balance.weighted-round-robin\", nodes = {{0, 1, 2, 3}}, seed = 1, network = {{ latency = \"1ms\" }}, params = {{ weights = {weights}, concurrency = 3 }}, expect = {{ jobs_done = {{ exact = 15 }} }} }}\nat(0, function() submit_many(0, 15, \"5ms\") end)\nat(60, function() show(0) end)\n"
            ),
        );
        assert!(r.passed(), "weights = {weights}");
        assert_eq!(yaml, lua, "weights = {weights}");
    }
    // Raymond: `{0, 0}` is the tree {[1] = 0, [2] = 0} (scenarios/mutex/raymond-chain.yaml, in
    // the test above, gives ids that are not 1..n).
    let (trace, _) = run_lua(
        "raymond-list",
        "scenario { name = \"r\", algorithm = \"mutex.raymond\", nodes = {0, 1, 2}, params = { tree = {0, 0} } }\nat(0, function() request(2) end)\n",
    );
    assert!(trace.contains("2  enter"), "node 2's parent is 0 (tree = {{[1] = 0, [2] = 0}}):\n{trace}");
    // A wrong type is refused as in YAML, at the scenario's line.
    rejected(
        "wrr-bad",
        "\nscenario { name = \"w\", algorithm = \"balance.weighted-round-robin\", nodes = {0, 1, 2}, params = { weights = {\"heavy\"} } }\n",
        &["s.lua:2:", "weights"],
    );
}

#[test]
fn naming_a_node_costs_the_same_with_a_million_nodes() {
    // Half a million crash calls among a million nodes. Checking a node id used
    // to copy and scan the node list on every call: 2.5·10^11 steps here. The
    // callback runs on its own, without the engine.
    let path = write(
        "million",
        "m.lua",
        "scenario { name = \"m\", algorithm = \"election.ring\", nodes = 1000000 }\nat(0, function() for i = 1, 500000 do crash(i) end end)\n",
    );
    let plan = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut director = plan.script.as_ref().expect("a script").director(plan.seed).expect("starts");
    let first = director.start().expect("top level");
    let Some(ScriptOut::Schedule(at, id)) = first.first().cloned() else { panic!("{first:?}") };
    let out = director.fire(at, id).expect("callback");
    assert_eq!(out.len(), 500_000);
    assert_eq!(out[499_999], ScriptOut::Act(Action::Crash(vec![500_000])));
}
