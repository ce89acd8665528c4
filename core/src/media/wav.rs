//! WAV (RIFF/WAVE) headers: what a voicemail upload or a synthesized
//! prompt holds, and how long it lasts.
//!
//! Chunks are walked from the start of the file: `fmt ` gives the byte
//! rate, `data` where the samples start and how many there are. Other
//! chunks (`LIST`, `fact`, …) are skipped; chunk bodies are padded to an
//! even length. A `data` size of 0 or 0xFFFFFFFF (written by recorders
//! that stream and never seek back), or one running past the end of the
//! file, is taken as "to the end of the file".

/// What a WAV header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WavInfo {
    /// `1` PCM, `3` float, `6` A-law, `7` µ-law, `0xFFFE` extensible, …
    pub format: u16,
    pub channels: u16,
    pub sample_rate: u32,
    pub byte_rate: u32,
    pub bits_per_sample: u16,
    /// Offset of the first sample byte.
    pub data_offset: u64,
    /// Sample bytes (as present in the file).
    pub data_bytes: u64,
}

impl WavInfo {
    /// Duration of the samples, in milliseconds (rounded down).
    pub fn duration_ms(&self) -> u64 {
        let rate = u64::from(self.byte_rate);
        assert!(rate > 0, "parse refuses a zero byte rate");
        (u128::from(self.data_bytes) * 1000 / u128::from(rate)) as u64
    }
}

/// Parses the header found in `head` (the first bytes of a file of
/// `file_bytes` bytes; the `data` chunk must start within `head`).
pub fn parse(head: &[u8], file_bytes: u64) -> Result<WavInfo, String> {
    if head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err("not a WAV file (no RIFF/WAVE header)".into());
    }
    let mut fmt: Option<WavInfo> = None;
    let mut at = 12usize;
    while at + 8 <= head.len() {
        let id = &head[at..at + 4];
        let size = u32::from_le_bytes([head[at + 4], head[at + 5], head[at + 6], head[at + 7]]);
        let body = at + 8;
        if id == b"fmt " {
            fmt = Some(parse_fmt(head.get(body..body + 16).filter(|_| size >= 16))?);
        } else if id == b"data" {
            let Some(mut info) = fmt else {
                return Err("the data chunk comes before the fmt chunk".into());
            };
            let offset = body as u64;
            let present = file_bytes.saturating_sub(offset);
            let declared = u64::from(size);
            info.data_offset = offset;
            info.data_bytes = if size == 0 || size == u32::MAX || declared > present {
                present
            } else {
                declared
            };
            return Ok(info);
        }
        let padded = u64::from(size) + u64::from(size % 2);
        let next = body as u64 + padded;
        if next > head.len() as u64 {
            break;
        }
        at = next as usize;
    }
    Err(format!(
        "no data chunk within the first {} bytes",
        head.len()
    ))
}

/// The 16 bytes of a `fmt ` chunk every format has.
fn parse_fmt(body: Option<&[u8]>) -> Result<WavInfo, String> {
    let Some(b) = body else {
        return Err("the fmt chunk is shorter than 16 bytes".into());
    };
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let info = WavInfo {
        format: u16_at(0),
        channels: u16_at(2),
        sample_rate: u32_at(4),
        byte_rate: u32_at(8),
        bits_per_sample: u16_at(14),
        data_offset: 0,
        data_bytes: 0,
    };
    if info.channels == 0 || info.sample_rate == 0 || info.byte_rate == 0 {
        return Err("the fmt chunk has zero channels, sample rate or byte rate".into());
    }
    Ok(info)
}

/// A PCM WAV file of `samples` 16-bit mono samples at `rate` Hz (tests and
/// examples; the samples are a quiet sawtooth).
pub fn pcm16_mono(rate: u32, samples: u32) -> Vec<u8> {
    let data_bytes = samples * 2;
    let mut out = Vec::with_capacity(44 + data_bytes as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_bytes).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_bytes.to_le_bytes());
    for i in 0..samples {
        out.extend_from_slice(&(((i % 64) as i16 - 32) * 16).to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_pcm_file_gives_its_format_and_duration() {
        let file = pcm16_mono(8000, 12_000);
        let info = parse(&file, file.len() as u64).unwrap();
        assert_eq!((info.format, info.channels, info.sample_rate), (1, 1, 8000));
        assert_eq!((info.byte_rate, info.bits_per_sample), (16_000, 16));
        assert_eq!((info.data_offset, info.data_bytes), (44, 24_000));
        assert_eq!(info.duration_ms(), 1500);
    }

    #[test]
    fn other_chunks_are_skipped_with_their_padding() {
        let file = pcm16_mono(16_000, 1600);
        let mut with_list = file[..36].to_vec();
        with_list.extend_from_slice(b"LIST");
        with_list.extend_from_slice(&3u32.to_le_bytes());
        with_list.extend_from_slice(b"abc\0");
        with_list.extend_from_slice(&file[36..]);
        let info = parse(&with_list, with_list.len() as u64).unwrap();
        assert_eq!((info.data_offset, info.duration_ms()), (56, 100));
    }

    #[test]
    fn streamed_sizes_run_to_the_end_of_the_file() {
        let mut file = pcm16_mono(8000, 8000);
        file[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse(&file, file.len() as u64).unwrap().duration_ms(), 1000);
        file[40..44].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(parse(&file, file.len() as u64).unwrap().duration_ms(), 1000);
        // A header promising more than the file holds: what is there.
        file[40..44].copy_from_slice(&1_000_000u32.to_le_bytes());
        assert_eq!(parse(&file, file.len() as u64).unwrap().data_bytes, 16_000);
    }

    #[test]
    fn non_wav_and_broken_headers_are_refused() {
        assert!(parse(b"ID3\x03 not a wav at all", 20).is_err());
        assert!(parse(b"RIFF", 4).is_err());
        let file = pcm16_mono(8000, 10);
        assert!(parse(&file[..40], file.len() as u64)
            .unwrap_err()
            .contains("no data chunk"));
        let mut zero_rate = file.clone();
        zero_rate[28..32].copy_from_slice(&0u32.to_le_bytes());
        assert!(parse(&zero_rate, zero_rate.len() as u64).is_err());
        let mut data_first = file.clone();
        data_first[12..16].copy_from_slice(b"data");
        assert!(parse(&data_first, data_first.len() as u64).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_parser(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            extra in 0u64..1000,
        ) {
            let _ = parse(&bytes, bytes.len() as u64 + extra).map(|info| info.duration_ms());
        }

        #[test]
        fn durations_follow_the_sample_count(
            rate in prop::sample::select(vec![8000u32, 16_000, 22_050, 44_100]),
            samples in 0u32..50_000,
        ) {
            let file = pcm16_mono(rate, samples);
            let info = parse(&file, file.len() as u64).unwrap();
            prop_assert_eq!(info.duration_ms(), u64::from(samples) * 1000 / u64::from(rate));
        }
    }
}
