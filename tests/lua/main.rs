//! Lua scenarios: the same model as YAML (byte-identical traces for the same
//! timeline), hooks that change what the network does, a sandbox that keeps
//! scripts away from files and processes, and limits that stop runaway
//! scripts with a located error and exit code 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
        // The line of the allocation (it was the line of the callback).
        &["s.lua:4:", "memory limit of 64 MiB"],
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

/// Runs the binary on `path`, killing it if it runs longer than `limit`: a
/// hostile script must not hang the tests even when a limit does not hold.
fn distlab_within(args: &[&str], path: &Path, limit: Duration) -> (i32, String, String) {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_distlab"))
        .args(args)
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{}: still running after {limit:?}", path.display());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (status.code().unwrap_or(-1), out.join().expect("stdout"), err.join().expect("stderr"))
}

/// A hostile script: stopped with exit 2, within `limit`, every piece in stderr.
fn stopped(test: &str, args: &[&str], body: &str, pieces: &[&str]) {
    let path = write(test, "s.lua", body);
    let (code, _, err) = distlab_within(&[&["run", "--quiet"], args].concat(), &path, Duration::from_secs(20));
    assert_eq!(code, 2, "{test}: exit code, stderr:\n{err}");
    assert!(!err.contains("panicked"), "{test}: {err}");
    for p in pieces {
        assert!(err.contains(p), "{test}: missing {p:?} in:\n{err}");
    }
}

/// HEAD with a small instruction budget, lowered by the script itself.
const SMALL: &str = "scenario { name = \"t\", algorithm = \"election.ring\", nodes = 3 }\nlimits { instructions = 200000 }\n";

#[test]
fn the_instruction_budget_holds_in_every_thread_and_cannot_be_caught() {
    let budget = "instruction budget (200000 instructions)";
    for (name, body, line) in [
        ("coroutine-wrap", "coroutine.wrap(function() while true do end end)()\n", 3),
        ("coroutine-resume", "while true do coroutine.resume(coroutine.create(function() while true do end end)) end\n", 3),
        ("pcall-loop", "while true do pcall(function() while true do end end) end\n", 3),
        ("pcall-in-coroutine", "coroutine.wrap(function() while true do pcall(function() while true do end end) end end)()\n", 3),
        ("xpcall-handler", "xpcall(function() while true do end end, function() while true do end end)\nwhile true do end\n", 3),
        ("xpcall-loop", "while true do xpcall(function() while true do end end, function(e) while true do end end) end\n", 3),
        ("error-tostring", "error(setmetatable({}, { __tostring = function() while true do end end }))\n", 3),
        (
            "close-in-coroutine",
            "coroutine.wrap(function()\n  local x <close> = setmetatable({}, { __close = function() while true do end end })\n  while true do end\nend)()\n",
            5,
        ),
        ("close-main", "local x <close> = setmetatable({}, { __close = function() while true do end end })\nwhile true do end\n", 4),
        (
            "close-after-death",
            "local co = coroutine.create(function()\n  local x <close> = setmetatable({}, { __close = function() while true do end end })\n  while true do end\nend)\ncoroutine.resume(co)\nwhile true do pcall(coroutine.close, co) end\n",
            5,
        ),
        (
            "for-closing-value",
            "for i in function() return 1 end, nil, nil, setmetatable({}, { __close = function() while true do end end }) do\n  while true do end\nend\n",
            4,
        ),
        ("in-callback", "at('1ms', function() coroutine.wrap(function() while true do end end)() end)\n", 3),
        ("table-insert-len", "table.insert(setmetatable({}, { __len = function() return math.maxinteger - 1 end }), 1, 'x')\n", 3),
        ("table-move", "table.move({}, 1, math.maxinteger - 1, 2)\n", 3),
        (
            "pattern-backtracking",
            "local s = string.rep('a', 40)\nwhile true do pcall(string.find, s, string.rep('a*', 40) .. 'b') end\n",
            4,
        ),
        (
            "gmatch-backtracking",
            "for w in string.gmatch(string.rep('a', 40), string.rep('a?', 40) .. string.rep('a', 40) .. 'b') do end\n",
            3,
        ),
        ("gsub-backtracking", "string.gsub(string.rep('a', 40), string.rep('a-', 40) .. 'b', 'x')\n", 3),
    ] {
        stopped(name, &[], &format!("{SMALL}{body}"), &[&format!("s.lua:{line}:"), budget]);
    }
}

