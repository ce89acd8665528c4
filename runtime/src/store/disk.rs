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
//! Durability is unchanged: every commit is one write and one fdatasync,
//! and the WAL still writes whole sectors at sector offsets.

use glommio::io::{BufferedFile, Directory, OpenOptions};
use sipbrain_storage::disk::{Disk, DiskFile, SECTOR_BYTES};
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
            .buffered_open(self.dir.join(name))
            .await
            .map_err(to_io)?;
        Ok(GlommioFile { file })
    }

    async fn open(&self, name: &str) -> io::Result<GlommioFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .buffered_open(self.dir.join(name))
            .await
            .map_err(to_io)?;
        Ok(GlommioFile { file })
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
        self.write_owned_at(offset, bytes.to_vec()).await
    }

    async fn write_owned_at(&self, offset: u64, bytes: Vec<u8>) -> io::Result<()> {
        assert_eq!(offset % SECTOR_BYTES, 0, "WAL writes start on a sector");
        assert_eq!(
            bytes.len() as u64 % SECTOR_BYTES,
            0,
            "WAL writes are whole sectors"
        );
        let len = bytes.len();
        let written = self.file.write_at(bytes, offset).await.map_err(to_io)?;
        if written != len {
            return Err(io::Error::other(format!(
                "short write: {written} of {len} bytes"
            )));
        }
        Ok(())
    }

    async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let read = self.file.read_at(offset, len).await.map_err(to_io)?;
        Ok(read.to_vec())
    }

    async fn sync(&self) -> io::Result<()> {
        self.file.fdatasync().await.map_err(to_io)
    }

    async fn len(&self) -> io::Result<u64> {
        self.file.file_size().await.map_err(to_io)
    }

    async fn allocate(&self, len: u64) -> io::Result<()> {
        self.file.pre_allocate(len, false).await.map_err(to_io)
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.truncate(len).await.map_err(to_io)
    }
}
