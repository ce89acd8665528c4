//! The HTTP load generator (see `sipbrain_benches::driver` for the loops).
//!
//! ```sh
//! # one run: closed loop, 64 connections, 16 pipelined each, route mix
//! load run --target 127.0.0.1:8080 --mix route --connections 64 --depth 16
//! # a peer's sweep: peak (pipelined), no pipelining, then open loop at 50% and 90% of the peak
//! load sweep --peer sipbrain-wal --target 127.0.0.1:8080 --setup --mix route --json-out r.json
//! # the markdown tables from sweeps' JSON files
//! load report r1.json r2.json …
//! ```

use clap::{Args, Parser, Subcommand};
use sipbrain_benches::driver::{self, Mode, RunConfig};
use sipbrain_benches::report::{self, PeerResult, RunResult};
use sipbrain_benches::setup;
use sipbrain_benches::sys;
use sipbrain_benches::workload::{Population, Weights, Workload};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "sipbrain's HTTP load generator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One run (closed loop, or open loop with --rps).
    Run(RunArgs),
    /// A peer's sweep: peak, unpipelined, then 50% and 90% of the peak.
    Sweep(SweepArgs),
    /// Markdown tables from sweep JSON files.
    Report { files: Vec<PathBuf> },
}

#[derive(Args, Clone)]
struct Common {
    /// The server, ADDR:PORT.
    #[arg(long, default_value = "127.0.0.1:8080")]
    target: SocketAddr,
    /// Units and their weights: route (call: /route + dialog end), auth
    /// (REGISTER digest), flow (/flow start + 3 steps), presence (register
    /// refresh).
    #[arg(long, default_value = "route")]
    mix: String,
    /// Provision the bench accounts first (sipbrain only; needs the admin
    /// token) and take brain nonces for /auth.
    #[arg(long)]
    setup: bool,
    #[arg(long, default_value = "bench-admin-token-0001")]
    admin_token: String,
    #[arg(long, default_value = "bench-edge-token-00001")]
    edge_token: String,
    /// Bench accounts, and users (phones) per account.
    #[arg(long, default_value_t = 50)]
    accounts: usize,
    #[arg(long, default_value_t = 20)]
    users: usize,
    /// Pin the client to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
    /// The server's process ids (their CPU time is reported).
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// Seconds of warm-up, then of measurement, per run.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Requests in flight per connection (1 = no pipelining).
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// Open loop at this many requests/s (closed loop when absent).
    #[arg(long)]
    rps: Option<f64>,
}