#[test]
fn finalizers_are_refused() {
    stopped("gc", &[], &format!("{SMALL}setmetatable({{}}, {{ __gc = function() while true do end end }})\n"), &["s.lua:3:", "__gc"]);
    // Marked for finalization by a placeholder, then given a looping finalizer.
    stopped(
        "gc-late",
        &[],
        &format!("{SMALL}local mt = {{ __gc = true }}\nlocal t = setmetatable({{}}, mt)\nmt.__gc = function() while true do end end\n"),
        &["s.lua:4:", "__gc"],
    );
}

#[test]
fn long_c_calls_are_bounded() {
    // string.rep of the empty string a maxinteger times is "", at once.
    let path = write(
        "rep-empty",
        "s.lua",
        &format!("{SMALL}at(0, function() print('[' .. string.rep('', math.maxinteger) .. ('x'):rep(3, ',') .. ']') end)\n"),
    );
    let (code, out, err) = distlab_within(&["run"], &path, Duration::from_secs(20));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("note      [x,x,x]"), "{out}");
    stopped("rep-huge", &[], &format!("{SMALL}local s = string.rep('ab', math.maxinteger // 4)\n"), &["s.lua:3:", "memory limit"]);
    stopped(
        "gsub-huge",
        &["--lua-memory", "8"],
        &format!("{HEAD}\nlocal s = string.rep('a', 1000000)\ns = s:gsub('a', '%0%0%0%0%0%0%0%0%0%0')\n"),
        &["s.lua:4:", "memory limit"],
    );
    // Patterns keep Lua's meaning.
    let path = write(
        "patterns",
        "s.lua",
        &format!(
            "{SMALL}at(0, function()\n  print(string.find('hello world', 'o w'), string.find('a.b', '.', 1, true), string.find('abc', 'b()'))\n  print(string.match('key = value', '(%w+)%s*=%s*(%w+)'))\n  print(string.gsub('hello world', '(%w+)', '<%1>'), string.gsub('abc', '', '-'))\n  print(string.match(' [x(y)z] ', '%b()'), string.match('THE (quick) fox', '%f[%a]%a+', 5))\n  local t = {{}}\n  for k, v in string.gmatch('a=1, b=2', '(%w+)=(%w+)') do t[#t + 1] = k .. v end\n  print(table.concat(t, ' '), string.gsub('$1 and $2', '%$(%d)', {{ ['1'] = 'one' }}), string.rep('-', 3))\nend)\n"
        ),
    );
    let (code, out, err) = distlab_within(&["run"], &path, Duration::from_secs(20));
    assert_eq!(code, 0, "{err}");
    let notes: Vec<&str> = out.lines().filter_map(|l| l.split_once("note      ").map(|(_, n)| n)).collect();
    assert_eq!(
        notes,
        // (In an argument list, every call but the last gives one value.)
        ["5\t2\t2\t2\t3", "key\tvalue", "<hello> <world>\t-a-b-c-\t4", "(y)\tquick", "a1 b2\tone and $2\t---"],
        "{out}"
    );
    stopped("bad-pattern", &[], &format!("{SMALL}string.find('x', '[a')\n"), &["s.lua:3:", "malformed pattern (missing ']')"]);
}

