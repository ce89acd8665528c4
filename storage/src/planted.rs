//! Known bugs the simulator must catch, planted only in builds with the
//! `planted-bugs` feature (never a shipped build). The selector is
//! thread-local: the simulator runs one world per thread, and tests on
//! other threads stay clean.

use std::cell::Cell;

/// A bug that can be planted in this crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// Group commit releases a reply before its records are durable.
    AckBeforeFsync,
    /// Recovery drops one record from the middle of what it replays.
    ReplaySkipsEvent,
}

thread_local! {
    static ACTIVE: Cell<Option<Bug>> = const { Cell::new(None) };
}

/// Plants `bug` (or clears with None) for this thread.
pub fn plant(bug: Option<Bug>) {
    ACTIVE.with(|active| active.set(bug));
}

/// True when `bug` is planted on this thread.
pub fn active(bug: Bug) -> bool {
    ACTIVE.with(|active| active.get() == Some(bug))
}