#[derive(Args)]
struct SweepArgs {
    #[command(flatten)]
    common: Common,
    /// The name in the report (`nginx`, `axum`, `sipbrain-wal`, …).
    #[arg(long)]
    peer: String,
    /// A note printed under the table for this peer.
    #[arg(long, default_value = "")]
    note: String,
    /// Connections for every run of the sweep.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Pipelining depth of the peak run.
    #[arg(long, default_value_t = 16)]
    depth: usize,
    /// Open loop: most requests in flight per connection when all are busy.
    #[arg(long, default_value_t = 4)]
    open_depth: usize,
    /// Write the sweep's JSON here.
    #[arg(long)]
    json_out: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(args) => run_once(args),
        Command::Sweep(args) => sweep(args),
        Command::Report { files } => report_files(&files),
    };
    if let Err(message) = outcome {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

/// Pins, provisions when asked, and returns the population and nonces.
fn prepare(common: &Common) -> Result<(Population, Vec<String>), String> {
    if let Some(cpu) = common.cpu {
        sys::pin_to_cpu(cpu).map_err(|e| format!("cannot pin to CPU {cpu}: {e}"))?;
    }
    let population = Population::new(common.accounts, common.users);
    let nonces = if common.setup {
        setup::wait_ready(common.target, Duration::from_secs(60))?;
        setup::provision(
            common.target,
            &common.admin_token,
            &common.edge_token,
            &population,
        )?
    } else {
        setup::fake_nonces(&population)
    };
    Ok((population, nonces))
}

/// Runs against the same nonces use disjoint nc ranges (a repeated
/// (nonce, nc) pair is a replay the brain refuses).
#[allow(clippy::too_many_arguments)]
fn one_run(
    common: &Common,
    population: &Population,
    nonces: &[String],
    run_index: u32,
    tag: &str,
    connections: usize,
    depth: usize,
    mode: Mode,
) -> Result<RunResult, String> {
    let weights = Weights::parse(&common.mix)?;
    let run_tag = format!("{}{tag}", std::process::id());
    let mut workload = Workload::new(
        population.clone(),
        weights,
        &common.target.to_string(),
        &common.edge_token,
        &run_tag,
        nonces.to_vec(),
        connections,
        common.seed,
        run_index << 24,
    );
    let config = RunConfig {
        addr: common.target,
        connections,
        depth,
        mode,
        warmup_s: common.warmup,
        measure_s: common.seconds,
        server_pids: common.server_pids.clone(),
        backlog_max: 1_000_000,
    };
    let result = driver::run(&config, &mut workload).map_err(|e| format!("run: {e}"))?;
    eprintln!("{}", one_line(tag, &result));
    Ok(result)
}

fn one_line(tag: &str, r: &RunResult) -> String {
    format!(
        "[{tag}] {} c={} d={}{}: {:.0} req/s, p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs; \
         client CPU {:.2}, server CPU {}; {} (transport errors {}, backlog max {}, dropped {}); \
         slowest 100 ms slices: {}",
        r.mode,
        r.connections,
        r.depth,
        r.target_rps
            .map_or(String::new(), |t| format!(" @{t:.0}/s")),
        r.rps,
        r.latency.p50_us,
        r.latency.p99_us,
        r.latency.p999_us,
        r.latency.max_us,
        r.client_cpu_cores,
        r.server_cpu_cores.map_or("–".into(), |c| format!("{c:.2}")),
        r.statuses_text(),
        r.transport_errors,
        r.backlog_max,
        r.dropped,
        r.slowest_slices
            .iter()
            .map(|s| format!("+{} ms {:.1} ms", s.at_ms, s.max_us / 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn run_once(args: RunArgs) -> Result<(), String> {
    let (population, nonces) = prepare(&args.common)?;
    let mode = match args.rps {
        Some(rps) => Mode::Open { rps },
        None => Mode::Closed,
    };
    let result = one_run(
        &args.common,
        &population,
        &nonces,
        0,
        "run",
        args.connections,
        args.depth,
        mode,
    )?;
    println!(
        "{}",
        serde_json::to_string_pretty(&result).expect("serializable")
    );
    Ok(())
}

fn sweep(args: SweepArgs) -> Result<(), String> {
    let common = &args.common;
    let (population, nonces) = prepare(common)?;
    let run = |index: u32, tag: &str, depth: usize, mode: Mode| {
        one_run(
            common,
            &population,
            &nonces,
            index,
            tag,
            args.connections,
            depth,
            mode,
        )
    };
    let peak = run(0, "peak", args.depth, Mode::Closed)?;
    let unpipelined = run(1, "flat", 1, Mode::Closed)?;
    let at = |share: f64, index: u32, tag: &str| {
        run(
            index,
            tag,
            args.open_depth,
            Mode::Open {
                rps: (peak.rps * share).max(1.0),
            },
        )
    };
    let at_50 = at(0.5, 2, "at50")?;
    let at_90 = at(0.9, 3, "at90")?;
    let result = PeerResult {
        peer: args.peer.clone(),
        mix: common.mix.clone(),
        note: args.note.clone(),
        peak,
        unpipelined: Some(unpipelined),
        at_50: Some(at_50),
        at_90: Some(at_90),
    };
    let json = serde_json::to_string_pretty(&result).expect("serializable");
    match &args.json_out {
        Some(path) => std::fs::write(path, json)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        None => println!("{json}"),
    }
    Ok(())
}

fn report_files(files: &[PathBuf]) -> Result<(), String> {
    let mut results = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let result: PeerResult = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a sweep result: {e}", path.display()))?;
        results.push(result);
    }
    println!("{}", report::markdown_table(&results));
    println!("{}", report::markdown_ratios(&results));
    println!("{}", report::markdown_kinds(&results));
    for r in results.iter().filter(|r| !r.note.is_empty()) {
        println!("- **{}**: {}", r.peer, r.note);
    }
    Ok(())
}
