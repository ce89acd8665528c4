//! Flushes: the frames of one WAL write.
//!
//! A commit writes its records as one or more *flushes* (more than one only
//! when the records do not fit in the rest of the current segment). A flush
//! is one `write_at` plus one `sync`: it starts at a sector boundary, holds
//! consecutive frames, and is padded with zeros to whole sectors, so a
//! sector holding acknowledged records is never written again.
//!
//! The first frame of a flush carries the flush's total frame bytes
//! (`flush_bytes`, without the sector padding); every other frame carries
//! zero. This makes flushes recognizable on disk: recovery knows where each
//! flush starts and ends, finds the next one at the following sector
//! boundary, and can tell the last in-flight write (the torn-tail window)
//! from damage to earlier, acknowledged writes. A flush is valid only as a
//! whole: recovery never keeps part of one.

use crate::disk::{sector_round_up, SECTOR_BYTES};
use crate::frame::{self, Frame, FrameError, FrameExpect, FrameHeader};
use crate::lsn::Lsn;
use std::fmt;

/// One record to encode: its kind and payload.
pub type FlushRecord<'a> = (u16, &'a [u8]);

/// Why the flush at some offset is not valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlushError {
    /// Offset of the offending frame.
    pub offset: u64,
    /// What is wrong with it.
    pub reason: FlushErrorReason,
}

/// The ways a flush can be invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlushErrorReason {
    /// A frame is invalid.
    Frame(FrameError),
    /// The frame at the flush start does not say it starts a flush.
    NotAFlushStart,
    /// A frame inside a flush claims to start one.
    FlushStartInside,
    /// The flush's declared size is not whole frames or passes the end.
    BadFlushBytes(u32),
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            FlushErrorReason::Frame(error) => write!(f, "{error}"),
            FlushErrorReason::NotAFlushStart => write!(f, "frame at a flush start is not one"),
            FlushErrorReason::FlushStartInside => write!(f, "flush start inside a flush"),
            FlushErrorReason::BadFlushBytes(bytes) => write!(f, "bad flush size {bytes}"),
        }
    }
}

/// A flush read back and validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedFlush<'a> {
    /// Its frames, lsns consecutive.
    pub frames: Vec<Frame<'a>>,
    /// Where the next flush starts (the sector after this one).
    pub next_offset: u64,
}

/// Encodes `records` (lsns from `first_lsn`) as one flush for segment
/// `segment_id` into `out`, replacing its content; `out` ends up whole
/// sectors long.
pub fn encode_flush(out: &mut Vec<u8>, segment_id: u64, first_lsn: Lsn, records: &[FlushRecord]) {
    assert!(!records.is_empty(), "a flush holds at least one record");
    assert!(first_lsn > Lsn::ZERO, "lsns start at 1");
    let total: u64 = records
        .iter()
        .map(|(_, p)| frame::frame_bytes(payload_len(p)))
        .sum();
    let flush_bytes = u32::try_from(total).expect("a flush fits a u32 (segments are smaller)");
    out.clear();
    let mut lsn = first_lsn;
    for (index, (kind, payload)) in records.iter().enumerate() {
        let header = FrameHeader {
            kind: *kind,
            len: payload_len(payload),
            flush_bytes: if index == 0 { flush_bytes } else { 0 },
            lsn,
            segment_id,
            crc_body: 0,
        };
        frame::encode(out, &header, payload);
        lsn = lsn.next();
    }
    assert_eq!(out.len() as u64, total);
    out.resize(sector_round_up(total) as usize, 0);
}

fn payload_len(payload: &[u8]) -> u32 {
    u32::try_from(payload.len()).expect("payloads are bounded by MAX_RECORD_BYTES")
}

