//! Snapshots: durable before anything they cover is removed; recovery is
//! the newest valid snapshot plus the WAL after it.

use super::support::{assert_records_through, commit, open, recover_corrupt, recover_ok, SMALL};
use crate::mem_disk::FileOp;
use crate::segment::segment_name;
use crate::snapshot::snapshot_name;
use crate::{recover, write_snapshot, CrashPlan, Lsn, MemDisk, RecoveryMode, Wal};
use futures_lite::future::block_on;

/// Records 1..=n, one sector each (7 per segment); a snapshot of the state
/// at each lsn in `snapshots` is written after committing it.
fn log_with_snapshots(n: u64, snapshots: &[u64]) -> (MemDisk, Wal<MemDisk>) {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    for lsn in 1..=n {
        commit(&mut wal, &[4000]);
        if snapshots.contains(&lsn) {
            let state = format!("state at {lsn}");
            block_on(write_snapshot(&disk, Lsn(lsn), state.as_bytes())).expect("written");
        }
    }
    (disk, wal)
}

#[test]
fn recovery_is_the_newest_snapshot_plus_the_records_after_it() {
    let (disk, wal) = log_with_snapshots(8, &[3, 5]);
    drop(wal);
    disk.crash();
    let recovered = recover_ok(&disk);
    let snapshot = recovered.snapshot.expect("a snapshot");
    assert_eq!(
        (snapshot.lsn, snapshot.bytes.as_slice()),
        (Lsn(5), &b"state at 5"[..])
    );
    assert_records_through(&recovered.records, 6, 8);
    assert_eq!(recovered.next_lsn, Lsn(9));
}

#[test]
fn a_snapshot_removes_older_snapshots_and_the_segments_it_covers() {
    let (disk, mut wal) = log_with_snapshots(20, &[10]); // segments 1..=3
    let written = block_on(write_snapshot(&disk, Lsn(14), b"state at 14")).expect("written");
    let removed = [snapshot_name(Lsn(10)), segment_name(2)];
    assert_eq!(
        written.removed, removed,
        "segment 1 went with the first snapshot"
    );
    assert_eq!(
        disk.durable_names(),
        vec![snapshot_name(Lsn(14)), segment_name(3)]
    );
    commit(&mut wal, &[10]);
    drop(wal);
    disk.crash();
    let recovered = recover_ok(&disk);
    assert_eq!(recovered.report.snapshot_lsn, Some(Lsn(14)));
    assert_records_through(&recovered.records, 15, 21);
}

#[test]
fn the_segment_being_written_is_never_removed() {
    let (disk, wal) = log_with_snapshots(3, &[3]);
    assert_eq!(
        disk.durable_names(),
        vec![snapshot_name(Lsn(3)), segment_name(1)]
    );
    drop(wal);
    disk.crash();
    let (mut wal, recovered) = open(&disk);
    assert!(recovered.records.is_empty());
    assert_eq!(commit(&mut wal, &[10]), 4);
}

#[test]
fn a_crash_between_snapshot_write_and_rename_recovers_the_old_snapshot_and_the_wal() {
    let (disk, wal) = log_with_snapshots(9, &[5]);
    disk.fail_next_sync(); // the new snapshot's sync: no rename follows
    assert!(block_on(write_snapshot(&disk, Lsn(9), b"state at 9")).is_err());
    let pending = disk.pending_ops();
    assert!(matches!(pending[0].op, FileOp::Write { offset: 0, .. }));
    drop(wal);
    // The temporary file's name and even its content reached the disk.
    disk.crash_with(CrashPlan {
        applied: vec![0],
        tear: None,
        dir_ops_kept: 1,
    });
    let recovered = recover_ok(&disk);
    assert_eq!(
        recovered.report.temp_files_removed,
        vec![format!("{}.tmp", snapshot_name(Lsn(9)))]
    );
    assert_eq!(recovered.report.snapshot_lsn, Some(Lsn(5)));
    assert_records_through(&recovered.records, 6, 9);
}

#[test]
fn a_crash_before_the_rename_is_durable_keeps_either_snapshot_whole() {
    for dir_ops_kept in 0..=2 {
        let (disk, wal) = log_with_snapshots(9, &[5]);
        disk.fail_next_dir_sync(); // after the rename
        assert!(block_on(write_snapshot(&disk, Lsn(9), b"state at 9")).is_err());
        drop(wal);
        disk.crash_with(CrashPlan {
            applied: vec![],
            tear: None,
            dir_ops_kept,
        });
        let recovered = recover_ok(&disk);
        let expected = if dir_ops_kept == 2 { 9 } else { 5 };
        assert_eq!(
            recovered.report.snapshot_lsn,
            Some(Lsn(expected)),
            "{dir_ops_kept} kept"
        );
        assert_records_through(&recovered.records, expected + 1, 9);
    }
}

#[test]
fn an_invalid_newest_snapshot_is_corruption_unless_truncation_falls_back() {
    let (disk, wal) = log_with_snapshots(7, &[7]); // all in segment 1: nothing removed
    block_on(write_snapshot(&disk, Lsn(5), b"state at 5")).expect("an older one too");
    drop(wal);
    disk.crash();
    disk.flip_bit(&snapshot_name(Lsn(7)), 70, 0);
    let corruption = recover_corrupt(&disk, RecoveryMode::Strict);
    assert_eq!(
        (corruption.file, corruption.offset),
        (snapshot_name(Lsn(7)), 64)
    );
    let mode = RecoveryMode::TruncateCorruption;
    let recovered = block_on(recover(&disk, &SMALL, mode)).expect("falls back");
    assert_eq!(recovered.report.snapshot_lsn, Some(Lsn(5)));
    assert_eq!(recovered.report.snapshots_skipped.len(), 1);
    assert_records_through(&recovered.records, 6, 7);
}

#[test]
fn a_snapshot_misnamed_by_a_misdirected_write_is_corruption() {
    let (disk, wal) = log_with_snapshots(9, &[5, 9]);
    drop(wal);
    disk.crash();
    // Snapshot 9's file now holds what a stale write of snapshot 5 left.
    let old = crate::snapshot::encode_snapshot(Lsn(5), b"state at 5");
    disk.roll_back(&snapshot_name(Lsn(9)), old);
    let corruption = recover_corrupt(&disk, RecoveryMode::Strict);
    assert!(
        corruption.reason.contains("header says lsn 5"),
        "{}",
        corruption.reason
    );
}
