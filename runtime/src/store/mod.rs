//! Durable state of the running server: each shard's WAL and snapshots
//! (the storage crate over [`disk::GlommioDisk`]), group commit
//! ([`journal`]), the data directory layout and re-partitioning
//! ([`layout`], [`reshard`]).

pub mod disk;
pub mod inspect;
pub mod journal;
pub mod layout;
pub mod reshard;

use disk::GlommioDisk;
use sipbrain_core::event::{self, Event};
use sipbrain_storage::recovery::{self, RecoveryMode};
use sipbrain_storage::wal::{Wal, WalOptions};
use std::path::Path;

/// What recovery of one shard produced.
pub struct Opened {
    /// Snapshot image then WAL records, in order: apply them all.
    pub events: Vec<Event>,
    /// The WAL, positioned after the last good record.
    pub wal: Wal<GlommioDisk>,
    pub disk: GlommioDisk,
    /// One line for the log: what was found, what was dropped.
    pub report: String,
}

/// The WAL settings of the server.
pub fn wal_options(segment_bytes: u64) -> WalOptions {
    WalOptions {
        segment_bytes,
        ..WalOptions::default()
    }
}

/// Recovers shard `shard` of generation `generation`: newest valid
/// snapshot, then the WAL after it. Corruption refuses (unless `truncate`).
pub async fn open_shard(
    data_dir: &Path,
    generation: u64,
    shard: usize,
    options: &WalOptions,
    truncate: bool,
) -> Result<Opened, String> {
    let dir = layout::shard_dir(data_dir, generation, shard);
    let disk =
        GlommioDisk::new(dir.clone()).map_err(|e| format!("cannot open {}: {e}", dir.display()))?;
    let mode = if truncate {
        RecoveryMode::TruncateCorruption
    } else {
        RecoveryMode::Strict
    };
    let recovered = recovery::recover(&disk, options, mode)
        .await
        .map_err(|e| format!("shard {shard} ({}): {e}", dir.display()))?;
    let mut events = Vec::new();
    if let Some(snapshot) = &recovered.snapshot {
        events.extend(
            event::decode_all(&snapshot.bytes)
                .map_err(|e| format!("shard {shard} snapshot: {e}"))?,
        );
    }
    for record in &recovered.records {
        assert_eq!(
            record.kind,
            journal::KIND_EVENT,
            "the server writes only event records"
        );
        let decoded = event::decode(&record.payload)
            .map_err(|e| format!("shard {shard} record {}: {e}", record.lsn))?;
        events.push(decoded);
    }
    let report = describe(shard, &recovered.report);
    let wal = Wal::open(disk.clone(), *options, recovered.resume)
        .await
        .map_err(|e| format!("shard {shard}: cannot open the WAL: {e}"))?;
    Ok(Opened {
        events,
        wal,
        disk,
        report,
    })
}

/// One log line for a recovery report.
fn describe(shard: usize, report: &sipbrain_storage::RecoveryReport) -> String {
    let mut line = format!(
        "shard {shard}: recovered snapshot {:?}, {} segment(s), {} record(s) replayed",
        report.snapshot_lsn.map(|lsn| lsn.0),
        report.segments.len(),
        report.records_replayed
    );
    if let Some(torn) = &report.torn_tail {
        line.push_str(&format!(
            "; torn tail dropped: {} bytes at {}:{} ({})",
            torn.bytes, torn.segment, torn.offset, torn.reason
        ));
    }
    if let Some(cut) = &report.truncation {
        line.push_str(&format!(
            "; TRUNCATED on operator request at {} (segments removed: {:?})",
            cut.corruption, cut.segments_removed
        ));
    }
    for skipped in &report.snapshots_skipped {
        line.push_str(&format!("; snapshot skipped: {skipped}"));
    }
    line
}
