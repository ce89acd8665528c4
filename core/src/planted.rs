//! Known bugs the simulator must catch, planted only in builds with the
//! `planted-bugs` feature (never a shipped build). The selector is
//! thread-local: the simulator runs one world per thread, and tests on
//! other threads stay clean.

use std::cell::Cell;

/// A bug that can be planted in core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// The digest replay check ignores the nonce count: a replayed
    /// (nonce, nc) is accepted.
    NonceIgnoresNc,
    /// CAC gives a call's counters back on every end report, not once: a
    /// duplicated `terminated` releases twice.
    CacDoubleRelease,
    /// `/flow` runs a retried step (an older `seq`) again instead of
    /// answering the current command: the flow advances twice.
    FlowStaleStepAdvances,
    /// `/security/report` keeps the bans of allowlisted IPs (it still
    /// lists them in `unban`).
    AllowlistIgnored,
    /// `/agent/confirm` ignores the epoch: a late confirm of an offer that
    /// was since re-offered takes the caller.
    ConfirmWithoutEpochCheck,
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
