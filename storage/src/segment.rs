//! WAL segment files: names, the header sector, and durable creation.
//!
//! A segment is a preallocated file of `segment_bytes` named
//! `wal-<segment_id as 16 hex digits>.seg`. Its first sector holds a header;
//! flushes of frames follow from [`SEGMENT_DATA_OFFSET`]:
//!
//! | offset | size | field            | meaning                                     |
//! |-------:|-----:|------------------|---------------------------------------------|
//! |      0 |    4 | `magic`          | `b"SBWS"` as a little-endian u32            |
//! |      4 |    2 | `format_version` | [`SEGMENT_FORMAT_VERSION`]                  |
//! |      6 |    2 | reserved         | zero                                        |
//! |      8 |    8 | `segment_id`     | must match the file name                    |
//! |     16 |    8 | `first_lsn`      | lsn of the segment's first record           |
//! |     24 |    8 | `segment_bytes`  | the size it was created with                |
//! |     32 |   12 | reserved         | zero                                        |
//! |     44 |    4 | `crc_header`     | crc32 of bytes 0..44                        |
//!
//! The rest of the first sector is zero. `first_lsn` lets recovery check
//! that consecutive segments continue each other's lsns even when a segment
//! holds no record yet, and lets a snapshot tell which segments it covers.

use crate::disk::{Disk, DiskFile, SECTOR_BYTES};
use crate::lsn::Lsn;
use std::io;

/// `b"SBWS"` as a little-endian u32.
pub const SEGMENT_MAGIC: u32 = u32::from_le_bytes(*b"SBWS");
/// Version of the segment header layout.
pub const SEGMENT_FORMAT_VERSION: u16 = 1;
/// Where the first flush of a segment starts (after the header sector).
pub const SEGMENT_DATA_OFFSET: u64 = SECTOR_BYTES;
/// Suffix of files being created; recovery removes them.
pub const TEMP_SUFFIX: &str = ".tmp";

/// The header sector of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The segment's id (its position in the log).
    pub segment_id: u64,
    /// Lsn of the first record written to the segment.
    pub first_lsn: Lsn,
    /// Size of the segment file.
    pub segment_bytes: u64,
}

/// The file name of segment `segment_id`.
pub fn segment_name(segment_id: u64) -> String {
    let name = format!("wal-{segment_id:016x}.seg");
    assert_eq!(parse_segment_name(&name), Some(segment_id));
    name
}

/// The id in a segment file name, or `None` for any other name.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    parse_hex_name(name, "wal-", ".seg")
}

/// The number in `<prefix><16 lower-case hex digits><suffix>`, the shape of
/// every file name the store writes; `None` for any other name.
pub fn parse_hex_name(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let hex = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if hex.len() != 16
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

impl SegmentHeader {
    /// The header sector: the header, then zeros.
    pub fn encode(&self) -> Vec<u8> {
        assert!(self.first_lsn > Lsn::ZERO, "lsns start at 1");
        assert_eq!(
            self.segment_bytes % SECTOR_BYTES,
            0,
            "segments are whole sectors"
        );
        let mut sector = vec![0u8; SECTOR_BYTES as usize];
        sector[0..4].copy_from_slice(&SEGMENT_MAGIC.to_le_bytes());
        sector[4..6].copy_from_slice(&SEGMENT_FORMAT_VERSION.to_le_bytes());
        sector[8..16].copy_from_slice(&self.segment_id.to_le_bytes());
        sector[16..24].copy_from_slice(&self.first_lsn.0.to_le_bytes());
        sector[24..32].copy_from_slice(&self.segment_bytes.to_le_bytes());
        let crc = crc32fast::hash(&sector[..44]);
        sector[44..48].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            SegmentHeader::decode(&sector),
            Ok(*self),
            "paired assertion"
        );
        sector
    }

    /// Decodes and checks a header sector; the error says why it is bad.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, String> {
        if bytes.len() < 48 {
            return Err(format!("segment header cut off at {} bytes", bytes.len()));
        }
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let magic = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
        if magic != SEGMENT_MAGIC {
            return Err(format!("bad segment magic {magic:#010x}"));
        }
        let crc = u32::from_le_bytes(bytes[44..48].try_into().expect("4 bytes"));
        if crc32fast::hash(&bytes[..44]) != crc {
            return Err("segment header checksum mismatch".to_owned());
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != SEGMENT_FORMAT_VERSION {
            return Err(format!("unknown segment format version {version}"));
        }
        let header = SegmentHeader {
            segment_id: word(8),
            first_lsn: Lsn(word(16)),
            segment_bytes: word(24),
        };
        let sane = header.first_lsn > Lsn::ZERO
            && header.segment_bytes % SECTOR_BYTES == 0
            && header.segment_bytes > SEGMENT_DATA_OFFSET;
        if !sane || bytes[6..8] != [0, 0] || bytes[32..44].iter().any(|&b| b != 0) {
            return Err("segment header fields out of range".to_owned());
        }
        Ok(header)
    }
}