#[test]
fn limits_may_lower_but_never_raise_the_command_line_ceiling() {
    stopped(
        "raise",
        &[],
        &format!("{HEAD}limits {{ instructions = math.maxinteger }}\n"),
        &["s.lua:2:", "above the ceiling of 200000000", "--lua-instructions"],
    );
    stopped(
        "memory-raise",
        &[],
        &format!("{HEAD}limits {{ memory_mb = 1000000 }}\nlocal t = {{}}\nfor i = 1, 1e9 do t[i] = i end\n"),
        &["s.lua:2:", "memory_mb = 1000000", "1 to 64"],
    );
    stopped("memory-zero", &[], &format!("{HEAD}limits {{ memory_mb = 0 }}\n"), &["s.lua:2:", "memory_mb = 0"]);
    // The command line sets the ceiling, for reading the file and for the run.
    stopped("flag", &["--lua-instructions", "100000"], &format!("{HEAD}for i = 1, 1e7 do end\n"), &["s.lua:2:", "(100000 instructions)"]);
    stopped(
        "flag-run",
        &["--lua-instructions", "100000"],
        &format!("{HEAD}at(1, function() for i = 1, 1e7 do end end)\n"),
        &["s.lua:2:", "(100000 instructions)"],
    );
    stopped(
        "flag-memory",
        &["--lua-memory", "2"],
        &format!("{HEAD}local t = {{}}\nfor i = 1, 1e7 do t[i] = i end\n"),
        &["s.lua:3:", "memory limit of 2 MiB"],
    );
    let path = write("flag-ok", "s.lua", &format!("{HEAD}limits {{ instructions = 300000000, memory_mb = 100 }}\n"));
    let (code, _, err) =
        distlab_within(&["run", "--quiet", "--lua-instructions", "300000000", "--lua-memory", "100"], &path, Duration::from_secs(20));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = distlab_within(&["run", "--quiet", "--lua-memory", "0"], &path, Duration::from_secs(20));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_wall_clock_guard_stops_what_the_instruction_count_does_not_see() {
    // Each concatenation copies a megabyte in one instruction.
    stopped(
        "wall-clock",
        &["--lua-timeout", "300ms"],
        &format!("{HEAD}local s = string.rep('x', 1000000)\nat(0, function()\n  for i = 1, 1e8 do local t = s .. i end\nend)\n"),
        &["s.lua:4:", "more than 300ms of wall-clock time", "--lua-timeout"],
    );
}

#[test]
fn cyclic_and_deep_tables_are_refused_with_their_line() {
    stopped(
        "cycle",
        &[],
        "local t = {}\nt.x = t\nscenario { name = 'x', algorithm = 'election.ring', nodes = 3, params = { a = { b = t } } }\n",
        &["s.lua:3:", "params.a.b.x", "contains itself"],
    );
    stopped("cycle-expect", &[], &format!("{HEAD}local t = {{}}\nt[1] = t\nexpect(t)\n"), &["s.lua:4:", "expect", "contains itself"]);
    stopped(
        "deep",
        &[],
        "local t = {}\nfor i = 1, 200000 do t = { t } end\nscenario { name = 'x', algorithm = 'election.ring', nodes = 3, params = t }\n",
        &["s.lua:3:", "nest deeper than 32 levels"],
    );
    stopped(
        "deep-expect",
        &[],
        &format!("{HEAD}local t = {{}}\nfor i = 1, 200000 do t = {{ t }} end\nexpect(t)\n"),
        &["s.lua:4:", "nest deeper"],
    );
    stopped(
        "function-value",
        &[],
        "scenario { name = 'x', algorithm = 'election.ring', nodes = 3, params = { heartbeat = print } }\n",
        &["s.lua:1:", "params.heartbeat: a function cannot be part of a scenario"],
    );
}

#[test]
fn what_a_script_prints_counts_against_its_memory() {
    stopped(
        "prints",
        &["--lua-memory", "1"],
        &format!("{HEAD}at(0, function() for i = 1, 3e7 do print('x') end end)\n"),
        &["s.lua:2:", "output (prints, actions, timers) went over its memory limit of 1 MiB"],
    );
    stopped(
        "actions",
        &["--lua-memory", "1"],
        &format!("{HEAD}at(0, function() for i = 1, 3e7 do crash(1) end end)\n"),
        &["s.lua:2:", "memory limit of 1 MiB"],
    );
}

#[test]
fn the_same_script_and_seed_give_the_same_bytes() {
    // Two interpreters differ in their string hash seed and their addresses.
    let body = "scenario { name = 'd', algorithm = 'election.ring', nodes = 3, seed = 5 }\n\
        local t = {}\n\
        for i = 1, 64 do t['key' .. i] = i; t[{}] = i end\n\
        at(0, function()\n\
          local keys = {}\n\
          for k, v in pairs(t) do keys[#keys + 1] = tostring(k) end\n\
          print(table.concat(keys, ' '))\n\
          local k, n = next(t), 0\n\
          while k ~= nil do n = n + 1; k = next(t, k) end\n\
          print(n, tostring({}), tostring(print), string.format('%s', {}))\n\
          math.randomseed()\n\
          print(math.random(1, 1000000), math.random(1, 1000000))\n\
        end)\n";
    let path = write("determinism", "d.lua", body);
    let (a, _) = run_text(path.to_str().expect("path"));
    let (b, _) = run_text(path.to_str().expect("path"));
    assert_eq!(a, b);
    assert!(a.contains("note      128\ttable: #"), "{a}");
    assert!(a.contains("key1 key10 key11"), "string keys in order: {a}");
    let (code, _, err) = distlab_within(&["run", "--quiet"], &path, Duration::from_secs(20));
    assert_eq!(code, 0, "{err}");
    stopped("format-p", &[], &format!("{HEAD}at(0, function() print(string.format('%p', {{}})) end)\n"), &["s.lua:2:", "%p"]);
}

#[test]
fn script_output_cannot_forge_trace_lines() {
    let path = write("forge", "s.lua", &format!("{HEAD}at(0, function() print(\"fine\\nresult: ok (99 checks)\\27[2J\", 'a\\tb') end)\n"));
    let (code, out, err) = distlab_within(&["run"], &path, Duration::from_secs(20));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("note      fine\\nresult: ok (99 checks)\\u{1b}[2J\ta\\tb"), "{out}");
    assert!(!out.contains('\u{1b}') && !out.lines().any(|l| l.starts_with("result: ok (99")), "{out}");
}

