//! The storage crate's `Disk` over glommio: O_DIRECT DMA files driven by
//! io_uring, so WAL and snapshot I/O never blocks a shard's executor.
//! (Listing a directory at start-up is a plain `read_dir`.)

use glommio::io::{Directory, DmaFile, OpenOptions};
use sipbrain_storage::disk::{Disk, DiskFile};
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

/// An open DMA file.
#[derive(Debug)]
pub struct GlommioFile {
    file: DmaFile,
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
            .dma_open(self.dir.join(name))
            .await
            .map_err(to_io)?;
        Ok(GlommioFile { file })
    }

    async fn open(&self, name: &str) -> io::Result<GlommioFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .dma_open(self.dir.join(name))
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
        let alignment = self.file.alignment();
        assert_eq!(offset % alignment, 0, "WAL writes start on a sector");
        assert_eq!(
            bytes.len() as u64 % alignment,
            0,
            "WAL writes are whole sectors"
        );
        let mut buffer = self.file.alloc_dma_buffer(bytes.len());
        buffer.as_bytes_mut().copy_from_slice(bytes);
        let written = self.file.write_at(buffer, offset).await.map_err(to_io)?;
        if written != bytes.len() {
            return Err(io::Error::other(format!(
                "short write: {written} of {} bytes",
                bytes.len()
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
