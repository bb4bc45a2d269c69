//! The clock model: each node's local clock reads true time plus an offset, and
//! runs fast or slow by a drift in parts per million.
//!
//! `local(t) = base_local + (t - base_true) · (1 + ppb/10⁹)`. Timers are set in
//! local time, so a fast clock's timers fire early in true time.

use crate::process::Nanos;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    base_true: Nanos,
    base_local: i64,
    /// Drift in parts per billion.
    ppb: i64,
}

const BILLION: i128 = 1_000_000_000;

impl Clock {
    pub fn new(offset_ns: i64, drift_ppm: f64) -> Clock {
        Clock { base_true: 0, base_local: offset_ns, ppb: (drift_ppm * 1000.0).round() as i64 }
    }

    /// The local reading at true time `t`.
    pub fn local(&self, t: Nanos) -> i64 {
        let dt = t.saturating_sub(self.base_true) as i128;
        let drift = if self.ppb == 0 { 0 } else { dt * self.ppb as i128 / BILLION };
        (self.base_local as i128 + dt + drift) as i64
    }

    /// How much true time passes while this clock advances `local` ns.
    pub fn true_delay(&self, local: Nanos) -> Nanos {
        if self.ppb == 0 {
            return local;
        }
        let num = local as i128 * BILLION;
        let den = BILLION + self.ppb as i128;
        ((num + den - 1) / den) as Nanos
    }

    /// From true time `t` on, the clock drifts by `ppm` (it keeps its reading at `t`).
    pub fn set_drift(&mut self, t: Nanos, ppm: f64) {
        self.base_local = self.local(t);
        self.base_true = t;
        self.ppb = (ppm * 1000.0).round() as i64;
    }

    /// At true time `t` the clock jumps to read `t + offset`.
    pub fn set_offset(&mut self, t: Nanos, offset: i64) {
        self.base_local = t as i64 + offset;
        self.base_true = t;
    }

    /// The offset from true time at `t`, in ns.
    pub fn offset_at(&self, t: Nanos) -> i64 {
        self.local(t) - t as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_and_drift() {
        let c = Clock::new(10_000_000_000, 0.0);
        assert_eq!(c.local(5), 10_000_000_005);
        let fast = Clock::new(0, 100.0); // 100 ppm fast
        assert_eq!(fast.local(1_000_000_000), 1_000_100_000);
        // 1s of local time on a fast clock is a little less than 1s of true time.
        assert_eq!(fast.true_delay(1_000_100_000), 1_000_000_000);
        let slow = Clock::new(-5_000_000_000, -50.0);
        assert_eq!(slow.local(0), -5_000_000_000);
        assert_eq!(slow.offset_at(1_000_000_000), -5_000_050_000);
    }
}
