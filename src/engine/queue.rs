//! The event queue: a min-queue keyed by `(time, seq)`, where `seq` is the
//! order events were scheduled in. Ties in time therefore resolve in schedule
//! order, which is what makes a run reproducible.
//!
//! Three structures share that one order, and `pop` takes the earliest of
//! their heads:
//!
//! - a priority queue of small keys (`time`, `seq`, a slot number: 24 bytes),
//!   whose payloads (deliveries, timeline steps, script callbacks) wait in a
//!   slab, so that sifting moves keys, not messages: a binary heap, behind a
//!   timing wheel once it is large ([`super::wheel`]);
//! - a FIFO of timeline steps, which come in time order;
//! - *timer lanes*: one FIFO per distinct timer delay (the first
//!   [`MAX_LANES`] delays a run uses). Timers of one delay are set at
//!   non-decreasing times, so each lane is already sorted by `(time, seq)`:
//!   setting a timer is an append and firing one a pop from the front;
//! - the timer table: every pending timer of every node. Each node owns
//!   [`OWN_SLOTS`] slots side by side, found from its number alone, so that
//!   the runner can ask for them ahead of time with the node's record; a node
//!   with more pending timers takes slots from a shared slab, in a per-node
//!   list. Cancelling or replacing a timer frees its slot at once and
//!   bumps the slot's generation; the lane or heap key it left behind no longer
//!   matches and is dropped, without running anything, when it reaches the
//!   front (timers of other delays than the lanes' go to the heap and are
//!   dropped the same way).
//!
//! Each FIFO's front key is copied into a small array, so that finding the
//! earliest entry compares the heap's top with a few keys in one place, and
//! `(time, seq)` is compared as one 128-bit number. A stale timer key is only
//! looked at when it is the earliest of all.
//!
//! Which structure holds an entry changes nothing but speed.

use std::cmp::Ordering;
use std::collections::VecDeque;

use super::wheel::{Timed, Wheel};
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

/// Set in [`Key::slot`] when the slot is in the payload slab rather than the timer table.
const PAYLOAD: u32 = 1 << 31;
const NIL: u32 = u32::MAX;

/// A queue entry's sort key and where its payload is.
#[derive(Clone, Copy, Debug)]
struct Key {
    time: Nanos,
    seq: u64,
    /// A timer slot, or a payload slot with [`PAYLOAD`] set.
    slot: u32,
    /// For a timer, the generation of its slot when it was set. For a
    /// payload, the node it is for (a delivery's receiver) or [`NIL`]: the
    /// runner asks for that node's record one event ahead
    /// ([`Queue::upcoming_target`]).
    generation: u32,
}

/// What an empty FIFO shows as its front: after every real entry.
const EMPTY: Key = Key { time: Nanos::MAX, seq: u64::MAX, slot: NIL, generation: NIL };

impl Key {
    #[inline(always)]
    fn is_payload(&self) -> bool {
        self.slot & PAYLOAD != 0
    }

    /// `(time, seq)` as one number: one comparison instead of two.
    #[inline(always)]
    fn order(&self) -> u128 {
        (u128::from(self.time) << 64) | u128::from(self.seq)
    }

    #[inline(always)]
    fn before(&self, other: &Key) -> bool {
        self.order() < other.order()
    }
}

impl Timed for Key {
    #[inline(always)]
    fn time(&self) -> u64 {
        self.time
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.order() == other.order()
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
    #[inline(always)]
    fn cmp(&self, other: &Self) -> Ordering {
        other.order().cmp(&self.order())
    }
}

enum Payload<P: Process> {
    Free { next: u32 },
    Full(Ev<P>),
}

/// How many keys ahead of a lane's front `fifo_pop` asks for timer slots.
const PREFETCH_AHEAD: usize = 4;

/// Timer slots each node owns (more pending timers go to the shared slab).
pub const OWN_SLOTS: usize = 2;

/// One pending timer, or a free slot (`timer` is `None`).
struct TimerSlot<T> {
    timer: Option<T>,
    node: u32,
    /// Bumped whenever the slot is freed: keys of older timers stop matching.
    generation: u32,
    /// For a shared slot, the next slot of the node's list, or of the free
    /// list (an owned slot is on no list).
    next: u32,
    /// The FIFO its key waits in, or [`IN_HEAP`].
    fifo: u8,
}

/// [`TimerSlot::fifo`] of a timer whose key is in the heap.
const IN_HEAP: u8 = u8::MAX;

/// Where the earliest entry is: the heap, or FIFO number `k` (0 is the
/// timeline's steps, `1 + i` timer lane `i`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Src {
    Heap,
    Fifo(u8),
}

