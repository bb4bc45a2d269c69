//! Load-balancing invariants and metrics, read from the dispatcher's
//! `JobSubmitted`, `Assigned` and `JobDone` observations and the servers'
//! `JobExecuted` ones (a server ran a job to completion):
//! - `exactly-once`: no job is executed twice (by two servers, or by one
//!   server twice), reported done twice, done without having been submitted,
//!   or reported done without any execution. It counts executions, not
//!   reports: a job that a falsely suspected server and the server it was
//!   re-dispatched to both run fails it, although the dispatcher counts its
//!   completion once;
//! - `no-job-lost`: every submitted job is done when the run ends, crashes
//!   and recoveries notwithstanding. A run cut short (`until`, `stop`, the
//!   event limit) may leave jobs unfinished: the check then passes and names
//!   them; a run that ran out of events with jobs unfinished lost them.
//!
//! Metrics for the summary: jobs submitted, done and re-dispatched; each
//! server's jobs and work (the durations of the jobs it finished); the
//! imbalance, max/mean of the servers' work (1.00 is perfect; the servers are
//! every node but the dispatcher); response time (arrival to done) median and
//! p99. Answers `expect: jobs_done` and `max_imbalance`.

use std::collections::{BTreeMap, BTreeSet};

use super::{At, CheckResult, Checker, EndState};
use crate::process::{Nanos, NodeId, Observation, Process};
use crate::scenario::model::Expect;
use crate::scenario::units::Dur;
use crate::trace::event::{StopReason, TraceEvent};

pub const CHECKS: &[&str] = &["exactly-once", "no-job-lost"];

#[derive(Default)]
pub struct BalanceChecker {
    dispatcher: Option<NodeId>,
    /// Job → (arrival time, duration).
    submitted: BTreeMap<u64, (Nanos, Nanos)>,
    done: BTreeSet<u64>,
    /// Job → the servers that ran it to completion, in order.
    executed: BTreeMap<u64, Vec<NodeId>>,
    /// Assignments after the first, per job.
    redispatched: u64,
    assigned: BTreeSet<u64>,
    /// Per server: jobs done and their total work.
    per_server: BTreeMap<NodeId, (u64, Nanos)>,
    response: Vec<Nanos>,
    /// The first breach of `exactly-once`.
    twice_at: Option<(At, String)>,
    stop: Option<StopReason>,
    imbalance: Option<(f64, f64)>,
}

