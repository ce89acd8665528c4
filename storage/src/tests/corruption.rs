//! Damage to synced data is detected, reported with its file and offset,
//! and refused — or cut off when the operator asks for truncation.

use super::support::{assert_records_through, commit, open, recover_corrupt, recover_ok, SMALL};
use crate::disk::{Disk, DiskFile};
use crate::frame::{self, FrameHeader, FRAME_HEADER_BYTES};
use crate::segment::segment_name;
use crate::{recover, write_snapshot, Lsn, MemDisk, RecoveryError, RecoveryMode};
use futures_lite::future::block_on;

const STRICT: RecoveryMode = RecoveryMode::Strict;
const TRUNCATE: RecoveryMode = RecoveryMode::TruncateCorruption;

/// Records 1..=n, one per sector-sized commit (4000-byte payloads), over
/// segments of 7 flushes each.
fn log_of(n: u64) -> MemDisk {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    for _ in 0..n {
        commit(&mut wal, &[4000]);
    }
    drop(wal);
    disk.crash();
    disk
}

/// Offset of the flush holding record `lsn` of [`log_of`] in its segment.
fn flush_offset(lsn: u64) -> u64 {
    ((lsn - 1) % 7 + 1) * 4096
}

#[test]
fn a_bit_flip_in_the_middle_of_synced_data_is_corruption_at_its_segment_and_offset() {
    let disk = log_of(5);
    disk.flip_bit(&segment_name(1), flush_offset(3) + 100, 3);
    let corruption = recover_corrupt(&disk, STRICT);
    assert_eq!(corruption.file, segment_name(1));
    assert_eq!(corruption.offset, flush_offset(3));
    assert!(
        corruption.reason.contains("checksum"),
        "{}",
        corruption.reason
    );
    assert!(
        corruption.reason.contains("later write follows"),
        "{}",
        corruption.reason
    );
}

#[test]
fn a_damaged_frame_inside_a_flush_is_reported_at_that_frame() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    commit(&mut wal, &[100, 100, 100]);
    commit(&mut wal, &[100]);
    drop(wal);
    disk.crash();
    let second_frame = 4096 + (FRAME_HEADER_BYTES as u64 + 112);
    disk.flip_bit(&segment_name(1), second_frame + 2, 0); // its header
    let corruption = recover_corrupt(&disk, STRICT);
    assert_eq!(
        (corruption.file, corruption.offset),
        (segment_name(1), second_frame)
    );
}

#[test]
fn damage_at_the_end_of_a_segment_that_is_not_the_last_is_corruption() {
    let disk = log_of(9);
    disk.flip_bit(&segment_name(1), flush_offset(7) + 200, 1);
    let corruption = recover_corrupt(&disk, STRICT);
    assert_eq!(
        (corruption.file.as_str(), corruption.offset),
        ("wal-0000000000000001.seg", 28672)
    );
    assert!(corruption.reason.contains("not in the last segment"));
}

#[test]
fn a_damaged_segment_header_is_corruption_at_offset_zero() {
    let disk = log_of(3);
    disk.flip_bit(&segment_name(1), 17, 0);
    let corruption = recover_corrupt(&disk, STRICT);
    assert_eq!((corruption.file, corruption.offset), (segment_name(1), 0));
}

#[test]
fn a_frame_misdirected_from_another_segment_is_detected() {
    let disk = log_of(10); // segment 2 holds records 8..=10
    let (one, two) = (segment_name(1), segment_name(2));
    disk.misdirect((&one, flush_offset(2)), (&two, flush_offset(9)), 4096);
    let corruption = recover_corrupt(&disk, STRICT);
    assert_eq!(
        (corruption.file, corruption.offset),
        (segment_name(2), flush_offset(9))
    );
    assert!(
        corruption.reason.contains("segment 1"),
        "{}",
        corruption.reason
    );
}

#[test]
fn a_stale_block_after_the_last_write_is_corruption_not_a_torn_tail() {
    let disk = log_of(3);
    let name = segment_name(1);
    disk.misdirect((&name, flush_offset(1)), (&name, flush_offset(4)), 4096);
    let corruption = recover_corrupt(&disk, STRICT);
    assert_eq!(corruption.offset, flush_offset(4));
    assert!(
        corruption.reason.contains("lsn 1, expected 4"),
        "{}",
        corruption.reason
    );
}

