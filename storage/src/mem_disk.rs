//! `MemDisk`: an in-memory [`Disk`] that models durability and injects
//! faults, for the simulator and the tests.
//!
//! Every file has a *durable image* (what survives a crash) and a *current
//! image* (what reads see, like the page cache). A write or truncate changes
//! the current image at once and is queued as a pending operation; a
//! successful [`DiskFile::sync`] makes the file's pending operations
//! durable. Directory changes (create, rename, remove) likewise change the
//! current namespace at once and become durable only at
//! [`Disk::sync_dir`]. A handle keeps pointing at its file (inode) across
//! renames, as on a real filesystem.
//!
//! MemDisk draws no randomness: the caller (the simulator, with its seeded
//! PRNG) decides every fault. The faults come in two classes, kept apart
//! because the WAL must answer them differently (ENGINEERING rules 6 and 7):
//!
//! **Faults the WAL must survive** without losing acknowledged data:
//! - [`MemDisk::crash`] / [`MemDisk::crash_with`]: the process dies; all
//!   unsynced writes and un-dir-synced names vanish, except those a
//!   [`CrashPlan`] lets through: any subset of pending operations, applied in
//!   any order, the last one possibly torn at 512-byte granularity (kept
//!   units, then zeros, caller-given garbage, or the old bytes), and any
//!   prefix of pending directory changes.
//! - [`MemDisk::fail_next_write`], [`MemDisk::fail_next_sync`],
//!   [`MemDisk::fail_next_dir_sync`]: the next such call returns EIO. A
//!   failed sync follows the fsyncgate behaviour of Linux: the file's
//!   pending operations are never made durable by a later sync, though a
//!   crash plan may still let them through (they may have reached the disk
//!   before the error).
//!
//! **Faults the WAL must detect** and refuse to start on (they damage
//! synced data, and with one copy there is no repair):
//! - [`MemDisk::flip_bit`]: bit rot in the durable image.
//! - [`MemDisk::fail_reads`]: an unreadable (latent error) 512-byte sector.
//! - [`MemDisk::misdirect`]: bytes written to the wrong file or offset.
//! - [`MemDisk::roll_back`] (with [`MemDisk::image`]): a file silently
//!   returns to an older image.

use crate::disk::{assert_sector_write, Disk, DiskFile};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::rc::Rc;

/// Granularity at which a crash tears an in-flight write.
pub const TEAR_UNIT_BYTES: usize = 512;

/// An in-memory directory with a durability model and fault injection.
/// Clones are handles to the same disk.
#[derive(Clone, Default)]
pub struct MemDisk {
    state: Rc<RefCell<State>>,
}

#[derive(Clone, Default)]
struct State {
    inodes: BTreeMap<u64, Inode>,
    inode_next: u64,
    names: BTreeMap<String, u64>,
    names_durable: BTreeMap<String, u64>,
    dir_ops: Vec<DirOp>,
    pending: Vec<Pending>,
    /// Bumped by every crash: handles from before it are dead.
    epoch: u64,
    /// Successful writes left before one fails.
    fail_write: Option<u64>,
    /// Successful file syncs left before one fails.
    fail_sync: Option<u64>,
    fail_dir_sync: bool,
    /// (inode, 512-byte unit index) pairs whose reads fail.
    unreadable: BTreeSet<(u64, u64)>,
    stats: MemDiskStats,
}

#[derive(Clone, Default)]
struct Inode {
    current: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Clone)]
struct Pending {
    inode: u64,
    op: FileOp,
    /// Its sync failed: no later sync makes it durable (fsyncgate).
    orphaned: bool,
}

#[derive(Clone, Debug)]
enum DirOp {
    Create { name: String, inode: u64 },
    Rename { from: String, to: String },
    Remove { name: String },
}

/// A file operation that is not durable yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileOp {
    /// `write_at(offset, bytes)`.
    Write {
        /// Byte offset in the file.
        offset: u64,
        /// The bytes written.
        bytes: Vec<u8>,
    },
    /// `truncate(len)`.
    Truncate {
        /// New length.
        len: u64,
    },
    /// `allocate(len)`.
    Allocate {
        /// Minimum length.
        len: u64,
    },
}

/// A pending file operation as [`MemDisk::pending_ops`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingOp {
    /// Current name of the file, if it still has one.
    pub name: Option<String>,
    /// The operation.
    pub op: FileOp,
    /// True if a sync of this file failed after the operation was issued.
    pub sync_failed: bool,
}

