//! sipbrain-storage: a shard's durable state — the write-ahead log (WAL),
//! snapshots and recovery — over a [`Disk`] trait.
//!
//! The crate is sans-IO and deterministic: no `std::fs`, clocks, threads or
//! randomness. Every byte goes through [`Disk`]; the runtime implements it
//! over glommio files (io_uring, `O_DSYNC`), the simulator and the tests use [`MemDisk`],
//! which models what survives a crash and injects faults.
//!
//! # Use
//!
//! ```
//! use futures_lite::future::block_on;
//! use sipbrain_storage::{recover, MemDisk, RecoveryMode, Wal, WalOptions};
//!
//! let disk = MemDisk::new();
//! let options = WalOptions::default();
//! block_on(async {
//!     let recovered = recover(&disk, &options, RecoveryMode::Strict).await?;
//!     // Rebuild state: load `recovered.snapshot`, apply `recovered.records`.
//!     let mut wal = Wal::open(disk.clone(), options, recovered.resume).await?;
//!     let lsn = wal.append(1, b"an event");
//!     assert_eq!(wal.commit().await?, lsn); // durable: the reply may leave
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! .unwrap();
//! ```
//!
//! The run loop: apply events, [`Wal::append`] each, then one
//! [`Wal::commit`] for everything gathered while the previous commit was in
//! flight; release replies in lsn order only after it returns. Every so
//! often, [`write_snapshot`] the state at a committed lsn.
//!
//! # The data directory (one per shard)
//!
//! ```text
//! wal-0000000000000007.seg            segments, ids consecutive
//! wal-0000000000000008.seg            the last one is being written
//! snapshot-00000000000012a0.snap      the newest snapshot (state at lsn 0x12a0)
//! *.tmp                               creations a crash interrupted (removed by recovery)
//! ```
//!
//! A segment is a preallocated file (`WalOptions::segment_bytes`, default
//! 64 MiB): a header sector ([`segment`] has its layout: magic, version,
//! segment id, first lsn, size, crc), then flushes. Each *flush* is the
//! output of one write: frames of consecutive records starting at a sector
//! boundary, zero-padded to whole sectors ([`flush`]). Each frame is:
//!
//! | offset | size | field            |                                            |
//! |-------:|-----:|------------------|--------------------------------------------|
//! |      0 |    4 | `magic`          | `b"SBWF"`                                  |
//! |      4 |    2 | `format_version` | 1                                          |
//! |      6 |    2 | `kind`           | the caller's record kind                   |
//! |      8 |    4 | `len`            | payload bytes                              |
//! |     12 |    4 | `flush_bytes`    | in a flush's first frame: its frame bytes; else 0 |
//! |     16 |    8 | `lsn`            |                                            |
//! |     24 |    8 | `segment_id`     |                                            |
//! |     32 |    4 | `crc_body`       | crc32 of the padded payload                |
//! |     36 |    8 | reserved         | zero                                       |
//! |     44 |    4 | `crc_header`     | crc32 of bytes 0..44                       |
//! |     48 |  len | payload          | zero-padded to 16 bytes                    |
//!
//! Little-endian throughout; payloads are 16-byte aligned in the file (for
//! rkyv). A snapshot is a 64-byte header (magic, version, lsn, body length,
//! crcs) and the body ([`snapshot`]).
//!
//! # Commit protocol
//!
//! - [`Wal::commit`] encodes everything appended since the last commit as
//!   one flush at the next sector boundary of the current segment, writes it
//!   with one `write_at` and makes it durable with one `sync`. No sector
//!   holding acknowledged records is ever written again: the next flush
//!   starts at the next sector.
//! - Records that do not fit in the rest of the segment go to a new one:
//!   created as `wal-<id>.seg.tmp`, allocated in full, header written,
//!   synced, renamed into place, directory synced; then flushed there. Such
//!   a commit is several flushes, each durable on its own.
//! - Any write or sync error poisons the [`Wal`]: later commits fail, and
//!   the shard must stop and recover from disk. A failed fsync is never
//!   retried (after one, the kernel may have dropped the dirty pages).
//! - [`write_snapshot`] writes `snapshot-<lsn>.snap.tmp`, syncs, renames,
//!   syncs the directory, and only then removes older snapshots and the
//!   segments whose records are all at or below its lsn (never the last
//!   segment). The lsn must be at most [`Wal::durable_lsn`].
//!
//! # Recovery policy
//!
//! [`recover`] syncs the directory and each file before reading (so it
//! never acts on data a crashed predecessor had not made durable), removes
//! `*.tmp` files, loads the newest valid snapshot, then scans the segments
//! in id order. Segment ids must be consecutive; each segment's first lsn
//! must continue the previous one's last (the first must start at or before
//! the snapshot's lsn + 1); within a segment, flushes are read one after
//! another and each must be entirely valid. The scan of a segment stops at
//! the first flush that is not.
//!
//! That invalid flush is a **torn tail**, cut off and reported
//! ([`TornTail`]: offset and bytes), only if all of these hold:
//! 1. it is in the last segment;
//! 2. it is the last write: no valid flush start sits at any later sector
//!    boundary of the segment (a flush inside the in-flight write cannot
//!    look like one, since only a flush's first frame carries
//!    `flush_bytes`);
//! 3. its damage is what a torn write leaves: zeros, a bad magic, or a
//!    checksum mismatch — not a checksummed header that is simply wrong
//!    (another segment id or lsn, a bad length, another format version).
//!
//! The cut drops the whole flush (never part of one) by truncating the
//! segment at the flush start and re-allocating it (zeros), so the next
//! flush starts on clean space. Zeros after the last flush are the normal
//! end of the log and are not reported. Everything else is
//! [`Corruption`] `{ file, offset, reason }` and recovery refuses to start,
//! unless the mode is [`RecoveryMode::TruncateCorruption`] (the operator's
//! `--recover-truncate`): then the log is cut at the first bad flush, every
//! later segment is removed, and [`Truncation`] reports it. A bad record is
//! never skipped. Finally the log must reach the snapshot's lsn; one that
//! ends before it was rolled back.
//!
//! Limit: damage to the last flush of the last segment, when no later write
//! exists, looks exactly like a torn write and is cut off too. That flush
//! may have been acknowledged; with one copy of the log this cannot be told
//! apart (etcd and raft-engine share the limit; TigerBeetle needs redundant
//! headers for it). A whole last segment rolled back to an older image is
//! detected only when a snapshot is newer than what remains.
//!
//! # Faults
//!
//! Two classes, kept apart in [`MemDisk`]'s API and in the simulator:
//! - **survived** without losing an acknowledged record: crashes dropping
//!   unsynced writes and directory changes, unsynced writes landing out of
//!   order, the in-flight write torn at 512-byte granularity (zeros,
//!   garbage, prefix only), EIO on write or sync (fail-stop, then recovery);
//! - **detected** and refused: bit flips and unreadable sectors in synced
//!   data, misdirected writes, files rolled back to older images.
//!
//! # Errors vs bugs
//!
//! Disk errors and damaged data are values (`io::Error`,
//! [`RecoveryError`]). A broken invariant — an unaligned write, a record
//! over `max_record_bytes`, invalid [`WalOptions`] — panics; correctness
//! assertions stay on in release builds, and every frame is checked after
//! encoding (before it is written) and again after reading.

pub mod disk;
pub mod flush;
pub mod frame;
pub mod group;
pub mod lsn;
pub mod mem_disk;
#[cfg(feature = "planted-bugs")]
pub mod planted;
pub mod recovery;
pub mod report;
pub mod scan;
pub mod segment;
pub mod snapshot;
pub mod wal;

pub use disk::{Disk, DiskFile, SECTOR_BYTES};
pub use group::{Batch, GroupCommit};
pub use lsn::Lsn;
pub use mem_disk::{CrashPlan, MemDisk, Tear, TornRest};
pub use recovery::{recover, RecoveryMode};
pub use report::{
    Corruption, Record, Recovered, RecoveryError, RecoveryReport, TornTail, Truncation,
};
pub use snapshot::{
    load_newest, write_encoded_snapshot, write_snapshot, Snapshot, SnapshotWritten,
};
pub use wal::{Wal, WalOptions, WalResume, WalTail};

#[cfg(test)]
mod tests;
