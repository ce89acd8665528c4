//! Scenario tests on [`MemDisk`](crate::MemDisk), one file per behaviour.

mod commit;
mod corruption;
mod detection_property;
mod io_errors;
#[cfg(feature = "planted-bugs")]
mod planted;
mod prefix_property;
mod rollover;
mod snapshots;
mod support;
mod torn_tail;
