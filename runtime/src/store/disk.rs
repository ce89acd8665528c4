//! The storage crate's `Disk` over glommio: files driven by io_uring's
//! main ring, so WAL and snapshot I/O never blocks a shard's executor.
//! (Listing a directory at start-up is a plain `read_dir`.)
//!
//! Buffered files, not glommio's `DmaFile`: glommio 0.9 sends every
//! O_DIRECT read and write to its IOPOLL ring whenever a probe read
//! succeeds, which it does on devices without poll queues (virtio, most
//! cloud disks; `/sys/block/*/queue/io_poll` = 0). An executor with an
//! IOPOLL request in flight cannot park: it spins until the request
//! completes, and with one busy executor per core that spinning starves the
//! kernel threads that complete the write (io-wq, jbd2). With `--shards 2`
//! on two cores that stalled the brain (commits of seconds, BENCHMARKS.md).
//! Durability is unchanged: the WAL still writes whole sectors at sector
//! offsets, and a commit returns only once its bytes are on stable storage.
//!
//! Files are opened `O_DSYNC`: a write completes once its data (and the
//! metadata needed to read it back) is durable, as if an fdatasync
//! followed it. A commit is then one io_uring operation instead of a write
//! and an fdatasync handed to the kernel's workers one after the other, and
//! [`DiskFile::sync`] runs an fdatasync only for a file just opened (what
//! an earlier process wrote may still be in the page cache only) or whose
//! size or allocation changed since the last one.

use glommio::io::{BufferedFile, Directory, OpenOptions};
use sipbrain_storage::disk::{Disk, DiskFile, SECTOR_BYTES};
use std::cell::Cell;
use std::io;
use std::path::PathBuf;

/// One shard's directory.
#[derive(Clone, Debug)]
pub struct GlommioDisk {
    dir: PathBuf,
}

impl GlommioDisk {
    /// The disk rooted at `dir` (created if missing).
    pub fn new(dir: PathBuf) -> io::Result<GlommioDisk> {
        std::fs::create_dir_all(&dir)?;
        Ok(GlommioDisk { dir })
    }
}

/// An open file.
#[derive(Debug)]
pub struct GlommioFile {
    file: BufferedFile,
    /// The file may hold what is not yet durable, so the next sync must
    /// run an fdatasync: it was opened (a process that crashed mid-write may
    /// have left bytes in the page cache only; rule 15 syncs before
    /// reading), or allocated or truncated since (`O_DSYNC` covers writes
    /// only).
    unsynced: Cell<bool>,
    /// A write, allocate, truncate or fdatasync failed: what the file holds
    /// is not known, and with `O_DSYNC` the error was the write's to
    /// report, so no later fdatasync would. Every sync fails from then on
    /// (never retried, rule 16).
    failed: Cell<bool>,
}

impl GlommioFile {
    fn new(file: BufferedFile, unsynced: bool) -> GlommioFile {
        GlommioFile {
            file,
            unsynced: Cell::new(unsynced),
            failed: Cell::new(false),
        }
    }

    /// Notes a failed change to the file (see `failed`).
    fn check<T>(&self, result: io::Result<T>) -> io::Result<T> {
        if result.is_err() {
            self.failed.set(true);
        }
        result
    }
}

fn to_io(error: glommio::GlommioError<()>) -> io::Error {
    io::Error::other(error.to_string())
}

impl Disk for GlommioDisk {
    type File = GlommioFile;

    async fn create(&self, name: &str) -> io::Result<GlommioFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_DSYNC)
            .buffered_open(self.dir.join(name))
            .await
            .map_err(to_io)?;
        Ok(GlommioFile::new(file, false))
    }

    async fn open(&self, name: &str) -> io::Result<GlommioFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_DSYNC)
            .buffered_open(self.dir.join(name))
            .await
            .map_err(to_io)?;
        Ok(GlommioFile::new(file, true))
    }

    async fn list(&self) -> io::Result<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)?
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| entry.file_name().into_string().ok())
            .collect();
        names.sort();
        Ok(names)
    }

    async fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        glommio::io::rename(self.dir.join(from), self.dir.join(to))
            .await
            .map_err(to_io)
    }

    async fn remove(&self, name: &str) -> io::Result<()> {
        glommio::io::remove(self.dir.join(name))
            .await
            .map_err(to_io)
    }

    async fn sync_dir(&self) -> io::Result<()> {
        let dir = Directory::open(&self.dir).await.map_err(to_io)?;
        dir.sync().await.map_err(to_io)?;
        dir.close().await.map_err(to_io)
    }
}

