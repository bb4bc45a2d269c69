//! The event queue: a min-queue keyed by `(time, seq)`, where `seq` is the
//! order events were scheduled in. Ties in time therefore resolve in schedule
//! order, which is what makes a run reproducible.
//!
//! Three structures share that one order, and `pop` takes the earliest of
//! their heads:
//!
//! - a binary heap of small keys (`time`, `seq`, a slot number: 24 bytes), whose
//!   payloads (deliveries, timeline steps, script callbacks) wait in a slab, so
//!   that sifting moves keys, not messages;
//! - a FIFO of timeline steps, which come in time order;
//! - *timer lanes*: one FIFO per distinct timer delay (the first
//!   [`MAX_LANES`] delays a run uses). Timers of one delay are set at
//!   non-decreasing times, so each lane is already sorted by `(time, seq)`:
//!   setting a timer is an append and firing one a pop from the front;
//! - the timer table: every pending timer of every node, in a slab with a
//!   per-node list. Cancelling or replacing a timer frees its slot at once and
//!   bumps the slot's generation; the lane or heap key it left behind no longer
//!   matches and is dropped, without running anything, when it reaches the
//!   front (timers of other delays than the lanes' go to the heap and are
//!   dropped the same way).
//!
//! Which structure holds an entry changes nothing but speed.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use crate::process::{Nanos, Process};

/// What happens when an entry comes due. Node numbers are dense indices.
/// (Timers are set with [`Queue::set_timer`] and come back as [`Due::Timer`].)
pub enum Ev<P: Process> {
    Deliver {
        from: u32,
        to: u32,
        msg: P::Msg,
    },
    /// The scenario's timeline step number `step`.
    Step(u32),
    /// A delivery the script delayed: it no longer passes the delivery hooks.
    Held {
        from: u32,
        to: u32,
        msg: P::Msg,
    },
    /// The script's callback number `id`.
    Script(u32),
}

/// What [`Queue::pop`] hands back.
pub enum Due<P: Process> {
    Ev(Ev<P>),
    /// A timer of node `node` fired; it is no longer pending.
    Timer {
        node: u32,
        timer: P::Timer,
    },
}

/// How many distinct timer delays get a lane of their own.
pub const MAX_LANES: usize = 8;

/// `generation` of a key whose slot is in the payload slab rather than the timer table.
const PAYLOAD: u32 = u32::MAX;
const NIL: u32 = u32::MAX;

/// A queue entry's sort key and where its payload is.
#[derive(Clone, Copy, Debug)]
struct Key {
    time: Nanos,
    seq: u64,
    slot: u32,
    /// [`PAYLOAD`], or the generation of timer slot `slot` when it was set.
    generation: u32,
}

impl Key {
    #[inline]
    fn before(&self, other: &Key) -> bool {
        (self.time, self.seq) < (other.time, other.seq)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest entry.
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

enum Payload<P: Process> {
    Free { next: u32 },
    Full(Ev<P>),
}

/// One pending timer, or a free slot (`timer` is `None`).
struct TimerSlot<T> {
    timer: Option<T>,
    node: u32,
    /// Bumped whenever the slot is freed: keys of older timers stop matching.
    generation: u32,
    /// The next slot of the node's list, or of the free list.
    next: u32,
}

struct Lane {
    delay: Nanos,
    keys: VecDeque<Key>,
}

/// Where the earliest entry is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Src {
    Heap,
    Steps,
    Lane(usize),
}

/// The runner's queue (see the module documentation).
pub struct Queue<P: Process> {
    heap: BinaryHeap<Key>,
    /// Timeline steps, in time order.
    steps: VecDeque<Key>,
    lanes: Vec<Lane>,
    payloads: Vec<Payload<P>>,
    free_payload: u32,
    timers: Vec<TimerSlot<P::Timer>>,
    free_timer: u32,
    /// Each node's first pending timer slot (a list through `TimerSlot::next`).
    heads: Vec<u32>,
    seq: u64,
    /// Entries that will still do something (stale timer keys not counted).
    live: usize,
    /// The earliest live entry, while nothing was pushed since it was found.
    best: Option<(Key, Src)>,
}

impl<P: Process> Queue<P> {
    /// An empty queue for `nodes` nodes.
    pub fn new(nodes: usize) -> Self {
        Queue {
            heap: BinaryHeap::new(),
            steps: VecDeque::new(),
            lanes: Vec::new(),
            payloads: Vec::new(),
            free_payload: NIL,
            timers: Vec::new(),
            free_timer: NIL,
            heads: vec![NIL; nodes],
            seq: 0,
            live: 0,
            best: None,
        }
    }

    #[inline]
    fn next_seq(&mut self) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        self.live += 1;
        self.best = None;
        seq
    }

