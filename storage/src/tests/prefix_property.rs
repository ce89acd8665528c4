//! Every prefix of a WAL recovers to exactly that prefix: random batches of
//! random records, committed, with crashes at random points (torn,
//! reordered or lost unsynced writes, failed writes and syncs, lost
//! directory changes), checked against a model of acknowledged records.
//!
//! After every crash, strict recovery must succeed and return (snapshot
//! plus records) every acknowledged record, in order, followed by at most
//! a prefix of the commit that was in flight — nothing else.

use crate::mem_disk::FileOp;
use crate::{
    recover, write_snapshot, CrashPlan, Lsn, MemDisk, Recovered, RecoveryMode, Tear, TornRest,
};
use crate::{Wal, WalOptions};
use futures_lite::future::block_on;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Fault {
    /// No I/O error: the crash comes after the commit returned.
    Nothing,
    /// The write after this many successful ones fails.
    Write(u8),
    /// The file sync after this many successful ones fails.
    Sync(u8),
    /// The next directory sync fails (only segment creation does one).
    DirSync,
}

#[derive(Clone, Debug)]
struct PlanSpec {
    /// Bit i: pending operation i (mod 8) reached the disk.
    mask: u8,
    reverse: bool,
    /// Seed of the tear of the last applied write, and what the rest holds.
    tear: Option<(u32, u8)>,
    dir_seed: u8,
}

#[derive(Clone, Debug)]
enum Op {
    Commit(Vec<usize>),
    Snapshot,
    Crash {
        lens: Vec<usize>,
        fault: Fault,
        plan: PlanSpec,
    },
    SnapshotCrash {
        dir_sync: bool,
        plan: PlanSpec,
    },
}

fn lens(min: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![4 => 0usize..300, 1 => 300usize..=4000], min..8)
}

fn plan() -> impl Strategy<Value = PlanSpec> {
    // Mostly let the oldest pending operation (the in-flight write) through,
    // and mostly tear it: those are the interesting crashes.
    let mask =
        (any::<u8>(), prop::bool::weighted(0.75)).prop_map(|(mask, first)| mask | u8::from(first));
    let tear = prop::option::weighted(0.75, (any::<u32>(), any::<u8>()));
    (mask, any::<bool>(), tear, any::<u8>()).prop_map(|(mask, reverse, tear, dir_seed)| PlanSpec {
        mask,
        reverse,
        tear,
        dir_seed,
    })
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        1 => Just(Fault::Nothing),
        2 => (0u8..3).prop_map(Fault::Write),
        4 => Just(Fault::Sync(0)),
        2 => (1u8..4).prop_map(Fault::Sync),
        1 => Just(Fault::DirSync),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => lens(1).prop_map(Op::Commit),
        1 => Just(Op::Snapshot),
        3 => (lens(0), fault(), plan())
            .prop_map(|(lens, fault, plan)| Op::Crash { lens, fault, plan }),
        1 => (any::<bool>(), plan())
            .prop_map(|(dir_sync, plan)| Op::SnapshotCrash { dir_sync, plan }),
    ]
}

/// Turns a spec into a plan for what is pending right now.
fn build_plan(disk: &MemDisk, spec: &PlanSpec) -> CrashPlan {
    let pending = disk.pending_ops();
    let mut applied: Vec<usize> = (0..pending.len())
        .filter(|i| spec.mask >> (i % 8) & 1 == 1)
        .collect();
    if spec.reverse {
        applied.reverse();
    }
    let last = applied.last().map(|&index| &pending[index].op);
    let tear = match (spec.tear, last) {
        (Some((seed, rest)), Some(FileOp::Write { bytes, .. })) => {
            let units = bytes.len() / 512;
            let kept_units = if seed & 1 == 0 {
                (0..(seed as usize >> 1) % (units + 1)).collect()
            } else {
                (0..units)
                    .filter(|unit| (seed >> (1 + unit % 31)) & 1 == 1)
                    .collect()
            };
            let rest = match rest % 3 {
                0 => TornRest::Zeros,
                1 => TornRest::Unwritten,
                _ => TornRest::Garbage(vec![rest | 1, 0x77, (seed >> 8) as u8]),
            };
            Some(Tear { kept_units, rest })
        }
        _ => None,
    };
    let dir_ops_kept = usize::from(spec.dir_seed) % (disk.pending_dir_ops() + 1);
    CrashPlan {
        applied,
        tear,
        dir_ops_kept,
    }
}

/// A snapshot's bytes: the payloads of records 1..=lsn, length-prefixed.
fn encode_state(records: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for record in records {
        bytes.extend_from_slice(&(record.len() as u32).to_le_bytes());
        bytes.extend_from_slice(record);
    }
    bytes
}