/// Creates a segment durably: write it under a temporary name, allocate it
/// in full, write the header, sync, rename into place and sync the
/// directory (rule 15). A crash at any point leaves either no segment or a
/// complete, empty one; a leftover temporary file is removed by recovery.
pub async fn create_segment<D: Disk>(disk: &D, header: &SegmentHeader) -> io::Result<D::File> {
    let name = segment_name(header.segment_id);
    let temp = format!("{name}{TEMP_SUFFIX}");
    let file = match disk.create(&temp).await {
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            disk.remove(&temp).await?;
            disk.create(&temp).await?
        }
        other => other?,
    };
    file.allocate(header.segment_bytes).await?;
    file.write_at(0, &header.encode()).await?;
    file.sync().await?;
    let len = file.len().await?;
    assert_eq!(
        len, header.segment_bytes,
        "a new segment is allocated in full"
    );
    disk.rename(&temp, &name).await?;
    disk.sync_dir().await?;
    Ok(file)
}

/// Reads and checks the header of an existing segment.
pub async fn read_segment_header<D: Disk>(disk: &D, segment_id: u64) -> io::Result<SegmentHeader> {
    let name = segment_name(segment_id);
    let file = disk.open(&name).await?;
    let sector = file.read_at(0, SECTOR_BYTES as usize).await?;
    let header = SegmentHeader::decode(&sector).map_err(|reason| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{name}: {reason}"))
    })?;
    if header.segment_id != segment_id {
        let reason = format!("{name}: header names segment {}", header.segment_id);
        return Err(io::Error::new(io::ErrorKind::InvalidData, reason));
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem_disk::MemDisk;
    use futures_lite::future::block_on;

    #[test]
    fn segment_names_round_trip_and_reject_lookalikes() {
        assert_eq!(segment_name(0x2a), "wal-000000000000002a.seg");
        assert_eq!(parse_segment_name("wal-000000000000002a.seg"), Some(0x2a));
        assert_eq!(parse_segment_name("wal-000000000000002a.seg.tmp"), None);
        assert_eq!(parse_segment_name("wal-2a.seg"), None);
        assert_eq!(parse_segment_name("wal-000000000000002A.seg"), None);
    }

    #[test]
    fn a_segment_header_detects_a_flipped_bit() {
        let header = SegmentHeader {
            segment_id: 5,
            first_lsn: Lsn(9),
            segment_bytes: 1 << 20,
        };
        let mut sector = header.encode();
        assert_eq!(SegmentHeader::decode(&sector), Ok(header));
        sector[17] ^= 4;
        assert!(SegmentHeader::decode(&sector)
            .unwrap_err()
            .contains("checksum"));
    }

    #[test]
    fn a_created_segment_is_durable_and_allocated_in_full() {
        let disk = MemDisk::new();
        let header = SegmentHeader {
            segment_id: 1,
            first_lsn: Lsn(1),
            segment_bytes: 4 * 4096,
        };
        block_on(create_segment(&disk, &header)).expect("created");
        disk.crash();
        assert_eq!(disk.durable_names(), vec![segment_name(1)]);
        assert_eq!(disk.image(&segment_name(1)).len(), 4 * 4096);
        assert_eq!(
            block_on(read_segment_header(&disk, 1)).expect("valid"),
            header
        );
    }

    #[test]
    fn a_crash_before_the_directory_sync_leaves_no_segment() {
        let disk = MemDisk::new();
        let header = SegmentHeader {
            segment_id: 1,
            first_lsn: Lsn(1),
            segment_bytes: 4 * 4096,
        };
        disk.fail_next_dir_sync();
        assert!(block_on(create_segment(&disk, &header)).is_err());
        disk.crash();
        assert!(disk.durable_names().is_empty());
    }
}
