//! The event queue: a min-queue keyed by `(time, seq)`, where `seq` is the
//! order events were scheduled in. Ties in time therefore resolve in schedule
//! order, which is what makes a run reproducible.
//!
//! Two binary heaps share that order: an entry due within a window of the
//! last popped time goes to the *near* heap, a later one (an election timeout,
//! a timeline step far ahead) to the *far* heap, and `pop` takes the earlier of
//! the two tops. Which heap holds an entry changes nothing but speed: far-off
//! entries, often timers that will be cancelled, no longer deepen the heap
//! every delivery sifts through.

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
    /// A delivery the script delayed: it no longer passes the delivery hooks.
    Held { from: u32, to: u32, msg: P::Msg },
    /// The script's callback number `id`.
    Script(u32),
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

/// The runner's queue (see the module documentation).
pub struct Queue<P: Process> {
    near: BinaryHeap<Entry<P>>,
    far: BinaryHeap<Entry<P>>,
    seq: u64,
    /// The time of the last popped entry.
    last: Nanos,
    window: Nanos,
}

/// The near heap's default reach: 100ms of virtual time.
pub const DEFAULT_WINDOW: Nanos = 100_000_000;

impl<P: Process> Queue<P> {
    /// A queue whose near heap holds what is due within [`DEFAULT_WINDOW`].
    pub fn new() -> Self {
        Self::with_window(DEFAULT_WINDOW)
    }
    /// A queue whose near heap holds what is due within `window` ns of the
    /// last popped entry.
    pub fn with_window(window: Nanos) -> Self {
        Queue { near: BinaryHeap::new(), far: BinaryHeap::new(), seq: 0, last: 0, window }
    }
    #[inline]
    pub fn push(&mut self, time: Nanos, ev: Ev<P>) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        let entry = Entry { time, seq, ev };
        if time.saturating_sub(self.last) <= self.window {
            self.near.push(entry);
        } else {
            self.far.push(entry);
        }
        seq
    }
    #[inline]
    pub fn pop(&mut self) -> Option<Entry<P>> {
        let from_far = match (self.near.peek(), self.far.peek()) {
            // `Entry`'s order is reversed: the greater entry is the earlier one.
            (Some(a), Some(b)) => b > a,
            (None, Some(_)) => true,
            _ => false,
        };
        let entry = if from_far { self.far.pop() } else { self.near.pop() }?;
        self.last = entry.time;
        Some(entry)
    }
    /// The time of the earliest entry.
    pub fn peek_time(&self) -> Option<Nanos> {
        match (self.near.peek(), self.far.peek()) {
            (Some(a), Some(b)) => Some(a.time.min(b.time)),
            (a, b) => a.or(b).map(|e| e.time),
        }
    }
    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry<P>> {
        self.near.iter().chain(self.far.iter())
    }
    pub fn len(&self) -> usize {
        self.near.len() + self.far.len()
    }
    pub fn is_empty(&self) -> bool {
        self.near.is_empty() && self.far.is_empty()
    }
}

impl<P: Process> Default for Queue<P> {
    fn default() -> Self {
        Self::new()
    }
}
