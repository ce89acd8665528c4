//! Snapshots: a shard's whole state at an lsn, so the WAL before it can go.
//!
//! A snapshot is `snapshot-<lsn as 16 hex digits>.snap`: a 64-byte header,
//! then the caller's bytes, then zeros to whole sectors.
//!
//! | offset | size | field            | meaning                                    |
//! |-------:|-----:|------------------|--------------------------------------------|
//! |      0 |    4 | `magic`          | `b"SBSN"` as a little-endian u32           |
//! |      4 |    2 | `format_version` | [`SNAPSHOT_FORMAT_VERSION`]                |
//! |      6 |    2 | reserved         | zero                                       |
//! |      8 |    8 | `lsn`            | the last record the state includes         |
//! |     16 |    8 | `body_bytes`     | length of the body                         |
//! |     24 |    4 | `crc_body`       | crc32 of the body                          |
//! |     28 |   32 | reserved         | zero                                       |
//! |     60 |    4 | `crc_header`     | crc32 of bytes 0..60                       |
//! |     64 |    n | body             | 16-byte aligned in the file                |
//!
//! Writing one (rule 15): write `<name>.tmp`, sync it, rename it into place,
//! sync the directory; only then remove older snapshots and the WAL
//! segments it covers. A crash before the rename leaves only a temporary
//! file (removed by recovery) and the older snapshot with its WAL intact.
//!
//! Loading: the newest snapshot by name must be valid. A renamed snapshot
//! was synced before its rename, so an invalid one is damage to synced data
//! and recovery refuses it, even if an older snapshot exists (its WAL may
//! already be gone, and silently going back in time is worse than
//! stopping). Under `TruncateCorruption` the invalid one is reported and
//! the next older valid snapshot is used; WAL continuity then decides
//! whether anything after it is missing.

use crate::disk::{read_all, sector_round_up, Disk, DiskFile, SECTOR_BYTES};
use crate::lsn::Lsn;
use crate::recovery::RecoveryMode;
use crate::report::{Corruption, RecoveryError};
use crate::segment::{self, TEMP_SUFFIX};
use std::io;

/// `b"SBSN"` as a little-endian u32.
pub const SNAPSHOT_MAGIC: u32 = u32::from_le_bytes(*b"SBSN");
/// Version of the snapshot header layout.
pub const SNAPSHOT_FORMAT_VERSION: u16 = 1;
/// Size of the snapshot header; the body starts here.
pub const SNAPSHOT_HEADER_BYTES: usize = 64;

/// A loaded snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The last record its state includes.
    pub lsn: Lsn,
    /// The caller's bytes.
    pub bytes: Vec<u8>,
}

/// What [`write_snapshot`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotWritten {
    /// The snapshot's file name.
    pub name: String,
    /// Older snapshots and covered WAL segments removed.
    pub removed: Vec<String>,
}

/// What [`load_newest`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotLoad {
    /// The newest valid snapshot.
    pub snapshot: Option<Snapshot>,
    /// Invalid newer snapshots passed over (only under `TruncateCorruption`).
    pub skipped: Vec<Corruption>,
}

/// The file name of the snapshot at `lsn`.
pub fn snapshot_name(lsn: Lsn) -> String {
    let name = format!("snapshot-{:016x}.snap", lsn.0);
    assert_eq!(parse_snapshot_name(&name), Some(lsn));
    name
}

/// The lsn in a snapshot file name, or `None` for any other name.
pub fn parse_snapshot_name(name: &str) -> Option<Lsn> {
    crate::segment::parse_hex_name(name, "snapshot-", ".snap").map(Lsn)
}

/// The snapshot file's bytes: header, body, zeros to whole sectors.
pub fn encode_snapshot(lsn: Lsn, body: &[u8]) -> Vec<u8> {
    let total = sector_round_up((SNAPSHOT_HEADER_BYTES + body.len()) as u64) as usize;
    let mut out = vec![0u8; total];
    out[0..4].copy_from_slice(&SNAPSHOT_MAGIC.to_le_bytes());
    out[4..6].copy_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
    out[8..16].copy_from_slice(&lsn.0.to_le_bytes());
    out[16..24].copy_from_slice(&(body.len() as u64).to_le_bytes());
    out[24..28].copy_from_slice(&crc32fast::hash(body).to_le_bytes());
    let crc_header = crc32fast::hash(&out[..60]);
    out[60..64].copy_from_slice(&crc_header.to_le_bytes());
    out[SNAPSHOT_HEADER_BYTES..SNAPSHOT_HEADER_BYTES + body.len()].copy_from_slice(body);
    assert_eq!(
        decode_snapshot(&out).as_ref().map(|s| s.lsn),
        Ok(lsn),
        "paired assertion"
    );
    out
}

