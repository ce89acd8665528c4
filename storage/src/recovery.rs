//! Recovery: the newest valid snapshot plus the WAL records after it, with
//! a torn last write cut off and any other damage refused.
//!
//! See the crate documentation ("Recovery policy") for the rules.

use crate::disk::{self, Disk, DiskFile};
use crate::lsn::Lsn;
use crate::report::{
    Corruption, Record, Recovered, RecoveryError, RecoveryReport, TornTail, Truncation,
};
use crate::scan::{self, BadFlush, ScanEnd};
use crate::segment::{self, TEMP_SUFFIX};
use crate::snapshot;
use crate::wal::{WalOptions, WalResume, WalTail};
use std::io;

/// What to do about corruption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Refuse to start, naming the file and offset (the default).
    Strict,
    /// The operator's `--recover-truncate`: cut the log at the first bad
    /// frame and drop everything after it (an invalid newest snapshot is
    /// passed over for an older one), reporting what went.
    TruncateCorruption,
}

/// Recovery's running state while walking the segments.
struct Walk {
    snapshot_lsn: Lsn,
    records: Vec<Record>,
    /// The lsn the next segment must start with (`None` before the first).
    next_lsn: Option<Lsn>,
    tail: Option<WalTail>,
}

/// Where truncation cuts the log, under `TruncateCorruption`.
struct Cut {
    corruption: Corruption,
    /// `Some(offset)`: keep the segment up to this flush offset; `None`:
    /// drop the whole segment.
    trim_offset: Option<u64>,
}

impl Cut {
    /// Drop the whole segment the corruption is in.
    fn whole(corruption: Corruption) -> Cut {
        Cut {
            corruption,
            trim_offset: None,
        }
    }
}

/// Recovers a shard's state from `disk`.
///
/// Syncs the directory and every file before reading them (rule 15),
/// removes temporary files of interrupted creations, loads the newest
/// valid snapshot, reads every segment in order, cuts off a torn last
/// write, and returns the records after the snapshot plus where
/// [`crate::Wal::open`] continues.
pub async fn recover<D: Disk>(
    disk: &D,
    options: &WalOptions,
    mode: RecoveryMode,
) -> Result<Recovered, RecoveryError> {
    options
        .validate()
        .expect("WalOptions are validated before use");
    disk.sync_dir().await?;
    let mut report = RecoveryReport::default();
    recover_remove_temps(disk, &mut report).await?;
    let load = snapshot::load_newest(disk, mode).await?;
    report.snapshots_skipped = load.skipped;
    report.snapshot_lsn = load.snapshot.as_ref().map(|s| s.lsn);
    let snapshot_lsn = report.snapshot_lsn.unwrap_or(Lsn::ZERO);
    let names = disk.list().await?;
    let ids: Vec<u64> = names
        .iter()
        .filter_map(|n| segment::parse_segment_name(n))
        .collect();
    let mut walk = Walk {
        snapshot_lsn,
        records: Vec::new(),
        next_lsn: None,
        tail: None,
    };
    recover_walk(disk, &ids, mode, &mut walk, &mut report).await?;
    recover_check_end(disk, &ids, mode, &mut walk, &mut report).await?;
    let next_segment_id = match walk.tail {
        Some(tail) => tail.segment_id + 1,
        None => ids.last().map_or(1, |id| id + 1),
    };
    let next_lsn = walk.next_lsn.unwrap_or(Lsn::ZERO).max(snapshot_lsn.next());
    let resume = WalResume {
        next_lsn,
        tail: walk.tail,
        next_segment_id,
    };
    report.records_replayed = walk.records.len() as u64;
    let expected = (snapshot_lsn.0 + 1..next_lsn.0).map(Lsn);
    assert!(
        walk.records.iter().map(|r| r.lsn).eq(expected),
        "records continue the snapshot"
    );
    assert!(walk.tail.is_none_or(|t| t.segment_id < next_segment_id));
    #[allow(unused_mut)]
    let mut records = walk.records;
    #[cfg(feature = "planted-bugs")]
    if crate::planted::active(crate::planted::Bug::ReplaySkipsEvent) && records.len() >= 2 {
        records.remove(records.len() / 2);
    }
    Ok(Recovered {
        snapshot: load.snapshot,
        records,
        next_lsn,
        resume,
        report,
    })
}

