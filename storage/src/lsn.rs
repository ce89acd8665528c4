//! Log sequence numbers.

use std::fmt;

/// A log sequence number: the position of a record in a shard's WAL.
///
/// The first record is `Lsn(1)`; `Lsn(0)` means "nothing" (an empty log, or
/// a snapshot of the empty state). Consecutive records have consecutive
/// numbers, across segments and restarts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl Lsn {
    /// The lsn before any record.
    pub const ZERO: Lsn = Lsn(0);

    /// The lsn after this one.
    pub fn next(self) -> Lsn {
        let next = self
            .0
            .checked_add(1)
            .expect("an lsn never reaches u64::MAX");
        assert!(next > self.0);
        Lsn(next)
    }

    /// The lsn before this one; `self` must not be zero.
    pub fn previous(self) -> Lsn {
        assert!(self.0 > 0, "Lsn(0) has no predecessor");
        Lsn(self.0 - 1)
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_and_previous_are_inverse() {
        assert_eq!(Lsn(7).next().previous(), Lsn(7));
        assert_eq!(Lsn::ZERO.next(), Lsn(1));
    }

    #[test]
    #[should_panic(expected = "no predecessor")]
    fn zero_has_no_previous() {
        let _ = Lsn::ZERO.previous();
    }
}
