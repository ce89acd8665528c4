//! EIO on write or sync poisons the log: fail-stop, never retry, then
//! recover from disk on restart without losing acknowledged records.

use super::support::{assert_records_through, commit, open, payload, recover_ok};
use crate::MemDisk;
use futures_lite::future::block_on;

#[test]
fn eio_on_write_poisons_the_log() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    commit(&mut wal, &[10, 20]);
    wal.append(1, &payload(3, 10));
    disk.fail_next_write();
    let error = block_on(wal.commit()).unwrap_err();
    assert!(error.to_string().contains("WAL poisoned"), "{error}");
    assert!(wal.poisoned().expect("poisoned").contains("write"));
    let before = disk.stats();
    assert!(block_on(wal.commit()).is_err(), "every later commit fails");
    wal.append(1, &payload(4, 10));
    assert!(block_on(wal.commit()).is_err());
    assert_eq!(disk.stats(), before, "a poisoned log does no I/O");
    assert_eq!(wal.durable_lsn().0, 2);
    drop(wal);
    disk.crash();
    assert_records_through(&recover_ok(&disk).records, 1, 2);
}

#[test]
fn eio_on_sync_poisons_the_log_and_the_sync_is_never_retried() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    commit(&mut wal, &[10]);
    wal.append(1, &payload(2, 10));
    disk.fail_next_sync();
    assert!(block_on(wal.commit()).is_err());
    let syncs = disk.stats().syncs;
    assert!(block_on(wal.commit()).is_err());
    assert_eq!(disk.stats().syncs, syncs, "no retry of a failed fsync");
    assert_eq!(wal.durable_lsn().0, 1);
    drop(wal);
    disk.crash();
    let (mut wal, recovered) = open(&disk);
    assert_records_through(&recovered.records, 1, 1);
    assert_eq!(
        commit(&mut wal, &[10]),
        2,
        "the log goes on after the restart"
    );
}

#[test]
fn a_later_successful_sync_does_not_make_writes_of_a_failed_one_durable() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    wal.append(1, &payload(1, 10));
    disk.fail_next_sync();
    assert!(block_on(wal.commit()).is_err());
    drop(wal);
    // Someone retries the fsync on the same file: it "succeeds" (fsyncgate).
    let file = block_on(crate::Disk::open(&disk, &crate::segment::segment_name(1))).expect("open");
    block_on(crate::DiskFile::sync(&file)).expect("the retry succeeds");
    disk.crash();
    assert!(
        recover_ok(&disk).records.is_empty(),
        "yet the write was never made durable"
    );
}