impl DiskFile for GlommioFile {
    async fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        assert_eq!(offset % SECTOR_BYTES, 0, "WAL writes start on a sector");
        assert_eq!(
            bytes.len() as u64 % SECTOR_BYTES,
            0,
            "WAL writes are whole sectors"
        );
        let len = bytes.len();
        // io_uring needs a buffer it owns until the write completes.
        let written = self
            .file
            .write_at(bytes.to_vec(), offset)
            .await
            .map_err(to_io);
        self.check(written.and_then(|written| {
            if written == len {
                Ok(())
            } else {
                Err(io::Error::other(format!(
                    "short write: {written} of {len} bytes"
                )))
            }
        }))
    }

    async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let read = self.file.read_at(offset, len).await.map_err(to_io)?;
        Ok(read.to_vec())
    }

    async fn sync(&self) -> io::Result<()> {
        if self.failed.get() {
            return Err(io::Error::other(
                "an earlier write, allocate, truncate or sync of this file failed",
            ));
        }
        // Every completed write is already durable (O_DSYNC).
        if !self.unsynced.get() {
            return Ok(());
        }
        let synced = self.file.fdatasync().await.map_err(to_io);
        self.check(synced)?;
        self.unsynced.set(false);
        Ok(())
    }

    async fn len(&self) -> io::Result<u64> {
        self.file.file_size().await.map_err(to_io)
    }

    async fn allocate(&self, len: u64) -> io::Result<()> {
        self.unsynced.set(true);
        let allocated = self.file.pre_allocate(len, false).await.map_err(to_io);
        self.check(allocated)
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        self.unsynced.set(true);
        let truncated = self.file.truncate(len).await.map_err(to_io);
        self.check(truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glommio::{LocalExecutorBuilder, Placement};
    use std::os::fd::AsRawFd;

    fn status_flags(file: &GlommioFile) -> libc::c_int {
        // SAFETY: F_GETFL on an open descriptor reads its flags only.
        unsafe { libc::fcntl(file.file.as_raw_fd(), libc::F_GETFL) }
    }

    /// `sync` skips the fdatasync after writes: that is only sound while
    /// every file is opened `O_DSYNC`, and while opening, allocating and
    /// truncating still make the next sync a real one.
    #[test]
    fn files_write_durably_because_they_are_opened_o_dsync() {
        let dir = std::env::temp_dir().join(format!("sipbrain-disk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let handle = LocalExecutorBuilder::new(Placement::Unbound)
            .spawn({
                let dir = dir.clone();
                move || async move {
                    let disk = GlommioDisk::new(dir).expect("dir");
                    let created = disk.create("a").await.expect("create");
                    assert!(!created.unsynced.get(), "a new file holds nothing");
                    created.allocate(SECTOR_BYTES).await.expect("allocate");
                    assert!(created.unsynced.get(), "an allocation needs a sync");
                    created.sync().await.expect("sync");
                    assert!(!created.unsynced.get());
                    created.write_at(0, &[7; 4096]).await.expect("write");
                    assert!(!created.unsynced.get(), "an O_DSYNC write is durable");
                    created.truncate(0).await.expect("truncate");
                    assert!(created.unsynced.get(), "a truncate needs a sync");
                    let opened = disk.open("a").await.expect("open");
                    assert!(opened.unsynced.get(), "synced before it is read");
                    opened.sync().await.expect("sync");
                    assert!(!opened.unsynced.get());
                    // After a failed write (here: noted by hand), no sync
                    // reports the file durable again.
                    let failed = opened.check::<()>(Err(io::Error::other("EIO")));
                    assert!(failed.is_err());
                    assert!(opened.sync().await.is_err());
                    assert!(opened.sync().await.is_err(), "never retried");
                    [status_flags(&created), status_flags(&opened)]
                }
            })
            .expect("executor");
        let flags = handle.join().expect("join");
        std::fs::remove_dir_all(&dir).expect("clean up");
        for flag in flags {
            assert_eq!(flag & libc::O_DSYNC, libc::O_DSYNC, "flags {flag:#o}");
        }
    }
}
