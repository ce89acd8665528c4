//! What recovery returns: the records to replay, what it did to the disk,
//! and the errors that stop it.

use crate::lsn::Lsn;
use crate::snapshot::Snapshot;
use crate::wal::WalResume;
use std::fmt;
use std::io;

/// One WAL record handed back by recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Its lsn.
    pub lsn: Lsn,
    /// The kind given to [`crate::Wal::append`].
    pub kind: u16,
    /// The payload given to [`crate::Wal::append`].
    pub payload: Vec<u8>,
}

/// Damage to data that was synced: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// The file (segment or snapshot) holding the damage.
    pub file: String,
    /// Byte offset in that file.
    pub offset: u64,
    /// What is wrong there.
    pub reason: String,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "corruption in {} at offset {}: {}",
            self.file, self.offset, self.reason
        )
    }
}

/// Why recovery refused to produce a state.
#[derive(Debug)]
pub enum RecoveryError {
    /// The disk failed (including unreadable sectors). Retry after repair.
    Io(io::Error),
    /// Synced data is damaged. Restarting with
    /// [`crate::RecoveryMode::TruncateCorruption`] drops everything from
    /// the damage on.
    Corruption(Corruption),
}

impl fmt::Display for RecoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecoveryError::Io(error) => write!(f, "I/O error during recovery: {error}"),
            RecoveryError::Corruption(corruption) => {
                write!(
                    f,
                    "{corruption}; refusing to start (--recover-truncate drops it)"
                )
            }
        }
    }
}

impl std::error::Error for RecoveryError {}

impl From<io::Error> for RecoveryError {
    fn from(error: io::Error) -> RecoveryError {
        RecoveryError::Io(error)
    }
}

impl From<Corruption> for RecoveryError {
    fn from(corruption: Corruption) -> RecoveryError {
        RecoveryError::Corruption(corruption)
    }
}

/// A torn last write that recovery cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The last segment.
    pub segment: String,
    /// Where the torn flush started; the log now ends there.
    pub offset: u64,
    /// Bytes of the torn write found on disk (from `offset` to the last
    /// nonzero byte), now zeroed.
    pub bytes: u64,
    /// Why its first bad frame failed.
    pub reason: String,
}

/// Corruption that the operator asked to truncate, and what went with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// The damage found first.
    pub corruption: Corruption,
    /// Later segments removed entirely.
    pub segments_removed: Vec<String>,
}

/// What recovery found and did, for the operator and the logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Lsn of the snapshot loaded, if any.
    pub snapshot_lsn: Option<Lsn>,
    /// Segments read, in order.
    pub segments: Vec<String>,
    /// Records returned for replay (after the snapshot).
    pub records_replayed: u64,
    /// A torn last write that was cut off.
    pub torn_tail: Option<TornTail>,
    /// Corruption dropped under `TruncateCorruption`.
    pub truncation: Option<Truncation>,
    /// Invalid snapshots passed over under `TruncateCorruption`.
    pub snapshots_skipped: Vec<Corruption>,
    /// Temporary files of interrupted creations, removed.
    pub temp_files_removed: Vec<String>,
}

impl fmt::Display for RecoveryReport {
    /// One line for the log: what was found and what was dropped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.snapshot_lsn {
            Some(lsn) => write!(f, "snapshot at lsn {lsn}")?,
            None => write!(f, "no snapshot")?,
        }
        let segments = self.segments.len();
        write!(
            f,
            ", {segments} segments, {} records replayed",
            self.records_replayed
        )?;
        if let Some(torn) = &self.torn_tail {
            let TornTail {
                segment,
                offset,
                bytes,
                reason,
            } = torn;
            write!(
                f,
                "; torn tail cut at {segment} offset {offset} ({bytes} bytes: {reason})"
            )?;
        }
        if let Some(truncation) = &self.truncation {
            let removed = truncation.segments_removed.len();
            write!(
                f,
                "; TRUNCATED at {} ({removed} segments removed)",
                truncation.corruption
            )?;
        }
        for skipped in &self.snapshots_skipped {
            write!(f, "; skipped snapshot: {skipped}")?;
        }
        if !self.temp_files_removed.is_empty() {
            write!(f, "; removed {}", self.temp_files_removed.join(", "))?;
        }
        Ok(())
    }
}

/// The state to start from.
#[derive(Debug)]
pub struct Recovered {
    /// The newest valid snapshot, if any.
    pub snapshot: Option<Snapshot>,
    /// Records after the snapshot, in lsn order, lsns consecutive from the
    /// snapshot's lsn + 1 (or 1).
    pub records: Vec<Record>,
    /// The lsn the next appended record gets.
    pub next_lsn: Lsn,
    /// Where [`crate::Wal::open`] continues the log.
    pub resume: WalResume,
    /// What recovery found and did.
    pub report: RecoveryReport,
}
