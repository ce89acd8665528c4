//! `sim`: run the deterministic simulator.
//!
//! ```text
//! cargo run -p sim --release -- --seed 42            # one seed, all checks
//! cargo run -p sim --release -- --seed 42 --trace    # every step printed
//! cargo run -p sim --release -- --commit "$(git rev-parse HEAD)" --seconds 180
//! cargo run -p sim --release -- --soak 3600          # an hour of random seeds
//! ```

use clap::Parser;
use sim::{check_seed, knobs_for, rng, Options, Outcome};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(name = "sim", about = "sipbrain's deterministic simulator")]
struct Cli {
    /// Run this seed (and check determinism and shard count).
    #[arg(long)]
    seed: Option<u64>,
    /// Steps of the faulty phase (default 20000).
    #[arg(long)]
    steps: Option<u64>,
    /// Print every step of the run.
    #[arg(long)]
    trace: bool,
    /// Seeds derived from this text (CI: the commit hash), run until
    /// `--seconds` pass or `--count` seeds ran.
    #[arg(long)]
    commit: Option<String>,
    /// Wall-clock budget for `--commit` or `--soak`.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// Most seeds for `--commit`.
    #[arg(long)]
    count: Option<u64>,
    /// Seeds from the clock for this many seconds (developers' long runs).
    #[arg(long)]
    soak: Option<u64>,
    /// Plant a known bug (needs `--features planted-bugs`): ack-before-fsync,
    /// replay-skips-event, nonce-ignores-nc, cac-double-release.
    #[arg(long)]
    plant: Option<String>,
}

fn main() {
    let cli = Cli::parse();
    if let Some(bug) = &cli.plant {
        if let Err(message) = sim::plant(bug) {
            eprintln!("{message}");
            std::process::exit(2);
        }
    }
    let options = Options {
        steps: cli.steps,
        trace: cli.trace,
    };
    let code = if let Some(seed) = cli.seed {
        println!("{}", knobs_for(seed, cli.steps));
        let outcome = check_seed(seed, &options);
        if outcome.failure.is_none() {
            // Compared across processes by `sim/tests/seeds.rs`.
            println!(
                "hashes: trace {:016x} state {:016x} answers {:016x}",
                outcome.trace_hash, outcome.state_hash, outcome.transcript_hash
            );
        }
        report(&outcome)
    } else if let Some(commit) = &cli.commit {
        batch(
            |i| rng::seed_from_text(commit, i),
            cli.seconds,
            cli.count,
            &options,
        )
    } else if let Some(seconds) = cli.soak {
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        batch(|i| rng::mix(start ^ i), seconds, None, &options)
    } else {
        eprintln!("give --seed N, --commit TEXT or --soak SECONDS (see --help)");
        2
    };
    std::process::exit(code);
}

/// Prints one seed's result; 1 when it failed.
fn report(outcome: &Outcome) -> i32 {
    if let Some(failure) = &outcome.failure {
        println!("{failure}");
        println!("{}", knobs_for(outcome.seed, None));
        return 1;
    }
    let seconds = outcome.elapsed_us as f64 / 1e6;
    println!(
        "seed {} ok: {} steps, {} replies, {} crashes ({} fail-stops), {}/{} damaged copies refused, {} virtual s in {:.2} s ({:.0} steps/s, {:.0} replies/s)",
        outcome.seed,
        outcome.steps,
        outcome.replies,
        outcome.crashes,
        outcome.fail_stops,
        outcome.detected,
        outcome.detect_checks,
        outcome.virtual_ms / 1000,
        seconds,
        outcome.steps as f64 / seconds.max(1e-9),
        outcome.replies as f64 / seconds.max(1e-9)
    );
    0
}

/// Runs seeds until the budget is spent; stops at the first failure.
fn batch(seed_of: impl Fn(u64) -> u64, seconds: u64, count: Option<u64>, options: &Options) -> i32 {
    let start = Instant::now();
    let (mut replies, mut steps, mut run_us) = (0u64, 0u64, 0u64);
    let mut i = 0u64;
    while start.elapsed().as_secs() < seconds && count.is_none_or(|c| i < c) {
        let outcome = check_seed(seed_of(i), options);
        if report(&outcome) != 0 {
            println!("once fixed, keep it: add the seed to sim/regressions.txt");
            return 1;
        }
        replies += outcome.replies;
        steps += outcome.steps;
        run_us += outcome.elapsed_us;
        i += 1;
    }
    let faulty = run_us as f64 / 1e6;
    println!(
        "{i} seeds passed in {:.1} s (each: the faulty run, its replay, two calm runs); faulty runs: {steps} steps and {replies} replies in {faulty:.1} s = {:.0} steps/s, {:.0} replies/s",
        start.elapsed().as_secs_f64(),
        steps as f64 / faulty.max(1e-9),
        replies as f64 / faulty.max(1e-9)
    );
    0
}
