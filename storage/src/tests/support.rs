//! Helpers shared by the scenario tests.

use crate::{recover, MemDisk, Record, Recovered, RecoveryError, RecoveryMode, Wal, WalOptions};
use futures_lite::future::block_on;

/// Small segments (8 sectors: a header and 7 sectors of flushes) so tests
/// roll over quickly.
pub const SMALL: WalOptions = WalOptions {
    segment_bytes: 8 * 4096,
    max_record_bytes: 4000,
};

/// Recovers in strict mode, expecting success.
pub fn recover_ok(disk: &MemDisk) -> Recovered {
    block_on(recover(disk, &SMALL, RecoveryMode::Strict)).expect("recovery succeeds")
}

/// Recovers in `mode`, expecting corruption; returns it.
pub fn recover_corrupt(disk: &MemDisk, mode: RecoveryMode) -> crate::Corruption {
    match block_on(recover(disk, &SMALL, mode)) {
        Err(RecoveryError::Corruption(corruption)) => corruption,
        Err(other) => panic!("expected corruption, got {other}"),
        Ok(recovered) => panic!("expected corruption, recovered {:?}", recovered.report),
    }
}

/// Recovers (strict) and opens the log where it ends.
pub fn open(disk: &MemDisk) -> (Wal<MemDisk>, Recovered) {
    let recovered = recover_ok(disk);
    let wal = block_on(Wal::open(disk.clone(), SMALL, recovered.resume)).expect("opens");
    (wal, recovered)
}

/// A payload that names its record.
pub fn payload(lsn: u64, len: usize) -> Vec<u8> {
    let mut bytes = format!("record {lsn};").into_bytes();
    bytes.resize(len.max(bytes.len()), b'.');
    bytes
}

/// Appends records `payload(lsn, len)` for each len and commits them.
pub fn commit(wal: &mut Wal<MemDisk>, lens: &[usize]) -> u64 {
    for &len in lens {
        let lsn = wal.next_lsn().0;
        wal.append(1, &payload(lsn, len));
    }
    block_on(wal.commit()).expect("commit succeeds").0
}

/// The lsns of recovered records.
pub fn lsns(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.lsn.0).collect()
}

/// Asserts the records are exactly `1..=last` as [`commit`] wrote them.
pub fn assert_records_through(records: &[Record], first: u64, last: u64) {
    assert_eq!(lsns(records), (first..=last).collect::<Vec<_>>());
    for record in records {
        assert!(
            record.payload.starts_with(&payload(record.lsn.0, 0)),
            "payload of {}",
            record.lsn
        );
        assert_eq!(record.kind, 1);
    }
}