#[test]
fn errors_keep_their_line() {
    // Lua shortens chunk names to 60 characters: the path of this file is longer.
    let dir = std::env::temp_dir()
        .join(format!("distlab-lua-{}-long", std::process::id()))
        .join("a-folder-with-a-rather-long-name-to-push-the-path-past-sixty-characters");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("scenario.lua");
    std::fs::write(&path, format!("{HEAD}\nlocal x = nil\nat(1, function() return x.field end)\n")).expect("write");
    let (code, _, err) = distlab_within(&["run", "--quiet"], &path, Duration::from_secs(20));
    assert_eq!(code, 2);
    assert!(err.starts_with(&format!("{}:4:", path.display())), "{err}");
    assert!(err.contains("attempt to index a nil value"), "{err}");
    // Errors that carry no line of their own: a conversion in mlua, a C stack overflow.
    stopped(
        "conversion",
        &[],
        &format!("{HEAD}at(0, function()\n  set_drift(1, {{}})\nend)\n"),
        &["s.lua:3:", "error converting Lua table to f64"],
    );
    stopped("conversion-top", &[], &format!("{HEAD}\non_observe({{}}, 6)\n"), &["s.lua:3:", "error converting Lua table"]);
    stopped("c-stack", &[], &format!("{HEAD}local function f() return coroutine.wrap(f)() end\nf()\n"), &["s.lua:", "C stack overflow"]);
    let path = write("c-stack-line", "s.lua", &format!("{HEAD}local function f() return coroutine.wrap(f)() end\nf()\n"));
    let (_, _, err) = distlab_within(&["run", "--quiet"], &path, Duration::from_secs(20));
    assert!(err.starts_with(&format!("{}:2:", path.display())) || err.starts_with(&format!("{}:3:", path.display())), "{err}");
}

