//! The wall clock core is fed with, never going backwards within a process.

use sipbrain_core::time::Millis;
use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Epoch milliseconds, clamped to be non-decreasing per executor.
#[derive(Debug, Default)]
pub struct Clock {
    last: Cell<u64>,
}

impl Clock {
    /// Never answers earlier than `floor` (the latest time the recovered
    /// state has seen).
    pub fn raise(&self, floor: Millis) {
        self.last.set(self.last.get().max(floor.0));
    }

    pub fn now(&self) -> Millis {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let now = wall.max(self.last.get());
        self.last.set(now);
        Millis(now)
    }
}
