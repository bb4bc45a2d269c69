//! Counters the runner keeps while it runs: they feed the summary, the
//! `expect:` block and the benchmark, and cost a few additions per event.

use serde::Serialize;

use crate::engine::network::DropReason;
use crate::process::Nanos;
use crate::trace::event::StopReason;

/// A small ordered tally keyed by `&'static str` (message kinds, observation tags).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tally(pub Vec<(&'static str, u64)>);

impl Tally {
    #[inline]
    pub fn add(&mut self, key: &'static str) {
        for (k, n) in self.0.iter_mut() {
            if std::ptr::eq(*k, key) || *k == key {
                *n += 1;
                return;
            }
        }
        self.0.push((key, 1));
        self.0.sort_by_key(|(k, _)| *k);
    }
    pub fn get(&self, key: &str) -> u64 {
        self.0.iter().find(|(k, _)| *k == key).map_or(0, |(_, n)| *n)
    }
    pub fn total(&self) -> u64 {
        self.0.iter().map(|(_, n)| n).sum()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Stats {
    /// Queue entries handled: deliveries, drops at the receiver, timers, timeline steps.
    pub events: u64,
    /// Messages sent by processes, by kind (a broadcast counts once per receiver).
    pub sent: Tally,
    pub delivered: u64,
    pub lost: u64,
    pub partitioned: u64,
    pub receiver_down: u64,
    /// Dropped by a script hook.
    pub by_script: u64,
    pub duplicated: u64,
    /// Copies that crossed a real transport but did not decode (dropped).
    pub undecodable: u64,
    pub timers: u64,
    /// The sum over events of the queue's length when the event was taken:
    /// `queue_len_sum / events` is the mean queue length (for the benchmark).
    #[serde(skip)]
    pub queue_len_sum: u64,
    pub observations: Tally,
    pub end_time: Nanos,
    pub stop: StopReason,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            events: 0,
            sent: Tally::default(),
            delivered: 0,
            lost: 0,
            partitioned: 0,
            receiver_down: 0,
            by_script: 0,
            duplicated: 0,
            undecodable: 0,
            timers: 0,
            queue_len_sum: 0,
            observations: Tally::default(),
            end_time: 0,
            stop: StopReason::Quiescent,
        }
    }
}

impl Stats {
    pub fn dropped(&mut self, reason: DropReason) {
        match reason {
            DropReason::Loss => self.lost += 1,
            DropReason::Partition => self.partitioned += 1,
            DropReason::ReceiverDown => self.receiver_down += 1,
            DropReason::Script => self.by_script += 1,
            DropReason::Undecodable => {}
        }
    }
}
