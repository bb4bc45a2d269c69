//! Every algorithm under random fault schedules: crashes, recoveries,
//! partitions, heals, loss and duplication drawn from a fixed seed. Checks may
//! fail (most algorithms assume no crashes, and the checkers say so), but no
//! run may panic, error or run away.
//!
//! [`replay`]: the fuzz corpus and its mutants through the fuzz targets'
//! bodies ([`targets`], shared with the nightly `fuzz/` crate).

mod replay;
mod targets;

use distlab::algorithms::registry::ALGORITHMS;
use distlab::engine::{Format, Limits, RunOptions};
use distlab::scenario::yaml::load_str;
use distlab::trace::StopReason;

/// A small fixed generator (SplitMix64): the schedules never change.
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A command of `algorithm` that makes sense at `node` of `n`.
fn command(g: &mut Gen, family: &str, name: &str, node: u32, n: u32) -> Option<(u32, String)> {
    match (family, name) {
        ("election", c) | ("mutex", c @ "request") | ("clock", c @ ("sync" | "local" | "internal")) => Some((node, c.to_string())),
        ("clock", "send") => Some((node, format!("send {}", 1 + g.below(u64::from(n)) as u32))),
        ("balance", "submit_many") => Some((1, "submit_many 3 5ms".into())),
        ("rpc", "call1") => Some((n, "call1 sqrt 16".into())),
        ("multicast", "multicast") => Some((node, format!("multicast m{}", g.below(100)))),
        _ => None,
    }
}

#[test]
fn random_fault_schedules_never_panic_or_run_away() {
    let mut g = Gen(2026);
    let mut runs = 0;
    for algorithm in ALGORITHMS {
        for seed in 0..8u64 {
            let n = 3 + g.below(5) as u32;
            let mut yaml = format!(
                "name: robustness\nalgorithm: {}\nnodes: {n}\nseed: {seed}\nnetwork: {{latency: 1ms..{}ms, loss: {}%, duplicate: {}%}}\nuntil: 2s\ntimeline:\n",
                algorithm.name,
                2 + g.below(8),
                [0, 5, 20][g.below(3) as usize],
                [0, 10, 30][g.below(3) as usize],
            );
            let mut t = 0;
            for _ in 0..3 + g.below(10) {
                t += g.below(30);
                let node = 1 + g.below(u64::from(n)) as u32;
                let roll = g.below(100);
                let step = if roll < 50 {
                    let spec = &algorithm.commands[g.below(algorithm.commands.len() as u64) as usize];
                    match command(&mut g, algorithm.family, spec.name, node, n) {
                        Some((at, c)) => format!("{{at: {t}ms, node: {at}, do: {c}}}"),
                        None => continue,
                    }
                } else if roll < 65 {
                    format!("{{at: {t}ms, crash: {node}}}")
                } else if roll < 80 {
                    format!("{{at: {t}ms, recover: {node}}}")
                } else if roll < 90 {
                    let other = if node == 1 { 2 } else { 1 };
                    format!("{{at: {t}ms, partition: [[{other}, {node}]]}}")
                } else {
                    format!("{{at: {t}ms, heal: true}}")
                };
                yaml.push_str(&format!("  - {step}\n"));
            }
            let plan = load_str("robustness.yaml", &yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
            let opts = RunOptions { format: Format::Quiet, limits: Limits { max_events: 500_000 } };
            let report = (plan.algorithm.run)(&plan, &opts, &mut std::io::sink()).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
            assert_ne!(report.stats.stop, StopReason::EventLimit, "runaway:\n{yaml}");
            runs += 1;
        }
    }
    assert!(runs >= 8 * 20, "{runs} runs");
}
