//! Live mode through the real binary: `distlab cluster` starts one process
//! per node on 127.0.0.1, the merged trace tells the scenario's story and the
//! checkers judge it; a failed node, Ctrl-C and a killed parent leave no
//! process behind; every wait ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Live runs are timing-sensitive: one at a time, so that the test binary
/// does not load the machine with several clusters at once.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The checks an election must pass live however slow the machine: the
/// message-count expectations may not (a late Ack makes a sender retry).
const ELECTION_CHECKS: [&str; 3] = ["ok    one-leader", "ok    agreement", "ok    highest-live"];

fn distlab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_distlab")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A private copy of a scenario, so that this test's node processes can be
/// found by their command line.
fn private_copy(rel: &str, tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("distlab-live-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let to = dir.join(Path::new(rel).file_name().unwrap());
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel), &to).unwrap();
    to
}

/// Processes whose command line mentions `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline"))
            && String::from_utf8_lossy(&cmd).contains(needle)
        {
            found.push(pid);
        }
    }
    found
}

fn none_left(needle: &str, within: Duration) -> bool {
    let end = Instant::now() + within;
    loop {
        if processes_with(needle).is_empty() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_seed_ring_elects_3_over_every_live_transport() {
    for t in ["udp", "tcp", "multicast"] {
        let _one = serial();
        let (code, out, err) = distlab(&["cluster", "scenarios/election/seed-ring.yaml", "--transport", t, "--settle", "300ms"]);
        assert!(code == 0 || out.contains("FAIL  expect Election messages"), "{t}: {out}{err}");
        assert!(out.contains(&format!("live over {t} (wall-clock time)")), "{out}");
        for line in ["Process 4 fails", "Election initiated by 3", "Process 3 becomes coordinator", "Process 0 accepts 3 as coordinator"] {
            assert!(out.contains(line), "{t}: no {line:?} in\n{out}");
        }
        for check in ELECTION_CHECKS {
            assert!(out.contains(check), "{t}: no {check:?} in\n{out}");
        }
    }
}

#[test]
fn ricart_agrawala_live_keeps_safety_and_its_message_count() {
    let _one = serial();
    let dir = std::env::temp_dir().join(format!("distlab-live-{}-traces", std::process::id()));
    let (code, out, err) = distlab(&[
        "cluster",
        "scenarios/mutex/ricart-agrawala-concurrent.yaml",
        "--quiet",
        "--settle",
        "300ms",
        "--trace-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // Each node's own trace: its records, one JSON object per line, its end state last.
    for id in 1..=5 {
        let text = std::fs::read_to_string(dir.join(format!("node-{id}.jsonl"))).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(lines.iter().any(|l| l["ev"]["kind"] == "send" && l["n"] == id), "node {id}: {text}");
        assert!(lines.iter().any(|l| l["ev"]["obs"]["kind"] == "EnterCs"), "node {id} entered: {text}");
        assert!(lines.iter().any(|l| l["end"]["n"] == id), "node {id}: no end state");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.contains("ok    safety"), "{out}");
    // 2(N − 1) = 8 messages per entry for N = 5, on real sockets too.
    assert!(out.contains("40 messages for 5 entries"), "{out}");
    assert!(!out.contains("  0.000ms"), "--quiet prints no trace:\n{out}");
}

#[test]
fn total_order_holds_live_over_udp_and_multicast() {
    let _one = serial();
    for t in ["udp", "multicast"] {
        let (_, out, err) =
            distlab(&["cluster", "scenarios/multicast/total-concurrent.yaml", "--transport", t, "--quiet", "--settle", "500ms"]);
        // Real delays may add retransmissions (the message-count expectations
        // can differ from the simulator's); the order and delivery checks may not.
        for check in ["ok    validity", "ok    integrity", "ok    total"] {
            assert!(out.contains(check), "{t}: no {check:?} in\n{out}{err}");
        }
    }
}

#[test]
fn a_node_that_dies_fails_the_run_and_nothing_is_left_behind() {
    let _one = serial();
    let file = private_copy("scenarios/election/seed-ring.yaml", "dies");
    let needle = file.to_string_lossy().into_owned();
    // Every node is killed after 0.6s of a 2s run.
    let (code, out, err) = distlab(&["cluster", file.to_str().unwrap(), "--duration", "2s", "--wrap", "timeout -s KILL 0.6"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("exited without an end state"), "{err}");
    assert!(none_left(&needle, Duration::from_secs(3)), "node processes left: {:?}", processes_with(&needle));
}

/// Starts a 60-second cluster of the seed ring on a private copy and waits
/// until its five nodes (and the parent) are up; returns the parent and the
/// text that finds its processes.
fn start_long_cluster(tag: &str) -> (std::process::Child, String) {
    let file = private_copy("scenarios/election/seed-ring.yaml", tag);
    let needle = file.to_string_lossy().into_owned();
    let parent = Command::new(env!("CARGO_BIN_EXE_distlab"))
        .args(["cluster", file.to_str().unwrap(), "--duration", "60s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let up = Instant::now() + Duration::from_secs(10);
    while processes_with(&needle).len() < 6 && Instant::now() < up {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(processes_with(&needle).len() >= 6, "the nodes did not start");
    std::thread::sleep(Duration::from_millis(300));
    (parent, needle)
}

#[test]
fn ctrl_c_stops_every_node() {
    let _one = serial();
    let (mut parent, needle) = start_long_cluster("ctrl-c");
    let t = Instant::now();
    Command::new("kill").args(["-INT", &parent.id().to_string()]).status().unwrap();
    let status = parent.wait().unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "took {:?}", t.elapsed());
    assert_eq!(status.code(), Some(2));
    let mut err = String::new();
    std::io::Read::read_to_string(parent.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("interrupted"), "{err}");
    assert!(none_left(&needle, Duration::from_secs(2)), "left: {:?}", processes_with(&needle));
}

#[test]
fn nodes_of_a_killed_parent_exit_by_themselves() {
    let _one = serial();
    let (mut parent, needle) = start_long_cluster("orphans");
    parent.kill().unwrap(); // SIGKILL: no handler runs.
    parent.wait().unwrap();
    assert!(none_left(&needle, Duration::from_secs(3)), "orphans: {:?}", processes_with(&needle));
}

#[test]
fn bad_requests_are_clear_errors() {
    let (code, _, err) = distlab(&["cluster", "scenarios/lua/ring-leader-crashes-after-election.lua"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("Lua scenario"), "{err}");
    let (code, _, err) = distlab(&["cluster", "scenarios/election/seed-ring.yaml", "--transport", "multicast", "--group", "10.0.0.1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("10.0.0.1 is not a multicast group"), "{err}");
    let (code, _, err) = distlab(&["cluster", "scenarios/election/seed-ring.yaml", "--bind", "192.0.2.{id}", "--startup-timeout", "3s"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot bind a UDP socket on 192.0.2.") && err.contains("Cannot assign requested address"), "{err}");
}

#[test]
fn the_netns_script_runs_each_node_in_its_own_namespace() {
    let _one = serial();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Can this machine make a namespace? (root, iproute2, a kernel that lets us)
    let probe = format!("dlprobe{}", std::process::id());
    let can = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        && Command::new("ip").args(["netns", "add", &probe]).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if can {
        Command::new("ip").args(["netns", "del", &probe]).status().unwrap();
    }
    if !can {
        eprintln!("skipped: needs root and iproute2 (ip netns)");
        return;
    }
    for t in ["udp", "multicast"] {
        let out = Command::new("bash")
            .arg(root.join("scripts/netns-cluster.sh"))
            .args(["scenarios/election/seed-ring.yaml", "--transport", t, "--settle", "300ms"])
            .env("DISTLAB", env!("CARGO_BIN_EXE_distlab"))
            .current_dir(root)
            .output()
            .unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.code().is_some_and(|c| c <= 1), "{t}: {stdout}{stderr}");
        assert!(stderr.contains("5 namespaces") && stderr.contains("10.77.0.0/24"), "{stderr}");
        assert!(stdout.contains("Process 3 becomes coordinator"), "{stdout}");
        for check in ELECTION_CHECKS {
            assert!(stdout.contains(check), "{t}: no {check:?} in\n{stdout}");
        }
        // The script removed everything it created: "… namespaces dl123-1 .. dl123-5 …".
        let first = stderr.split_whitespace().find(|w| w.starts_with("dl") && w.ends_with("-1")).expect("names the namespaces");
        let tag = first.trim_end_matches("-1");
        let list = String::from_utf8_lossy(&Command::new("ip").args(["netns", "list"]).output().unwrap().stdout).into_owned();
        assert!(!list.contains(&format!("{tag}-")), "namespaces left: {list}");
    }
}
