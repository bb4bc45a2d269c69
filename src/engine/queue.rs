//! The event queue: a binary min-heap keyed by `(time, seq)`, where `seq` is the
//! order events were scheduled in. Ties in time therefore resolve in schedule
//! order, which is what makes a run reproducible.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::process::{Nanos, Process};

/// What happens when an entry comes due. Node numbers are dense indices.
pub enum Ev<P: Process> {
    Deliver { from: u32, to: u32, msg: P::Msg },
    /// The timer with this id on `node`; it is stale if the node no longer holds it.
    Timer { node: u32, id: u64 },
    /// The scenario's timeline step number `step`.
    Step(u32),
}

pub struct Entry<P: Process> {
    pub time: Nanos,
    pub seq: u64,
    pub ev: Ev<P>,
}

impl<P: Process> PartialEq for Entry<P> {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}
impl<P: Process> Eq for Entry<P> {}
impl<P: Process> PartialOrd for Entry<P> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<P: Process> Ord for Entry<P> {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest entry.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// The runner's queue: a heap plus the sequence counter.
pub struct Queue<P: Process> {
    heap: BinaryHeap<Entry<P>>,
    seq: u64,
}

impl<P: Process> Queue<P> {
    pub fn new() -> Self {
        Queue { heap: BinaryHeap::new(), seq: 0 }
    }
    pub fn push(&mut self, time: Nanos, ev: Ev<P>) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        self.heap.push(Entry { time, seq, ev });
        seq
    }
    pub fn pop(&mut self) -> Option<Entry<P>> {
        self.heap.pop()
    }
    pub fn peek_time(&self) -> Option<Nanos> {
        self.heap.peek().map(|e| e.time)
    }
    pub fn len(&self) -> usize {
        self.heap.len()
    }
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

impl<P: Process> Default for Queue<P> {
    fn default() -> Self {
        Self::new()
    }
}