/// What survives a crash (see [`MemDisk::crash_with`]).
#[derive(Clone, Debug, Default)]
pub struct CrashPlan {
    /// Indices into [`MemDisk::pending_ops`] of the operations that reached
    /// the disk, applied in this order (any order); all others are lost.
    pub applied: Vec<usize>,
    /// Tears the last operation of `applied`, which must be a write.
    pub tear: Option<Tear>,
    /// How many pending directory changes, oldest first, became durable.
    pub dir_ops_kept: usize,
}

/// How an in-flight write was torn, in [`TEAR_UNIT_BYTES`] units.
#[derive(Clone, Debug)]
pub struct Tear {
    /// Indices of the 512-byte units of the write that reached the disk.
    pub kept_units: Vec<usize>,
    /// What the other units of the write hold after the crash.
    pub rest: TornRest,
}

/// The content of the torn-off units of a write.
#[derive(Clone, Debug)]
pub enum TornRest {
    /// The old bytes: the units were never written (prefix-only tears).
    Unwritten,
    /// Zeros.
    Zeros,
    /// These bytes, repeated (the caller draws them).
    Garbage(Vec<u8>),
}

impl Tear {
    /// Only the first `units` units of the write reached the disk.
    pub fn prefix(units: usize, rest: TornRest) -> Tear {
        Tear {
            kept_units: (0..units).collect(),
            rest,
        }
    }
}

/// Counts of calls, for tests that check the I/O shape of a protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemDiskStats {
    /// Successful `write_at` calls.
    pub writes: u64,
    /// Successful file syncs.
    pub syncs: u64,
    /// Successful directory syncs.
    pub dir_syncs: u64,
    /// Crashes so far.
    pub crashes: u64,
}

/// An open file of a [`MemDisk`].
pub struct MemFile {
    disk: MemDisk,
    inode: u64,
    epoch: u64,
}

impl fmt::Debug for MemDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("MemDisk")
            .field("names", &state.names)
            .field("pending_ops", &state.pending.len())
            .field("pending_dir_ops", &state.dir_ops.len())
            .finish()
    }
}

impl fmt::Debug for MemFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemFile(inode {}, epoch {})", self.inode, self.epoch)
    }
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("EIO (injected fault): {what}"))
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no such file: {name}"))
}

/// Counts a call down to an armed fault; true when it fires (and disarms).
fn countdown(fault: &mut Option<u64>) -> bool {
    match fault {
        Some(0) => {
            *fault = None;
            true
        }
        Some(left) => {
            *left -= 1;
            false
        }
        None => false,
    }
}

/// Applies one file operation to an image.
fn apply_op(image: &mut Vec<u8>, op: &FileOp) {
    match op {
        FileOp::Write { offset, bytes } => {
            let start = usize::try_from(*offset).expect("in-memory offsets fit usize");
            let end = start + bytes.len();
            if image.len() < end {
                image.resize(end, 0);
            }
            image[start..end].copy_from_slice(bytes);
            assert_eq!(&image[start..end], &bytes[..]);
        }
        FileOp::Truncate { len } => image.resize(usize::try_from(*len).expect("fits"), 0),
        FileOp::Allocate { len } => {
            let len = usize::try_from(*len).expect("fits");
            if image.len() < len {
                image.resize(len, 0);
            }
            assert!(image.len() >= len);
        }
    }
}

/// Applies a write of which only the units in `tear.kept_units` landed.
fn apply_torn_write(image: &mut Vec<u8>, offset: u64, bytes: &[u8], tear: &Tear) {
    let start = usize::try_from(offset).expect("in-memory offsets fit usize");
    let units = bytes.len().div_ceil(TEAR_UNIT_BYTES);
    assert!(
        tear.kept_units.iter().all(|&unit| unit < units),
        "tear keeps a unit past the write"
    );
    if let TornRest::Garbage(garbage) = &tear.rest {
        assert!(!garbage.is_empty(), "garbage must have at least one byte");
    }
    for unit in 0..units {
        let from = unit * TEAR_UNIT_BYTES;
        let to = (from + TEAR_UNIT_BYTES).min(bytes.len());
        let kept = tear.kept_units.contains(&unit);
        if !kept && matches!(tear.rest, TornRest::Unwritten) {
            continue;
        }
        if image.len() < start + to {
            image.resize(start + to, 0);
        }
        let target = &mut image[start + from..start + to];
        match (&tear.rest, kept) {
            (_, true) => target.copy_from_slice(&bytes[from..to]),
            (TornRest::Zeros, false) => target.fill(0),
            (TornRest::Garbage(garbage), false) => {
                for (index, byte) in target.iter_mut().enumerate() {
                    *byte = garbage[(from + index) % garbage.len()];
                }
            }
            (TornRest::Unwritten, false) => unreachable!("skipped above"),
        }
    }
}