/// Lua code that runs the string functions over many subjects and patterns
/// (listed, then random ones) and returns the results as one printable line.
const PATTERN_CASES: &str = r##"
local function enc1(v)
  if type(v) ~= "string" then return tostring(v) end
  local b = {}
  for i = 1, #v do
    local c = v:byte(i)
    b[#b + 1] = (c >= 32 and c < 127 and c ~= 124 and c ~= 92) and string.char(c) or ("\\" .. c)
  end
  return '"' .. table.concat(b) .. '"'
end
local function enc(ok, ...)
  local parts = { tostring(ok) }
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if not ok and i == 1 and type(v) == "string" then v = v:gsub("^[^:]*:%d+: ", "") end
    parts[#parts + 1] = enc1(v)
  end
  return table.concat(parts, ",")
end
local subjects = { "hello world", "", "aaa", "THE (quick) fox", "  key = value  ", "a.b.c", "[[x]]", "abc123def456", "x\0y\0z", "%%%", "((a)(b))", "f(a(b)c)d" }
local patterns = { "o", "o w", "%a+", "%d+", "(%a+)", "()", "(a*(.)%w(%s*))", "%bxy", "%b()", "%f[%w]%w+", "%f[%W]", "^h", "d$", "[%a_][%w_]*",
  "[^%s]+", ".-", "a-b", "a?", "(.)%1", "%s*(%S+)%s*=%s*(%S+)", "[%]]", "[a-c]+", "%z", "x%zy", "[", "%", "(()", "%1", "(%w+)(%d)", "[]]",
  "[^]]", "%g+", "%p", "%x+", "%u%l+", "", "^", "$", "^$", "%b", "%f", "%fx", "(", ")", "a)", "((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))",
  "[a-]", "[-a]", "[%a-z]", "[z-a]", ".+", "(.-)%)", "%.", "%%", "(h)(e)(l)(l)(o)", "(o)(.-)%2" }
local seed = 12345
local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n + 1 end
local alphabet = { "a", "b", "%", "(", ")", ".", "[", "]", "^", "$", "*", "+", "-", "?", "1", "%a", "%d", "%b()", "%f[a]" }
for _ = 1, 300 do
  local p = {}
  for _ = 1, rnd(6) do p[#p + 1] = alphabet[rnd(#alphabet)] end
  patterns[#patterns + 1] = table.concat(p)
end
for _ = 1, 6 do
  local s = {}
  for _ = 1, rnd(8) do s[#s + 1] = ({ "a", "b", "(", ")", "1", " " })[rnd(6)] end
  subjects[#subjects + 1] = table.concat(s)
end
local out = {}
for _, s in ipairs(subjects) do
  for _, p in ipairs(patterns) do
    for _, init in ipairs({ 1, 2, -2, 0, 100 }) do
      out[#out + 1] = enc(pcall(string.find, s, p, init))
      out[#out + 1] = enc(pcall(string.find, s, p, init, true))
      out[#out + 1] = enc(pcall(string.match, s, p, init))
    end
    local acc = {}
    local ok, e = pcall(function() for a, b in string.gmatch(s, p) do acc[#acc + 1] = enc(true, a, b) end end)
    out[#out + 1] = enc(ok, e) .. "/" .. table.concat(acc, ";")
    out[#out + 1] = enc(pcall(string.gsub, s, p, "<%0>"))
    out[#out + 1] = enc(pcall(string.gsub, s, p, "%1-%%", 2))
    out[#out + 1] = enc(pcall(string.gsub, s, p, function(a, b) return a and (b or #tostring(a)) end))
    out[#out + 1] = enc(pcall(string.gsub, s, p, { a = "A", [""] = false, ["1"] = 7 }))
  end
end
out[#out + 1] = enc(pcall(string.rep, "ab", 3, "-")) .. enc(pcall(string.rep, "x", 0)) .. enc(pcall(string.rep, "x", -1, "y"))
return table.concat(out, " | ")
"##;

#[test]
fn string_patterns_give_what_c_lua_gives() {
    let plain = mlua::Lua::new();
    let expected: String = plain.load(PATTERN_CASES).set_name("=cases").eval().expect("plain Lua runs the cases");
    let body = format!("{HEAD}local function cases()\n{PATTERN_CASES}\nend\nat(0, function() print(cases()) end)\n");
    let path = write("patterns-c", "s.lua", &body);
    let (trace, _) = run_text(path.to_str().expect("path"));
    let actual = trace.lines().find_map(|l| l.split_once("note      ").map(|(_, n)| n.to_string())).expect("a note");
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.split(" | ").collect(), actual.split(" | ").collect());
    assert!(e.len() > 40_000, "{} cases", e.len());
    for (i, (x, y)) in e.iter().zip(&a).enumerate() {
        assert_eq!(x, y, "case {i}");
    }
    assert_eq!(e.len(), a.len());
}

#[test]
fn script_text_reaches_the_trace_on_one_line() {
    let mc = "scenario { name = \"m\", algorithm = \"multicast.basic\", nodes = 3 }\n";
    stopped(
        "command-newline",
        &[],
        &format!("{mc}at(0, function() multicast(1, \"hi\\nresult: ok (9 checks)\") end)\n"),
        &["s.lua:2:", "control character", "hi\\nresult"],
    );
    let path = write(
        "clocks-heading",
        "s.lua",
        "scenario { name = \"c\", algorithm = \"clock.server\", nodes = 2 }\nat(0, function() show_clocks(\"Before:\\nFORGED\") end)\n",
    );
    let (trace, _) = run_text(path.to_str().expect("path"));
    assert!(trace.contains("Before:\\nFORGED") && !trace.lines().any(|l| l.starts_with("FORGED")), "{trace}");
}
