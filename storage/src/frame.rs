//! Record frames: a fixed 48-byte header, then the payload padded to 16
//! bytes.
//!
//! | offset | size | field            | meaning                                            |
//! |-------:|-----:|------------------|----------------------------------------------------|
//! |      0 |    4 | `magic`          | `b"SBWF"` read as a little-endian u32              |
//! |      4 |    2 | `format_version` | [`FRAME_FORMAT_VERSION`]                           |
//! |      6 |    2 | `kind`           | the caller's record kind                           |
//! |      8 |    4 | `len`            | payload bytes, before padding                      |
//! |     12 |    4 | `flush_bytes`    | first frame of a flush: its frame bytes; else 0    |
//! |     16 |    8 | `lsn`            | this record's log sequence number                  |
//! |     24 |    8 | `segment_id`     | the segment the frame was written to               |
//! |     32 |    4 | `crc_body`       | crc32 of the payload and its zero padding          |
//! |     36 |    8 | reserved         | zero                                               |
//! |     44 |    4 | `crc_header`     | crc32 of bytes 0..44                               |
//! |     48 |  len | payload          | then zeros up to a multiple of 16                  |
//!
//! All integers are little-endian. A frame starts at a multiple of 16 in its
//! segment, so the payload is 16-byte aligned in the file and in any
//! sector-aligned read buffer (rkyv's alignment). The header CRC is checked
//! before `len` is trusted; `len` is bounded by [`MAX_RECORD_BYTES`] and by
//! the bytes left in the segment; `segment_id` and `lsn` must be the ones
//! expected there, so a misdirected or stale block fails validation.

use crate::lsn::Lsn;
use std::fmt;

/// `b"SBWF"` as a little-endian u32.
pub const FRAME_MAGIC: u32 = u32::from_le_bytes(*b"SBWF");
/// Version of the frame layout (rkyv has no schema evolution: a payload
/// format change bumps it too).
pub const FRAME_FORMAT_VERSION: u16 = 1;
/// Size of a frame header.
pub const FRAME_HEADER_BYTES: usize = 48;
/// Payloads are padded to this, and frames start at multiples of it.
pub const PAYLOAD_ALIGN_BYTES: usize = 16;
/// The format's hard bound on a payload: a header claiming more is corrupt,
/// whatever the configured [`crate::WalOptions::max_record_bytes`].
pub const MAX_RECORD_BYTES: u32 = 16 << 20;

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The caller's record kind.
    pub kind: u16,
    /// Payload length before padding.
    pub len: u32,
    /// Nonzero only in the first frame of a flush: the flush's frame bytes.
    pub flush_bytes: u32,
    /// The record's lsn.
    pub lsn: Lsn,
    /// The segment the frame belongs to.
    pub segment_id: u64,
    /// crc32 of the padded payload.
    pub crc_body: u32,
}

/// A frame validated in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Its header.
    pub header: FrameHeader,
    /// Its payload, without padding.
    pub payload: &'a [u8],
}

/// What a frame must look like where it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameExpect {
    /// The segment being read.
    pub segment_id: u64,
    /// The next lsn in sequence.
    pub lsn: Lsn,
}

/// Why bytes are not a valid frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer than a header's bytes are left in the segment.
    Truncated,
    /// The header is all zeros (preallocated space, or a zeroed write).
    Zeroed,
    /// The magic number is wrong.
    BadMagic(u32),
    /// The header's CRC does not match.
    BadHeaderCrc,
    /// An unknown format version.
    BadVersion(u16),
    /// Reserved bytes are not zero.
    ReservedNotZero,
    /// `len` exceeds [`MAX_RECORD_BYTES`].
    TooLong(u32),
    /// The frame would run past the end of the segment (or of its flush).
    PastEnd {
        /// Bytes the frame needs.
        frame_bytes: u64,
        /// Bytes left.
        bytes_left: u64,
    },
    /// The frame belongs to another segment (misdirected write).
    WrongSegment {
        /// Segment id in the header.
        found: u64,
    },
    /// The frame's lsn breaks the sequence (stale or misplaced block).
    WrongLsn {
        /// Lsn in the header.
        found: Lsn,
        /// Lsn expected here.
        expected: Lsn,
    },
    /// The payload's CRC does not match.
    BadBodyCrc,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Truncated => write!(f, "frame header cut off by the end of the segment"),
            FrameError::Zeroed => write!(f, "zeroed frame header"),
            FrameError::BadMagic(magic) => write!(f, "bad frame magic {magic:#010x}"),
            FrameError::BadHeaderCrc => write!(f, "frame header checksum mismatch"),
            FrameError::BadVersion(version) => write!(f, "unknown frame format version {version}"),
            FrameError::ReservedNotZero => write!(f, "reserved frame header bytes are not zero"),
            FrameError::TooLong(len) => write!(f, "frame length {len} exceeds the maximum"),
            FrameError::PastEnd {
                frame_bytes,
                bytes_left,
            } => {
                write!(
                    f,
                    "frame of {frame_bytes} bytes runs past the end ({bytes_left} left)"
                )
            }
            FrameError::WrongSegment { found } => {
                write!(f, "frame belongs to segment {found} (misdirected write)")
            }
            FrameError::WrongLsn { found, expected } => {
                write!(
                    f,
                    "frame has lsn {found}, expected {expected} (stale or misplaced block)"
                )
            }
            FrameError::BadBodyCrc => write!(f, "frame payload checksum mismatch"),
        }
    }
}