impl State {
    fn inode_of(&self, name: &str) -> io::Result<u64> {
        self.names.get(name).copied().ok_or_else(|| not_found(name))
    }

    fn inode_mut(&mut self, name: &str) -> &mut Inode {
        let inode = self
            .inode_of(name)
            .unwrap_or_else(|_| panic!("fault on missing file {name}"));
        self.inodes
            .get_mut(&inode)
            .expect("every name points at a live inode")
    }

    fn name_of(&self, inode: u64) -> Option<String> {
        self.names
            .iter()
            .find(|(_, &i)| i == inode)
            .map(|(name, _)| name.clone())
    }

    /// Replays directory changes onto `names`, skipping impossible ones.
    fn replay_dir_ops(names: &mut BTreeMap<String, u64>, ops: &[DirOp]) {
        for op in ops {
            match op {
                DirOp::Create { name, inode } => {
                    names.insert(name.clone(), *inode);
                }
                DirOp::Rename { from, to } => {
                    if let Some(inode) = names.remove(from) {
                        names.insert(to.clone(), inode);
                    }
                }
                DirOp::Remove { name } => {
                    names.remove(name);
                }
            }
        }
    }

    fn check_epoch(&self, epoch: u64) -> io::Result<()> {
        assert!(epoch <= self.epoch, "handles come from this disk");
        if epoch == self.epoch {
            Ok(())
        } else {
            Err(io::Error::other(
                "stale MemFile handle: the disk crashed since it was opened",
            ))
        }
    }

    fn push_op(&mut self, inode: u64, op: FileOp) {
        assert!(
            self.pending.len() < 1 << 20,
            "syncs keep the pending list bounded"
        );
        let file = self
            .inodes
            .get_mut(&inode)
            .expect("open handles point at live inodes");
        apply_op(&mut file.current, &op);
        self.pending.push(Pending {
            inode,
            op,
            orphaned: false,
        });
    }
}

impl MemDisk {
    /// A deep, independent copy of this disk (files, unsynced operations,
    /// armed faults): the simulator damages a copy to check detection
    /// without touching the disk the run goes on with.
    pub fn fork(&self) -> MemDisk {
        let state = self.state.borrow().clone();
        MemDisk {
            state: Rc::new(RefCell::new(state)),
        }
    }

    /// An empty disk.
    pub fn new() -> MemDisk {
        MemDisk::default()
    }

    /// Call counts so far.
    pub fn stats(&self) -> MemDiskStats {
        self.state.borrow().stats
    }

    /// Names in the current namespace (what `list` returns).
    pub fn names(&self) -> Vec<String> {
        self.state.borrow().names.keys().cloned().collect()
    }

    /// Names that would survive a crash right now.
    pub fn durable_names(&self) -> Vec<String> {
        self.state.borrow().names_durable.keys().cloned().collect()
    }

    /// The unsynced file operations, oldest first (indices for [`CrashPlan`]).
    pub fn pending_ops(&self) -> Vec<PendingOp> {
        let state = self.state.borrow();
        let ops: Vec<PendingOp> = state
            .pending
            .iter()
            .map(|p| PendingOp {
                name: state.name_of(p.inode),
                op: p.op.clone(),
                sync_failed: p.orphaned,
            })
            .collect();
        assert_eq!(ops.len(), state.pending.len());
        ops
    }

    /// How many directory changes are not durable yet.
    pub fn pending_dir_ops(&self) -> usize {
        self.state.borrow().dir_ops.len()
    }
}

/// Faults the WAL must survive: crashes and I/O errors.
impl MemDisk {
    /// The process dies: every unsynced operation and every directory change
    /// not yet made durable by `sync_dir` is lost.
    pub fn crash(&self) {
        self.crash_with(CrashPlan::default());
    }

