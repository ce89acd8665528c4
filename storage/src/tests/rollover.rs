//! Segment rollover: records that do not fit go to a new, durably created
//! segment, and recovery reads them back across segments.

use super::support::{assert_records_through, commit, open, recover_ok};
use crate::segment::segment_name;
use crate::MemDisk;
use futures_lite::future::block_on;

#[test]
fn records_roll_over_into_new_segments_and_recover_in_order() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    for _ in 0..20 {
        commit(&mut wal, &[1500, 1500]); // one sector per commit: 7 per segment
    }
    assert_eq!(wal.segment_id(), 3, "7 + 7 + 6 sectors");
    drop(wal);
    disk.crash();
    let recovered = recover_ok(&disk);
    assert_records_through(&recovered.records, 1, 40);
    assert_eq!(
        recovered.report.segments.len() as u64,
        recovered.resume.next_segment_id - 1
    );
}

#[test]
fn a_commit_larger_than_the_rest_of_a_segment_spills_into_the_next() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    commit(&mut wal, &[4000; 5]); // 5 of 7 sectors
    let before = disk.stats();
    commit(&mut wal, &[4000; 6]); // 2 fit, 4 go to segment 2
    assert_eq!(wal.segment_id(), 2);
    assert_eq!(
        disk.stats().syncs - before.syncs,
        3,
        "flush, new segment, flush"
    );
    drop(wal);
    disk.crash();
    assert_records_through(&recover_ok(&disk).records, 1, 11);
}

#[test]
fn a_full_last_segment_rolls_over_at_the_next_commit_after_a_restart() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    commit(&mut wal, &[4000; 7]); // exactly fills segment 1
    drop(wal);
    disk.crash();
    let (mut wal, recovered) = open(&disk);
    assert_eq!(recovered.resume.tail.map(|t| t.offset), Some(8 * 4096));
    commit(&mut wal, &[10]);
    assert_eq!(wal.segment_id(), 2);
    drop(wal);
    disk.crash();
    assert_records_through(&recover_ok(&disk).records, 1, 8);
}

#[test]
fn a_crash_while_creating_a_segment_leaves_the_log_recoverable() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    commit(&mut wal, &[4000; 7]);
    wal.append(1, &[1; 10]);
    disk.fail_next_dir_sync(); // the rename of segment 2 is not durable
    assert!(block_on(wal.commit()).is_err());
    assert!(wal.poisoned().is_some());
    drop(wal);
    disk.crash();
    assert_eq!(disk.durable_names(), vec![segment_name(1)]);
    let (mut wal, recovered) = open(&disk);
    assert_records_through(&recovered.records, 1, 7);
    commit(&mut wal, &[10]);
    assert_eq!(wal.segment_id(), 2);
}

#[test]
fn the_segment_size_may_change_between_runs() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    commit(&mut wal, &[4000; 3]);
    drop(wal);
    disk.crash();
    let bigger = crate::WalOptions {
        segment_bytes: 16 * 4096,
        ..super::support::SMALL
    };
    let recovered = block_on(crate::recover(&disk, &bigger, crate::RecoveryMode::Strict));
    let recovered = recovered.expect("recovers");
    let mut wal =
        block_on(crate::Wal::open(disk.clone(), bigger, recovered.resume)).expect("opens");
    for _ in 0..6 {
        commit(&mut wal, &[4000]); // 4 more fit in the old 8-sector segment
    }
    assert_eq!(wal.segment_id(), 2);
    drop(wal);
    disk.crash();
    assert_eq!(
        disk.image(&segment_name(2)).len(),
        16 * 4096,
        "new segments take the new size"
    );
    assert_records_through(&recover_ok(&disk).records, 1, 9);
}
