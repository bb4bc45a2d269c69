//! The result of one run: counters and check verdicts, and the summary block
//! that ends every trace (text) or its last line (jsonl).

use std::fmt::Write as _;

use serde::Serialize;

use crate::check::CheckResult;
use crate::engine::stats::Stats;
use crate::process::NodeId;
use crate::scenario::units::Dur;

#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub scenario: String,
    pub algorithm: &'static str,
    pub nodes: usize,
    pub seed: u64,
    pub stats: Stats,
    pub results: Vec<CheckResult>,
    /// Family figures from the checkers (e.g. response times), in order.
    pub metrics: Vec<(String, String)>,
    /// Live nodes at the end.
    pub alive: Vec<NodeId>,
    /// The error that stopped the scenario's script, if one did.
    #[serde(skip)]
    pub script_error: Option<String>,
    /// The error that stopped the real transport, if one did.
    #[serde(skip)]
    pub transport_error: Option<String>,
    /// What the real transport did (zeros on the simulated network); never
    /// in the trace, which must not depend on the transport.
    #[serde(skip)]
    pub wire: crate::transport::WireStats,
    /// The transport the run used.
    #[serde(skip)]
    pub transport: crate::transport::TransportKind,
}

impl RunReport {
    /// True when every check and expectation holds.
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.ok)
    }

    pub fn failures(&self) -> impl Iterator<Item = &CheckResult> {
        self.results.iter().filter(|r| !r.ok)
    }

    /// The summary block, as the text trace ends with it.
    pub fn summary_text(&self) -> String {
        let s = &self.stats;
        let mut out = String::new();
        let _ = writeln!(out, "\nsummary");
        let _ = writeln!(out, "  end       {} ({})", Dur(s.end_time), s.stop.describe());
        let _ = writeln!(out, "  events    {}", s.events);
        let kinds: Vec<String> = s.sent.0.iter().map(|(k, n)| format!("{k} {n}")).collect();
        if kinds.is_empty() {
            let _ = writeln!(out, "  messages  0 sent");
        } else {
            let _ = writeln!(out, "  messages  {} sent: {}", s.sent.total(), kinds.join(", "));
        }
        let _ = writeln!(
            out,
            "  network   {} delivered, {} lost, {} partitioned, {} to a down node, {} duplicated",
            s.delivered, s.lost, s.partitioned, s.receiver_down, s.duplicated
        );
        if s.undecodable > 0 {
            let _ = writeln!(out, "  wire      {} copies did not decode at the receiver and were dropped", s.undecodable);
        }
        if s.by_script > 0 {
            let _ = writeln!(out, "  script    {} messages dropped by the script", s.by_script);
        }
        let obs: Vec<String> = s.observations.0.iter().map(|(k, n)| format!("{k} {n}")).collect();
        if !obs.is_empty() {
            let _ = writeln!(out, "  observed  {}", obs.join(", "));
        }
        let _ = writeln!(out, "  timers    {} fired", s.timers);
        for (k, v) in &self.metrics {
            let _ = writeln!(out, "  {k:<9} {v}");
        }
        if !self.results.is_empty() {
            let _ = writeln!(out, "checks");
            let width = self.results.iter().map(|r| r.name.len()).max().unwrap_or(0);
            for r in &self.results {
                let verdict = if r.ok { "ok  " } else { "FAIL" };
                let _ = writeln!(out, "  {verdict}  {:width$}  {}", r.name, r.detail);
                if !r.ok
                    && let Some(at) = r.at
                {
                    let _ = writeln!(out, "        broken at event #{} ({}); the trace up to there:", at.event, Dur(at.time));
                    for line in &r.prefix {
                        let _ = writeln!(out, "        | {line}");
                    }
                }
            }
        }
        let failed = self.failures().count();
        if failed == 0 {
            let _ = writeln!(out, "result: ok ({} checks)", self.results.len());
        } else {
            let _ = writeln!(out, "result: FAILED ({failed} of {} checks)", self.results.len());
        }
        out
    }
}
