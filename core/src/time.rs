//! Time as data: the caller passes `now` in; core never reads a clock.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (wall clock, as given by the caller).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Millis(pub u64);

impl Millis {
    /// `self + sec` seconds, saturating.
    pub fn plus_sec(self, sec: u64) -> Millis {
        Millis(self.0.saturating_add(sec.saturating_mul(1000)))
    }

    /// `self + ms` milliseconds, saturating.
    pub fn plus_ms(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }

    /// `self - other` in milliseconds, 0 when `other` is later.
    pub fn since(self, other: Millis) -> u64 {
        self.0.saturating_sub(other.0)
    }
}
