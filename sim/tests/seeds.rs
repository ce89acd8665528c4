//! Seeds the simulator must keep passing: the regression list (seeds that
//! once failed, kept after the fix) and the determinism and shard-count
//! checks on a few fixed seeds.

use sim::{check_determinism, check_seed, check_shard_count, Options};

/// Faulty steps for the fixed seeds here (CI's seed batch runs full runs).
const STEPS: u64 = 3_000;

fn regression_seeds() -> Vec<(u64, Option<u64>, String)> {
    include_str!("../regressions.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (fields, why) = line.split_once('#').unwrap_or((line, ""));
            let mut fields = fields.split_whitespace();
            let seed = fields.next().expect("a seed").parse().expect("a u64 seed");
            let steps = fields.next().map(|s| s.parse().expect("steps"));
            (seed, steps, why.trim().to_string())
        })
        .collect()
}

#[test]
fn regression_seeds_pass() {
    for (seed, steps, why) in regression_seeds() {
        let outcome = check_seed(
            seed,
            &Options {
                steps,
                trace: false,
            },
        );
        if let Some(failure) = outcome.failure {
            panic!("regression seed {seed} ({why}) fails again:\n{failure}");
        }
    }
}

#[test]
fn a_seed_replays_to_the_same_hashes() {
    let options = Options {
        steps: Some(STEPS),
        trace: false,
    };
    let outcome = check_determinism(7, &options);
    assert!(outcome.failure.is_none(), "{}", outcome.failure.unwrap());
    assert!(outcome.replies > 0, "the run answered requests");
    let again = check_determinism(7, &options);
    assert_eq!(
        (outcome.trace_hash, outcome.state_hash),
        (again.trace_hash, again.state_hash)
    );
    let other = check_determinism(8, &options);
    assert_ne!(
        outcome.trace_hash, other.trace_hash,
        "another seed is another run"
    );
}

#[test]
fn the_shard_count_changes_nothing_an_actor_sees() {
    for seed in [1, 2, 3] {
        let (shards, outcome) =
            check_shard_count(seed, Some(STEPS)).unwrap_or_else(|f| panic!("{f}"));
        assert!(shards >= 2);
        assert!(outcome.replies > 0);
    }
}

/// The `hashes:` line `sim --seed` prints, from a fresh process.
fn hashes_of_a_process(seed: u64) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["--seed", &seed.to_string(), "--steps", "2000"])
        .output()
        .expect("the sim binary runs");
    assert!(
        output.status.success(),
        "seed {seed} failed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("hashes: "))
        .expect("a hashes line");
    line.to_string()
}

#[test]
fn two_processes_running_one_seed_agree_on_every_hash() {
    let first = hashes_of_a_process(11);
    assert_eq!(
        first,
        hashes_of_a_process(11),
        "nothing may depend on the process"
    );
    assert_ne!(first, hashes_of_a_process(12));
}