    /// Schedules `ev` at `time`; returns its sequence number.
    #[inline]
    pub fn push(&mut self, time: Nanos, ev: Ev<P>) -> u64 {
        let seq = self.next_seq();
        let ev_is_step = matches!(ev, Ev::Step(_));
        let slot = if self.free_payload != NIL {
            let slot = self.free_payload;
            let old = std::mem::replace(&mut self.payloads[slot as usize], Payload::Full(ev));
            self.free_payload = match old {
                Payload::Free { next } => next,
                Payload::Full(_) => unreachable!("the free list holds free slots only"),
            };
            slot
        } else {
            self.payloads.push(Payload::Full(ev));
            (self.payloads.len() - 1) as u32
        };
        let key = Key { time, seq, slot, generation: PAYLOAD };
        match ev_is_step {
            // The timeline is in time order: its steps queue up in a FIFO.
            true if self.steps.back().is_none_or(|b| b.time <= time) => self.steps.push_back(key),
            _ => self.heap.push(key),
        }
        seq
    }

    /// Sets `timer` of node `node` to fire at `time`, `delay` from now,
    /// replacing a pending timer equal to it.
    pub fn set_timer(&mut self, node: u32, timer: P::Timer, time: Nanos, delay: Nanos) {
        self.cancel_timer(node, &timer);
        let seq = self.next_seq();
        let slot = if self.free_timer != NIL {
            let slot = self.free_timer;
            let s = &mut self.timers[slot as usize];
            self.free_timer = s.next;
            s.timer = Some(timer);
            s.node = node;
            s.next = self.heads[node as usize];
            slot
        } else {
            self.timers.push(TimerSlot { timer: Some(timer), node, generation: 0, next: self.heads[node as usize] });
            (self.timers.len() - 1) as u32
        };
        self.heads[node as usize] = slot;
        let key = Key { time, seq, slot, generation: self.timers[slot as usize].generation };
        let lane = match self.lanes.iter().position(|l| l.delay == delay) {
            Some(k) => Some(k),
            None if self.lanes.len() < MAX_LANES => {
                self.lanes.push(Lane { delay, keys: VecDeque::new() });
                Some(self.lanes.len() - 1)
            }
            None => None,
        };
        match lane {
            // A lane stays sorted as long as times do not go back.
            Some(k) if self.lanes[k].keys.back().is_none_or(|b| b.time <= time) => self.lanes[k].keys.push_back(key),
            _ => self.heap.push(key),
        }
    }

    /// Frees timer slot `slot` (unlinked already) and makes its keys stale.
    fn free_timer_slot(&mut self, slot: u32) -> P::Timer {
        let s = &mut self.timers[slot as usize];
        s.generation = if s.generation + 1 == PAYLOAD { 0 } else { s.generation + 1 };
        s.next = self.free_timer;
        self.free_timer = slot;
        self.live -= 1;
        self.best = None;
        s.timer.take().expect("a pending timer slot holds a timer")
    }

    /// Unlinks `slot` from its node's list.
    fn unlink(&mut self, node: u32, slot: u32) {
        let next = self.timers[slot as usize].next;
        let mut at = self.heads[node as usize];
        if at == slot {
            self.heads[node as usize] = next;
            return;
        }
        while at != NIL {
            let s = &mut self.timers[at as usize];
            if s.next == slot {
                s.next = next;
                return;
            }
            at = s.next;
        }
    }

    /// Cancels node `node`'s pending timer equal to `timer`, if there is one.
    pub fn cancel_timer(&mut self, node: u32, timer: &P::Timer) {
        let mut at = self.heads[node as usize];
        while at != NIL {
            let s = &self.timers[at as usize];
            if s.timer.as_ref() == Some(timer) {
                self.unlink(node, at);
                self.free_timer_slot(at);
                return;
            }
            at = s.next;
        }
    }

    /// Cancels every pending timer of node `node` (a crash).
    pub fn clear_timers(&mut self, node: u32) {
        let mut at = std::mem::replace(&mut self.heads[node as usize], NIL);
        while at != NIL {
            let next = self.timers[at as usize].next;
            self.free_timer_slot(at);
            at = next;
        }
    }

    #[inline]
    fn is_live(&self, k: &Key) -> bool {
        k.generation == PAYLOAD || self.timers[k.slot as usize].generation == k.generation
    }