#[test]
fn a_rolled_back_segment_is_detected_by_the_next_one() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    for _ in 0..9 {
        commit(&mut wal, &[4000]);
    }
    let old_image = disk.image(&segment_name(2)); // records 8 and 9
    for _ in 0..7 {
        commit(&mut wal, &[4000]); // 10..=14 in segment 2, then segment 3
    }
    drop(wal);
    disk.crash();
    disk.roll_back(&segment_name(2), old_image);
    let corruption = recover_corrupt(&disk, STRICT);
    assert_eq!(corruption.file, segment_name(3));
    assert!(corruption
        .reason
        .contains("starts at lsn 15, but the log continues at 10"));
}

#[test]
fn a_rolled_back_last_segment_is_detected_against_a_newer_snapshot() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    commit(&mut wal, &[4000, 10]);
    let old_image = disk.image(&segment_name(1));
    commit(&mut wal, &[4000, 10]);
    block_on(write_snapshot(&disk, wal.durable_lsn(), b"state at 4")).expect("written");
    drop(wal);
    disk.crash();
    disk.roll_back(&segment_name(1), old_image);
    let corruption = recover_corrupt(&disk, STRICT);
    assert!(corruption
        .reason
        .contains("ends at lsn 2, before the snapshot at 4"));
}

#[test]
fn a_missing_segment_is_detected() {
    let disk = log_of(16); // segments 1, 2, 3
    block_on(disk.remove(&segment_name(2))).expect("present");
    block_on(disk.sync_dir()).expect("synced");
    let corruption = recover_corrupt(&disk, STRICT);
    assert_eq!(corruption.file, segment_name(2));
    assert!(corruption.reason.contains("missing"));
}

#[test]
fn a_missing_first_segment_is_detected_when_no_snapshot_covers_it() {
    let disk = log_of(9);
    block_on(disk.remove(&segment_name(1))).expect("present");
    block_on(disk.sync_dir()).expect("synced");
    let corruption = recover_corrupt(&disk, STRICT);
    assert_eq!((corruption.file, corruption.offset), (segment_name(2), 16));
}

#[test]
fn an_unreadable_sector_stops_recovery_with_an_io_error() {
    let disk = log_of(3);
    disk.fail_reads(&segment_name(1), flush_offset(2) + 700);
    let result = block_on(recover(&disk, &SMALL, STRICT));
    assert!(matches!(result, Err(RecoveryError::Io(_))));
}

#[test]
fn a_frame_of_another_format_version_at_the_tail_is_corruption() {
    let disk = log_of(2);
    let header = FrameHeader {
        kind: 1,
        len: 4,
        flush_bytes: 64,
        lsn: Lsn(3),
        segment_id: 1,
        crc_body: 0,
    };
    let mut sector = Vec::new();
    frame::encode(&mut sector, &header, b"next");
    sector[4] = 2; // version 2 with a valid header CRC: a newer writer
    let crc = crc32fast::hash(&sector[..44]).to_le_bytes();
    sector[44..48].copy_from_slice(&crc);
    sector.resize(4096, 0);
    let scratch = block_on(disk.create("scratch")).expect("created");
    block_on(scratch.write_at(0, &sector)).expect("written");
    block_on(scratch.sync()).expect("synced");
    disk.misdirect(("scratch", 0), (&segment_name(1), flush_offset(3)), 4096);
    let corruption = recover_corrupt(&disk, STRICT);
    assert!(
        corruption.reason.contains("version 2"),
        "{}",
        corruption.reason
    );
}

#[test]
fn truncation_mode_cuts_at_the_first_bad_flush_and_drops_everything_after() {
    let disk = log_of(16); // segments 1, 2, 3
    disk.flip_bit(&segment_name(2), flush_offset(10) + 60, 5);
    let recovered = block_on(recover(&disk, &SMALL, TRUNCATE)).expect("truncates");
    assert_records_through(&recovered.records, 1, 9);
    let truncation = recovered.report.truncation.expect("reported");
    assert_eq!(
        (truncation.corruption.file, truncation.corruption.offset),
        (segment_name(2), flush_offset(10))
    );
    assert_eq!(truncation.segments_removed, vec![segment_name(3)]);
    // The log goes on from there, and a strict start is clean again.
    let mut wal = block_on(crate::Wal::open(disk.clone(), SMALL, recovered.resume)).expect("opens");
    assert_eq!(commit(&mut wal, &[10]), 10);
    drop(wal);
    disk.crash();
    assert_records_through(&recover_ok(&disk).records, 1, 10);
}

#[test]
fn a_refusal_names_the_file_and_offset_for_the_operator() {
    let disk = log_of(5);
    disk.flip_bit(&segment_name(1), flush_offset(2) + 99, 7);
    let error = block_on(recover(&disk, &SMALL, STRICT)).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("wal-0000000000000001.seg at offset 8192"),
        "{message}"
    );
    assert!(message.contains("--recover-truncate"), "{message}");
}