/// Bytes a frame with a `len`-byte payload occupies.
pub fn frame_bytes(len: u32) -> u64 {
    let padded = u64::from(len).next_multiple_of(PAYLOAD_ALIGN_BYTES as u64);
    let bytes = FRAME_HEADER_BYTES as u64 + padded;
    assert_eq!(bytes % PAYLOAD_ALIGN_BYTES as u64, 0);
    bytes
}

fn crc_body(payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(payload);
    let padding = payload.len().next_multiple_of(PAYLOAD_ALIGN_BYTES) - payload.len();
    hasher.update(&[0u8; PAYLOAD_ALIGN_BYTES][..padding]);
    hasher.finalize()
}

/// Appends one frame to `out`, which must end at a 16-byte boundary.
/// `header.crc_body` is ignored and computed here.
pub fn encode(out: &mut Vec<u8>, header: &FrameHeader, payload: &[u8]) {
    assert_eq!(
        out.len() % PAYLOAD_ALIGN_BYTES,
        0,
        "frames start 16-aligned"
    );
    assert_eq!(
        header.len as usize,
        payload.len(),
        "header len matches the payload"
    );
    assert!(
        header.len <= MAX_RECORD_BYTES,
        "payload of {} bytes too large",
        header.len
    );
    let start = out.len();
    let mut bytes = [0u8; FRAME_HEADER_BYTES];
    bytes[0..4].copy_from_slice(&FRAME_MAGIC.to_le_bytes());
    bytes[4..6].copy_from_slice(&FRAME_FORMAT_VERSION.to_le_bytes());
    bytes[6..8].copy_from_slice(&header.kind.to_le_bytes());
    bytes[8..12].copy_from_slice(&header.len.to_le_bytes());
    bytes[12..16].copy_from_slice(&header.flush_bytes.to_le_bytes());
    bytes[16..24].copy_from_slice(&header.lsn.0.to_le_bytes());
    bytes[24..32].copy_from_slice(&header.segment_id.to_le_bytes());
    bytes[32..36].copy_from_slice(&crc_body(payload).to_le_bytes());
    let crc_header = crc32fast::hash(&bytes[..44]);
    bytes[44..48].copy_from_slice(&crc_header.to_le_bytes());
    out.extend_from_slice(&bytes);
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(PAYLOAD_ALIGN_BYTES), 0);
    assert_eq!((out.len() - start) as u64, frame_bytes(header.len));
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(bytes[at..at + 2].try_into().expect("two bytes"))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

/// Decodes a header on its own: magic, header CRC, version, reserved bytes.
/// Says nothing about where the frame is or about its payload.
pub fn decode_header(bytes: &[u8]) -> Result<FrameHeader, FrameError> {
    if bytes.len() < FRAME_HEADER_BYTES {
        return Err(FrameError::Truncated);
    }
    let bytes = &bytes[..FRAME_HEADER_BYTES];
    if bytes.iter().all(|&byte| byte == 0) {
        return Err(FrameError::Zeroed);
    }
    let magic = u32_at(bytes, 0);
    if magic != FRAME_MAGIC {
        return Err(FrameError::BadMagic(magic));
    }
    if crc32fast::hash(&bytes[..44]) != u32_at(bytes, 44) {
        return Err(FrameError::BadHeaderCrc);
    }
    let version = u16_at(bytes, 4);
    if version != FRAME_FORMAT_VERSION {
        return Err(FrameError::BadVersion(version));
    }
    if bytes[36..44].iter().any(|&byte| byte != 0) {
        return Err(FrameError::ReservedNotZero);
    }
    let header = FrameHeader {
        kind: u16_at(bytes, 6),
        len: u32_at(bytes, 8),
        flush_bytes: u32_at(bytes, 12),
        lsn: Lsn(u64_at(bytes, 16)),
        segment_id: u64_at(bytes, 24),
        crc_body: u32_at(bytes, 32),
    };
    if header.len > MAX_RECORD_BYTES {
        return Err(FrameError::TooLong(header.len));
    }
    Ok(header)
}

