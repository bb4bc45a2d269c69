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

/// `kill -9` in the middle of `distlab test --accept` leaves every snapshot
/// whole: the old one or the new one, never an empty or a cut one. Each try
/// starts from stale snapshots (so that every one is rewritten), watches the
/// files and kills the child the moment the `k`-th of them changes, which is
/// while that one is being written; what the watcher reads is checked too.
/// Every try is bounded by a deadline.
#[test]
fn kill_9_during_accept_leaves_no_partial_snapshot() {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    const FILES: usize = 4;
    let root = std::env::temp_dir().join(format!("distlab-kill-accept-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let scenarios = root.join("scenarios").join("big");
    std::fs::create_dir_all(&scenarios).unwrap();
    // Chang-Roberts' worst case (ids decreasing along the ring, every node
    // starts): about n * n / 2 messages, a trace of about a megabyte.
    for k in 0..FILES {
        let n = 110 + k;
        let ids: Vec<String> = (1..=n).rev().map(|i| i.to_string()).collect();
        let mut yaml = format!("name: big {k}\nalgorithm: election.ring\nnodes: [{}]\ntimeline:\n", ids.join(", "));
        for node in 1..=n {
            yaml.push_str(&format!("  - {{at: 0ms, node: {node}, do: start_election}}\n"));
        }
        std::fs::write(scenarios.join(format!("s{k}.yaml")), yaml).unwrap();
    }
    let snaps: Vec<PathBuf> = (0..FILES).map(|k| root.join("snapshots").join("big").join(format!("s{k}.snap"))).collect();
    let stale = distlab::snapshot::render("stale");
    let set_stale = || {
        for s in &snaps {
            std::fs::create_dir_all(s.parent().unwrap()).unwrap();
            std::fs::write(s, &stale).unwrap();
        }
    };
    let accept = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_distlab"))
            .arg("test")
            .arg("--accept")
            .arg(&scenarios)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start distlab")
    };
    // One whole run: what every snapshot holds after it.
    set_stale();
    let status = accept().wait().unwrap();
    assert!(status.success(), "{status}");
    let finals: Vec<String> = snaps.iter().map(|s| std::fs::read_to_string(s).unwrap()).collect();
    assert!(finals.iter().all(|f| f.len() > 500_000), "big traces: {:?}", finals.iter().map(String::len).collect::<Vec<_>>());
    let whole = |t: usize, s: &PathBuf, now: &str, full: &str| {
        assert!(now == stale || now == full, "try {t}: {} holds {} bytes, neither the old nor the new snapshot", s.display(), now.len());
    };
    for (t, watched) in snaps.iter().enumerate() {
        set_stale();
        let mut child = accept();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if std::fs::metadata(watched).map_or(true, |m| m.len() != stale.len() as u64) {
                let _ = child.kill();
                break;
            }
            if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                let _ = child.kill();
                panic!("try {t}: {} was never rewritten", watched.display());
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        let _ = child.wait();
        for (s, full) in snaps.iter().zip(&finals) {
            let now = std::fs::read_to_string(s).unwrap_or_else(|e| panic!("try {t}: {}: {e}", s.display()));
            whole(t, s, &now, full);
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}

mod heap {
    //! A global allocator that counts, per thread, the bytes allocated now
    //! and the peak since the last [`reset`]: a run on the simulated network
    //! is single-threaded, so its thread's peak is its footprint.
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        static NOW: Cell<isize> = const { Cell::new(0) };
        static PEAK: Cell<isize> = const { Cell::new(0) };
    }

    fn add(delta: isize) {
        let _ = NOW.try_with(|now| {
            now.set(now.get() + delta);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now.get())));
        });
    }

    // SAFETY: every call is passed on to the system allocator unchanged.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                add(layout.size() as isize);
            }
            p
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                add(layout.size() as isize);
            }
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) };
            add(-(layout.size() as isize));
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                add(new_size as isize - layout.size() as isize);
            }
            p
        }
    }

    /// Starts a new measurement on this thread.
    pub fn reset() {
        NOW.with(|n| PEAK.with(|p| p.set(n.get())));
    }

    /// The most this thread held above what it held at [`reset`]... as a peak.
    pub fn peak() -> usize {
        PEAK.with(|p| p.get().max(0) as usize)
    }

    pub fn now() -> usize {
        NOW.with(|n| n.get().max(0) as usize)
    }
}

#[global_allocator]
static COUNTING: heap::Counting = heap::Counting;

/// The loader's memory estimate (scenario::budget) is honest for every
/// algorithm: above the peak a run of an idle scenario really allocates (the
/// standing state the estimate is about), and not more than four times it, at
/// two sizes far enough apart to tell linear from quadratic growth. An
/// algorithm added with a per-pair state and no entry in the budget's table
/// fails here.
#[test]
fn the_memory_estimate_bounds_the_measured_peak_of_every_algorithm() {
    use distlab::scenario::budget;
    let mut report = Vec::new();
    for algorithm in ALGORITHMS {
        // Its construction is slow (a sorted ring rebuilt per server).
        let sizes: &[u32] = if algorithm.name == "balance.consistent-hash" { &[50, 150] } else { &[200, 800] };
        for &n in sizes {
            let yaml = format!("name: m\nalgorithm: {}\nnodes: {n}\n", algorithm.name);
            let before = heap::now();
            heap::reset();
            let plan = load_str("m.yaml", &yaml).unwrap();
            let opts = RunOptions { format: Format::Quiet, limits: Limits { max_events: 500_000 } };
            (plan.algorithm.run)(&plan, &opts, &mut std::io::sink()).unwrap();
            let peak = (heap::peak() - before) as u64;
            let ids: Vec<u32> = (1..=n).collect();
            let estimate = budget::estimate(algorithm, &ids).bytes;
            // The fixed allowance is for what a real run adds (buffers, the trace).
            let variable = estimate - (1 << 20);
            report.push(format!("{} n={n}: peak {peak}, estimate {estimate}", algorithm.name));
            assert!(peak <= estimate && variable <= 4 * peak, "{}", report.join("\n"));
        }
    }
}
