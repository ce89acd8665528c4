//! Group commit: every request's events go into one queue; a committer task
//! writes all that queued while the previous commit was in flight as one
//! durable WAL write (`O_DSYNC`, `store/disk.rs`), then releases the
//! waiting replies in order.
//!
//! A reply (even a read's) leaves only once everything its shard applied
//! before it is durable, so nothing is ever answered from state that could
//! still be lost. A failed write or sync stops the process: fail-stop, then
//! recovery from disk on restart (never retry an fsync).

use super::disk::GlommioDisk;
use crate::offload;
use futures_channel::oneshot;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use sipbrain_core::event::{self, Event};
use sipbrain_storage::group::{Batch, GroupCommit};
use sipbrain_storage::snapshot;
use sipbrain_storage::wal::Wal;
use sipbrain_storage::Lsn;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// WAL record kind of an rkyv-encoded [`Event`].
pub const KIND_EVENT: u16 = event::RECORD_KIND;

/// The shard's side of group commit (the bookkeeping is
/// [`GroupCommit`], shared with the simulator).
pub struct Journal {
    group: RefCell<GroupCommit<oneshot::Sender<()>>>,
    doorbell: LocalSender<()>,
    /// Events made durable since the last snapshot.
    pub events_since_snapshot: Cell<u64>,
    /// Event bytes made durable since the last snapshot.
    pub bytes_since_snapshot: Cell<u64>,
    /// The committer is writing a snapshot (the shutdown one must wait).
    pub snapshotting: Cell<bool>,
}

impl Journal {
    /// A journal and the receiving end its committer task listens on.
    pub fn new() -> (Rc<Journal>, LocalReceiver<()>) {
        let (doorbell, bell) = local_channel::new_unbounded();
        let journal = Journal {
            group: RefCell::new(GroupCommit::new()),
            doorbell,
            events_since_snapshot: Cell::new(0),
            bytes_since_snapshot: Cell::new(0),
            snapshotting: Cell::new(false),
        };
        (Rc::new(journal), bell)
    }

    /// Queues `events` (already applied in memory) and returns when they,
    /// and everything queued before them, are durable. With no events and
    /// nothing in flight it returns at once.
    pub async fn durable(&self, events: &[Event]) {
        let (done, wait) = oneshot::channel();
        let records = events.iter().map(event::encode).collect();
        if self.group.borrow_mut().push(records, done).is_some() {
            return;
        }
        let _ = self.doorbell.try_send(());
        // The committer never drops an entry without completing it, except
        // when the process is stopping on a disk error.
        let _ = wait.await;
    }

    /// Nothing queued or being committed: everything applied is durable.
    pub fn is_idle(&self) -> bool {
        self.group.borrow().is_idle()
    }

    fn take(&self) -> Option<Batch<oneshot::Sender<()>>> {
        self.group.borrow_mut().take()
    }
}

/// Commits whatever is queued whenever the doorbell rings, and starts a
/// snapshot when `snapshot_due` hands it an image (asked just before a
/// batch is taken; the snapshot's lsn is the end of that batch). The image
/// is encoded on a thread of its own (nice 19) and written by its own
/// task while commits go on, so a large snapshot never freezes the shard;
/// the next one starts only once it is done.
/// `committed` hears of each commit: how long its write and sync took, and
/// how many events it made durable (the metrics).
/// Returns (to stop the process) only on a disk error.
pub async fn run_committer(
    journal: Rc<Journal>,
    bell: LocalReceiver<()>,
    wal: Rc<RefCell<Option<Wal<GlommioDisk>>>>,
    snapshot_due: impl Fn() -> Option<Vec<Event>>,
    disk: GlommioDisk,
    committed: impl Fn(std::time::Duration, usize),
) -> std::io::Error {
    let failed: Rc<Cell<Option<std::io::Error>>> = Rc::default();
    while bell.recv().await.is_some() {
        loop {
            if let Some(error) = failed.take() {
                return error;
            }
            // Taken together, without a pause: every applied event is now
            // either durable or in `batch`, so the image is exactly the
            // state at the end of this batch's commit.
            let image = if journal.snapshotting.get() {
                None
            } else {
                let taking = std::time::Instant::now();
                snapshot_due().map(|image| (image, taking.elapsed()))
            };
            let batch = journal.take();
            if batch.is_none() && image.is_none() {
                break;
            }
            if let Some(batch) = batch {
                if let Err(error) = commit_batch(&journal, &wal, batch, &committed).await {
                    return error;
                }
            }
            if let Some((image, took)) = image {
                start_snapshot(&journal, &wal, &disk, image, took, &failed);
            }
        }
    }
    failed
        .take()
        .unwrap_or_else(|| std::io::Error::other("the journal closed"))
}