/// Decodes the frame at the start of `bytes`, which runs to the end of the
/// space the frame may use (the rest of its flush or segment).
pub fn decode<'a>(bytes: &'a [u8], expect: &FrameExpect) -> Result<Frame<'a>, FrameError> {
    let header = decode_header(bytes)?;
    let needed = frame_bytes(header.len);
    if needed > bytes.len() as u64 {
        let bytes_left = bytes.len() as u64;
        return Err(FrameError::PastEnd {
            frame_bytes: needed,
            bytes_left,
        });
    }
    if header.segment_id != expect.segment_id {
        return Err(FrameError::WrongSegment {
            found: header.segment_id,
        });
    }
    if header.lsn != expect.lsn {
        return Err(FrameError::WrongLsn {
            found: header.lsn,
            expected: expect.lsn,
        });
    }
    let padded = &bytes[FRAME_HEADER_BYTES..needed as usize];
    let payload = &padded[..header.len as usize];
    if crc_body(payload) != header.crc_body || padded[payload.len()..].iter().any(|&b| b != 0) {
        return Err(FrameError::BadBodyCrc);
    }
    assert!(payload.len() <= MAX_RECORD_BYTES as usize);
    Ok(Frame { header, payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u32, lsn: u64) -> FrameHeader {
        FrameHeader {
            kind: 7,
            len,
            flush_bytes: 0,
            lsn: Lsn(lsn),
            segment_id: 3,
            crc_body: 0,
        }
    }

    fn expect(lsn: u64) -> FrameExpect {
        FrameExpect {
            segment_id: 3,
            lsn: Lsn(lsn),
        }
    }

    #[test]
    fn a_frame_round_trips_and_pads_its_payload_to_sixteen_bytes() {
        let mut out = Vec::new();
        encode(&mut out, &header(5, 9), b"hello");
        assert_eq!(out.len(), FRAME_HEADER_BYTES + 16);
        let frame = decode(&out, &expect(9)).expect("valid");
        assert_eq!(frame.payload, b"hello");
        assert_eq!(frame.header.kind, 7);
        assert_eq!(frame.header.lsn, Lsn(9));
    }

    #[test]
    fn a_flipped_header_bit_fails_the_header_crc_before_len_is_trusted() {
        let mut out = Vec::new();
        encode(&mut out, &header(5, 1), b"hello");
        out[9] ^= 0x80; // the high byte of len
        assert_eq!(decode(&out, &expect(1)), Err(FrameError::BadHeaderCrc));
    }

    #[test]
    fn a_flipped_payload_bit_fails_the_body_crc() {
        let mut out = Vec::new();
        encode(&mut out, &header(5, 1), b"hello");
        out[FRAME_HEADER_BYTES + 2] ^= 1;
        assert_eq!(decode(&out, &expect(1)), Err(FrameError::BadBodyCrc));
    }

    #[test]
    fn nonzero_padding_fails_the_body_crc() {
        let mut out = Vec::new();
        encode(&mut out, &header(5, 1), b"hello");
        out[FRAME_HEADER_BYTES + 10] = 1;
        assert_eq!(decode(&out, &expect(1)), Err(FrameError::BadBodyCrc));
    }

    #[test]
    fn a_frame_from_another_segment_or_position_is_rejected() {
        let mut out = Vec::new();
        encode(&mut out, &header(0, 4), b"");
        let other_segment = FrameExpect {
            segment_id: 4,
            lsn: Lsn(4),
        };
        assert_eq!(
            decode(&out, &other_segment),
            Err(FrameError::WrongSegment { found: 3 })
        );
        let wrong = decode(&out, &expect(5));
        assert_eq!(
            wrong,
            Err(FrameError::WrongLsn {
                found: Lsn(4),
                expected: Lsn(5)
            })
        );
    }

    #[test]
    fn a_frame_running_past_the_end_is_rejected() {
        let mut out = Vec::new();
        encode(&mut out, &header(100, 1), &[1; 100]);
        let error = decode(&out[..100], &expect(1)).unwrap_err();
        assert!(matches!(
            error,
            FrameError::PastEnd {
                frame_bytes: 160,
                bytes_left: 100
            }
        ));
    }

    #[test]
    fn zeros_and_short_input_are_told_apart_from_garbage() {
        assert_eq!(decode_header(&[0; 48]), Err(FrameError::Zeroed));
        assert_eq!(decode_header(&[0; 47]), Err(FrameError::Truncated));
        assert!(matches!(
            decode_header(&[0xAB; 48]),
            Err(FrameError::BadMagic(_))
        ));
    }
}
