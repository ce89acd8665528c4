//! The simulator must be able to fail: with a known bug planted in core or
//! storage, some seed among the first few must break an invariant, and the
//! right one. Run with `cargo test -p sim --features planted-bugs`.
#![cfg(feature = "planted-bugs")]

use sim::{knobs_for, rng, run, Options};

/// Seeds tried per bug before the test gives up.
const SEEDS_MAX: u64 = 40;
/// Faulty steps per seed.
const STEPS: u64 = 6_000;

/// Plants `bug` and runs seeds until one fails; the failure must name one
/// of `invariants`. Returns the seed that caught it.
fn caught(bug: &str, invariants: &[&str]) -> u64 {
    sim::plant(bug).expect("a known bug");
    for i in 0..SEEDS_MAX {
        let seed = rng::seed_from_text(bug, i);
        let outcome = run(knobs_for(seed, Some(STEPS)), Options::default());
        if let Some(failure) = outcome.failure {
            sim::plant("none").expect("clear");
            assert!(
                invariants.contains(&failure.invariant.as_str()),
                "{bug} was caught by the wrong invariant:\n{failure}"
            );
            return seed;
        }
    }
    sim::plant("none").expect("clear");
    panic!("the simulator did not catch {bug} within {SEEDS_MAX} seeds");
}

#[test]
fn an_ack_released_before_its_fsync_is_caught() {
    caught("ack-before-fsync", &["acked-is-durable", "recovery"]);
}

#[test]
fn a_replay_that_skips_an_event_is_caught() {
    caught("replay-skips-event", &["recovery", "detected-corruption"]);
}

#[test]
fn a_nonce_check_that_ignores_nc_is_caught() {
    caught("nonce-ignores-nc", &["actor-expectations"]);
}

#[test]
fn a_double_cac_release_is_caught() {
    caught("cac-double-release", &["cac-exact", "released-once"]);
}

#[test]
fn a_retried_flow_step_that_advances_again_is_caught() {
    caught("flow-stale-step-advances", &["actor-expectations"]);
}

#[test]
fn an_allowlist_that_does_not_filter_reports_is_caught() {
    caught(
        "allowlist-ignored",
        &["allowlisted-never-banned", "actor-expectations"],
    );
}

#[test]
fn a_confirm_without_the_epoch_check_is_caught() {
    caught(
        "confirm-without-epoch-check",
        &["acd-fence", "actor-expectations"],
    );
}

#[test]
fn the_same_seeds_pass_with_no_bug_planted() {
    sim::plant("none").expect("clear");
    for bug in [
        "ack-before-fsync",
        "replay-skips-event",
        "nonce-ignores-nc",
        "cac-double-release",
        "flow-stale-step-advances",
        "allowlist-ignored",
        "confirm-without-epoch-check",
    ] {
        let seed = rng::seed_from_text(bug, 0);
        let outcome = run(knobs_for(seed, Some(STEPS)), Options::default());
        assert!(outcome.failure.is_none(), "{}", outcome.failure.unwrap());
    }
}