/// Decodes and checks snapshot file bytes; the error says what is wrong.
pub fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, (u64, String)> {
    if bytes.len() < SNAPSHOT_HEADER_BYTES {
        return Err((0, format!("snapshot cut off at {} bytes", bytes.len())));
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let half = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    if half(0) != SNAPSHOT_MAGIC {
        return Err((0, format!("bad snapshot magic {:#010x}", half(0))));
    }
    if crc32fast::hash(&bytes[..60]) != half(60) {
        return Err((0, "snapshot header checksum mismatch".to_owned()));
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != SNAPSHOT_FORMAT_VERSION || bytes[6..8] != [0, 0] {
        return Err((4, format!("unknown snapshot format version {version}")));
    }
    let body_bytes = word(16);
    let available = (bytes.len() - SNAPSHOT_HEADER_BYTES) as u64;
    if body_bytes > available {
        return Err((
            16,
            format!("snapshot body of {body_bytes} bytes, file holds {available}"),
        ));
    }
    let body = &bytes[SNAPSHOT_HEADER_BYTES..SNAPSHOT_HEADER_BYTES + body_bytes as usize];
    if crc32fast::hash(body) != half(24) {
        return Err((
            SNAPSHOT_HEADER_BYTES as u64,
            "snapshot body checksum mismatch".to_owned(),
        ));
    }
    Ok(Snapshot {
        lsn: Lsn(word(8)),
        bytes: body.to_vec(),
    })
}

/// Writes the state at `lsn` durably, then removes older snapshots and the
/// WAL segments it covers.
///
/// `lsn` must be at most the WAL's durable lsn ([`crate::Wal::durable_lsn`]):
/// recovery treats a WAL that ends before the newest snapshot as rolled
/// back. An error leaves the previous snapshot and the WAL in force; like
/// any failed sync it should stop the shard.
pub async fn write_snapshot<D: Disk>(
    disk: &D,
    lsn: Lsn,
    bytes: &[u8],
) -> io::Result<SnapshotWritten> {
    write_encoded_snapshot(disk, lsn, &encode_snapshot(lsn, bytes)).await
}

/// Bytes per write of a snapshot file. The WAL shares the disk: one write
/// of a whole image (tens of MB) makes every commit behind it wait for all
/// of it, slices make them wait for one slice at most.
pub const SNAPSHOT_SLICE_BYTES: usize = 1 << 20;
const _: () = assert!(SNAPSHOT_SLICE_BYTES as u64 % SECTOR_BYTES == 0);

/// [`write_snapshot`] of a file already made by [`encode_snapshot`] (for a
/// large image, off the thread that awaits this), written in slices of
/// [`SNAPSHOT_SLICE_BYTES`].
pub async fn write_encoded_snapshot<D: Disk>(
    disk: &D,
    lsn: Lsn,
    image: &[u8],
) -> io::Result<SnapshotWritten> {
    debug_assert_eq!(decode_snapshot(image).map(|s| s.lsn), Ok(lsn));
    let name = snapshot_name(lsn);
    let temp = format!("{name}{TEMP_SUFFIX}");
    let file = match disk.create(&temp).await {
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            disk.remove(&temp).await?;
            disk.create(&temp).await?
        }
        other => other?,
    };
    let image_len = image.len() as u64;
    for (index, slice) in image.chunks(SNAPSHOT_SLICE_BYTES).enumerate() {
        file.write_at((index * SNAPSHOT_SLICE_BYTES) as u64, slice)
            .await?;
    }
    file.sync().await?;
    assert_eq!(file.len().await?, image_len);
    disk.rename(&temp, &name).await?;
    disk.sync_dir().await?;
    // Durable from here on: older state may go.
    let mut removed = Vec::new();
    for older in disk.list().await? {
        if parse_snapshot_name(&older).is_some_and(|older_lsn| older_lsn < lsn) {
            disk.remove(&older).await?;
            removed.push(older);
        }
    }
    removed.extend(write_snapshot_remove_segments(disk, lsn).await?);
    assert!(!removed.contains(&name), "the new snapshot stays");
    if !removed.is_empty() {
        disk.sync_dir().await?;
    }
    Ok(SnapshotWritten { name, removed })
}

/// Removes the oldest segments whose every record is at most `lsn`: a
/// segment is covered when the next one starts at or before `lsn + 1`. The
/// last segment always stays, and removal stops at the first segment that
/// is not covered (or whose successor's header cannot be read), so the
/// remaining segments stay contiguous.
async fn write_snapshot_remove_segments<D: Disk>(disk: &D, lsn: Lsn) -> io::Result<Vec<String>> {
    let ids: Vec<u64> = disk
        .list()
        .await?
        .iter()
        .filter_map(|n| segment::parse_segment_name(n))
        .collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "list is sorted"
    );
    let mut removed = Vec::new();
    for pair in ids.windows(2) {
        let (id, next_id) = (pair[0], pair[1]);
        if next_id != id + 1 {
            break;
        }
        match segment::read_segment_header(disk, next_id).await {
            Ok(next) if next.first_lsn <= lsn.next() => {
                let name = segment::segment_name(id);
                disk.remove(&name).await?;
                removed.push(name);
            }
            _ => break,
        }
    }
    assert!(removed.len() < ids.len().max(1), "the last segment stays");
    Ok(removed)
}

