//! Reading one segment: its header, its valid flushes, and how it ends.
//!
//! Pure: works on the segment's bytes; [`crate::recovery`] decides what an
//! ending means for the log.

use crate::disk::SECTOR_BYTES;
use crate::flush::{self, FlushError, FlushErrorReason};
use crate::frame::{Frame, FrameError, FrameExpect};
use crate::lsn::Lsn;
use crate::report::Corruption;
use crate::segment::{SegmentHeader, SEGMENT_DATA_OFFSET};

/// A segment's valid prefix and how it ends.
#[derive(Debug)]
pub struct SegmentScan<'a> {
    /// The segment header.
    pub header: SegmentHeader,
    /// Frames of its valid flushes, lsns consecutive from `first_lsn`.
    pub frames: Vec<Frame<'a>>,
    /// Where the valid flushes end (sector aligned): the next flush goes here.
    pub next_offset: u64,
    /// The lsn after the last valid frame.
    pub next_lsn: Lsn,
    /// What follows the valid flushes.
    pub end: ScanEnd,
}

/// What follows a segment's valid flushes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// Nothing: the flushes reach the end of the file.
    Full,
    /// Zeros to the end of the file (preallocated space).
    Clean,
    /// A flush that does not validate.
    Invalid(BadFlush),
}

/// The first flush of a segment that does not validate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadFlush {
    /// Offset of the first bad frame in it.
    pub frame_offset: u64,
    /// Why that frame is bad.
    pub reason: String,
    /// True if the damage is what a torn write leaves (zeros, garbage, bad
    /// checksums); false for a checksummed header that is simply wrong (a
    /// misdirected or stale block, another format version, bad lengths).
    pub tearable: bool,
    /// Offset of a valid flush start after it, if any: then it was not the
    /// last write.
    pub follower: Option<u64>,
    /// Bytes from the bad flush's start to the last nonzero byte.
    pub extent_bytes: u64,
}

/// Scans segment `segment_id` (file `name`, content `data`). Damage to the
/// header sector is corruption at once.
pub fn scan_segment<'a>(
    data: &'a [u8],
    name: &str,
    segment_id: u64,
) -> Result<SegmentScan<'a>, Corruption> {
    let corrupt = |offset, reason: String| Corruption {
        file: name.to_owned(),
        offset,
        reason,
    };
    let header = SegmentHeader::decode(data).map_err(|reason| corrupt(0, reason))?;
    if header.segment_id != segment_id {
        let reason = format!(
            "header names segment {} (misdirected or misnamed)",
            header.segment_id
        );
        return Err(corrupt(8, reason));
    }
    if data.len() as u64 > header.segment_bytes {
        let reason = format!(
            "{} bytes long, header says {}",
            data.len(),
            header.segment_bytes
        );
        return Err(corrupt(24, reason));
    }
    let mut frames = Vec::new();
    let mut offset = SEGMENT_DATA_OFFSET;
    let mut lsn = header.first_lsn;
    let end = loop {
        if offset >= data.len() as u64 {
            break ScanEnd::Full;
        }
        match flush::parse_flush(data, offset, FrameExpect { segment_id, lsn }) {
            Ok(parsed) => {
                lsn = Lsn(lsn.0 + parsed.frames.len() as u64);
                frames.extend(parsed.frames);
                offset = parsed.next_offset;
            }
            Err(error) => break scan_segment_end(data, offset, &error),
        }
    };
    assert_eq!(
        header.first_lsn.0 + frames.len() as u64,
        lsn.0,
        "lsns are consecutive"
    );
    assert_eq!(offset % SECTOR_BYTES, 0, "flushes end on a sector");
    Ok(SegmentScan {
        header,
        frames,
        next_offset: offset,
        next_lsn: lsn,
        end,
    })
}

/// Classifies what lies at `offset`, where a flush failed to parse.
fn scan_segment_end(data: &[u8], offset: u64, error: &FlushError) -> ScanEnd {
    assert!(offset < data.len() as u64 && error.offset >= offset);
    let rest = &data[offset as usize..];
    let extent_bytes = rest
        .iter()
        .rposition(|&byte| byte != 0)
        .map_or(0, |at| at as u64 + 1);
    let zeroed = matches!(error.reason, FlushErrorReason::Frame(FrameError::Zeroed));
    if zeroed && extent_bytes == 0 {
        return ScanEnd::Clean;
    }
    let follower = (offset + SECTOR_BYTES..data.len() as u64)
        .step_by(SECTOR_BYTES as usize)
        .find(|&at| flush::is_flush_start(data, at));
    let tearable = matches!(
        error.reason,
        FlushErrorReason::Frame(
            FrameError::Zeroed
                | FrameError::Truncated
                | FrameError::BadMagic(_)
                | FrameError::BadHeaderCrc
                | FrameError::BadBodyCrc
        )
    );
    let reason = error.to_string();
    assert!(
        extent_bytes > 0 || !tearable || !zeroed,
        "an all-zero end is clean"
    );
    ScanEnd::Invalid(BadFlush {
        frame_offset: error.offset,
        reason,
        tearable,
        follower,
        extent_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flush::encode_flush;

    const SEGMENT_BYTES: u64 = 8 * SECTOR_BYTES;

    fn segment_with(flushes: &[&[(u16, &[u8])]]) -> Vec<u8> {
        let header = SegmentHeader {
            segment_id: 2,
            first_lsn: Lsn(1),
            segment_bytes: SEGMENT_BYTES,
        };
        let mut data = header.encode();
        let mut lsn = Lsn(1);
        let mut buffer = Vec::new();
        for records in flushes {
            encode_flush(&mut buffer, 2, lsn, records);
            data.extend_from_slice(&buffer);
            lsn = Lsn(lsn.0 + records.len() as u64);
        }
        data.resize(SEGMENT_BYTES as usize, 0);
        data
    }

    #[test]
    fn a_segment_of_valid_flushes_then_zeros_ends_clean() {
        let data = segment_with(&[&[(1, b"a"), (1, b"b")], &[(1, b"c")]]);
        let scan = scan_segment(&data, "s", 2).expect("valid header");
        assert_eq!(scan.frames.len(), 3);
        assert_eq!(scan.next_lsn, Lsn(4));
        assert_eq!(scan.next_offset, 3 * SECTOR_BYTES);
        assert_eq!(scan.end, ScanEnd::Clean);
    }

    #[test]
    fn damage_followed_by_a_later_flush_names_the_follower() {
        let mut data = segment_with(&[&[(1, b"a")], &[(1, b"b")]]);
        data[SECTOR_BYTES as usize + 50] ^= 1;
        let scan = scan_segment(&data, "s", 2).expect("valid header");
        let ScanEnd::Invalid(bad) = scan.end else {
            panic!("damage is invalid")
        };
        assert_eq!(bad.follower, Some(2 * SECTOR_BYTES));
        assert!(bad.tearable);
        assert!(scan.frames.is_empty());
    }

    #[test]
    fn a_header_of_another_segment_is_corruption_at_once() {
        let data = segment_with(&[]);
        let corruption = scan_segment(&data, "s", 3).unwrap_err();
        assert_eq!(corruption.offset, 8);
        assert!(corruption.reason.contains("segment 2"));
    }
}
