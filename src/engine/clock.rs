//! The clock model: each node's local clock reads true time plus an offset, and
//! runs fast or slow by a drift in parts per million.
//!
//! `local(t) = base_local + (t - base_true) · (1 + ppb/10⁹)`. Timers are set in
//! local time, so a fast clock's timers fire early in true time.

use crate::process::Nanos;

/// How a node's clock takes a correction (`Ctx::adjust_clock`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AdjustMode {
    /// The clock jumps by the correction at once (it may go backwards).
    #[default]
    Step,
    /// The clock runs faster or slower by a bounded rate until the correction
    /// is absorbed; it never goes backwards.
    Slew,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    base_true: Nanos,
    base_local: i64,
    /// Drift in parts per billion.
    ppb: i64,
    /// A correction still being slewed in, from `base_true` on (signed ns).
    slew_left: i64,
    /// The slewing rate in parts per billion (positive).
    slew_ppb: i64,
}

const BILLION: i128 = 1_000_000_000;

impl Clock {
    pub fn new(offset_ns: i64, drift_ppm: f64) -> Clock {
        Clock { base_true: 0, base_local: offset_ns, ppb: (drift_ppm * 1000.0).round() as i64, slew_left: 0, slew_ppb: 0 }
    }

    /// The local reading at true time `t`.
    pub fn local(&self, t: Nanos) -> i64 {
        let dt = t.saturating_sub(self.base_true) as i128;
        let drift = if self.ppb == 0 { 0 } else { dt * self.ppb as i128 / BILLION };
        let slew = if self.slew_left == 0 {
            0
        } else {
            let most = dt * self.slew_rate() / BILLION;
            let left = self.slew_left.unsigned_abs() as i128;
            most.min(left) * self.slew_left.signum() as i128
        };
        (self.base_local as i128 + dt + drift + slew) as i64
    }

    /// How much true time passes while this clock advances `local` ns
    /// (ignoring a slew in progress, which changes the rate by at most its
    /// bounded amount).
    pub fn true_delay(&self, local: Nanos) -> Nanos {
        if self.ppb == 0 {
            return local;
        }
        let num = local as i128 * BILLION;
        let den = BILLION + self.ppb as i128;
        ((num + den - 1) / den) as Nanos
    }

    /// The slewing rate in parts per billion. Slewing back, it is at most the
    /// clock's own rate (1 + drift), so that the clock slows down, at worst to
    /// a halt, and never runs backwards, whatever `slew_ppm` and the drift.
    fn slew_rate(&self) -> i128 {
        let rate = self.slew_ppb as i128;
        if self.slew_left < 0 { rate.min(BILLION + self.ppb as i128).max(0) } else { rate }
    }

    /// Rebases the clock at `t`: the reading is kept, a slew in progress goes on.
    fn rebase(&mut self, t: Nanos) {
        let reading = self.local(t);
        if self.slew_left != 0 {
            let dt = t.saturating_sub(self.base_true) as i128;
            let done = (dt * self.slew_rate() / BILLION).min(self.slew_left.unsigned_abs() as i128) as i64;
            self.slew_left -= done * self.slew_left.signum();
        }
        self.base_local = reading;
        self.base_true = t;
    }

    /// Applies a correction of `delta` ns at true time `t`.
    pub fn adjust(&mut self, t: Nanos, delta: i64, mode: AdjustMode, slew_ppm: f64) {
        self.rebase(t);
        match mode {
            AdjustMode::Step => self.base_local += delta,
            AdjustMode::Slew => {
                self.slew_left += delta;
                self.slew_ppb = ((slew_ppm * 1000.0).round() as i64).clamp(1, 999_999_999);
            }
        }
    }

    /// From true time `t` on, the clock drifts by `ppm` (it keeps its reading at `t`).
    pub fn set_drift(&mut self, t: Nanos, ppm: f64) {
        self.rebase(t);
        self.ppb = (ppm * 1000.0).round() as i64;
    }

    /// At true time `t` the clock jumps to read `t + offset`.
    pub fn set_offset(&mut self, t: Nanos, offset: i64) {
        self.rebase(t);
        self.base_local = t as i64 + offset;
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

    #[test]
    fn step_jumps_and_slew_never_goes_backwards() {
        let mut c = Clock::new(10_000_000, 0.0); // 10ms ahead
        c.adjust(1_000_000_000, -10_000_000, AdjustMode::Step, 0.0);
        assert_eq!(c.local(1_000_000_000), 1_000_000_000);
        let mut s = Clock::new(10_000_000, 0.0);
        // Slew -10ms at 500 ppm: it takes 20s of true time.
        s.adjust(0, -10_000_000, AdjustMode::Slew, 500.0);
        let mut last = i64::MIN;
        for k in 0..=30 {
            let t = k * 1_000_000_000;
            let r = s.local(t);
            assert!(r >= last, "never backwards");
            last = r;
        }
        assert_eq!(s.local(10_000_000_000), 10_005_000_000, "half absorbed after 10s");
        assert_eq!(s.local(20_000_000_000), 20_000_000_000, "all absorbed after 20s");
        assert_eq!(s.local(30_000_000_000), 30_000_000_000);
        // A drift change in the middle of a slew keeps the reading and the slew.
        let mut d = Clock::new(10_000_000, 0.0);
        d.adjust(0, -10_000_000, AdjustMode::Slew, 500.0);
        d.set_drift(10_000_000_000, 0.0);
        assert_eq!(d.local(10_000_000_000), 10_005_000_000);
        assert_eq!(d.local(20_000_000_000), 20_000_000_000);
    }

    #[test]
    fn a_slew_back_never_runs_a_slow_clock_backwards() {
        // 50% slow and slewing −40ms at (almost) 100%: the clock stands
        // still until the correction is absorbed, never going back.
        let mut c = Clock::new(40_000_000, -500_000.0);
        c.adjust(0, -40_000_000, AdjustMode::Slew, 999_999.0);
        let mut last = i64::MIN;
        for k in 0..=200 {
            let r = c.local(k * 1_000_000);
            assert!(r >= last, "at {k}ms: {r} after {last}");
            last = r;
        }
        assert_eq!(c.local(80_000_000), 40_000_000, "80ms at the halt absorbs 40ms");
        assert_eq!(c.local(100_000_000), 50_000_000, "then it runs at its own rate");
        // A drift change mid-slew keeps the cap.
        let mut d = Clock::new(40_000_000, 0.0);
        d.adjust(0, -40_000_000, AdjustMode::Slew, 999_999.0);
        d.set_drift(1_000_000, -500_000.0);
        assert!(d.local(2_000_000) >= d.local(1_000_000));
    }
}
