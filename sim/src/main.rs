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
    /// replay-skips-event, nonce-ignores-nc.
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
        report(&check_seed(seed, &options), None)
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
fn report(outcome: &Outcome, seconds: Option<f64>) -> i32 {
    if let Some(failure) = &outcome.failure {
        println!("{failure}");
        println!("{}", knobs_for(outcome.seed, None));
        return 1;
    }
    let rate = seconds.map_or(String::new(), |s| {
        format!(
            ", {:.0} req/s simulated",
            outcome.replies as f64 / s.max(1e-9)
        )
    });
    println!(
        "seed {} ok: {} steps, {} replies, {} crashes ({} fail-stops), {}/{} damaged copies refused, {} virtual s{rate}",
        outcome.seed,
        outcome.steps,
        outcome.replies,
        outcome.crashes,
        outcome.fail_stops,
        outcome.detected,
        outcome.detect_checks,
        outcome.virtual_ms / 1000
    );
    0
}

/// Runs seeds until the budget is spent; stops at the first failure.
fn batch(seed_of: impl Fn(u64) -> u64, seconds: u64, count: Option<u64>, options: &Options) -> i32 {
    let start = Instant::now();
    let mut replies = 0u64;
    let mut i = 0u64;
    while start.elapsed().as_secs() < seconds && count.is_none_or(|c| i < c) {
        let seed = seed_of(i);
        let began = Instant::now();
        let outcome = check_seed(seed, options);
        if report(&outcome, Some(began.elapsed().as_secs_f64())) != 0 {
            println!("add it to sim/regressions.txt once fixed");
            return 1;
        }
        replies += outcome.replies;
        i += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "{i} seeds passed in {elapsed:.1} s ({:.0} replies/s over all checks)",
        replies as f64 / elapsed
    );
    0
}
