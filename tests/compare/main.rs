//! `distlab compare`: one table, one row per scenario, with the figures their
//! checkers report as columns.

use std::process::Command;

fn compare(files: &[&str]) -> (i32, String) {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(env!("CARGO_BIN_EXE_distlab"))
        .arg("compare")
        .args(files.iter().map(|f| format!("{root}/{f}")))
        .output()
        .expect("runs");
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).expect("utf-8"))
}

#[test]
fn every_balancing_policy_on_one_arrival_stream_in_one_table() {
    let policies = ["round-robin", "weighted-round-robin", "random", "least-connections", "power-of-two", "consistent-hash"];
    let files: Vec<String> = policies.iter().map(|p| format!("scenarios/balance/compare-{p}.yaml")).collect();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let (code, table) = compare(&refs);
    assert_eq!(code, 0, "{table}");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2 + policies.len(), "{table}");
    assert!(lines[0].contains("| imbalance |") && lines[0].contains("| response |"), "{}", lines[0]);
    for p in policies {
        let row = lines.iter().find(|l| l.contains(&format!("| balance.{p} |"))).unwrap_or_else(|| panic!("no row for {p}:\n{table}"));
        assert!(row.contains("| 30 submitted, 30 done,"), "{row}");
        assert!(row.contains("| ok (3) |"), "{row}");
    }
}

#[test]
fn mutex_algorithms_side_by_side_show_their_messages_per_entry() {
    let (code, table) = compare(&["scenarios/mutex/seed-ricart-agrawala.yaml", "scenarios/mutex/lamport-concurrent.yaml"]);
    assert_eq!(code, 0, "{table}");
    assert!(table.contains("| per entry |"), "{table}");
    assert!(table.contains("6.00 messages") && table.contains("9.00 messages"), "RA 2(N-1) = 6 and Lamport 3(N-1) = 9 for N = 4:\n{table}");
}