    /// Finds the earliest live entry, dropping stale timer keys on the way.
    #[inline]
    fn find(&mut self) -> Option<(Key, Src)> {
        if let Some(b) = self.best {
            return Some(b);
        }
        let mut best: Option<(Key, Src)> = None;
        while let Some(k) = self.heap.peek() {
            if self.is_live(k) {
                best = Some((*k, Src::Heap));
                break;
            }
            self.heap.pop();
        }
        if let Some(k) = self.steps.front()
            && best.is_none_or(|(b, _)| k.before(&b))
        {
            best = Some((*k, Src::Steps));
        }
        for i in 0..self.lanes.len() {
            while let Some(k) = self.lanes[i].keys.front() {
                if self.is_live(k) {
                    if best.is_none_or(|(b, _)| k.before(&b)) {
                        best = Some((*k, Src::Lane(i)));
                    }
                    break;
                }
                self.lanes[i].keys.pop_front();
            }
        }
        self.best = best;
        best
    }

    /// The time of the earliest entry.
    #[inline]
    pub fn peek_time(&mut self) -> Option<Nanos> {
        self.find().map(|(k, _)| k.time)
    }

    /// Removes and returns the earliest entry.
    #[inline]
    pub fn pop(&mut self) -> Option<(Nanos, Due<P>)> {
        let (key, src) = self.find()?;
        self.best = None;
        match src {
            Src::Heap => {
                self.heap.pop();
            }
            Src::Steps => {
                self.steps.pop_front();
            }
            Src::Lane(i) => {
                self.lanes[i].keys.pop_front();
            }
        }
        if key.generation == PAYLOAD {
            self.live -= 1;
            let old = std::mem::replace(&mut self.payloads[key.slot as usize], Payload::Free { next: self.free_payload });
            self.free_payload = key.slot;
            match old {
                Payload::Full(ev) => Some((key.time, Due::Ev(ev))),
                Payload::Free { .. } => unreachable!("a queued key points at a full slot"),
            }
        } else {
            let node = self.timers[key.slot as usize].node;
            self.unlink(node, key.slot);
            let timer = self.free_timer_slot(key.slot);
            Some((key.time, Due::Timer { node, timer }))
        }
    }

    /// Entries that will still do something: cancelled and replaced timers
    /// are not counted.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{Ctx, NodeId, Setup};
    use crate::scenario::Command;

    #[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    struct M;
    impl std::fmt::Display for M {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("M")
        }
    }
    impl crate::process::Message for M {
        fn kind(&self) -> &'static str {
            "M"
        }
    }
    struct N;
    impl Process for N {
        type Msg = M;
        type Timer = u32;
        type Params = ();
        fn new(_: NodeId, _: &Setup<'_, ()>) -> Self {
            N
        }
        fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: M) {}
        fn on_command(&mut self, _: &mut Ctx<'_, Self>, _: &Command) {}
    }

    fn drain(q: &mut Queue<N>) -> Vec<(Nanos, String)> {
        let mut out = Vec::new();
        while let Some((t, d)) = q.pop() {
            out.push((
                t,
                match d {
                    Due::Ev(Ev::Step(k)) => format!("step {k}"),
                    Due::Ev(_) => "ev".into(),
                    Due::Timer { node, timer } => format!("timer {node}/{timer}"),
                },
            ));
        }
        out
    }

    #[test]
    fn time_then_schedule_order_across_heap_and_lanes() {
        let mut q = Queue::<N>::new(3);
        q.push(5, Ev::Step(0));
        q.set_timer(0, 1, 5, 5);
        q.push(5, Ev::Step(1));
        q.set_timer(1, 1, 3, 3);
        q.set_timer(2, 7, 5, 5);
        assert_eq!(q.len(), 5);
        assert_eq!(q.peek_time(), Some(3));
        let got = drain(&mut q);
        let want = [(3, "timer 1/1"), (5, "step 0"), (5, "timer 0/1"), (5, "step 1"), (5, "timer 2/7")];
        assert_eq!(got, want.map(|(t, s)| (t, s.to_string())));
        assert!(q.is_empty());
    }

    #[test]
    fn cancelled_replaced_and_cleared_timers_never_fire() {
        let mut q = Queue::<N>::new(2);
        q.set_timer(0, 1, 10, 10);
        q.set_timer(0, 2, 10, 10);
        q.set_timer(0, 1, 12, 12); // replaces the first
        q.cancel_timer(0, &2);
        q.set_timer(1, 3, 10, 10);
        q.set_timer(1, 4, 11, 11);
        q.clear_timers(1);
        // Delays beyond the lanes go to the heap.
        for d in 0..MAX_LANES as u64 + 2 {
            q.set_timer(1, 100 + d as u32, 20 + d, 20 + d);
        }
        q.cancel_timer(1, &(100 + MAX_LANES as u32 + 1));
        assert_eq!(q.len(), 1 + MAX_LANES + 1);
        let got = drain(&mut q);
        assert_eq!(got[0], (12, "timer 0/1".to_string()));
        assert_eq!(got.len(), 1 + MAX_LANES + 1);
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
    }
}