/// Finds the newest valid snapshot (see the module doc for the policy).
pub async fn load_newest<D: Disk>(
    disk: &D,
    mode: RecoveryMode,
) -> Result<SnapshotLoad, RecoveryError> {
    let mut names: Vec<(Lsn, String)> = disk
        .list()
        .await?
        .into_iter()
        .filter_map(|name| parse_snapshot_name(&name).map(|lsn| (lsn, name)))
        .collect();
    names.reverse();
    assert!(
        names.windows(2).all(|pair| pair[0].0 > pair[1].0),
        "newest first"
    );
    let mut load = SnapshotLoad::default();
    for (lsn, name) in names {
        let file = disk.open(&name).await?;
        file.sync().await?;
        let bytes = read_all(&file).await?;
        let problem = match decode_snapshot(&bytes) {
            Ok(snapshot) if snapshot.lsn == lsn => {
                load.snapshot = Some(snapshot);
                return Ok(load);
            }
            Ok(snapshot) => (
                8,
                format!("header says lsn {}, name says {lsn}", snapshot.lsn),
            ),
            Err(problem) => problem,
        };
        let corruption = Corruption {
            file: name,
            offset: problem.0,
            reason: problem.1,
        };
        match mode {
            RecoveryMode::Strict => return Err(RecoveryError::Corruption(corruption)),
            RecoveryMode::TruncateCorruption => load.skipped.push(corruption),
        }
    }
    Ok(load)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_round_trips_with_its_body_sixteen_byte_aligned() {
        let image = encode_snapshot(Lsn(42), b"state");
        assert_eq!(image.len(), 4096);
        assert_eq!(SNAPSHOT_HEADER_BYTES % 16, 0);
        let snapshot = decode_snapshot(&image).expect("valid");
        assert_eq!(
            snapshot,
            Snapshot {
                lsn: Lsn(42),
                bytes: b"state".to_vec()
            }
        );
    }

    #[test]
    fn a_flipped_body_bit_is_reported_at_the_body() {
        let mut image = encode_snapshot(Lsn(1), b"state");
        image[SNAPSHOT_HEADER_BYTES + 1] ^= 2;
        let (offset, reason) = decode_snapshot(&image).unwrap_err();
        assert_eq!(offset, SNAPSHOT_HEADER_BYTES as u64);
        assert!(reason.contains("body checksum"));
    }

    #[test]
    fn a_large_snapshot_is_written_in_slices_and_loads_whole() {
        use crate::mem_disk::MemDisk;
        use futures_lite::future::block_on;
        let body: Vec<u8> = (0..SNAPSHOT_SLICE_BYTES * 5 / 2)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let disk = MemDisk::new();
        let before = disk.stats().writes;
        block_on(write_snapshot(&disk, Lsn(9), &body)).expect("written");
        // Header + body round up to three slices, the last one partial.
        assert_eq!(disk.stats().writes - before, 3);
        let load = block_on(load_newest(&disk, RecoveryMode::Strict)).expect("loaded");
        let snapshot = load.snapshot.expect("a snapshot");
        assert_eq!(snapshot.lsn, Lsn(9));
        assert!(snapshot.bytes == body, "the slices join up to the body");
    }

    #[test]
    fn snapshot_names_round_trip() {
        assert_eq!(snapshot_name(Lsn(255)), "snapshot-00000000000000ff.snap");
        assert_eq!(
            parse_snapshot_name("snapshot-00000000000000ff.snap.tmp"),
            None
        );
        assert_eq!(parse_snapshot_name("wal-00000000000000ff.seg"), None);
    }
}
