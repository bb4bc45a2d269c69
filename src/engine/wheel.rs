//! A timing wheel in front of a binary heap: the runner's priority queue for
//! entries that do not come in order (message deliveries, above all).
//!
//! A binary heap of 100,000 entries or more spends most of each pop on cache
//! misses: the lower levels of the sift are scattered over megabytes. Here the
//! time line is cut into windows of `2^shift` ns and only the current window's
//! entries are in a heap (`cur`), a small one. Entries for the next
//! [`SLOTS`] − 1 windows wait unsorted in one vector per window, which a push
//! appends to; entries further ahead wait in a second heap (`far`). When `cur`
//! runs dry the next non-empty window (found through a bitmap) is heapified
//! into it, and the far entries that have come within reach move to their
//! windows.
//!
//! A small queue gains nothing from windows, and a short run would pay for
//! setting them up: the wheel starts as a plain heap (everything in `cur`)
//! and spreads into windows once `cur` holds more than [`SPREAD_AT`] entries.
//!
//! The order is exactly the heap's: `pop` always returns the greatest entry
//! by `Ord` (the runner's keys order by `(time, seq)` reversed, so that is the
//! earliest), whatever the order of pushes, since every entry of `cur` is in
//! an earlier window than every entry outside it. The window width only
//! changes speed: [`Wheel::for_span`] picks it so that the wheel covers the
//! scenario's longest latency.

use std::collections::BinaryHeap;

/// An entry's time, which picks its window.
pub trait Timed: Ord + Copy {
    fn time(&self) -> u64;
}

/// Windows in the wheel (a power of two, a multiple of 64).
pub const SLOTS: usize = 256;
const MASK: u64 = SLOTS as u64 - 1;
const WORDS: usize = SLOTS / 64;

/// The narrowest window: 1.024 µs.
const MIN_SHIFT: u32 = 10;

/// Entries in `cur` beyond which the wheel spreads them over its windows.
pub const SPREAD_AT: usize = 1024;

/// [`Wheel::c`] before the wheel has spread: every entry is in `cur`.
const UNSPREAD: u64 = u64::MAX;

pub struct Wheel<T: Timed> {
    /// Every entry whose window is `c` or earlier.
    cur: BinaryHeap<T>,
    /// The current window ([`UNSPREAD`] until the wheel has spread).
    c: u64,
    shift: u32,
    /// `slots[w % SLOTS]`: the entries of window `w`, for `c < w < c + SLOTS`.
    slots: Vec<Vec<T>>,
    /// Bit `s` is set when `slots[s]` is not empty.
    full: [u64; WORDS],
    in_slots: usize,
    /// Entries of window `c + SLOTS` and later.
    far: BinaryHeap<T>,
    /// [`SPREAD_AT`], except in tests.
    spread_at: usize,
}

impl<T: Timed> Wheel<T> {
    /// A wheel whose windows are `2^shift` ns wide (at least 1.024 µs).
    pub fn new(shift: u32) -> Self {
        Wheel {
            cur: BinaryHeap::new(),
            c: UNSPREAD,
            shift: shift.clamp(MIN_SHIFT, 63),
            slots: Vec::new(),
            full: [0; WORDS],
            in_slots: 0,
            far: BinaryHeap::new(),
            spread_at: SPREAD_AT,
        }
    }

    /// A wheel that holds entries up to `span` ns ahead outside `far`: the
    /// narrowest windows whose [`SLOTS`] − 1 cover `span`.
    pub fn for_span(span: u64) -> Self {
        let per_window = span.div_ceil(SLOTS as u64 - 1).max(1);
        Self::new(u64::BITS - (per_window - 1).leading_zeros())
    }

    #[inline(always)]
    fn window(&self, e: &T) -> u64 {
        e.time() >> self.shift
    }

    /// Spreads into windows from `n` entries on (tests: the queue's own
    /// tests run small queues through the windows too).
    #[cfg(test)]
    pub(crate) fn spread_from(&mut self, n: usize) {
        self.spread_at = n;
    }

    /// Room for `n` more entries in the current window's heap.
    pub fn reserve(&mut self, n: usize) {
        self.cur.reserve(n);
    }

    #[inline(always)]
    pub fn push(&mut self, e: T) {
        let w = self.window(&e);
        if w <= self.c {
            self.cur.push(e);
            if self.c == UNSPREAD && self.cur.len() > self.spread_at {
                self.spread();
            }
        } else if w - self.c < SLOTS as u64 {
            let s = (w & MASK) as usize;
            self.slots[s].push(e);
            self.full[s / 64] |= 1 << (s % 64);
            self.in_slots += 1;
        } else {
            self.far.push(e);
        }
    }

