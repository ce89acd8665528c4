//! A torn last write is cut off; recovery returns exactly the records of
//! complete commits.

use super::support::{assert_records_through, commit, open, payload, recover_ok, SMALL};
use crate::mem_disk::FileOp;
use crate::{recover, CrashPlan, MemDisk, RecoveryError, RecoveryMode, Tear, TornRest, Wal};
use futures_lite::future::block_on;

/// Commits records 1..=5 in two commits, then makes a commit of records
/// 6..=8 (two sectors) whose sync fails, and crashes letting `tear` of that
/// write through.
fn crash_mid_commit(tear: Option<Tear>) -> MemDisk {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    commit(&mut wal, &[100, 200]);
    commit(&mut wal, &[300, 400, 500]);
    for lsn in 6..=8 {
        wal.append(1, &payload(lsn, 1500));
    }
    disk.fail_next_sync();
    assert!(block_on(wal.commit()).is_err(), "the sync fails");
    drop(wal);
    let pending = disk.pending_ops();
    assert_eq!(pending.len(), 1);
    assert!(
        matches!(&pending[0].op, FileOp::Write { offset: 12288, bytes } if bytes.len() == 8192)
    );
    disk.crash_with(CrashPlan {
        applied: vec![0],
        tear,
        dir_ops_kept: 0,
    });
    disk
}

#[test]
fn a_torn_tail_is_truncated_and_recovery_returns_exactly_the_complete_commits() {
    let disk = crash_mid_commit(Some(Tear::prefix(1, TornRest::Zeros)));
    let recovered = recover_ok(&disk);
    assert_records_through(&recovered.records, 1, 5);
    let torn = recovered.report.torn_tail.clone();
    let torn = torn.expect("the torn write is reported");
    assert_eq!((torn.offset, torn.bytes), (12288, 512));
    assert_eq!(torn.segment, "wal-0000000000000001.seg");
    let line = recovered.report.to_string();
    assert!(
        line.contains("torn tail cut at wal-0000000000000001.seg offset 12288"),
        "{line}"
    );
    // The log continues where the complete commits ended, on clean space.
    let mut wal = block_on(Wal::open(disk.clone(), SMALL, recovered.resume)).expect("opens");
    assert_eq!(commit(&mut wal, &[10]), 6);
    drop(wal);
    disk.crash();
    let again = recover_ok(&disk);
    assert_records_through(&again.records, 1, 6);
    assert_eq!(again.report.torn_tail, None);
}

#[test]
fn every_tear_shape_of_the_last_write_is_cut_off() {
    let garbage = TornRest::Garbage(vec![0xA5, 0x5A, 0x13]);
    let shapes = [
        Tear::prefix(0, garbage.clone()),
        Tear::prefix(3, TornRest::Zeros),
        Tear::prefix(9, garbage.clone()),
        Tear::prefix(8, TornRest::Unwritten),
        Tear {
            kept_units: vec![4, 5, 12],
            rest: TornRest::Unwritten,
        },
        Tear {
            kept_units: vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
            rest: TornRest::Zeros,
        },
        Tear {
            kept_units: vec![0, 1, 2, 3, 4, 5, 6, 7, 9],
            rest: garbage,
        },
    ];
    for tear in shapes {
        let disk = crash_mid_commit(Some(tear.clone()));
        let recovered = recover_ok(&disk);
        assert_records_through(&recovered.records, 1, 5);
        assert!(recovered.report.torn_tail.is_some(), "{tear:?} is reported");
    }
}

#[test]
fn an_unsynced_write_that_fully_reached_the_disk_is_kept() {
    let disk = crash_mid_commit(None);
    let recovered = recover_ok(&disk);
    assert_records_through(&recovered.records, 1, 8);
    assert_eq!(recovered.report.torn_tail, None);
}

#[test]
fn an_unsynced_write_lost_at_the_crash_leaves_the_acknowledged_records() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    commit(&mut wal, &[100, 200]);
    wal.append(1, &payload(3, 10));
    disk.fail_next_sync();
    assert!(block_on(wal.commit()).is_err());
    drop(wal);
    disk.crash(); // nothing unsynced survives
    let recovered = recover_ok(&disk);
    assert_records_through(&recovered.records, 1, 2);
    assert_eq!(
        recovered.report.torn_tail, None,
        "clean zeros are no torn tail"
    );
}

#[test]
fn a_crash_during_the_trim_of_a_torn_tail_is_recovered_on_the_next_start() {
    let disk = crash_mid_commit(Some(Tear::prefix(2, TornRest::Zeros)));
    disk.fail_sync_after(1); // not the sync before reading: the trim's
    let failed = block_on(recover(&disk, &SMALL, RecoveryMode::Strict));
    assert!(matches!(failed, Err(RecoveryError::Io(_))));
    let pending = disk.pending_ops();
    assert!(matches!(pending[0].op, FileOp::Truncate { len: 12288 }));
    disk.crash_with(CrashPlan {
        applied: vec![0],
        tear: None,
        dir_ops_kept: 0,
    }); // short file
    let (mut wal, recovered) = open(&disk);
    assert_records_through(&recovered.records, 1, 5);
    assert_eq!(commit(&mut wal, &[10, 20]), 7);
    drop(wal);
    disk.crash();
    assert_records_through(&recover_ok(&disk).records, 1, 7);
}