/// Reads the segments in order into `walk`; at the first damage, refuses
/// (`Strict`) or cuts the log there (`TruncateCorruption`).
async fn recover_walk<D: Disk>(
    disk: &D,
    ids: &[u64],
    mode: RecoveryMode,
    walk: &mut Walk,
    report: &mut RecoveryReport,
) -> Result<(), RecoveryError> {
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "list is sorted"
    );
    for index in 0..ids.len() {
        let id = ids[index];
        let cut = if index > 0 && id != ids[index - 1] + 1 {
            let file = segment::segment_name(ids[index - 1] + 1);
            let reason = format!("segment missing before {}", segment::segment_name(id));
            Some(Cut::whole(Corruption {
                file,
                offset: 0,
                reason,
            }))
        } else {
            let last = index + 1 == ids.len();
            recover_segment(disk, id, last, walk, report).await?
        };
        let Some(cut) = cut else { continue };
        if mode == RecoveryMode::Strict {
            return Err(cut.corruption.into());
        }
        recover_cut(disk, &ids[index..], cut, walk, report).await?;
        break;
    }
    assert!(walk.tail.is_some() || walk.records.is_empty());
    Ok(())
}

/// Removes temporary segments and snapshots left by a crash mid-creation.
async fn recover_remove_temps<D: Disk>(disk: &D, report: &mut RecoveryReport) -> io::Result<()> {
    for name in disk.list().await? {
        let Some(stem) = name.strip_suffix(TEMP_SUFFIX) else {
            continue;
        };
        let ours = segment::parse_segment_name(stem).is_some()
            || snapshot::parse_snapshot_name(stem).is_some();
        if ours {
            disk.remove(&name).await?;
            report.temp_files_removed.push(name);
        }
    }
    if !report.temp_files_removed.is_empty() {
        disk.sync_dir().await?;
    }
    assert!(report
        .temp_files_removed
        .iter()
        .all(|n| n.ends_with(TEMP_SUFFIX)));
    Ok(())
}

/// Reads one segment, appends its records to `walk`, and cuts off a torn
/// tail if it is the last. Returns the cut to make if it is damaged.
async fn recover_segment<D: Disk>(
    disk: &D,
    id: u64,
    last: bool,
    walk: &mut Walk,
    report: &mut RecoveryReport,
) -> Result<Option<Cut>, RecoveryError> {
    let name = segment::segment_name(id);
    let file = disk.open(&name).await?;
    file.sync().await?;
    let data = disk::read_all(&file).await?;
    report.segments.push(name.clone());
    let scan = match scan::scan_segment(&data, &name, id) {
        Ok(scan) => scan,
        Err(corruption) => return Ok(Some(Cut::whole(corruption))),
    };
    let first_lsn = scan.header.first_lsn;
    let after = walk.next_lsn.unwrap_or(walk.snapshot_lsn.next());
    let continues = match walk.next_lsn {
        None => first_lsn <= after,
        Some(expected) => first_lsn == expected,
    };
    if !continues {
        let reason = format!("starts at lsn {first_lsn}, but the log continues at {after}");
        let reason = format!("{reason}: records lost or rolled back");
        return Ok(Some(Cut::whole(Corruption {
            file: name,
            offset: 16,
            reason,
        })));
    }
    let replay = scan
        .frames
        .iter()
        .filter(|f| f.header.lsn > walk.snapshot_lsn);
    walk.records.extend(replay.map(|f| Record {
        lsn: f.header.lsn,
        kind: f.header.kind,
        payload: f.payload.to_vec(),
    }));
    walk.next_lsn = Some(scan.next_lsn);
    let segment_bytes = scan.header.segment_bytes;
    walk.tail = Some(WalTail {
        segment_id: id,
        offset: scan.next_offset,
        segment_bytes,
    });
    let ScanEnd::Invalid(bad) = scan.end else {
        return Ok(None);
    };
    let bad_end = BadEnd {
        name,
        flush_offset: scan.next_offset,
        segment_bytes,
        last,
        bad,
    };
    recover_segment_end(&file, bad_end, report).await
}

/// A segment's first invalid flush, and where it is.
struct BadEnd {
    name: String,
    flush_offset: u64,
    segment_bytes: u64,
    last: bool,
    bad: BadFlush,
}

/// Decides what a segment's first invalid flush is: a torn tail (cut off
/// here and reported) or corruption (returned as the cut to make).
async fn recover_segment_end<F: DiskFile>(
    file: &F,
    end: BadEnd,
    report: &mut RecoveryReport,
) -> Result<Option<Cut>, RecoveryError> {
    let BadEnd {
        name,
        flush_offset,
        segment_bytes,
        last,
        bad,
    } = end;
    assert!(bad.frame_offset >= flush_offset);
    if last && bad.tearable && bad.follower.is_none() {
        recover_trim(file, flush_offset, segment_bytes).await?;
        let (offset, bytes, reason) = (flush_offset, bad.extent_bytes, bad.reason);
        assert!(
            report.torn_tail.is_none(),
            "one torn tail, in the last segment"
        );
        report.torn_tail = Some(TornTail {
            segment: name,
            offset,
            bytes,
            reason,
        });
        return Ok(None);
    }
    let reason = match (bad.follower, last) {
        (Some(at), _) => format!("{}; a later write follows at offset {at}", bad.reason),
        (None, false) => format!("{}; not in the last segment", bad.reason),
        (None, true) => format!("{}; not what a torn write leaves", bad.reason),
    };
    let corruption = Corruption {
        file: name,
        offset: bad.frame_offset,
        reason,
    };
    Ok(Some(Cut {
        corruption,
        trim_offset: Some(flush_offset),
    }))
}

