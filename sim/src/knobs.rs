//! Every setting of a run, drawn from the seed ("swarm" testing: each seed
//! picks its own fault mix and sizes) and printed before the run starts.

use crate::rng::{self, SimRng};
use rand::Rng;
use std::fmt;

/// Network fault rates and delays (per link).
#[derive(Clone, Debug)]
pub struct NetKnobs {
    /// One-way delay of a chunk, microseconds.
    pub delay_us: (u64, u64),
    /// A chunk is lost and its connection breaks (TCP gives up).
    pub p_drop: f64,
    /// A request is delivered a second time on a connection of its own.
    pub p_duplicate: f64,
    /// A message is cut into random pieces.
    pub p_fragment: f64,
    /// A fragmented message goes one byte at a time.
    pub p_one_byte: f64,
    /// A request's connection is reset after part of it was sent.
    pub p_reset: f64,
    /// Per step: an actor's link is partitioned (either or both ways).
    pub p_partition: f64,
    /// Longest partition, milliseconds.
    pub partition_ms_max: u64,
    /// Per step: an actor's link is clogged (delays ×100).
    pub p_clog: f64,
}

/// Disk latencies and fault rates.
#[derive(Clone, Debug)]
pub struct DiskKnobs {
    /// Latency of one disk operation (a write, a sync), microseconds.
    pub op_us: (u64, u64),
    /// Per step of the faulty phase: the brain process crashes.
    pub p_crash: f64,
    /// Per commit: the write or the sync fails with EIO (fail-stop).
    pub p_eio: f64,
    /// At a crash: the last write that reached the disk is torn.
    pub p_tear: f64,
    /// At a crash: a copy of a shard's disk is damaged (bit flip,
    /// unreadable sector, misdirected write, rolled-back file) and recovery
    /// of the copy must refuse or keep every acknowledged event. The real
    /// disk never gets these faults: the two classes stay apart.
    pub p_detect: f64,
}

/// Wall-clock faults (the monotonic clock is perfect).
#[derive(Clone, Debug)]
pub struct ClockKnobs {
    /// Linear drift, parts per million (either sign).
    pub drift_ppm: i64,
    /// Amplitude of a periodic wobble, milliseconds.
    pub wobble_ms: u64,
    /// Per step: the wall clock steps forward or back.
    pub p_jump: f64,
    /// Largest step, milliseconds.
    pub jump_ms_max: u64,
    /// Random jitter added to each read, milliseconds.
    pub jitter_ms: u64,
}

/// The settings of one run.
#[derive(Clone, Debug)]
pub struct Knobs {
    pub seed: u64,
    /// Shards (cores) of the brain.
    pub shards: usize,
    /// WAL segment size (small ones roll over often).
    pub segment_bytes: u64,
    /// Largest WAL record.
    pub max_record_bytes: u32,
    /// Snapshot after this many logged events (0: never).
    pub snapshot_events: u64,
    /// Messages one core may have queued towards another before 503.
    pub mesh_capacity: usize,
    /// Latency of a message between cores, microseconds.
    pub mesh_us: (u64, u64),
    pub net: NetKnobs,
    pub disk: DiskKnobs,
    pub clock: ClockKnobs,
    /// Operators provisioning accounts.
    pub operators: usize,
    /// Accounts each operator owns.
    pub accounts_per_operator: usize,
    /// SIP edge nodes authenticating.
    pub edges: usize,
    /// SIP edges placing calls in their own accounts.
    pub callers: usize,
    /// Media engines running IVRs over `/flow`.
    pub media_engines: usize,
    /// Contact centers: agents and their queue's callers (`/agent`, ACD).
    pub contact_centers: usize,
    /// CAC leak reaping: setup TTL and longest call, milliseconds.
    pub cac_setup_ttl_ms: u64,
    pub cac_max_call_ms: u64,
    /// Probers of the other endpoints (health, gating, malformed HTTP).
    pub probers: usize,
    /// A client's timeout before it retries, milliseconds.
    pub client_timeout_ms: u64,
    /// Attempts before an edge gives up on a request (operators never do).
    pub edge_attempts_max: u32,
    /// Brain-issued nonce lifetime.
    pub nonce_ttl_ms: u64,
    /// Failures per source IP before /auth answers 429.
    pub auth_fail_threshold: usize,
    pub auth_fail_window_ms: u64,
    /// Steps of the faulty phase.
    pub steps: u64,
    /// Virtual time the healed phase may take to finish all pending work.
    pub heal_budget_ms: u64,
    /// Restart delay after a crash, milliseconds.
    pub restart_ms: (u64, u64),
    /// sipguard clients: ban-reporting edge nodes plus an allowlist
    /// operator each (`actors::guard`).
    pub guards: usize,
    /// Edge nodes per guard.
    pub guard_nodes: usize,
    /// The brain's `security_report_period` (stale after 3 of them).
    pub security_report_period_ms: u64,
}