/// Appends a batch's events, commits them (one durable write), releases
/// its waiters in order.
async fn commit_batch(
    journal: &Journal,
    wal: &RefCell<Option<Wal<GlommioDisk>>>,
    batch: Batch<oneshot::Sender<()>>,
    committed: &impl Fn(std::time::Duration, usize),
) -> std::io::Result<()> {
    let mut log = wal
        .borrow_mut()
        .take()
        .expect("the committer owns the WAL between commits");
    let events = batch.records.len() as u64;
    let bytes: u64 = batch.records.iter().map(|r| r.len() as u64).sum();
    for record in &batch.records {
        log.append(KIND_EVENT, record);
    }
    let result = if events > 0 {
        let started = std::time::Instant::now();
        let result = log.commit().await.map(|_| ());
        committed(started.elapsed(), events as usize);
        result
    } else {
        Ok(())
    };
    *wal.borrow_mut() = Some(log);
    result?;
    journal
        .events_since_snapshot
        .set(journal.events_since_snapshot.get() + events);
    journal
        .bytes_since_snapshot
        .set(journal.bytes_since_snapshot.get() + bytes);
    let waiters = journal.group.borrow_mut().committed(batch);
    for done in waiters {
        let _ = done.send(());
    }
    Ok(())
}

/// Encodes a snapshot image (the archive and the file around it) on a
/// thread of its own at the lowest CPU priority; `None` when no thread
/// could be started (the snapshot is skipped: the WAL still has
/// everything).
///
/// - Not on glommio's blocking pool (see [`crate::offload`]): a commit that
///   needed a new segment waited for the whole encode. Measured: the shard
///   parked in `io_cqring_wait` for ~230 ms at a time, p99 at half load
///   200-300 ms.
/// - At nice 19 it takes the CPU time the shard leaves idle, so with the
///   server pinned to one CPU requests are not queued behind it.
/// - Only the owned file buffer comes back; it goes to the disk in 1 MiB
///   slices (each copied once into io_uring's buffer), so WAL commits
///   never queue behind the whole image.
async fn encode_in_background(image: Vec<Event>, lsn: Lsn) -> Option<Vec<u8>> {
    offload::on_own_thread("snapshot-encode", move || {
        offload::lowest_priority();
        encode(&image, lsn)
    })
    .await
}

/// The snapshot file of `image` at `lsn`: the archive, its header and CRCs.
fn encode(image: &Vec<Event>, lsn: Lsn) -> Vec<u8> {
    snapshot::encode_snapshot(lsn, &event::archive_all(image))
}

/// Starts writing a snapshot of `image`, the state at the WAL's durable
/// lsn: encoded on a thread of its own, then written (temp, sync, rename,
/// directory sync; covered segments removed after). A failure lands in
/// `failed` and rings the doorbell, so the committer stops the process.
fn start_snapshot(
    journal: &Rc<Journal>,
    wal: &RefCell<Option<Wal<GlommioDisk>>>,
    disk: &GlommioDisk,
    image: Vec<Event>,
    image_took: std::time::Duration,
    failed: &Rc<Cell<Option<std::io::Error>>>,
) {
    assert!(!journal.snapshotting.get(), "one snapshot at a time");
    let lsn = wal
        .borrow()
        .as_ref()
        .expect("the WAL is back")
        .durable_lsn();
    journal.snapshotting.set(true);
    journal.events_since_snapshot.set(0);
    journal.bytes_since_snapshot.set(0);
    let (journal, disk, failed) = (journal.clone(), disk.clone(), failed.clone());
    glommio::spawn_local(async move {
        let encoding = std::time::Instant::now();
        let Some(body) = encode_in_background(image, lsn).await else {
            journal.snapshotting.set(false);
            return;
        };
        let bytes = body.len();
        let writing = std::time::Instant::now();
        let result = snapshot::write_encoded_snapshot(&disk, lsn, &body).await;
        journal.snapshotting.set(false);
        match result {
            Ok(_) => tracing::info!(
                lsn = lsn.0,
                bytes,
                image_ms = image_took.as_millis() as u64,
                encode_ms = (writing - encoding).as_millis() as u64,
                write_ms = writing.elapsed().as_millis() as u64,
                "snapshot written"
            ),
            Err(error) => {
                failed.set(Some(error));
                let _ = journal.doorbell.try_send(());
            }
        }
    })
    .detach();
}