/// Zeroes a segment from `offset` on (truncate, re-allocate, sync), so the
/// next flush starts on clean space.
async fn recover_trim<F: DiskFile>(file: &F, offset: u64, segment_bytes: u64) -> io::Result<()> {
    assert!(offset <= segment_bytes);
    file.truncate(offset).await?;
    file.allocate(segment_bytes).await?;
    file.sync().await?;
    assert_eq!(file.len().await?, segment_bytes);
    Ok(())
}

/// Applies a cut under `TruncateCorruption`: removes the later segments
/// (newest first, so a crash leaves a contiguous log), trims or removes the
/// damaged one, and reports it. `ids[0]` is the damaged segment.
async fn recover_cut<D: Disk>(
    disk: &D,
    ids: &[u64],
    cut: Cut,
    walk: &mut Walk,
    report: &mut RecoveryReport,
) -> io::Result<()> {
    let keep = usize::from(cut.trim_offset.is_some());
    assert!(ids.len() >= keep, "a trimmed segment is present");
    let mut segments_removed = Vec::new();
    for &id in ids[keep..].iter().rev() {
        let name = segment::segment_name(id);
        match disk.remove(&name).await {
            Err(error) if error.kind() == io::ErrorKind::NotFound => {} // a missing segment
            other => other?,
        }
        segments_removed.push(name);
    }
    disk.sync_dir().await?;
    if let Some(offset) = cut.trim_offset {
        let tail = walk.tail.expect("a kept segment set the tail");
        assert_eq!((tail.segment_id, tail.offset), (ids[0], offset));
        let file = disk.open(&segment::segment_name(ids[0])).await?;
        recover_trim(&file, offset, tail.segment_bytes).await?;
    }
    match &mut report.truncation {
        // A second cut (the log then ended before the snapshot): one report.
        Some(truncation) => truncation.segments_removed.extend(segments_removed),
        None => {
            let truncation = Truncation {
                corruption: cut.corruption,
                segments_removed,
            };
            report.truncation = Some(truncation);
        }
    }
    Ok(())
}

/// Checks that the log reaches the snapshot: a WAL ending before it was
/// rolled back (or lost its segments).
async fn recover_check_end<D: Disk>(
    disk: &D,
    ids: &[u64],
    mode: RecoveryMode,
    walk: &mut Walk,
    report: &mut RecoveryReport,
) -> Result<(), RecoveryError> {
    let snapshot_lsn = walk.snapshot_lsn;
    let reason = match (walk.tail, walk.next_lsn) {
        (Some(_), Some(next)) if next.previous() >= snapshot_lsn => return Ok(()),
        (Some(_), Some(next)) => {
            format!(
                "the log ends at lsn {}, before the snapshot at {snapshot_lsn}",
                next.previous()
            )
        }
        (None, _) if snapshot_lsn == Lsn::ZERO || report.truncation.is_some() => return Ok(()),
        (None, _) => format!("no WAL segment, but a snapshot at lsn {snapshot_lsn}"),
        (Some(_), None) => unreachable!("a tail comes with its lsn"),
    };
    let tail = walk.tail;
    let file = tail.map_or("wal-*.seg".to_owned(), |t| {
        segment::segment_name(t.segment_id)
    });
    let offset = tail.map_or(0, |t| t.offset);
    let corruption = Corruption {
        file,
        offset,
        reason,
    };
    if mode == RecoveryMode::Strict {
        return Err(corruption.into());
    }
    // Every record the log holds is in the snapshot: drop the segments.
    assert!(walk.records.is_empty(), "no record after the snapshot");
    let tail_id = tail.map_or(0, |t| t.segment_id);
    let present: Vec<u64> = ids.iter().copied().filter(|&id| id <= tail_id).collect();
    walk.tail = None;
    walk.next_lsn = None;
    let cut = Cut {
        corruption,
        trim_offset: None,
    };
    recover_cut(disk, &present, cut, walk, report).await?;
    Ok(())
}
