//! The `Disk` trait: one directory of files, the only way this crate
//! touches storage.
//!
//! The runtime implements it over glommio files (io_uring, buffered,
//! `O_DSYNC`: `runtime/src/store/disk.rs`); the simulator and the tests
//! use [`crate::mem_disk::MemDisk`]. The trait is async and
//! single-threaded: futures need not be `Send`, and a shard owns its disk.
//!
//! Writes are whole sectors at sector-aligned offsets (Direct I/O rules);
//! reads may be any range and come back short at end of file.

use std::io;

/// The write unit: every `write_at` offset and length is a multiple of it.
///
/// 4 KiB covers the logical block size of every disk we target (512 B and
/// 4 KiB), so a sector written here never shares a device block with
/// another write.
pub const SECTOR_BYTES: u64 = 4096;

/// One directory of files (a shard's WAL segments and snapshots).
///
/// Names are flat (no `/`). Directory changes (`create`, `rename`,
/// `remove`) are durable only after [`Disk::sync_dir`].
#[allow(async_fn_in_trait)]
pub trait Disk {
    /// An open file of this disk.
    type File: DiskFile;

    /// Creates a new empty file; fails with `AlreadyExists` if `name` exists.
    async fn create(&self, name: &str) -> io::Result<Self::File>;

    /// Opens an existing file for reading and writing; `NotFound` if absent.
    async fn open(&self, name: &str) -> io::Result<Self::File>;

    /// Names of all files in the directory, sorted.
    async fn list(&self) -> io::Result<Vec<String>>;

    /// Renames `from` to `to`, atomically replacing `to` if it exists.
    async fn rename(&self, from: &str, to: &str) -> io::Result<()>;

    /// Removes `name`.
    async fn remove(&self, name: &str) -> io::Result<()>;

    /// Makes every earlier create, rename and remove durable (fsync of the
    /// directory).
    async fn sync_dir(&self) -> io::Result<()>;
}

/// An open file. Handles stay valid across a rename of the file.
#[allow(async_fn_in_trait)]
#[allow(clippy::len_without_is_empty)] // `len` is a size, not a collection's
pub trait DiskFile {
    /// Writes `bytes` at `offset`. Both `offset` and `bytes.len()` must be
    /// multiples of [`SECTOR_BYTES`] (implementations assert it). Not
    /// durable until [`DiskFile::sync`] returns `Ok`.
    async fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()>;

    /// Reads up to `len` bytes at `offset`; shorter only at end of file.
    async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>>;

    /// Makes earlier writes, truncates and allocations durable (fdatasync).
    /// After an error nothing about earlier writes is known: never retry.
    async fn sync(&self) -> io::Result<()>;

    /// The file's length in bytes.
    async fn len(&self) -> io::Result<u64>;

    /// Grows the file to at least `len` bytes; the new bytes read as zeros
    /// (fallocate, not keeping the size).
    async fn allocate(&self, len: u64) -> io::Result<()>;

    /// Sets the file's length to `len`, dropping or zero-extending its end.
    async fn truncate(&self, len: u64) -> io::Result<()>;
}

/// Largest single read [`read_all`] issues (sector aligned), so a 64 MiB
/// segment never needs one 64 MiB DMA buffer.
pub const READ_CHUNK_BYTES: usize = 1 << 20;

/// Reads a whole file, in chunks of [`READ_CHUNK_BYTES`] at aligned
/// offsets. A file that ends before its length is an error.
pub async fn read_all<F: DiskFile>(file: &F) -> io::Result<Vec<u8>> {
    let len = usize::try_from(file.len().await?).expect("a segment or snapshot fits in memory");
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        let want = (len - data.len()).min(READ_CHUNK_BYTES);
        let chunk = file.read_at(data.len() as u64, want).await?;
        if chunk.is_empty() {
            let message = format!("file ended at {} of {len} bytes", data.len());
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, message));
        }
        assert!(
            chunk.len() <= want,
            "read_at returns at most what was asked"
        );
        data.extend_from_slice(&chunk);
    }
    assert_eq!(data.len(), len);
    Ok(data)
}

/// Asserts the Direct I/O write rule: a sector-aligned offset and a whole
/// number of sectors. Every [`DiskFile`] implementation calls it.
pub fn assert_sector_write(offset: u64, len: usize) {
    assert_eq!(
        offset % SECTOR_BYTES,
        0,
        "write offset {offset} is not sector aligned"
    );
    assert_eq!(
        len as u64 % SECTOR_BYTES,
        0,
        "write length {len} is not whole sectors"
    );
    assert!(len > 0, "empty write at {offset}");
}

/// Rounds `bytes` up to a whole number of sectors.
pub fn sector_round_up(bytes: u64) -> u64 {
    let rounded = bytes.div_ceil(SECTOR_BYTES) * SECTOR_BYTES;
    assert!(rounded >= bytes && rounded - bytes < SECTOR_BYTES);
    rounded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sector_round_up_keeps_aligned_values_and_rounds_others_up() {
        assert_eq!(sector_round_up(0), 0);
        assert_eq!(sector_round_up(1), SECTOR_BYTES);
        assert_eq!(sector_round_up(SECTOR_BYTES), SECTOR_BYTES);
        assert_eq!(sector_round_up(SECTOR_BYTES + 1), 2 * SECTOR_BYTES);
    }

    #[test]
    fn read_all_reads_a_file_larger_than_one_chunk() {
        use crate::mem_disk::MemDisk;
        use futures_lite::future::block_on;
        let disk = MemDisk::new();
        let file = block_on(disk.create("big")).expect("created");
        let bytes: Vec<u8> = (0..READ_CHUNK_BYTES + 8192)
            .map(|i| (i % 251) as u8)
            .collect();
        block_on(file.write_at(0, &bytes)).expect("written");
        assert_eq!(block_on(read_all(&file)).expect("read"), bytes);
    }

    #[test]
    #[should_panic(expected = "not sector aligned")]
    fn an_unaligned_write_offset_is_a_bug() {
        assert_sector_write(512, 4096);
    }
}
