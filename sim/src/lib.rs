//! sim: sipbrain's deterministic simulator.
//!
//! One thread, one seed. The brain is the real `core` (HTTP parser,
//! router, gate, shards) and the real `storage` (WAL, snapshots,
//! recovery) on in-memory disks, wired as the runtime wires them
//! ([`brain`]). Actors play its clients over raw HTTP bytes ([`actors`]);
//! a virtual network ([`net`]), two clocks ([`clock`]) and the disks
//! inject faults; invariants ([`invariants`], [`ledger`], the actors'
//! [`model`]) are checked after every step. Every knob is drawn from the
//! seed ([`knobs`]), so `--seed N` replays a run exactly.
//!
//! Each seed is checked three ways ([`check_seed`]): the faulty run itself,
//! the same run again (same hashes: determinism), and a calm run of the
//! same workload with one shard and with several (same answers and same
//! accounts: the shard count is invisible).

pub mod actors;
pub mod brain;
pub mod client;
pub mod clock;
pub mod invariants;
pub mod knobs;
pub mod ledger;
pub mod model;
pub mod net;
pub mod rng;
pub mod world;

pub use knobs::Knobs;
pub use world::{Failure, Options, Outcome, World};

/// Runs one world (and measures how long it took on this machine, which
/// no result depends on).
pub fn run(knobs: Knobs, options: Options) -> Outcome {
    let started = std::time::Instant::now();
    let mut outcome = World::new(knobs, options).run();
    outcome.elapsed_us = started.elapsed().as_micros() as u64;
    outcome
}

/// The knobs of `seed`, with `steps` faulty steps when given.
pub fn knobs_for(seed: u64, steps: Option<u64>) -> Knobs {
    let mut knobs = Knobs::swarm(seed);
    if let Some(steps) = steps {
        knobs.steps = steps;
    }
    knobs
}

fn failure(seed: u64, invariant: &str, message: String) -> Failure {
    Failure {
        seed,
        step: 0,
        invariant: invariant.into(),
        message,
        recent: Vec::new(),
    }
}

/// The faulty run of `seed` twice: the second must hash the same.
pub fn check_determinism(seed: u64, options: &Options) -> Outcome {
    let knobs = knobs_for(seed, options.steps);
    let first = run(knobs.clone(), options.clone());
    if first.failure.is_some() {
        return first;
    }
    let quiet = Options {
        trace: false,
        ..options.clone()
    };
    let second = run(knobs, quiet);
    let mut outcome = first;
    if (outcome.trace_hash, outcome.state_hash) != (second.trace_hash, second.state_hash) {
        outcome.failure = Some(failure(
            seed,
            "determinism",
            format!(
                "the same seed ran twice gave trace {:016x} / state {:016x}, then {:016x} / {:016x}",
                outcome.trace_hash, outcome.state_hash, second.trace_hash, second.state_hash
            ),
        ));
    }
    outcome
}

/// The calm run of `seed` with one shard and with several: the answers
/// and the accounts must be the same.
pub fn check_shard_count(seed: u64, steps: Option<u64>) -> Result<(u64, Outcome), Failure> {
    let shards = 2 + (rng::mix(seed) % 3) as usize;
    let calm = |n: usize| {
        let mut knobs = Knobs::calm(seed, n);
        if let Some(steps) = steps {
            knobs.steps = steps;
        }
        run(knobs, Options::default())
    };
    let one = calm(1);
    if let Some(f) = one.failure {
        return Err(f);
    }
    let many = calm(shards);
    if let Some(f) = many.failure {
        return Err(f);
    }
    if one.transcript_hash != many.transcript_hash || one.accounts_hash != many.accounts_hash {
        return Err(failure(
            seed,
            "shard-count",
            format!(
                "a calm run with 1 shard and with {shards} differ: answers {:016x} vs {:016x}, accounts {:016x} vs {:016x}",
                one.transcript_hash, many.transcript_hash, one.accounts_hash, many.accounts_hash
            ),
        ));
    }
    Ok((shards as u64, many))
}

/// Everything a seed is checked for: the faulty run (twice) and the
/// shard-count comparison.
pub fn check_seed(seed: u64, options: &Options) -> Outcome {
    let outcome = check_determinism(seed, options);
    if outcome.failure.is_some() {
        return outcome;
    }
    match check_shard_count(seed, options.steps) {
        Ok(_) => outcome,
        Err(failure) => Outcome {
            failure: Some(failure),
            ..outcome
        },
    }
}

/// Plants a known bug in core or storage for this thread (`planted-bugs`
/// builds only): `ack-before-fsync`, `replay-skips-event`,
/// `nonce-ignores-nc`, `cac-double-release`, `allowlist-ignored`.
pub fn plant(name: &str) -> Result<(), String> {
    #[cfg(feature = "planted-bugs")]
    {
        use sipbrain_core::planted as core_bugs;
        use sipbrain_storage::planted as storage_bugs;
        core_bugs::plant(None);
        storage_bugs::plant(None);
        match name {
            "ack-before-fsync" => storage_bugs::plant(Some(storage_bugs::Bug::AckBeforeFsync)),
            "replay-skips-event" => storage_bugs::plant(Some(storage_bugs::Bug::ReplaySkipsEvent)),
            "nonce-ignores-nc" => core_bugs::plant(Some(core_bugs::Bug::NonceIgnoresNc)),
            "cac-double-release" => core_bugs::plant(Some(core_bugs::Bug::CacDoubleRelease)),
            "flow-stale-step-advances" => {
                core_bugs::plant(Some(core_bugs::Bug::FlowStaleStepAdvances))
            }
            "allowlist-ignored" => core_bugs::plant(Some(core_bugs::Bug::AllowlistIgnored)),
            "confirm-without-epoch-check" => {
                core_bugs::plant(Some(core_bugs::Bug::ConfirmWithoutEpochCheck))
            }
            "none" => {}
            other => return Err(format!("no planted bug named {other:?}")),
        }
        Ok(())
    }
    #[cfg(not(feature = "planted-bugs"))]
    {
        Err(format!(
            "cannot plant {name:?}: build with `--features planted-bugs`"
        ))
    }
}
