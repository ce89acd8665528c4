//! Time: a perfect virtual monotonic clock that orders everything, and a
//! separate wall clock that drifts, wobbles, jumps and jitters.
//!
//! The brain only ever sees wall time (through the same non-decreasing
//! clamp the runtime uses); the network, disks and clients' timeouts run
//! on the monotonic clock.

use crate::knobs::ClockKnobs;
use crate::rng::{chance, SimRng};
use rand::Rng;

/// Wall time at the start of every run: 2026-01-01T00:00:00Z.
pub const WALL_EPOCH_MS: u64 = 1_767_225_600_000;

/// Period of the wall clock's wobble.
const WOBBLE_PERIOD_MS: u64 = 10_000;

/// The two clocks of the simulated world.
#[derive(Debug)]
pub struct Clocks {
    mono_us: u64,
    /// Sum of the wall clock's steps so far.
    steps_ms: i64,
    knobs: ClockKnobs,
    rng: SimRng,
    healed: bool,
}

impl Clocks {
    pub fn new(knobs: ClockKnobs, rng: SimRng) -> Clocks {
        Clocks {
            mono_us: 0,
            steps_ms: 0,
            knobs,
            rng,
            healed: false,
        }
    }

    /// Monotonic time, microseconds since the start of the run.
    pub fn mono_us(&self) -> u64 {
        self.mono_us
    }

    /// Moves monotonic time forward to `at_us` (never back).
    pub fn advance_to(&mut self, at_us: u64) {
        assert!(at_us >= self.mono_us, "monotonic time went back");
        self.mono_us = at_us;
    }

    /// Reads the wall clock, epoch milliseconds: true time plus drift,
    /// wobble, steps and jitter.
    pub fn wall_ms(&mut self) -> u64 {
        let mono_ms = self.mono_us / 1000;
        let drift = (mono_ms as i64).saturating_mul(self.knobs.drift_ppm) / 1_000_000;
        let wobble = if self.knobs.wobble_ms == 0 {
            0
        } else {
            let phase = mono_ms % WOBBLE_PERIOD_MS;
            let half = WOBBLE_PERIOD_MS / 2;
            let tri = if phase < half {
                phase
            } else {
                WOBBLE_PERIOD_MS - phase
            };
            (tri * 2 * self.knobs.wobble_ms / WOBBLE_PERIOD_MS) as i64
                - self.knobs.wobble_ms as i64 / 2
        };
        let jitter = if self.knobs.jitter_ms == 0 || self.healed {
            0
        } else {
            self.rng.gen_range(0..=self.knobs.jitter_ms) as i64
        };
        let wall = WALL_EPOCH_MS as i64 + mono_ms as i64 + drift + wobble + self.steps_ms + jitter;
        wall.max(0) as u64
    }

    /// Called once per step of the faulty phase: maybe steps the wall clock
    /// forward or back. Returns the step, if any.
    pub fn maybe_jump(&mut self) -> Option<i64> {
        if self.healed || !chance(&mut self.rng, self.knobs.p_jump) {
            return None;
        }
        let size = self.rng.gen_range(1..=self.knobs.jump_ms_max) as i64;
        let step = if self.rng.gen_bool(0.5) { size } else { -size };
        self.steps_ms += step;
        Some(step)
    }

    /// The healed phase: no more steps or jitter (drift stays: it is not a
    /// fault a real clock recovers from).
    pub fn heal(&mut self) {
        self.healed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn knobs() -> ClockKnobs {
        ClockKnobs {
            drift_ppm: 1_000,
            wobble_ms: 0,
            p_jump: 1.0,
            jump_ms_max: 5_000,
            jitter_ms: 0,
        }
    }

    #[test]
    fn wall_time_drifts_from_monotonic_time() {
        let mut clocks = Clocks::new(knobs(), stream(1, "clock"));
        clocks.advance_to(1_000_000_000); // 1000 s
        assert_eq!(clocks.wall_ms(), WALL_EPOCH_MS + 1_000_000 + 1_000);
    }

    #[test]
    fn jumps_move_the_wall_clock_both_ways_but_not_monotonic_time() {
        let mut clocks = Clocks::new(knobs(), stream(2, "clock"));
        let mut back = false;
        let mut forward = false;
        for _ in 0..50 {
            let before = clocks.wall_ms();
            let step = clocks.maybe_jump().expect("p_jump is 1");
            assert_eq!(clocks.wall_ms() as i64 - before as i64, step);
            back |= step < 0;
            forward |= step > 0;
        }
        assert!(back && forward);
        assert_eq!(clocks.mono_us(), 0);
        clocks.heal();
        assert_eq!(clocks.maybe_jump(), None);
    }
}
