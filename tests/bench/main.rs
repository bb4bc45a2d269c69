//! Smoke test of `distlab bench`: it runs, prints one row per size with
//! numbers that parse, and reports the exact (deterministic) event count of the
//! benchmark's ring election. No timing is asserted.

use std::process::Command;

/// Events of the 200-node ascending ring where every node initiates: 200
/// timeline steps, then Election and Coordinator messages with their Acks
/// (7n − 2 in all).
const EVENTS_200: u64 = 1398;

fn bench(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_distlab")).arg("bench").args(args).output().expect("distlab runs");
    // 0: targets met, 1: a target missed; both are a successful measurement.
    let code = out.status.code();
    assert!(matches!(code, Some(0 | 1)), "exit {code:?}; stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn table_has_one_row_with_the_exact_event_count() {
    let text = bench(&["--nodes", "200", "--runs", "1", "--min-events", "1"]);
    let mut lines = text.lines();
    let header = lines.next().expect("a header line");
    for column in ["nodes", "events", "queue", "msgs/CS", "bare Mop/s", "quiet Mev/s", "text Mev/s", "peak RSS", "targets"] {
        assert!(header.contains(column), "no {column:?} in {header:?}");
    }
    let row = lines.next().expect("a row");
    let fields: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(fields[0].parse::<u32>().unwrap(), 200, "{row}");
    assert_eq!(fields[1].parse::<u64>().unwrap(), EVENTS_200, "{row}");
    assert!(fields[2].parse::<f64>().unwrap() > 0.0, "mean queue length: {row}");
    assert_eq!(fields[3], "-", "no messages per CS for the ring: {row}");
    let bare: f64 = fields[4].parse().unwrap();
    let quiet: f64 = fields[5].parse().unwrap();
    let quiet_pct: f64 = fields[6].trim_matches(|c| c == '(' || c == ')' || c == '%').parse().unwrap();
    let text_rate: f64 = fields[7].parse().unwrap();
    assert!(bare > 0.0 && quiet > 0.0 && text_rate > 0.0 && quiet_pct > 0.0, "{row}");
    assert!(row.contains("quiet ") && row.contains("text "), "{row}");
    assert!(text.contains("\ntargets: quiet >= 40% of bare queue, text >= 5 M events/s: "), "{text}");
}

#[test]
fn json_rows_parse() {
    let text = bench(&["--nodes", "200,300", "--runs", "1", "--min-events", "1", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["nodes"], 200);
    assert_eq!(rows[0]["events"], EVENTS_200);
    assert_eq!(rows[1]["events"], 7 * 300 - 2);
    for r in rows {
        for key in ["bare_mops", "quiet_mevs", "text_mevs", "quiet_ratio", "text_ratio"] {
            assert!(r[key].as_f64().is_some_and(|x| x > 0.0), "{key} in {r}");
        }
    }
    assert!(v["targets_met"].is_boolean());
}

#[test]
fn ricart_agrawala_rows_count_messages_per_entry() {
    // 5 nodes, 20 requests each: 100 entries at 2(N−1) = 8 messages each.
    let text = bench(&[
        "--workload",
        "ricart-agrawala",
        "--nodes",
        "5",
        "--requests",
        "20",
        "--runs",
        "1",
        "--min-events",
        "1",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let row = &v["rows"][0];
    assert_eq!(row["nodes"], 5);
    assert_eq!(row["messages"], 800);
    assert_eq!(row["messages_per_cs"], 8.0);
    assert!(row["baseline_entries"].as_u64().is_some_and(|e| e >= 1), "{row}");
    assert_eq!(row["workload"]["ricart_agrawala"]["requests"], 20);
}

#[test]
fn transport_rows_carry_the_textbook_message_count() {
    // Ricart–Agrawala on 3 nodes, 2 requests each: 6 entries at 2(N−1) = 4
    // messages each. Every transport sends the same 24 messages; a multicast
    // broadcast is one frame, so there each entry is N = 3 frames.
    let text = bench(&["--workload", "transport", "--nodes", "3", "--requests", "2", "--runs", "1", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let reports = v["reports"].as_array().expect("reports");
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(r["workload"], "mutex.ricart-agrawala");
    assert_eq!(r["nodes"], 3);
    assert_eq!(r["requests"], 2);
    assert_eq!(r["expected_messages"], 24);
    let rows = r["rows"].as_array().expect("rows");
    let names: Vec<&str> = rows.iter().map(|row| row["transport"].as_str().unwrap()).collect();
    assert_eq!(names, ["sim", "udp", "tcp", "multicast", "file"]);
    for row in rows {
        let name = row["transport"].as_str().unwrap();
        assert_eq!(row["messages"], 24, "{row}");
        let frames = match name {
            "sim" => 0,
            "multicast" => 6 * 3,
            _ => 24,
        };
        assert_eq!(row["frames"], frames, "{row}");
        assert_eq!(row["runs"], 1, "{row}");
        for key in ["run_ms", "messages_per_s", "us_per_message"] {
            assert!(row[key].as_f64().is_some_and(|x| x > 0.0), "{key} in {row}");
        }
        let baseline = match name {
            "sim" => None,
            "udp" | "multicast" => Some("udp"),
            other => Some(other),
        };
        assert_eq!(row["baseline"].as_str(), baseline, "{row}");
        assert_eq!(row["ratio"].as_f64().is_some_and(|x| x > 0.0), baseline.is_some(), "{row}");
    }
    let bare = r["bare"].as_array().expect("bare loops");
    let names: Vec<&str> = bare.iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["udp", "tcp", "file"]);
    for b in bare {
        assert!(b["frame_bytes"].as_u64().is_some_and(|n| n > 28), "header + message: {b}");
        assert!(b["us_per_message"].as_f64().is_some_and(|x| x > 0.0), "{b}");
    }
    let codec = &r["codec"];
    assert_eq!(codec["codec"], "serde_json");
    assert_eq!(codec["messages"], 24);
    for key in ["mean_bytes", "encode_ns", "decode_ns", "ns_per_message", "share_of_udp"] {
        assert!(codec[key].as_f64().is_some_and(|x| x > 0.0), "{key} in {codec}");
    }
    assert_eq!(r["udp_target_ratio"], 3.0);
    assert!(r["udp_target_met"].is_boolean());
    assert!(v["targets_met"].is_boolean());
}

#[test]
fn transport_table_names_every_transport_and_the_target() {
    let text = bench(&["--workload", "transport", "--nodes", "2", "--requests", "1", "--runs", "1"]);
    for word in ["sim", "udp", "tcp", "multicast", "file", "bare loop", "codec serde_json", "target: lockstep udp <= 3x bare udp"] {
        assert!(text.contains(word), "no {word:?} in\n{text}");
    }
}