    /// The process dies, and exactly what `plan` lists reached the disk.
    /// Handles opened before the crash fail from now on; one-shot I/O error
    /// faults are cleared (unreadable sectors stay: they are media damage).
    pub fn crash_with(&self, plan: CrashPlan) {
        let mut state = self.state.borrow_mut();
        let pending = std::mem::take(&mut state.pending);
        let unique: BTreeSet<usize> = plan.applied.iter().copied().collect();
        assert_eq!(
            unique.len(),
            plan.applied.len(),
            "an operation is applied twice"
        );
        assert!(
            plan.dir_ops_kept <= state.dir_ops.len(),
            "more dir ops kept than pending"
        );
        for (position, &index) in plan.applied.iter().enumerate() {
            let Pending { inode, op, .. } = &pending[index];
            let last = position + 1 == plan.applied.len();
            let Some(file) = state.inodes.get_mut(inode) else {
                continue;
            };
            match (&plan.tear, op, last) {
                (Some(tear), FileOp::Write { offset, bytes }, true) => {
                    apply_torn_write(&mut file.durable, *offset, bytes, tear)
                }
                (Some(_), _, true) => panic!("only a write can be torn"),
                _ => apply_op(&mut file.durable, op),
            }
        }
        let mut names = state.names_durable.clone();
        let kept = state.dir_ops[..plan.dir_ops_kept].to_vec();
        State::replay_dir_ops(&mut names, &kept);
        let live: BTreeSet<u64> = names.values().copied().collect();
        state.inodes.retain(|inode, _| live.contains(inode));
        for file in state.inodes.values_mut() {
            file.current = file.durable.clone();
        }
        state.unreadable.retain(|(inode, _)| live.contains(inode));
        state.names = names.clone();
        state.names_durable = names;
        state.dir_ops.clear();
        state.epoch += 1;
        state.fail_write = None;
        state.fail_sync = None;
        state.fail_dir_sync = false;
        state.stats.crashes += 1;
        assert!(state.pending.is_empty());
    }

    /// The next `write_at` fails with EIO and writes nothing.
    pub fn fail_next_write(&self) {
        self.fail_write_after(0);
    }

    /// The write after `writes` more successful ones fails with EIO.
    pub fn fail_write_after(&self, writes: u64) {
        self.state.borrow_mut().fail_write = Some(writes);
    }

    /// The next file `sync` fails with EIO; that file's pending operations
    /// are never made durable by a later sync (a crash plan may still apply
    /// them).
    pub fn fail_next_sync(&self) {
        self.fail_sync_after(0);
    }

    /// The file sync after `syncs` more successful ones fails, as
    /// [`MemDisk::fail_next_sync`].
    pub fn fail_sync_after(&self, syncs: u64) {
        self.state.borrow_mut().fail_sync = Some(syncs);
    }

    /// The next `sync_dir` fails with EIO; directory changes stay pending.
    pub fn fail_next_dir_sync(&self) {
        self.state.borrow_mut().fail_dir_sync = true;
    }
}

/// Faults the WAL must detect: damage to synced data.
impl MemDisk {
    /// Flips bit `bit` (0–7) of byte `offset` of `name`, durably.
    pub fn flip_bit(&self, name: &str, offset: u64, bit: u8) {
        assert!(bit < 8, "bit {bit} out of a byte");
        let mut state = self.state.borrow_mut();
        let file = state.inode_mut(name);
        let at = usize::try_from(offset).expect("fits");
        assert!(
            at < file.durable.len(),
            "flip past the durable end of {name}"
        );
        file.durable[at] ^= 1 << bit;
        if at < file.current.len() {
            file.current[at] ^= 1 << bit;
        }
    }

    /// Makes the 512-byte sector holding `offset` of `name` unreadable.
    pub fn fail_reads(&self, name: &str, offset: u64) {
        let mut state = self.state.borrow_mut();
        let inode = state.inode_of(name).expect("fault on an existing file");
        let inserted = state
            .unreadable
            .insert((inode, offset / TEAR_UNIT_BYTES as u64));
        assert!(inserted, "sector already unreadable");
    }