/// The whole log recovery describes: the snapshot's records, then the rest.
fn full_log(recovered: &Recovered) -> Vec<Vec<u8>> {
    let mut log = Vec::new();
    if let Some(snapshot) = &recovered.snapshot {
        let mut rest = snapshot.bytes.as_slice();
        while !rest.is_empty() {
            let len = u32::from_le_bytes(rest[..4].try_into().expect("a length")) as usize;
            log.push(rest[4..4 + len].to_vec());
            rest = &rest[4 + len..];
        }
        assert_eq!(
            log.len() as u64,
            snapshot.lsn.0,
            "the snapshot holds records 1..=lsn"
        );
    }
    for record in &recovered.records {
        assert_eq!(
            record.lsn.0,
            log.len() as u64 + 1,
            "records continue the snapshot"
        );
        log.push(record.payload.clone());
    }
    log
}

struct Model {
    disk: MemDisk,
    options: WalOptions,
    wal: Option<Wal<MemDisk>>,
    /// Payloads of acknowledged records: record i has lsn i + 1.
    acked: Vec<Vec<u8>>,
    unique: u64,
}

impl Model {
    fn wal(&mut self) -> &mut Wal<MemDisk> {
        self.wal.as_mut().expect("open between crashes")
    }

    fn append(&mut self, lens: &[usize]) -> Vec<Vec<u8>> {
        let mut appended = Vec::new();
        for &len in lens {
            self.unique += 1;
            let mut payload = format!("r{};", self.unique).into_bytes();
            payload.resize(len.max(payload.len()), b'~');
            self.wal().append(7, &payload);
            appended.push(payload);
        }
        appended
    }

    /// Crashes with `spec`, recovers strictly, and checks the result is the
    /// acknowledged records plus a prefix of `in_flight`.
    fn crash_and_check(&mut self, spec: &PlanSpec, in_flight: &[Vec<u8>]) {
        self.wal = None;
        let plan = build_plan(&self.disk, spec);
        self.disk.crash_with(plan.clone());
        let recovered = block_on(recover(&self.disk, &self.options, RecoveryMode::Strict))
            .unwrap_or_else(|error| panic!("recovery after {plan:?} failed: {error}"));
        let log = full_log(&recovered);
        let acked = self.acked.len();
        assert!(
            log.len() >= acked,
            "lost acknowledged records: {} of {acked}",
            log.len()
        );
        assert!(
            log[..acked] == self.acked[..],
            "acknowledged records changed"
        );
        let extra = &log[acked..];
        assert!(
            extra.len() <= in_flight.len(),
            "records that were never appended"
        );
        assert!(
            extra == &in_flight[..extra.len()],
            "in-flight records out of order"
        );
        assert_eq!(recovered.next_lsn, Lsn(log.len() as u64 + 1));
        self.acked = log;
        let open = Wal::open(self.disk.clone(), self.options, recovered.resume);
        self.wal = Some(block_on(open).expect("opens after recovery"));
    }

    fn run(&mut self, op: &Op) {
        match op {
            Op::Commit(lens) => {
                let records = self.append(lens);
                let durable = block_on(self.wal().commit()).expect("no fault armed");
                self.acked.extend(records);
                assert_eq!(durable, Lsn(self.acked.len() as u64));
            }
            Op::Snapshot => {
                let lsn = self.wal().durable_lsn();
                let state = encode_state(&self.acked);
                block_on(write_snapshot(&self.disk, lsn, &state)).expect("no fault armed");
            }
            Op::Crash { lens, fault, plan } => {
                let in_flight = self.append(lens);
                match fault {
                    Fault::Nothing => {}
                    Fault::Write(after) => self.disk.fail_write_after(u64::from(*after)),
                    Fault::Sync(after) => self.disk.fail_sync_after(u64::from(*after)),
                    Fault::DirSync => self.disk.fail_next_dir_sync(),
                }
                if !lens.is_empty() && block_on(self.wal().commit()).is_ok() {
                    self.acked.extend(in_flight.iter().cloned());
                    return self.crash_and_check(plan, &[]);
                }
                self.crash_and_check(plan, &in_flight);
            }
            Op::SnapshotCrash { dir_sync, plan } => {
                if *dir_sync {
                    self.disk.fail_next_dir_sync()
                } else {
                    self.disk.fail_next_sync()
                }
                let lsn = self.wal().durable_lsn();
                let state = encode_state(&self.acked);
                let _ = block_on(write_snapshot(&self.disk, lsn, &state));
                self.crash_and_check(plan, &[]);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn every_prefix_of_a_wal_recovers_to_exactly_that_prefix(
        sectors in 3u64..12,
        ops in prop::collection::vec(op(), 1..24),
    ) {
        let options = WalOptions { segment_bytes: sectors * 4096, max_record_bytes: 4000 };
        let disk = MemDisk::new();
        let recovered = block_on(recover(&disk, &options, RecoveryMode::Strict)).expect("empty");
        let wal = block_on(Wal::open(disk.clone(), options, recovered.resume)).expect("opens");
        let mut model = Model { disk, options, wal: Some(wal), acked: Vec::new(), unique: 0 };
        for op in &ops {
            model.run(op);
        }
        let last = PlanSpec { mask: 0, reverse: false, tear: None, dir_seed: 0 };
        model.crash_and_check(&last, &[]);
    }
}