/// The value at fraction `q` of a sorted list (nearest rank).
pub fn quantile(sorted: &[Nanos], q: f64) -> Nanos {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// max/mean of the values, or `None` when the mean is 0.
pub fn max_over_mean(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let max = v.iter().copied().fold(0.0, f64::max);
    (mean > 0.0).then(|| max / mean)
}

impl BalanceChecker {
    fn breach(&mut self, at: At, detail: String) {
        if self.twice_at.is_none() {
            self.twice_at = Some((at, detail));
        }
    }

    /// Executions beyond the first, summed over the jobs.
    pub fn duplicate_executions(&self) -> u64 {
        self.executed.values().map(|s| s.len().saturating_sub(1) as u64).sum()
    }

    fn unfinished(&self) -> Vec<u64> {
        self.submitted.keys().filter(|j| !self.done.contains(j)).copied().collect()
    }

    /// Every node but the dispatcher, with its (jobs, work), zero if idle.
    fn servers(&self, nodes: &[NodeId]) -> Vec<(NodeId, u64, Nanos)> {
        nodes
            .iter()
            .filter(|n| Some(**n) != self.dispatcher)
            .map(|n| {
                let (j, w) = self.per_server.get(n).copied().unwrap_or((0, 0));
                (*n, j, w)
            })
            .collect()
    }
}

impl<P: Process> Checker<P> for BalanceChecker {
    fn on_event(&mut self, index: u64, time: Nanos, ev: &TraceEvent<'_, P>) {
        let at = At { event: index, time };
        match ev {
            TraceEvent::Observe { node, obs: Observation::JobSubmitted { job, duration } } => {
                self.dispatcher = Some(*node);
                self.submitted.entry(*job).or_insert((time, *duration));
            }
            TraceEvent::Observe { node, obs: Observation::Assigned { job, .. } } => {
                self.dispatcher = Some(*node);
                if !self.assigned.insert(*job) {
                    self.redispatched += 1;
                }
            }
            TraceEvent::Observe { node, obs: Observation::JobExecuted { job } } => {
                let by = self.executed.entry(*job).or_default();
                by.push(*node);
                if by.len() == 2 {
                    let detail = if by[0] == by[1] {
                        format!("job {job} executed twice, both times by Server {node}")
                    } else {
                        format!("job {job} executed twice: by Server {}, then by Server {node}", by[0])
                    };
                    self.breach(at, detail);
                }
            }
            TraceEvent::Observe { obs: Observation::JobDone { job, server }, .. } => {
                let Some(&(arrived, duration)) = self.submitted.get(job) else {
                    self.breach(at, format!("job {job} done by Server {server} but never submitted"));
                    return;
                };
                if !self.done.insert(*job) {
                    self.breach(at, format!("job {job} reported done twice (the second by Server {server})"));
                    return;
                }
                if !self.executed.contains_key(job) {
                    self.breach(at, format!("job {job} reported done by Server {server} but never executed"));
                }
                let e = self.per_server.entry(*server).or_default();
                e.0 += 1;
                e.1 += duration;
                self.response.push(time - arrived);
            }
            TraceEvent::Stop { reason, .. } => self.stop = Some(*reason),
            _ => {}
        }
    }

    fn wants_messages(&self) -> bool {
        false
    }

    fn finish(&mut self, end: &EndState<'_>, expect: &Expect) -> Vec<CheckResult> {
        let mut out = Vec::new();
        let n = self.submitted.len();
        out.push(match &self.twice_at {
            None => CheckResult::new("exactly-once", true, format!("{} of {n} jobs done, each executed once", self.done.len())),
            Some((at, d)) => CheckResult::new("exactly-once", false, d.clone()).at(Some(*at)),
        });
        let unfinished = self.unfinished();
        let early = matches!(self.stop, Some(StopReason::Horizon | StopReason::Stopped | StopReason::EventLimit));
        let names = || unfinished.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        out.push(if unfinished.is_empty() {
            let moved = if self.redispatched > 0 { format!(" ({} re-dispatched)", self.redispatched) } else { String::new() };
            CheckResult::new("no-job-lost", true, format!("all {n} jobs done{moved}"))
        } else if early {
            CheckResult::new("no-job-lost", true, format!("the run ended early with {} unfinished: {}", unfinished.len(), names()))
        } else {
            let dispatcher_down = self.dispatcher.is_some_and(|d| end.nodes.iter().zip(end.alive).any(|(n, a)| *n == d && !*a));
            let why = if dispatcher_down { "; the dispatcher is down, and its jobs with it" } else { "" };
            CheckResult::new("no-job-lost", false, format!("{} jobs never done: {}{why}", unfinished.len(), names()))
        });
        let servers = self.servers(end.nodes);
        let work: Vec<f64> = servers.iter().map(|s| s.2 as f64).collect();
        let jobs: Vec<f64> = servers.iter().map(|s| s.1 as f64).collect();
        self.imbalance = max_over_mean(&work).zip(max_over_mean(&jobs));
        if let Some(b) = expect.jobs_done {
            let d = self.done.len() as u64;
            out.push(CheckResult::new(format!("expect jobs_done {b}"), b.holds(d), format!("{d} done")));
        }
        if let Some(m) = expect.max_imbalance {
            let got = self.imbalance.map(|(w, _)| w);
            let ok = got.is_some_and(|g| g <= m + 1e-9);
            let detail = got.map_or("no work done".to_string(), |g| format!("max/mean work {g:.2}"));
            out.push(CheckResult::new(format!("expect max_imbalance <= {m:.2}"), ok, detail));
        }
        // Kept for `metrics`.
        self.per_server = servers.into_iter().map(|(n, j, w)| (n, (j, w))).collect();
        out
    }

    fn metrics(&mut self) -> Vec<(String, String)> {
        let unfinished = self.unfinished().len();
        let mut m = vec![(
            "jobs".to_string(),
            format!(
                "{} submitted, {} done, {} re-dispatched, {unfinished} unfinished",
                self.submitted.len(),
                self.done.len(),
                self.redispatched
            ),
        )];
        let twice: Vec<String> = self.executed.iter().filter(|(_, by)| by.len() > 1).map(|(j, by)| format!("{j} {}x", by.len())).collect();
        m.push((
            "duplicates".into(),
            if twice.is_empty() { "0".into() } else { format!("{} ({})", self.duplicate_executions(), twice.join(", ")) },
        ));
        let per: Vec<String> = self.per_server.iter().map(|(s, (j, w))| format!("{s}: {j} ({})", Dur(*w))).collect();
        m.push(("servers".into(), format!("{} (jobs and work per server)", per.join(", "))));
        m.push((
            "imbalance".into(),
            match self.imbalance {
                Some((w, j)) => format!("max/mean work {w:.2}, jobs {j:.2}"),
                None => "none (no work done)".into(),
            },
        ));
        self.response.sort_unstable();
        m.push((
            "response".into(),
            if self.response.is_empty() {
                "none".into()
            } else {
                format!(
                    "median {} / p99 {} / max {} (arrival to done)",
                    Dur(quantile(&self.response, 0.5)),
                    Dur(quantile(&self.response, 0.99)),
                    Dur(self.response[self.response.len() - 1])
                )
            },
        ));
        m
    }
}