    /// The current window's first entry, without moving to the next window:
    /// `None` does not mean the wheel is empty.
    #[inline(always)]
    pub fn front(&self) -> Option<&T> {
        self.cur.peek()
    }

    /// The entry `pop` would return.
    #[inline]
    pub fn peek(&mut self) -> Option<&T> {
        if self.cur.is_empty() && !self.advance() {
            return None;
        }
        self.cur.peek()
    }

    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        if self.cur.is_empty() && !self.advance() {
            return None;
        }
        self.cur.pop()
    }

    pub fn len(&self) -> usize {
        self.cur.len() + self.in_slots + self.far.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Leaves heap mode: the earliest entry's window becomes the current
    /// one, and every later entry moves to its window (or `far`).
    #[cold]
    #[inline(never)]
    fn spread(&mut self) {
        let first = *self.cur.peek().expect("spread with entries");
        self.c = self.window(&first);
        self.slots = (0..SLOTS).map(|_| Vec::new()).collect();
        let all = std::mem::take(&mut self.cur).into_vec();
        let mut cur = Vec::with_capacity(all.len());
        for e in all {
            if self.window(&e) <= self.c {
                cur.push(e);
            } else {
                self.push(e);
            }
        }
        self.cur = BinaryHeap::from(cur);
    }

    /// Moves on to the next window that holds entries; false if there is none.
    #[inline(never)]
    fn advance(&mut self) -> bool {
        let c = if self.in_slots > 0 {
            self.c + self.distance_to_next_full()
        } else {
            match self.far.peek() {
                Some(e) => self.window(e),
                None => return false,
            }
        };
        self.c = c;
        let s = (c & MASK) as usize;
        if self.full[s / 64] & (1 << (s % 64)) != 0 {
            self.full[s / 64] &= !(1 << (s % 64));
            let entries = std::mem::take(&mut self.slots[s]);
            self.in_slots -= entries.len();
            // `cur` is empty: its vector goes back to the slot, capacity and all.
            let emptied = std::mem::replace(&mut self.cur, BinaryHeap::from(entries));
            self.slots[s] = emptied.into_vec();
        }
        // Far entries that the wheel now reaches.
        while let Some(e) = self.far.peek() {
            if self.window(e) - c >= SLOTS as u64 {
                break;
            }
            let e = self.far.pop().expect("peeked");
            self.push(e);
        }
        true
    }

    /// How many windows after `c` the next non-empty slot is (1..SLOTS).
    fn distance_to_next_full(&self) -> u64 {
        let from = (self.c & MASK) as usize;
        let start = (from + 1) % SLOTS;
        let (w0, b0) = (start / 64, start % 64);
        let mut found = None;
        let first = self.full[w0] & (!0u64 << b0);
        if first != 0 {
            found = Some(w0 * 64 + first.trailing_zeros() as usize);
        } else {
            for k in 1..=WORDS {
                let w = (w0 + k) % WORDS;
                // Back at the first word: only the bits below `start` are left.
                let bits = if k == WORDS { self.full[w] & !(!0u64 << b0) } else { self.full[w] };
                if bits != 0 {
                    found = Some(w * 64 + bits.trailing_zeros() as usize);
                    break;
                }
            }
        }
        let pos = found.expect("in_slots > 0, so some slot is full");
        ((pos + SLOTS - from) % SLOTS) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;

    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
    struct E(Reverse<(u64, u64)>);
    impl Timed for E {
        fn time(&self) -> u64 {
            self.0.0.0
        }
    }

    /// xorshift64: a fixed stream for the tests.
    fn stream(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// Where every entry is, as the field documentation says.
    fn check_places(w: &Wheel<E>) {
        if w.c == UNSPREAD {
            assert!(w.slots.is_empty() && w.far.is_empty() && w.in_slots == 0);
            return;
        }
        assert!(w.cur.iter().all(|e| w.window(e) <= w.c));
        let mut n = 0;
        for (s, v) in w.slots.iter().enumerate() {
            assert_eq!(w.full[s / 64] >> (s % 64) & 1 == 1, !v.is_empty(), "bitmap of slot {s}");
            for e in v {
                let d = w.window(e) - w.c;
                assert!(d > 0 && d < SLOTS as u64 && (w.window(e) & MASK) as usize == s);
            }
            n += v.len();
        }
        assert_eq!(n, w.in_slots);
        assert!(w.far.iter().all(|e| w.window(e) - w.c >= SLOTS as u64));
    }

    /// Random pushes and pops, compared with a plain heap entry by entry.
    fn same_as_heap(shift: u32, seed: u64, spread: u64, backwards: bool, spread_at: usize) {
        let mut next = stream(seed);
        let mut wheel = Wheel::new(shift);
        wheel.spread_at = spread_at;
        let mut heap = BinaryHeap::new();
        let mut now = 0u64;
        let mut seq = 0u64;
        for round in 0..20_000 {
            let pushes = next() % 4;
            for _ in 0..pushes {
                let r = next();
                let t = match r % 10 {
                    0 => now,                          // at once
                    1 => now + spread * 1000 + r % 97, // far ahead
                    2 if backwards => now.saturating_sub(r % 5000),
                    _ => now + r % spread.max(1),
                };
                let e = E(Reverse((t, seq)));
                seq += 1;
                wheel.push(e);
                heap.push(e);
                check_places(&wheel);
            }
            let pops = if round % 1000 == 999 { usize::MAX } else { (next() % 3) as usize };
            for _ in 0..pops {
                assert_eq!(wheel.peek().copied(), heap.peek().copied());
                let (a, b) = (wheel.pop(), heap.pop());
                assert_eq!(a, b);
                assert_eq!(wheel.len(), heap.len());
                check_places(&wheel);
                match a {
                    Some(e) => now = now.max(e.time()),
                    None => break,
                }
            }
        }
        while let Some(b) = heap.pop() {
            assert_eq!(wheel.pop(), Some(b));
        }
        assert!(wheel.is_empty() && wheel.pop().is_none());
    }

    #[test]
    fn pops_exactly_what_a_heap_pops() {
        for (k, &(shift, spread)) in
            [(10, 3_000_000), (14, 3_000_000), (20, 1_000), (10, 50), (30, 1 << 40), (12, 1 << 22)].iter().enumerate()
        {
            for spread_at in [0, 100, SPREAD_AT] {
                same_as_heap(shift, 0x9E37_79B9_7F4A_7C15 + k as u64, spread, false, spread_at);
                same_as_heap(shift, 0xDEAD_BEEF + k as u64, spread, true, spread_at);
            }
        }
    }

    #[test]
    fn span_picks_windows_that_cover_it() {
        for span in [0u64, 1, 1000, 3_000_000, 1 << 40] {
            let w = Wheel::<E>::for_span(span);
            assert!((1u64 << w.shift) * (SLOTS as u64 - 1) >= span);
            assert!(w.shift == MIN_SHIFT || (1u64 << (w.shift - 1)) * (SLOTS as u64 - 1) < span);
        }
    }

    #[test]
    fn next_full_slot_wraps_around() {
        let mut w = Wheel::<E>::new(10);
        w.spread_at = 0;
        w.push(E(Reverse((250 << 10, 0))));
        assert_eq!(w.c, 250);
        assert_eq!(w.pop().map(|e| e.time() >> 10), Some(250));
        for t in [300u64, 260, 255] {
            w.push(E(Reverse((t << 10, t))));
        }
        assert_eq!(w.distance_to_next_full(), 5);
        assert_eq!(w.pop().map(|e| e.time() >> 10), Some(255));
        assert_eq!(w.pop().map(|e| e.time() >> 10), Some(260));
        assert_eq!(w.pop().map(|e| e.time() >> 10), Some(300));
    }
}

#[cfg(test)]
mod speed {
    use super::*;
    use std::cmp::Reverse;
    use std::time::Instant;

    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
    struct E(Reverse<(u64, u64)>, u64);
    impl Timed for E {
        fn time(&self) -> u64 {
            self.0.0.0
        }
    }

    #[test]
    #[ignore]
    fn wheel_against_heap() {
        for entries in [400usize, 1_426, 4_000, 42_000] {
            for round in 0..3 {
                let ops = 4_000_000u64;
                let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
                let mut next = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                let mut heap = BinaryHeap::new();
                let mut wheel = Wheel::for_span(3_000_000);
                for seq in 0..entries as u64 {
                    let t = 1_000_000 + next() % 2_000_001;
                    heap.push(E(Reverse((t, seq)), 0));
                    wheel.push(E(Reverse((t, seq)), 0));
                }
                let s = Instant::now();
                for seq in entries as u64..entries as u64 + ops {
                    let e = heap.pop().unwrap();
                    heap.push(E(Reverse((e.time() + 1_000_000 + next() % 2_000_001, seq)), 0));
                }
                let h = s.elapsed();
                let s = Instant::now();
                for seq in entries as u64..entries as u64 + ops {
                    let e = wheel.pop().unwrap();
                    wheel.push(E(Reverse((e.time() + 1_000_000 + next() % 2_000_001, seq)), 0));
                }
                let w = s.elapsed();
                eprintln!(
                    "{entries} r{round}: heap {:.1} ns/op, wheel {:.1} ns/op",
                    h.as_nanos() as f64 / ops as f64,
                    w.as_nanos() as f64 / ops as f64
                );
            }
        }
    }
}
