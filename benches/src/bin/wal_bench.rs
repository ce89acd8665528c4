//! WAL group-commit benchmark: events/s and commit latency (p50/p99) for
//! batch sizes 1…1024, through the real glommio disk of the server (one
//! `O_DSYNC` write per commit).
//!
//! `cargo run --release -p sipbrain-benches --bin wal_bench -- --dir ./bench-data`

use clap::Parser;
use glommio::{LocalExecutorBuilder, Placement};
use hdrhistogram::Histogram;
use sipbrain::store;
use sipbrain_core::event::{self, Event};
use sipbrain_core::time::Millis;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options of the WAL benchmark.
#[derive(Debug, Parser)]
struct Args {
    /// Directory to write the WAL in (on the disk to measure; emptied first).
    #[arg(long, default_value = "./bench-data")]
    dir: PathBuf,
    /// Commits per batch size (at most; each size also stops after `--seconds`).
    #[arg(long, default_value_t = 2000)]
    commits: usize,
    /// Time budget per batch size.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Batch sizes (events per commit).
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64,256,1024")]
    batches: Vec<usize>,
}

fn main() {
    let args = Args::parse();
    let _ = std::fs::remove_dir_all(&args.dir);
    std::fs::create_dir_all(&args.dir).expect("bench dir");
    let handle = LocalExecutorBuilder::new(Placement::Fixed(0))
        .io_memory(4 << 20)
        .spawn(move || async move { run(&args).await })
        .expect("executor");
    handle.join().expect("benchmark");
}

async fn run(args: &Args) {
    let payload = event::encode(&Event::NonceUsed {
        nonce: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
        nc: "00000001".into(),
        at: Millis(1_700_000_000_000),
        expires_at: Millis(1_700_000_300_000),
    });
    println!(
        "WAL group commit: {}-byte event records, dir {}",
        payload.len(),
        args.dir.display()
    );
    println!();
    println!(
        "| events/commit | commits | events/s | commit p50 µs | commit p99 µs | commit max µs |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for (index, batch) in args.batches.iter().copied().enumerate() {
        let options = store::wal_options(64 << 20);
        let opened = store::open_shard(&args.dir, index as u64, 0, &options, false)
            .await
            .expect("open");
        let mut wal = opened.wal;
        let mut latency = Histogram::<u64>::new(3).expect("histogram");
        let started = Instant::now();
        let mut commits = 0usize;
        while commits < args.commits && started.elapsed() < Duration::from_secs(args.seconds) {
            for _ in 0..batch {
                wal.append(store::journal::KIND_EVENT, &payload);
            }
            let begin = Instant::now();
            wal.commit().await.expect("commit");
            latency
                .record(begin.elapsed().as_micros() as u64)
                .expect("record");
            commits += 1;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let rate = (commits * batch) as f64 / elapsed;
        println!(
            "| {batch} | {commits} | {rate:.0} | {} | {} | {} |",
            latency.value_at_quantile(0.5),
            latency.value_at_quantile(0.99),
            latency.max()
        );
    }
}
