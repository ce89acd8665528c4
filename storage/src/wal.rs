//! The write-ahead log of one shard: append records, commit them durably
//! with one write and one sync, roll over to new segments.

use crate::disk::{sector_round_up, Disk, DiskFile, SECTOR_BYTES};
use crate::flush::{self, FlushRecord};
use crate::frame::{self, FrameExpect, MAX_RECORD_BYTES};
use crate::lsn::Lsn;
use crate::report::Recovered;
use crate::segment::{self, SegmentHeader, SEGMENT_DATA_OFFSET};
use std::io;

/// The WAL's knobs. The simulator swarms them; both may change between
/// runs (existing segments keep the size they were created with).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// Size of each new segment file, a multiple of
    /// [`SECTOR_BYTES`]. Default 64 MiB.
    pub segment_bytes: u64,
    /// Largest payload [`Wal::append`] accepts, at most
    /// [`MAX_RECORD_BYTES`]. Default 1 MiB.
    pub max_record_bytes: u32,
}

impl Default for WalOptions {
    fn default() -> WalOptions {
        WalOptions {
            segment_bytes: 64 << 20,
            max_record_bytes: 1 << 20,
        }
    }
}

impl WalOptions {
    /// Checks the knobs: whole sectors, and a segment that holds its header
    /// and a largest record. Call it on configuration input; the WAL
    /// asserts it.
    pub fn validate(&self) -> Result<(), String> {
        if self.segment_bytes % SECTOR_BYTES != 0 {
            return Err(format!(
                "segment_bytes {} is not whole sectors",
                self.segment_bytes
            ));
        }
        if self.max_record_bytes > MAX_RECORD_BYTES {
            let max = self.max_record_bytes;
            return Err(format!("max_record_bytes {max} exceeds {MAX_RECORD_BYTES}"));
        }
        let needed =
            SEGMENT_DATA_OFFSET + sector_round_up(frame::frame_bytes(self.max_record_bytes));
        if self.segment_bytes < needed {
            let bytes = self.segment_bytes;
            return Err(format!(
                "segment_bytes {bytes} cannot hold a largest record ({needed})"
            ));
        }
        if self.segment_bytes > u64::from(u32::MAX) {
            return Err(format!(
                "segment_bytes {} exceeds 4 GiB",
                self.segment_bytes
            ));
        }
        Ok(())
    }
}

/// Where a recovered log continues, from [`crate::recover`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalResume {
    /// The lsn of the next record.
    pub next_lsn: Lsn,
    /// The last segment and where its next flush goes; `None` if there is
    /// no segment yet (a new log, or one whose segments were all dropped).
    pub tail: Option<WalTail>,
    /// Id for a new segment when `tail` is `None`.
    pub next_segment_id: u64,
}

impl From<&Recovered> for WalResume {
    fn from(recovered: &Recovered) -> WalResume {
        assert_eq!(recovered.resume.next_lsn, recovered.next_lsn);
        recovered.resume
    }
}

/// The end of the last segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalTail {
    /// The last segment.
    pub segment_id: u64,
    /// Sector-aligned offset of its next flush.
    pub offset: u64,
    /// Its size, from its header.
    pub segment_bytes: u64,
}

#[derive(Clone, Copy, Debug)]
struct PendingRecord {
    kind: u16,
    start: usize,
    len: usize,
}

/// A shard's write-ahead log over a [`Disk`].
///
/// Call [`Wal::append`] for each record, then [`Wal::commit`] once per
/// group: it returns when everything appended before it is durable. After
/// any write or sync error the log is *poisoned*: every later commit fails,
/// and the shard must stop and recover from disk (a failed fsync is never
/// retried, rule 16).
pub struct Wal<D: Disk> {
    disk: D,
    options: WalOptions,
    segment: D::File,
    segment_id: u64,
    segment_bytes: u64,
    /// Sector-aligned offset where the next flush goes.
    offset: u64,
    next_lsn: Lsn,
    durable_lsn: Lsn,
    pending: Vec<PendingRecord>,
    pending_payloads: Vec<u8>,
    pending_frame_bytes: u64,
    buffer: Vec<u8>,
    poison: Option<String>,
}