fn pick<T: Copy>(rng: &mut SimRng, options: &[T]) -> T {
    options[rng.gen_range(0..options.len())]
}

/// A probability that is 0 a third of the time, else up to `max`.
fn rate(rng: &mut SimRng, max: f64) -> f64 {
    if rng.gen_range(0..3) == 0 {
        0.0
    } else {
        rng.gen_range(0.0..max)
    }
}

impl Knobs {
    /// The knobs of `seed`: sizes and fault rates drawn from it.
    pub fn swarm(seed: u64) -> Knobs {
        let mut rng = rng::stream(seed, "knobs");
        let r = &mut rng;
        Knobs {
            seed,
            shards: pick(r, &[1, 2, 2, 3, 4]),
            segment_bytes: pick(r, &[64 << 10, 128 << 10, 1 << 20]),
            max_record_bytes: 32 << 10,
            snapshot_events: pick(r, &[0, 8, 40, 200]),
            mesh_capacity: pick(r, &[1, 4, 64]),
            mesh_us: (5, pick(r, &[10, 100, 2_000])),
            net: NetKnobs {
                delay_us: (50, pick(r, &[500, 5_000, 50_000])),
                p_drop: pick(r, &[0.0, 0.002, 0.02, 0.1, 0.3]),
                p_duplicate: pick(r, &[0.0, 0.05, 0.2, 0.5]),
                p_fragment: rate(r, 0.9),
                p_one_byte: rate(r, 0.3),
                p_reset: rate(r, 0.05),
                p_partition: rate(r, 0.002),
                partition_ms_max: pick(r, &[200, 3_000]),
                p_clog: rate(r, 0.002),
            },
            disk: DiskKnobs {
                op_us: (20, pick(r, &[200, 2_000, 10_000])),
                p_crash: rate(r, 0.004),
                p_eio: rate(r, 0.01),
                p_tear: rate(r, 0.8),
                p_detect: rate(r, 0.5),
            },
            clock: ClockKnobs {
                drift_ppm: r.gen_range(-2_000..=2_000),
                wobble_ms: pick(r, &[0, 50, 2_000]),
                p_jump: rate(r, 0.002),
                jump_ms_max: pick(r, &[1_000, 60_000, 600_000]),
                jitter_ms: pick(r, &[0, 5, 200]),
            },
            operators: r.gen_range(1..=3),
            accounts_per_operator: r.gen_range(1..=3),
            edges: r.gen_range(1..=6),
            probers: r.gen_range(0..=2),
            callers: r.gen_range(0..=3),
            cac_setup_ttl_ms: pick(r, &[3_000, 30_000, 120_000]),
            cac_max_call_ms: pick(r, &[20_000, 600_000]),
            client_timeout_ms: pick(r, &[200, 1_000, 5_000]),
            edge_attempts_max: r.gen_range(1..=4),
            nonce_ttl_ms: pick(r, &[2_000, 30_000, 300_000]),
            auth_fail_threshold: pick(r, &[3, 10, 1_000]),
            auth_fail_window_ms: pick(r, &[5_000, 60_000]),
            steps: 20_000,
            heal_budget_ms: 600_000,
            restart_ms: (10, pick(r, &[100, 2_000])),
            // Drawn last: earlier knobs of a seed stay as they were.
            media_engines: r.gen_range(0..=2),
            guards: pick(r, &[0, 1, 1, 2]),
            guard_nodes: r.gen_range(1..=3),
            security_report_period_ms: pick(r, &[1_000, 5_000, 30_000]),
            contact_centers: r.gen_range(0..=2),
        }
    }

