//! Damage to synced data never turns into wrong records: a bit flipped
//! anywhere in the data directory is either detected (recovery refuses) or
//! harmless (it hit padding or free space), except that damage to the very
//! last write may be taken for a torn write and cut off (the documented
//! limit of a single copy). No acknowledged record is ever altered.

use crate::{recover, write_snapshot, Lsn, MemDisk, RecoveryError, RecoveryMode, Wal, WalOptions};
use futures_lite::future::block_on;
use proptest::prelude::*;

const OPTIONS: WalOptions = WalOptions {
    segment_bytes: 6 * 4096,
    max_record_bytes: 4000,
};

/// Commits `batches` (payload lengths), snapshotting after batch
/// `snapshot_after` if given; returns the payloads and the last batch's size.
fn build(
    disk: &MemDisk,
    batches: &[Vec<usize>],
    snapshot_after: Option<usize>,
) -> (Vec<Vec<u8>>, usize) {
    let recovered = block_on(recover(disk, &OPTIONS, RecoveryMode::Strict)).expect("empty");
    let mut wal = block_on(Wal::open(disk.clone(), OPTIONS, recovered.resume)).expect("opens");
    let mut payloads = Vec::new();
    for (index, batch) in batches.iter().enumerate() {
        for &len in batch {
            let mut payload = format!("p{};", payloads.len() + 1).into_bytes();
            payload.resize(len.max(payload.len()), b'#');
            wal.append(3, &payload);
            payloads.push(payload);
        }
        block_on(wal.commit()).expect("commits");
        if snapshot_after == Some(index) {
            let lsn = Lsn(payloads.len() as u64);
            block_on(write_snapshot(disk, lsn, format!("{}", lsn).as_bytes())).expect("written");
        }
    }
    (payloads, batches.last().map_or(0, Vec::len))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn a_bit_flip_in_synced_data_is_detected_or_harmless(
        batches in prop::collection::vec(prop::collection::vec(0usize..2500, 1..5), 1..12),
        snapshot_after in prop::option::of(0usize..12),
        file_pick in any::<prop::sample::Index>(),
        offset_pick in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let disk = MemDisk::new();
        let (payloads, last_batch) = build(&disk, &batches, snapshot_after);
        disk.crash();
        let names = disk.durable_names();
        let name = file_pick.get(&names).clone();
        let len = disk.image(&name).len();
        disk.flip_bit(&name, offset_pick.index(len) as u64, bit);
        match block_on(recover(&disk, &OPTIONS, RecoveryMode::Strict)) {
            Err(RecoveryError::Corruption(_)) => {}
            Err(RecoveryError::Io(error)) => panic!("a flip is no I/O error: {error}"),
            Ok(recovered) => {
                let from = recovered.snapshot.as_ref().map_or(0, |s| s.lsn.0 as usize);
                if let Some(snapshot) = &recovered.snapshot {
                    let state = format!("{}", snapshot.lsn).into_bytes();
                    prop_assert_eq!(snapshot.bytes.clone(), state);
                }
                let got: Vec<Vec<u8>> =
                    recovered.records.iter().map(|r| r.payload.clone()).collect();
                let kept = from + got.len();
                prop_assert!(got[..] == payloads[from..kept], "records altered");
                let cut_off = kept < payloads.len();
                let within_last_write = kept >= payloads.len() - last_batch;
                prop_assert!(!cut_off || within_last_write, "more than the last write");
                prop_assert!(!cut_off || recovered.report.torn_tail.is_some(), "a silent cut");
            }
        }
    }
}