/// The FIFO of timeline steps.
const STEPS: usize = 0;

/// The runner's queue (see the module documentation).
pub struct Queue<P: Process> {
    heap: Wheel<Key>,
    /// The timeline's steps (FIFO [`STEPS`]), then one FIFO per timer lane.
    fifos: Vec<VecDeque<Key>>,
    /// A copy of each FIFO's front key ([`EMPTY`] when it is empty), so that
    /// finding the earliest entry reads one small array, not every FIFO.
    fronts: [Key; 1 + MAX_LANES],
    /// The true delay of each timer lane.
    lane_delays: Vec<Nanos>,
    payloads: Vec<Payload<P>>,
    free_payload: u32,
    /// Node `i`'s own slots at `OWN_SLOTS * i ..`, then the shared slab.
    timers: Vec<TimerSlot<P::Timer>>,
    /// The shared slab's free list.
    free_timer: u32,
    /// Each node's first shared slot (a list through `TimerSlot::next`).
    heads: Vec<u32>,
    seq: u64,
    /// Entries that will still do something (stale timer keys not counted).
    live: usize,
    /// The earliest live entry, while nothing was pushed since it was found.
    best: Option<(Key, Src)>,
    /// Whether the run is large enough for `fifo_pop` to ask for timer slots
    /// ahead (the runner decides, for the queue and its own loop at once).
    prefetching: bool,
}

impl<P: Process> Queue<P> {
    /// An empty queue for `nodes` nodes, whose messages take up to `span` ns;
    /// `prefetching` for runs whose tables outgrow the caches.
    pub fn new(nodes: usize, span: Nanos, prefetching: bool) -> Self {
        assert!(nodes * OWN_SLOTS < PAYLOAD as usize, "more than 2^30 nodes");
        Queue {
            heap: Wheel::for_span(span),
            fifos: vec![VecDeque::new()],
            fronts: [EMPTY; 1 + MAX_LANES],
            lane_delays: Vec::new(),
            payloads: Vec::new(),
            free_payload: NIL,
            timers: (0..nodes * OWN_SLOTS)
                .map(|k| TimerSlot { timer: None, node: (k / OWN_SLOTS) as u32, generation: 0, next: NIL, fifo: IN_HEAP })
                .collect(),
            free_timer: NIL,
            heads: vec![NIL; nodes],
            seq: 0,
            live: 0,
            best: None,
            prefetching,
        }
    }

    /// Room for `steps` timeline steps (they are pushed before the run
    /// starts) and, to begin with, about one message per node (every node
    /// already has its own timer slots).
    pub fn reserve_steps(&mut self, steps: usize) {
        let nodes = self.heads.len();
        self.fifos[STEPS].reserve(steps);
        self.payloads.reserve(steps + nodes);
        self.heap.reserve(nodes);
    }