    /// The knobs of `seed` without faults, with `shards` shards, and with
    /// zero-latency disks and meshes: the run whose outcome must not depend
    /// on the shard count.
    pub fn calm(seed: u64, shards: usize) -> Knobs {
        let mut knobs = Knobs::swarm(seed);
        knobs.shards = shards;
        knobs.mesh_capacity = 1 << 20;
        knobs.mesh_us = (0, 0);
        knobs.net.p_drop = 0.0;
        knobs.net.p_duplicate = 0.0;
        knobs.net.p_reset = 0.0;
        knobs.net.p_partition = 0.0;
        knobs.net.p_clog = 0.0;
        knobs.disk = DiskKnobs {
            op_us: (0, 0),
            p_crash: 0.0,
            p_eio: 0.0,
            p_tear: 0.0,
            p_detect: 0.0,
        };
        knobs.clock.p_jump = 0.0;
        knobs.clock.jitter_ms = 0;
        // Failure counters are per shard (a documented deviation), so the
        // 429 threshold is out of reach here.
        knobs.auth_fail_threshold = 1 << 20;
        // Without faults every step does work: fewer steps cover as much.
        knobs.steps = knobs.steps.min(8_000);
        knobs
    }
}

impl fmt::Display for Knobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = &self.net;
        let d = &self.disk;
        let c = &self.clock;
        writeln!(f, "seed {}", self.seed)?;
        writeln!(
            f,
            "  brain: shards={} segment_bytes={} max_record_bytes={} snapshot_events={} mesh_capacity={} mesh_us={:?}",
            self.shards, self.segment_bytes, self.max_record_bytes, self.snapshot_events, self.mesh_capacity, self.mesh_us
        )?;
        writeln!(
            f,
            "  net: delay_us={:?} drop={:.3} duplicate={:.3} fragment={:.3} one_byte={:.3} reset={:.3} partition={:.4} (≤{} ms) clog={:.4}",
            n.delay_us, n.p_drop, n.p_duplicate, n.p_fragment, n.p_one_byte, n.p_reset, n.p_partition, n.partition_ms_max, n.p_clog
        )?;
        writeln!(
            f,
            "  disk: op_us={:?} crash={:.4}/step eio={:.3}/commit tear={:.2} detect={:.2}",
            d.op_us, d.p_crash, d.p_eio, d.p_tear, d.p_detect
        )?;
        writeln!(
            f,
            "  clock: drift_ppm={} wobble_ms={} jump={:.4}/step (≤{} ms) jitter_ms={}",
            c.drift_ppm, c.wobble_ms, c.p_jump, c.jump_ms_max, c.jitter_ms
        )?;
        writeln!(
            f,
            "  actors: operators={}×{} accounts, edges={}, callers={}, media={}, centers={}, probers={}, guards={}×{} nodes; client timeout {} ms, edge attempts ≤{}; cac setup_ttl_ms={} max_call_ms={}; security report period {} ms",
            self.operators, self.accounts_per_operator, self.edges, self.callers, self.media_engines, self.contact_centers, self.probers, self.guards, self.guard_nodes, self.client_timeout_ms, self.edge_attempts_max, self.cac_setup_ttl_ms, self.cac_max_call_ms, self.security_report_period_ms
        )?;
        write!(
            f,
            "  auth: nonce_ttl_ms={} fail_threshold={} fail_window_ms={}; steps={} heal_budget_ms={} restart_ms={:?}",
            self.nonce_ttl_ms, self.auth_fail_threshold, self.auth_fail_window_ms, self.steps, self.heal_budget_ms, self.restart_ms
        )
    }
}