impl<D: Disk> Wal<D> {
    /// Opens the log where recovery left it (`recovered.resume`, or
    /// `&recovered`, from [`crate::recover`]), creating its first segment
    /// if it has none.
    pub async fn open(
        disk: D,
        options: WalOptions,
        resume: impl Into<WalResume>,
    ) -> io::Result<Wal<D>> {
        let resume: WalResume = resume.into();
        options
            .validate()
            .expect("WalOptions are validated before use");
        assert!(resume.next_lsn > Lsn::ZERO, "lsns start at 1");
        let (segment, segment_id, segment_bytes, offset) = match resume.tail {
            Some(tail) => {
                assert_eq!(tail.offset % SECTOR_BYTES, 0, "flushes start on a sector");
                assert!(tail.offset >= SEGMENT_DATA_OFFSET && tail.offset <= tail.segment_bytes);
                let file = disk.open(&segment::segment_name(tail.segment_id)).await?;
                if file.len().await? < tail.segment_bytes {
                    // A trim that crashed between truncate and allocate.
                    file.allocate(tail.segment_bytes).await?;
                    file.sync().await?;
                }
                (file, tail.segment_id, tail.segment_bytes, tail.offset)
            }
            None => {
                let header = SegmentHeader {
                    segment_id: resume.next_segment_id,
                    first_lsn: resume.next_lsn,
                    segment_bytes: options.segment_bytes,
                };
                let file = segment::create_segment(&disk, &header).await?;
                (
                    file,
                    header.segment_id,
                    header.segment_bytes,
                    SEGMENT_DATA_OFFSET,
                )
            }
        };
        Ok(Wal {
            disk,
            options,
            segment,
            segment_id,
            segment_bytes,
            offset,
            next_lsn: resume.next_lsn,
            durable_lsn: resume.next_lsn.previous(),
            pending: Vec::new(),
            pending_payloads: Vec::new(),
            pending_frame_bytes: 0,
            buffer: Vec::new(),
            poison: None,
        })
    }

    /// Buffers a record and returns its lsn (consecutive from 1). Nothing
    /// is written until [`Wal::commit`]. The payload must be at most
    /// `max_record_bytes` (a bigger one is a bug: callers bound their
    /// records). On a poisoned log the record is accepted but can never
    /// become durable; the next commit reports the poison.
    pub fn append(&mut self, kind: u16, payload: &[u8]) -> Lsn {
        let max = self.options.max_record_bytes as usize;
        assert!(
            payload.len() <= max,
            "record of {} bytes over the {max} limit",
            payload.len()
        );
        let lsn = self.next_lsn;
        assert!(lsn > self.durable_lsn, "lsns only grow");
        let start = self.pending_payloads.len();
        self.pending_payloads.extend_from_slice(payload);
        self.pending.push(PendingRecord {
            kind,
            start,
            len: payload.len(),
        });
        self.pending_frame_bytes += frame::frame_bytes(payload.len() as u32);
        self.next_lsn = lsn.next();
        assert_eq!(self.durable_lsn.0 + self.pending.len() as u64, lsn.0);
        lsn
    }

    /// Makes every appended record durable and returns the highest durable
    /// lsn. The records go out as one sector-aligned write plus one sync
    /// (two or more only if they spill into new segments), starting at a
    /// fresh sector. An error poisons the log: this and every later commit
    /// fail, and records not yet reported durable may or may not survive.
    pub async fn commit(&mut self) -> io::Result<Lsn> {
        self.check_poison()?;
        let mut first = 0;
        while first < self.pending.len() {
            let count = self.commit_fit(first);
            if count == 0 {
                self.commit_roll_over().await?;
                continue;
            }
            self.commit_flush(first, count).await?;
            first += count;
        }
        self.pending.clear();
        self.pending_payloads.clear();
        self.pending_frame_bytes = 0;
        assert_eq!(
            self.durable_lsn.next(),
            self.next_lsn,
            "everything appended is durable"
        );
        Ok(self.durable_lsn)
    }

    /// How many pending records from `first` fit in the current segment.
    fn commit_fit(&self, first: usize) -> usize {
        assert!(first < self.pending.len());
        assert!(self.offset <= self.segment_bytes);
        let space = self.segment_bytes - self.offset;
        let mut used = 0;
        let mut count = 0;
        for record in &self.pending[first..] {
            let bytes = frame::frame_bytes(record.len as u32);
            if used + bytes > space {
                break;
            }
            used += bytes;
            count += 1;
        }
        count
    }