/// Parses the flush starting at `offset` of `segment` (the segment's bytes
/// up to its end). `expect` is the segment id and the lsn the flush must
/// start with.
pub fn parse_flush<'a>(
    segment: &'a [u8],
    offset: u64,
    expect: FrameExpect,
) -> Result<ParsedFlush<'a>, FlushError> {
    assert_eq!(offset % SECTOR_BYTES, 0, "flushes start on a sector");
    assert!(offset <= segment.len() as u64);
    let fail = |at: u64, reason| Err(FlushError { offset: at, reason });
    let rest = &segment[offset as usize..];
    let first = match frame::decode(rest, &expect) {
        Ok(first) => first,
        Err(error) => return fail(offset, FlushErrorReason::Frame(error)),
    };
    let flush_bytes = first.header.flush_bytes;
    if flush_bytes == 0 {
        return fail(offset, FlushErrorReason::NotAFlushStart);
    }
    if u64::from(flush_bytes) > rest.len() as u64 || flush_bytes % 16 != 0 {
        return fail(offset, FlushErrorReason::BadFlushBytes(flush_bytes));
    }
    let body = &rest[..flush_bytes as usize];
    let mut frames = vec![first];
    let mut at = frame::frame_bytes(first.header.len) as usize;
    let mut lsn = expect.lsn.next();
    while at < body.len() {
        let here = FrameExpect {
            segment_id: expect.segment_id,
            lsn,
        };
        let frame = match frame::decode(&body[at..], &here) {
            Ok(frame) => frame,
            Err(error) => return fail(offset + at as u64, FlushErrorReason::Frame(error)),
        };
        if frame.header.flush_bytes != 0 {
            return fail(offset + at as u64, FlushErrorReason::FlushStartInside);
        }
        at += frame::frame_bytes(frame.header.len) as usize;
        frames.push(frame);
        lsn = lsn.next();
    }
    assert_eq!(at, body.len(), "frames fill the flush exactly");
    let next_offset = offset + sector_round_up(u64::from(flush_bytes));
    Ok(ParsedFlush {
        frames,
        next_offset,
    })
}

/// True if a valid flush-start header sits at `offset` (header checks only:
/// used to find a write that follows a bad one).
pub fn is_flush_start(segment: &[u8], offset: u64) -> bool {
    assert_eq!(offset % SECTOR_BYTES, 0, "flushes start on a sector");
    let Some(rest) = segment.get(offset as usize..) else {
        return false;
    };
    matches!(frame::decode_header(rest), Ok(header) if header.flush_bytes != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(lsn: u64) -> FrameExpect {
        FrameExpect {
            segment_id: 1,
            lsn: Lsn(lsn),
        }
    }

    #[test]
    fn a_flush_round_trips_and_is_padded_to_whole_sectors() {
        let mut out = Vec::new();
        encode_flush(
            &mut out,
            1,
            Lsn(10),
            &[(1, b"a"), (2, b"bb"), (3, &[9; 100])],
        );
        assert_eq!(out.len(), 4096);
        let parsed = parse_flush(&out, 0, expect(10)).expect("valid");
        let lsns: Vec<u64> = parsed.frames.iter().map(|f| f.header.lsn.0).collect();
        assert_eq!(lsns, vec![10, 11, 12]);
        assert_eq!(parsed.frames[1].payload, b"bb");
        assert_eq!(parsed.next_offset, 4096);
        assert!(is_flush_start(&out, 0));
    }

    #[test]
    fn a_damaged_second_frame_invalidates_the_flush_at_its_offset() {
        let mut out = Vec::new();
        encode_flush(&mut out, 1, Lsn(1), &[(1, b"first"), (1, b"second")]);
        out[64 + 50] ^= 1; // inside the second frame's payload
        let error = parse_flush(&out, 0, expect(1)).unwrap_err();
        assert_eq!(error.offset, 64);
        assert_eq!(
            error.reason,
            FlushErrorReason::Frame(FrameError::BadBodyCrc)
        );
    }

    #[test]
    fn a_flush_must_start_with_the_expected_lsn() {
        let mut out = Vec::new();
        encode_flush(&mut out, 1, Lsn(5), &[(1, b"x")]);
        let error = parse_flush(&out, 0, expect(6)).unwrap_err();
        assert!(matches!(
            error.reason,
            FlushErrorReason::Frame(FrameError::WrongLsn { .. })
        ));
        assert!(parse_flush(&out, 0, expect(5)).is_ok());
    }

    #[test]
    fn preallocated_zeros_are_no_flush_start() {
        let zeros = vec![0u8; 8192];
        assert!(!is_flush_start(&zeros, 4096));
        let error = parse_flush(&zeros, 0, expect(1)).unwrap_err();
        assert_eq!(error.reason, FlushErrorReason::Frame(FrameError::Zeroed));
    }
}
