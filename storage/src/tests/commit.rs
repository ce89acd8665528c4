//! The commit protocol: one write plus one sync, sector aligned, lsns
//! consecutive across restarts.

use super::support::{assert_records_through, commit, open, payload, recover_ok};
use crate::frame::{self, FRAME_HEADER_BYTES};
use crate::segment::segment_name;
use crate::{Lsn, MemDisk, SECTOR_BYTES};
use futures_lite::future::block_on;

#[test]
fn a_commit_is_one_write_and_one_sync() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    let before = disk.stats();
    assert_eq!(commit(&mut wal, &[10, 300, 1000]), 3);
    let after = disk.stats();
    assert_eq!(
        (after.writes - before.writes, after.syncs - before.syncs),
        (1, 1)
    );
    assert!(
        disk.pending_ops().is_empty(),
        "everything committed is synced"
    );
}

#[test]
fn each_commit_starts_in_a_fresh_sector() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    commit(&mut wal, &[10]);
    commit(&mut wal, &[20]);
    let image = disk.image(&segment_name(1));
    let sector = SECTOR_BYTES as usize;
    let first = frame::decode_header(&image[sector..]).expect("first flush at sector 1");
    let second = frame::decode_header(&image[2 * sector..]).expect("second flush at sector 2");
    assert_eq!((first.lsn, second.lsn), (Lsn(1), Lsn(2)));
    assert!(image[sector + FRAME_HEADER_BYTES + 16..2 * sector]
        .iter()
        .all(|&b| b == 0));
}

#[test]
fn lsns_are_consecutive_from_one_and_continue_after_a_restart() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    assert_eq!(wal.append(1, &payload(1, 5)), Lsn(1));
    assert_eq!(wal.append(1, &payload(2, 5)), Lsn(2));
    assert_eq!(block_on(wal.commit()).expect("commits"), Lsn(2));
    drop(wal);
    disk.crash();
    let (mut wal, recovered) = open(&disk);
    assert_records_through(&recovered.records, 1, 2);
    assert_eq!(recovered.next_lsn, Lsn(3));
    assert_eq!(commit(&mut wal, &[7]), 3);
    disk.crash();
    assert_records_through(&recover_ok(&disk).records, 1, 3);
}

#[test]
fn appended_records_are_not_durable_until_committed() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    commit(&mut wal, &[10]);
    wal.append(1, &payload(2, 10));
    assert_eq!(wal.durable_lsn(), Lsn(1));
    drop(wal);
    disk.crash();
    assert_records_through(&recover_ok(&disk).records, 1, 1);
}

#[test]
fn an_empty_commit_does_no_io() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    let before = disk.stats();
    assert_eq!(block_on(wal.commit()).expect("nothing to do"), Lsn::ZERO);
    assert_eq!(disk.stats(), before);
}

#[test]
fn pending_bytes_counts_frames_until_the_commit() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    wal.append(1, &[1; 5]);
    wal.append(1, &[1; 17]);
    assert_eq!(wal.pending_bytes(), (48 + 16) + (48 + 32));
    block_on(wal.commit()).expect("commits");
    assert_eq!(wal.pending_bytes(), 0);
}

#[test]
#[should_panic(expected = "over the 4000 limit")]
fn a_record_over_the_limit_is_a_bug() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    wal.append(1, &[0; 4001]);
}

#[test]
fn recovery_of_a_new_directory_is_empty_and_opening_creates_the_first_segment() {
    let disk = MemDisk::new();
    let (wal, recovered) = open(&disk);
    assert!(recovered.records.is_empty() && recovered.snapshot.is_none());
    assert_eq!((recovered.next_lsn, wal.segment_id()), (Lsn(1), 1));
    assert_eq!(disk.durable_names(), vec![segment_name(1)]);
}

#[test]
fn the_tail_position_is_the_next_flush_sector() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    let sector = SECTOR_BYTES;
    assert_eq!(wal.tail_position(), (1, sector), "after the header sector");
    wal.append(1, &payload(1, 10));
    assert_eq!(wal.tail_position(), (1, sector), "appends write nothing");
    block_on(wal.commit()).expect("commits");
    assert_eq!(wal.tail_position(), (1, 2 * sector));
    commit(&mut wal, &[3000, 3000]);
    assert_eq!(wal.tail_position(), (1, 4 * sector), "two sectors used");
    drop(wal);
    disk.crash();
    let (wal, _) = open(&disk);
    assert_eq!(
        wal.tail_position(),
        (1, 4 * sector),
        "the same after a restart"
    );
}