    /// Writes and syncs `count` pending records from `first` as one flush.
    async fn commit_flush(&mut self, first: usize, count: usize) -> io::Result<()> {
        let first_lsn = Lsn(self.durable_lsn.0 + 1);
        let payloads = &self.pending_payloads;
        let records: Vec<FlushRecord> = self.pending[first..first + count]
            .iter()
            .map(|r| (r.kind, &payloads[r.start..r.start + r.len]))
            .collect();
        let mut buffer = std::mem::take(&mut self.buffer);
        flush::encode_flush(&mut buffer, self.segment_id, first_lsn, &records);
        // Paired assertion: what is written reads back as this flush.
        let expect = FrameExpect {
            segment_id: self.segment_id,
            lsn: first_lsn,
        };
        let parsed = flush::parse_flush(&buffer, 0, expect).expect("an encoded flush is valid");
        assert_eq!(parsed.frames.len(), count);
        assert!(
            self.offset + buffer.len() as u64 <= self.segment_bytes,
            "flush fits"
        );
        let written = self.segment.write_at(self.offset, &buffer).await;
        let written_len = buffer.len() as u64;
        self.buffer = buffer;
        written.map_err(|error| self.poison_with("write", error))?;
        self.segment
            .sync()
            .await
            .map_err(|error| self.poison_with("sync", error))?;
        self.offset += written_len;
        self.durable_lsn = Lsn(first_lsn.0 + count as u64 - 1);
        Ok(())
    }

    /// Starts the next segment durably; its first record is the next one
    /// not yet durable.
    async fn commit_roll_over(&mut self) -> io::Result<()> {
        let header = SegmentHeader {
            segment_id: self.segment_id + 1,
            first_lsn: self.durable_lsn.next(),
            segment_bytes: self.options.segment_bytes,
        };
        assert!(
            self.offset <= self.segment_bytes,
            "the old segment is not overfilled"
        );
        assert!(
            header.first_lsn < self.next_lsn,
            "a new segment starts with a pending record"
        );
        let created = segment::create_segment(&self.disk, &header).await;
        let file = created.map_err(|error| self.poison_with("new segment", error))?;
        self.segment = file;
        self.segment_id = header.segment_id;
        self.segment_bytes = header.segment_bytes;
        self.offset = SEGMENT_DATA_OFFSET;
        assert!(
            self.commit_fit(0) > 0,
            "a fresh segment holds any one record"
        );
        Ok(())
    }

    fn poison_with(&mut self, what: &str, error: io::Error) -> io::Error {
        let reason = format!(
            "{what} of {} failed: {error}",
            segment::segment_name(self.segment_id)
        );
        assert!(self.poison.is_none(), "a poisoned log does no more I/O");
        self.poison = Some(reason.clone());
        io::Error::new(error.kind(), format!("WAL poisoned: {reason}"))
    }

    fn check_poison(&self) -> io::Result<()> {
        match &self.poison {
            None => Ok(()),
            Some(reason) => Err(io::Error::other(format!("WAL poisoned earlier: {reason}"))),
        }
    }

    /// The highest lsn known durable (changes only in [`Wal::commit`]).
    pub fn durable_lsn(&self) -> Lsn {
        self.durable_lsn
    }

    /// The lsn the next [`Wal::append`] returns.
    pub fn next_lsn(&self) -> Lsn {
        self.next_lsn
    }

    /// Frame bytes appended but not yet committed (headers and payload
    /// padding included, sector padding not).
    pub fn pending_bytes(&self) -> u64 {
        self.pending_frame_bytes
    }

    /// Why the log is poisoned, if it is.
    pub fn poisoned(&self) -> Option<&str> {
        self.poison.as_deref()
    }

    /// The id of the segment being written.
    pub fn segment_id(&self) -> u64 {
        self.segment_id
    }

    /// Where the log ends on disk: (id of the segment being written,
    /// sector-aligned offset in it where the next flush goes). Everything
    /// committed lies before it; a simulator damages bytes there to test
    /// torn-tail handling, or before it to test corruption detection.
    pub fn tail_position(&self) -> (u64, u64) {
        (self.segment_id, self.offset)
    }

    /// The knobs in force.
    pub fn options(&self) -> WalOptions {
        self.options
    }

    /// The disk, e.g. to write a snapshot.
    pub fn disk(&self) -> &D {
        &self.disk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_options_are_valid() {
        assert_eq!(WalOptions::default().validate(), Ok(()));
        let small = WalOptions {
            segment_bytes: 4 * SECTOR_BYTES,
            max_record_bytes: 1000,
        };
        assert_eq!(small.validate(), Ok(()));
    }

    #[test]
    fn options_reject_a_segment_too_small_for_a_largest_record() {
        let options = WalOptions {
            segment_bytes: 2 * SECTOR_BYTES,
            max_record_bytes: 8192,
        };
        assert!(options.validate().unwrap_err().contains("cannot hold"));
        let unaligned = WalOptions {
            segment_bytes: 10_000,
            max_record_bytes: 10,
        };
        assert!(unaligned.validate().unwrap_err().contains("whole sectors"));
    }
}