    #[inline]
    fn next_seq(&mut self) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        self.live += 1;
        self.best = None;
        seq
    }

    /// Appends `key` to FIFO `f`, whose back is not after it.
    #[inline]
    fn fifo_push(&mut self, f: usize, key: Key) {
        let q = &mut self.fifos[f];
        if q.is_empty() {
            self.fronts[f] = key;
        }
        q.push_back(key);
    }

    /// Removes FIFO `f`'s front, and the stale timer keys behind it: a
    /// FIFO's front is always live.
    #[inline]
    fn fifo_pop(&mut self, f: usize) {
        let q = &mut self.fifos[f];
        q.pop_front();
        loop {
            // Most keys behind a timer lane's front are of cancelled timers,
            // each in a slot somewhere: ask for the slot a few keys ahead.
            if self.prefetching
                && let Some(k) = q.get(PREFETCH_AHEAD)
                && !k.is_payload()
                && let Some(s) = self.timers.get(k.slot as usize)
            {
                super::prefetch::prefetch(s);
            }
            match q.front() {
                Some(k) if k.is_payload() || self.timers[k.slot as usize].generation == k.generation => {
                    self.fronts[f] = *k;
                    return;
                }
                Some(_) => {
                    q.pop_front();
                }
                None => {
                    self.fronts[f] = EMPTY;
                    return;
                }
            }
        }
    }

    /// Schedules `ev` at `time`; returns its sequence number.
    #[inline]
    pub fn push(&mut self, time: Nanos, ev: Ev<P>) -> u64 {
        let seq = self.next_seq();
        let ev_is_step = matches!(ev, Ev::Step(_));
        let target = match &ev {
            Ev::Deliver { to, .. } | Ev::Held { to, .. } => *to,
            _ => NIL,
        };
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
        assert!(slot < PAYLOAD, "more than 2^31 queued entries");
        let key = Key { time, seq, slot: slot | PAYLOAD, generation: target };
        match ev_is_step {
            // The timeline is in time order: its steps queue up in a FIFO.
            true if self.fifos[STEPS].back().is_none_or(|b| b.time <= time) => self.fifo_push(STEPS, key),
            _ => self.heap.push(key),
        }
        seq
    }

    /// Sets `timer` of node `node` to fire at `time`, `delay` from now,
    /// replacing a pending timer equal to it.
    pub fn set_timer(&mut self, node: u32, timer: P::Timer, time: Nanos, delay: Nanos) {
        self.cancel_timer(node, &timer);
        let seq = self.next_seq();
        let own = self.own_slots(node);
        let slot = if let Some(k) = self.timers[own.clone()].iter().position(|s| s.timer.is_none()) {
            let slot = own.start + k;
            self.timers[slot].timer = Some(timer);
            slot as u32
        } else {
            self.shared_slot(node, timer)
        };
        let key = Key { time, seq, slot, generation: self.timers[slot as usize].generation };
        let lane = match self.lane_delays.iter().position(|&d| d == delay) {
            Some(k) => Some(k),
            None if self.lane_delays.len() < MAX_LANES => {
                self.lane_delays.push(delay);
                self.fifos.push(VecDeque::with_capacity(self.heads.len()));
                Some(self.lane_delays.len() - 1)
            }
            None => None,
        };
        let fifo = match lane {
            // A lane stays sorted as long as times do not go back.
            Some(k) if self.fifos[1 + k].back().is_none_or(|b| b.time <= time) => {
                self.fifo_push(1 + k, key);
                (1 + k) as u8
            }
            _ => {
                self.heap.push(key);
                IN_HEAP
            }
        };
        self.timers[slot as usize].fifo = fifo;
    }

    /// A slot of the shared slab for `timer` of `node`, linked into its list.
    #[cold]
    fn shared_slot(&mut self, node: u32, timer: P::Timer) -> u32 {
        let head = &mut self.heads[node as usize];
        let slot = if self.free_timer != NIL {
            let slot = self.free_timer;
            let s = &mut self.timers[slot as usize];
            self.free_timer = s.next;
            s.timer = Some(timer);
            s.node = node;
            s.next = *head;
            slot
        } else {
            assert!(self.timers.len() < PAYLOAD as usize, "more than 2^31 pending timers");
            self.timers.push(TimerSlot { timer: Some(timer), node, generation: 0, next: *head, fifo: IN_HEAP });
            (self.timers.len() - 1) as u32
        };
        *head = slot;
        slot
    }

    /// Node `node`'s own timer slots.
    #[inline(always)]
    fn own_slots(&self, node: u32) -> std::ops::Range<usize> {
        // Another node's number would reach into the shared slab.
        assert!((node as usize) < self.heads.len(), "no node {node}");
        node as usize * OWN_SLOTS..(node as usize + 1) * OWN_SLOTS
    }

    /// Whether `slot` is one of the nodes' own slots (not the shared slab's).
    #[inline(always)]
    fn is_own(&self, slot: u32) -> bool {
        (slot as usize) < self.heads.len() * OWN_SLOTS
    }

    /// Frees timer slot `slot` (unlinked already) and makes its keys stale;
    /// a key at the front of its lane is dropped at once.
    #[inline]
    fn free_timer_slot(&mut self, slot: u32) -> P::Timer {
        let own = self.is_own(slot);
        let s = &mut self.timers[slot as usize];
        s.generation = s.generation.wrapping_add(1);
        let fifo = s.fifo;
        let timer = s.timer.take().expect("a pending timer slot holds a timer");
        if !own {
            s.next = self.free_timer;
            self.free_timer = slot;
        }
        self.live -= 1;
        self.best = None;
        if fifo != IN_HEAP && self.fronts[fifo as usize].slot == slot {
            self.fifo_pop(fifo as usize);
        }
        timer
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
    #[inline]
    pub fn cancel_timer(&mut self, node: u32, timer: &P::Timer) {
        let own = self.own_slots(node);
        if let Some(k) = self.timers[own.clone()].iter().position(|s| s.timer.as_ref() == Some(timer)) {
            self.free_timer_slot((own.start + k) as u32);
            return;
        }
        let mut prev = NIL;
        let mut at = self.heads[node as usize];
        while at != NIL {
            let s = &self.timers[at as usize];
            let next = s.next;
            if s.timer.as_ref() == Some(timer) {
                match prev {
                    NIL => self.heads[node as usize] = next,
                    p => self.timers[p as usize].next = next,
                }
                self.free_timer_slot(at);
                return;
            }
            prev = at;
            at = next;
        }
    }

    /// Cancels every pending timer of node `node` (a crash).
    pub fn clear_timers(&mut self, node: u32) {
        for slot in self.own_slots(node) {
            if self.timers[slot].timer.is_some() {
                self.free_timer_slot(slot as u32);
            }
        }
        let mut at = std::mem::replace(&mut self.heads[node as usize], NIL);
        while at != NIL {
            let next = self.timers[at as usize].next;
            self.free_timer_slot(at);
            at = next;
        }
    }

    #[inline(always)]
    fn is_live(&self, k: &Key) -> bool {
        k.is_payload() || self.timers[k.slot as usize].generation == k.generation
    }

    /// Finds the earliest live entry into `best`, dropping stale timer keys
    /// on the way; false when the queue is empty.
    #[inline(always)]
    fn find(&mut self) -> bool {
        self.best.is_some() || self.find_slow()
    }

    #[inline(never)]
    fn find_slow(&mut self) -> bool {
        let mut best = EMPTY;
        let mut src = Src::Heap;
        while let Some(&k) = self.heap.peek() {
            if self.is_live(&k) {
                best = k;
                break;
            }
            self.heap.pop();
        }
        // FIFO fronts are live (`fifo_pop`, `free_timer_slot`).
        let n = self.fifos.len();
        for (f, k) in self.fronts[..n].iter().enumerate() {
            if k.before(&best) {
                best = *k;
                src = Src::Fifo(f as u8);
            }
        }
        if best.seq == EMPTY.seq {
            return false;
        }
        debug_assert!(self.is_live(&best));
        self.best = Some((best, src));
        true
    }

    /// The receiver of the delivery that is probably next (the front of the
    /// heap's current window), after asking for its payload's cache lines:
    /// the runner asks for the receiver's record, so that both are loaded
    /// while the current event is handled. A guess, used for speed only.
    #[inline(always)]
    pub fn upcoming_target(&self) -> Option<u32> {
        let k = self.heap.front()?;
        if !k.is_payload() {
            return None;
        }
        if let Some(p) = self.payloads.get((k.slot & !PAYLOAD) as usize) {
            super::prefetch::prefetch(p);
        }
        (k.generation != NIL).then_some(k.generation)
    }

    /// Asks for node `node`'s own timer slots (see [`Self::upcoming_target`]).
    #[inline(always)]
    pub fn prefetch_timers(&self, node: u32) {
        if let Some(own) = self.timers.get(self.own_slots(node)) {
            super::prefetch::prefetch_slice(own);
        }
    }

    /// The time of the earliest entry.
    #[inline]
    pub fn peek_time(&mut self) -> Option<Nanos> {
        if self.find() { self.best.map(|(k, _)| k.time) } else { None }
    }

    /// Removes and returns the earliest entry.
    #[inline]
    pub fn pop(&mut self) -> Option<(Nanos, Due<P>)> {
        if !self.find() {
            return None;
        }
        let (key, src) = self.best.take()?;
        match src {
            Src::Heap => {
                self.heap.pop();
            }
            Src::Fifo(f) => self.fifo_pop(f as usize),
        }
        if key.is_payload() {
            self.live -= 1;
            let slot = key.slot & !PAYLOAD;
            let old = std::mem::replace(&mut self.payloads[slot as usize], Payload::Free { next: self.free_payload });
            self.free_payload = slot;
            match old {
                Payload::Full(ev) => Some((key.time, Due::Ev(ev))),
                Payload::Free { .. } => unreachable!("a queued key points at a full slot"),
            }
        } else {
            let node = self.timers[key.slot as usize].node;
            if !self.is_own(key.slot) {
                self.unlink(node, key.slot);
            }
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
        let mut q = Queue::<N>::new(3, 10, false);
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
        let mut q = Queue::<N>::new(2, 10, false);
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

    /// Random timers set, replaced, cancelled and cleared on a few nodes,
    /// mixed with deliveries, against a plain list of what is pending: the
    /// queue hands back exactly the live entries, earliest `(time, seq)` first,
    /// whether a timer sits in a node's own slots or in the shared slab.
    #[test]
    fn timers_match_a_plain_model() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let nodes = 4u32;
        // The large-run paths on a small queue: lane prefetch, windows.
        let mut q = Queue::<N>::new(nodes as usize, 5000, true);
        q.heap.spread_from(8);
        /// (time, seq, what): what is `Some((node, timer))` for a timer, `None` for a delivery.
        type Pending = (Nanos, u64, Option<(u32, u32)>);
        let mut model: Vec<Pending> = Vec::new();
        let mut now = 0;
        for _ in 0..20_000 {
            let r = next();
            let node = (r % u64::from(nodes)) as u32;
            let timer = (r >> 8) as u32 % 5;
            match r >> 16 & 15 {
                0..=4 => {
                    let delay = [10, 20, 35, 7000][(r >> 20) as usize % 4] + (r >> 24) % 3;
                    model.retain(|e| e.2 != Some((node, timer)));
                    let seq = q.seq;
                    q.set_timer(node, timer, now + delay, delay);
                    model.push((now + delay, seq, Some((node, timer))));
                }
                5 => {
                    model.retain(|e| e.2 != Some((node, timer)));
                    q.cancel_timer(node, &timer);
                }
                6 if r >> 30 & 15 == 0 => {
                    model.retain(|e| !matches!(e.2, Some((n, _)) if n == node));
                    q.clear_timers(node);
                }
                7 | 8 => {
                    let t = now + (r >> 20) % 4000;
                    let seq = q.push(t, Ev::Deliver { from: 0, to: node, msg: M });
                    model.push((t, seq, None));
                }
                9 => {
                    // Peek, then cancel what was due: the queue must not hand it out.
                    if let Some(t) = q.peek_time()
                        && let Some(i) = model.iter().position(|e| e.0 == t && e.2.is_some())
                        && let Some((node, timer)) = model[i].2
                        && model.iter().filter(|e| e.0 == t).count() == 1
                    {
                        q.cancel_timer(node, &timer);
                        model.swap_remove(i);
                    }
                }
                _ => {
                    if let Some(j) = q.upcoming_target() {
                        assert!(j < nodes);
                        q.prefetch_timers(j);
                    }
                    let want = model.iter().enumerate().min_by_key(|(_, e)| (e.0, e.1)).map(|(i, e)| (i, *e));
                    assert_eq!(q.len(), model.len());
                    match (q.pop(), want) {
                        (None, None) => {}
                        (Some((t, due)), Some((i, (wt, _, what)))) => {
                            assert_eq!(t, wt);
                            match (due, what) {
                                (Due::Timer { node, timer }, Some(w)) => assert_eq!((node, timer), w),
                                (Due::Ev(Ev::Deliver { .. }), None) => {}
                                _ => panic!("a timer where a delivery was due, or the reverse"),
                            }
                            model.swap_remove(i);
                            now = t;
                        }
                        (got, want) => panic!("queue gave {:?}, model {:?}", got.map(|g| g.0), want.map(|w| w.1)),
                    }
                }
            }
        }
    }
}