    /// Durably copies `len` bytes from `from` at `from_offset` over `to` at
    /// `to_offset`: a write that landed in the wrong place.
    pub fn misdirect(&self, from: (&str, u64), to: (&str, u64), len: usize) {
        let mut state = self.state.borrow_mut();
        let source = state.inode_mut(from.0);
        let start = usize::try_from(from.1).expect("fits");
        assert!(
            start + len <= source.durable.len(),
            "misdirect source past its end"
        );
        let bytes = source.durable[start..start + len].to_vec();
        let op = FileOp::Write {
            offset: to.1,
            bytes,
        };
        let target = state.inode_mut(to.0);
        apply_op(&mut target.durable, &op);
        apply_op(&mut target.current, &op);
    }

    /// The durable image of `name`.
    pub fn image(&self, name: &str) -> Vec<u8> {
        let mut state = self.state.borrow_mut();
        state.inode_mut(name).durable.clone()
    }

    /// Silently replaces the content of `name` with an older `image`
    /// (dropping its pending operations).
    pub fn roll_back(&self, name: &str, image: Vec<u8>) {
        let mut state = self.state.borrow_mut();
        let inode = state.inode_of(name).expect("roll back an existing file");
        state.pending.retain(|p| p.inode != inode);
        let file = state.inode_mut(name);
        file.current = image.clone();
        file.durable = image;
        assert_eq!(file.current, file.durable);
    }
}

impl Disk for MemDisk {
    type File = MemFile;

    async fn create(&self, name: &str) -> io::Result<MemFile> {
        assert!(
            !name.is_empty() && !name.contains('/'),
            "flat names only: {name:?}"
        );
        let mut state = self.state.borrow_mut();
        if state.names.contains_key(name) {
            let message = format!("file exists: {name}");
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, message));
        }
        let inode = state.inode_next;
        state.inode_next += 1;
        state.inodes.insert(inode, Inode::default());
        state.names.insert(name.to_owned(), inode);
        state.dir_ops.push(DirOp::Create {
            name: name.to_owned(),
            inode,
        });
        Ok(MemFile {
            disk: self.clone(),
            inode,
            epoch: state.epoch,
        })
    }

    async fn open(&self, name: &str) -> io::Result<MemFile> {
        let state = self.state.borrow();
        let inode = state.inode_of(name)?;
        assert!(
            state.inodes.contains_key(&inode),
            "names point at live inodes"
        );
        Ok(MemFile {
            disk: self.clone(),
            inode,
            epoch: state.epoch,
        })
    }

    async fn list(&self) -> io::Result<Vec<String>> {
        let names = self.names();
        assert!(
            names.windows(2).all(|pair| pair[0] < pair[1]),
            "sorted and unique"
        );
        Ok(names)
    }

    async fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        assert!(
            !to.is_empty() && !to.contains('/'),
            "flat names only: {to:?}"
        );
        let mut state = self.state.borrow_mut();
        let inode = state.names.remove(from).ok_or_else(|| not_found(from))?;
        state.names.insert(to.to_owned(), inode);
        state.dir_ops.push(DirOp::Rename {
            from: from.to_owned(),
            to: to.to_owned(),
        });
        Ok(())
    }

    async fn remove(&self, name: &str) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        state.names.remove(name).ok_or_else(|| not_found(name))?;
        state.dir_ops.push(DirOp::Remove {
            name: name.to_owned(),
        });
        Ok(())
    }

    async fn sync_dir(&self) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        if std::mem::take(&mut state.fail_dir_sync) {
            return Err(injected("sync_dir"));
        }
        state.names_durable = state.names.clone();
        state.dir_ops.clear();
        state.stats.dir_syncs += 1;
        Ok(())
    }
}

