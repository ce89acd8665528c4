//! Faults of the brain's process and disks: crashes at random points
//! (each disk keeping a random subset of its unsynced operations, the last
//! maybe torn), restarts with recovery, and — on a copy of a disk only —
//! damage that recovery must detect.

use super::{Ev, World};
use crate::brain::recover_shard;
use crate::rng::chance;
use rand::seq::SliceRandom;
use rand::Rng;
use sipbrain_storage::mem_disk::FileOp;
use sipbrain_storage::{CrashPlan, MemDisk, Tear, TornRest, SECTOR_BYTES};

impl World {
    /// Faults drawn once per step of the faulty phase.
    pub(super) fn inject_faults(&mut self) {
        let actors = self.actors.len();
        self.net.step(self.now(), actors);
        if let Some(step) = self.clocks.maybe_jump() {
            self.note(format!("wall clock steps {step} ms"));
        }
        if self.brain.is_up() && chance(&mut self.faults, self.knobs.disk.p_crash) {
            self.note("CRASH".into());
            self.crash();
        }
    }

    /// Crashes favour the moments that matter most: between two disk
    /// operations of a commit (a write landed, its sync not yet).
    pub(super) fn crash_mid_commit(&mut self) -> bool {
        !self.healed && chance(&mut self.faults, (self.knobs.disk.p_crash * 20.0).min(0.5))
    }

    /// The brain process dies now.
    pub(super) fn crash(&mut self) {
        self.outcome.crashes += 1;
        let p_tear = self.knobs.disk.p_tear;
        let faults = &mut self.faults;
        self.brain.crash(|disk| crash_plan(disk, p_tear, faults));
        self.ops.crash();
        let conns: Vec<_> = self.net.links.keys().copied().collect();
        for conn in conns {
            let link = &self.net.links[&conn];
            if link.brain_gone {
                continue;
            }
            self.brain_gone(conn);
            self.close(conn, crate::net::Dir::ToClient);
        }
        self.schedule_restart();
    }

    /// The process comes back after a random delay.
    fn schedule_restart(&mut self) {
        let (lo, hi) = self.knobs.restart_ms;
        let at = self.now() + self.faults.gen_range(lo..=hi) * 1000;
        let incarnation = self.brain.incarnation;
        self.schedule(at, Ev::Restart { incarnation });
    }

    /// The process starts again: maybe first check detection on a damaged
    /// copy of a disk, then recover every shard (checked against the
    /// ledgers).
    pub(super) fn restart(&mut self) {
        if chance(&mut self.faults, self.knobs.disk.p_detect) {
            self.detect_check();
        }
        if !self.healed && self.knobs.disk.p_crash > 0.0 && self.faults.gen_bool(0.2) {
            // The process dies again, in the middle of a shard's recovery.
            let shard = self.faults.gen_range(0..self.knobs.shards);
            let polls = self.faults.gen_range(0..12);
            let p_tear = self.knobs.disk.p_tear;
            let faults = &mut self.faults;
            let interrupted = self
                .brain
                .crash_during_recovery(shard, polls, |disk| crash_plan(disk, p_tear, faults));
            self.outcome.crashes += 1;
            self.note(format!("CRASH during the recovery of shard {shard} (after {polls} disk operations; interrupted: {interrupted})"));
            self.schedule_restart();
            return;
        }
        match self.brain.start() {
            Ok(reports) => {
                for report in reports {
                    self.note(format!("RESTART {report}"));
                }
            }
            Err(message) => self.violations.push(("recovery".into(), message)),
        }
    }

    /// Damages a copy of one shard's disk in a way only a checksum can see
    /// and recovers the copy: it must refuse, or keep every acknowledged
    /// event exactly. The real disk is untouched.
    fn detect_check(&mut self) {
        let shard = self.faults.gen_range(0..self.knobs.shards);
        let copy = self.brain.disks[shard].fork();
        let Some(damage) = damage(&copy, &mut self.faults) else {
            return;
        };
        self.outcome.detect_checks += 1;
        let settings = self.brain.settings().clone();
        match recover_shard(&settings, shard, copy) {
            Err(refusal) => {
                self.outcome.detected += 1;
                self.note(format!(
                    "detect: {damage} on a copy of shard {shard}: refused ({refusal})"
                ));
            }
            Ok(recovered) => {
                let mut ledger = self.brain.ledgers[shard].clone();
                match ledger.recovered(&recovered.shard, recovered.durable) {
                    Ok(()) => self.note(format!("detect: {damage} on a copy of shard {shard}: harmless, state intact")),
                    Err(message) => self.violations.push((
                        "detected-corruption".into(),
                        format!("{damage} on shard {shard} went undetected and changed the state: {message}"),
                    )),
                }
            }
        }
    }
}

