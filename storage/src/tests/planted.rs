//! Planted bugs change behaviour only while planted.

use super::support::{assert_records_through, commit, lsns, open, recover_ok};
use crate::planted::{plant, Bug};
use crate::MemDisk;

#[test]
fn replay_skips_event_drops_the_middle_record_only_while_planted() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    assert_eq!(commit(&mut wal, &[10, 10, 10, 10, 10]), 5);
    drop(wal);
    plant(None);
    assert_records_through(&recover_ok(&disk).records, 1, 5);
    plant(Some(Bug::ReplaySkipsEvent));
    let planted = recover_ok(&disk);
    plant(None);
    assert_eq!(lsns(&planted.records), vec![1, 2, 4, 5], "lsn 3 skipped");
    assert_eq!(planted.next_lsn.0, 6, "the log itself is unchanged");
    assert_records_through(&recover_ok(&disk).records, 1, 5);
}

#[test]
fn replay_skips_event_leaves_a_single_record_alone() {
    let disk = MemDisk::new();
    let (mut wal, _) = open(&disk);
    commit(&mut wal, &[10]);
    drop(wal);
    plant(Some(Bug::ReplaySkipsEvent));
    let recovered = recover_ok(&disk);
    plant(None);
    assert_records_through(&recovered.records, 1, 1);
}