impl DiskFile for MemFile {
    async fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        assert_sector_write(offset, bytes.len());
        let mut state = self.disk.state.borrow_mut();
        state.check_epoch(self.epoch)?;
        if countdown(&mut state.fail_write) {
            return Err(injected("write_at"));
        }
        state.push_op(
            self.inode,
            FileOp::Write {
                offset,
                bytes: bytes.to_vec(),
            },
        );
        state.stats.writes += 1;
        Ok(())
    }

    async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let state = self.disk.state.borrow();
        state.check_epoch(self.epoch)?;
        let current = &state.inodes[&self.inode].current;
        let start = usize::try_from(offset).expect("fits").min(current.len());
        let end = start.saturating_add(len).min(current.len());
        let unit = TEAR_UNIT_BYTES as u64;
        let units = (start as u64 / unit)..(end as u64).div_ceil(unit);
        if units
            .into_iter()
            .any(|u| state.unreadable.contains(&(self.inode, u)))
        {
            return Err(injected("read_at of an unreadable sector"));
        }
        assert!(start <= end && end <= current.len());
        Ok(current[start..end].to_vec())
    }

    async fn sync(&self) -> io::Result<()> {
        let mut state = self.disk.state.borrow_mut();
        state.check_epoch(self.epoch)?;
        let inode = self.inode;
        if countdown(&mut state.fail_sync) {
            for pending in state.pending.iter_mut().filter(|p| p.inode == inode) {
                pending.orphaned = true;
            }
            return Err(injected("sync"));
        }
        let ops: Vec<FileOp> = state
            .pending
            .iter()
            .filter(|p| p.inode == inode && !p.orphaned)
            .map(|p| p.op.clone())
            .collect();
        // Orphaned operations stay possible at a crash (they may have landed).
        state.pending.retain(|p| p.inode != inode || p.orphaned);
        let file = state
            .inodes
            .get_mut(&inode)
            .expect("open handles point at live inodes");
        for op in &ops {
            apply_op(&mut file.durable, op);
        }
        state.stats.syncs += 1;
        Ok(())
    }

    async fn len(&self) -> io::Result<u64> {
        let state = self.disk.state.borrow();
        state.check_epoch(self.epoch)?;
        Ok(state.inodes[&self.inode].current.len() as u64)
    }

    async fn allocate(&self, len: u64) -> io::Result<()> {
        let mut state = self.disk.state.borrow_mut();
        state.check_epoch(self.epoch)?;
        state.push_op(self.inode, FileOp::Allocate { len });
        assert!(state.inodes[&self.inode].current.len() as u64 >= len);
        Ok(())
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        let mut state = self.disk.state.borrow_mut();
        state.check_epoch(self.epoch)?;
        state.push_op(self.inode, FileOp::Truncate { len });
        assert_eq!(state.inodes[&self.inode].current.len() as u64, len);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    fn sector(byte: u8) -> Vec<u8> {
        vec![byte; 4096]
    }

    fn file_with(disk: &MemDisk, name: &str) -> MemFile {
        let file = block_on(disk.create(name)).expect("created");
        block_on(disk.sync_dir()).expect("dir synced");
        file
    }

    #[test]
    fn unsynced_writes_are_lost_at_a_crash_and_synced_ones_survive() {
        let disk = MemDisk::new();
        let file = file_with(&disk, "f");
        block_on(file.write_at(0, &sector(1))).expect("written");
        block_on(file.sync()).expect("synced");
        block_on(file.write_at(4096, &sector(2))).expect("written");
        assert_eq!(
            block_on(file.read_at(4096, 10)).expect("read"),
            vec![2; 10],
            "reads see it"
        );
        disk.crash();
        assert_eq!(disk.image("f"), sector(1));
    }

    #[test]
    fn a_fork_is_independent_of_its_original() {
        let disk = MemDisk::new();
        let file = file_with(&disk, "f");
        block_on(file.write_at(0, &sector(1))).expect("written");
        block_on(file.sync()).expect("synced");
        block_on(file.write_at(4096, &sector(2))).expect("written, not synced");
        let copy = disk.fork();
        assert_eq!(
            copy.pending_ops().len(),
            1,
            "unsynced operations are copied"
        );
        copy.flip_bit("f", 0, 0);
        assert_eq!(disk.image("f"), sector(1), "damage to the copy stays there");
        assert_eq!(copy.image("f")[0], 0);
        disk.crash();
        assert_eq!(
            copy.pending_ops().len(),
            1,
            "a crash of the original leaves the copy"
        );
        copy.crash();
        assert_eq!(copy.image("f").len(), 4096);
        disk.flip_bit("f", 1, 0);
        assert_eq!(copy.image("f")[1], 1, "damage to the original stays there");
        assert_eq!(disk.image("f")[1], 0);
    }

    #[test]
    fn names_are_durable_only_after_a_directory_sync() {
        let disk = MemDisk::new();
        let file = block_on(disk.create("a")).expect("created");
        block_on(file.write_at(0, &sector(1))).expect("written");
        block_on(file.sync()).expect("synced");
        assert!(
            disk.durable_names().is_empty(),
            "the data is durable, the name is not"
        );
        disk.crash();
        assert!(disk.names().is_empty());
    }

    #[test]
    fn a_rename_is_atomic_and_pending_until_the_directory_sync() {
        let disk = MemDisk::new();
        let _old = file_with(&disk, "target");
        let _new = file_with(&disk, "temp");
        block_on(disk.rename("temp", "target")).expect("renamed");
        assert_eq!(disk.names(), vec!["target"]);
        assert_eq!(disk.pending_dir_ops(), 1);
        disk.crash();
        assert_eq!(
            disk.names(),
            vec!["target", "temp"],
            "the rename never happened"
        );
    }

    #[test]
    fn a_crash_plan_applies_writes_out_of_order_and_tears_the_last() {
        let disk = MemDisk::new();
        let file = file_with(&disk, "f");
        block_on(file.write_at(0, &sector(1))).expect("written");
        block_on(file.write_at(4096, &sector(2))).expect("written");
        let tear = Tear::prefix(2, TornRest::Garbage(vec![9]));
        disk.crash_with(CrashPlan {
            applied: vec![1, 0],
            tear: Some(tear),
            dir_ops_kept: 0,
        });
        let image = disk.image("f");
        assert_eq!(
            image[4096..8192],
            sector(2)[..],
            "the second write landed first, whole"
        );
        assert_eq!(
            image[..1024],
            [1; 1024],
            "two units of the first write landed"
        );
        assert!(
            image[1024..4096].iter().all(|&b| b == 9),
            "the rest is garbage"
        );
    }

    #[test]
    fn a_prefix_only_tear_leaves_the_old_bytes_behind_it() {
        let disk = MemDisk::new();
        let file = file_with(&disk, "f");
        block_on(file.write_at(0, &sector(1))).expect("written");
        block_on(file.sync()).expect("synced");
        block_on(file.write_at(0, &sector(2))).expect("written");
        let tear = Tear::prefix(1, TornRest::Unwritten);
        disk.crash_with(CrashPlan {
            applied: vec![0],
            tear: Some(tear),
            dir_ops_kept: 0,
        });
        let image = disk.image("f");
        assert_eq!(
            (image[0], image[511], image[512], image[4095]),
            (2, 2, 1, 1)
        );
    }

    #[test]
    fn an_injected_eio_fires_once() {
        let disk = MemDisk::new();
        let file = file_with(&disk, "f");
        disk.fail_next_write();
        assert!(block_on(file.write_at(0, &sector(1))).is_err());
        assert!(block_on(file.write_at(0, &sector(1))).is_ok());
        disk.fail_sync_after(1);
        assert!(block_on(file.sync()).is_ok());
        assert!(block_on(file.sync()).is_err());
        assert!(block_on(file.sync()).is_ok());
    }

    #[test]
    fn handles_from_before_a_crash_are_dead() {
        let disk = MemDisk::new();
        let file = file_with(&disk, "f");
        disk.crash();
        assert!(block_on(file.write_at(0, &sector(1))).is_err());
        assert!(block_on(disk.open("f")).is_ok());
    }

    #[test]
    fn truncate_and_allocate_are_durable_only_after_a_sync() {
        let disk = MemDisk::new();
        let file = file_with(&disk, "f");
        block_on(file.allocate(8192)).expect("allocated");
        block_on(file.sync()).expect("synced");
        block_on(file.truncate(4096)).expect("truncated");
        assert_eq!(block_on(file.len()).expect("len"), 4096);
        disk.crash();
        assert_eq!(disk.image("f").len(), 8192);
    }

    #[test]
    fn detection_faults_damage_the_durable_image() {
        let disk = MemDisk::new();
        let file = file_with(&disk, "f");
        block_on(file.write_at(0, &sector(0))).expect("written");
        block_on(file.sync()).expect("synced");
        disk.flip_bit("f", 10, 3);
        assert_eq!(block_on(file.read_at(10, 1)).expect("read"), vec![8]);
        disk.fail_reads("f", 1000);
        assert!(
            block_on(file.read_at(1024, 10)).is_ok(),
            "another 512-byte sector"
        );
        assert!(
            block_on(file.read_at(510, 10)).is_err(),
            "reads overlapping it fail"
        );
        assert!(block_on(file.read_at(1020, 10)).is_err());
        disk.crash();
        assert_eq!(disk.image("f")[10], 8, "the flip is durable");
    }
}