/// What survives a crash of `disk`: a random subset of its unsynced
/// operations in a random order, the last write maybe torn; a random
/// prefix of its directory changes.
fn crash_plan(disk: &MemDisk, p_tear: f64, rng: &mut crate::rng::SimRng) -> CrashPlan {
    let pending = disk.pending_ops();
    let mut applied: Vec<usize> = (0..pending.len()).filter(|_| rng.gen_bool(0.5)).collect();
    applied.shuffle(rng);
    let tear = match applied.last().map(|i| &pending[*i].op) {
        Some(FileOp::Write { bytes, .. }) if chance(rng, p_tear) => {
            let units = bytes.len() / sipbrain_storage::mem_disk::TEAR_UNIT_BYTES;
            let rest = match rng.gen_range(0..3) {
                0 => TornRest::Unwritten,
                1 => TornRest::Zeros,
                _ => TornRest::Garbage(vec![rng.gen(); 7]),
            };
            // Devices tear at 512 B or at 4 KiB (8 units at once).
            let group = if rng.gen_bool(0.5) { 1 } else { 8 };
            if rng.gen_bool(0.5) {
                let kept = rng.gen_range(0..units.div_ceil(group).max(1)) * group;
                Some(Tear::prefix(kept.min(units), rest))
            } else {
                let sectors: Vec<bool> = (0..units.div_ceil(group))
                    .map(|_| rng.gen_bool(0.5))
                    .collect();
                let kept_units = (0..units).filter(|u| sectors[u / group]).collect();
                Some(Tear { kept_units, rest })
            }
        }
        _ => None,
    };
    let dir_ops_kept = rng.gen_range(0..=disk.pending_dir_ops());
    CrashPlan {
        applied,
        tear,
        dir_ops_kept,
    }
}

/// Damages synced data of `disk` where a checksum must catch it: closed
/// WAL segments and snapshots (never the last flush of the last segment,
/// which recovery cannot tell from a torn write — a documented limit).
/// Returns what it did, or None when there is nothing such to damage.
fn damage(disk: &MemDisk, rng: &mut crate::rng::SimRng) -> Option<String> {
    let names = disk.durable_names();
    let segments: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("wal-") && n.ends_with(".seg"))
        .collect();
    let closed: Vec<String> = segments
        .iter()
        .take(segments.len().saturating_sub(1))
        .map(|s| s.to_string())
        .collect();
    let snapshots: Vec<String> = names
        .iter()
        .filter(|n| n.ends_with(".snap"))
        .cloned()
        .collect();
    let mut targets = closed.clone();
    targets.extend(snapshots);
    let target = targets.choose(rng)?.clone();
    let image = disk.image(&target);
    if image.is_empty() {
        return None;
    }
    let offset = rng.gen_range(0..image.len() as u64);
    match rng.gen_range(0..4) {
        0 => {
            let bit = rng.gen_range(0..8);
            disk.flip_bit(&target, offset, bit);
            Some(format!("bit {bit} of byte {offset} of {target} flipped"))
        }
        1 => {
            disk.fail_reads(&target, offset);
            Some(format!("the sector at {offset} of {target} unreadable"))
        }
        2 if closed.contains(&target) && image.len() as u64 > 2 * SECTOR_BYTES => {
            let cut = rng.gen_range(1..image.len() as u64 / SECTOR_BYTES) * SECTOR_BYTES;
            let mut older = image.clone();
            older[cut as usize..].fill(0);
            if older == image {
                return None;
            }
            disk.roll_back(&target, older);
            Some(format!(
                "{target} rolled back to its image before byte {cut}"
            ))
        }
        _ => {
            let source = targets.choose(rng)?.clone();
            let source_len = disk.image(&source).len() as u64;
            if source_len < SECTOR_BYTES || image.len() < SECTOR_BYTES as usize {
                return None;
            }
            let from = rng.gen_range(0..source_len / SECTOR_BYTES) * SECTOR_BYTES;
            let to = rng.gen_range(0..image.len() as u64 / SECTOR_BYTES) * SECTOR_BYTES;
            disk.misdirect((&source, from), (&target, to), SECTOR_BYTES as usize);
            Some(format!(
                "sector {from} of {source} written over sector {to} of {target}"
            ))
        }
    }
}
