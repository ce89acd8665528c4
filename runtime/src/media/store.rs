//! Objects as files under the media dir, through glommio (io_uring), so
//! a shard's executor never blocks on the disk.

use glommio::io::{BufferedFile, Directory, OpenOptions};
use std::cell::Cell;
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// The temp directory inside the media dir.
const TEMP_DIR: &str = ".tmp";

/// One shard's handle on the media dir (every shard shares the directory;
/// temp names carry the process id and the shard).
#[derive(Debug)]
pub struct MediaStore {
    root: PathBuf,
    shard: usize,
    next_temp: Cell<u64>,
}

/// An open object.
pub struct Object {
    file: BufferedFile,
    pub size: u64,
    /// `sipbrain_core::api::media::etag` of the file.
    pub etag: String,
}

/// A temp file being written.
pub struct Upload {
    file: BufferedFile,
    path: PathBuf,
    pub written: u64,
}

/// Why an object could not be committed.
#[derive(Debug)]
pub enum CommitError {
    /// The key collides with an object or a directory (`a` vs `a/b`).
    Conflict(String),
    Io(io::Error),
}

fn to_io(error: glommio::GlommioError<()>) -> io::Error {
    io::Error::from(error)
}

/// Creates the media dir and its temp dir, and removes what a crash left
/// in the temp dir. Runs once at start, before the executors.
pub fn prepare(root: &Path) -> Result<(), String> {
    let temp = root.join(TEMP_DIR);
    std::fs::create_dir_all(&temp)
        .map_err(|e| format!("cannot create the media dir {}: {e}", temp.display()))?;
    let entries =
        std::fs::read_dir(&temp).map_err(|e| format!("cannot list {}: {e}", temp.display()))?;
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let result = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        result.map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
        removed += 1;
    }
    if removed > 0 {
        tracing::info!(removed, dir = %temp.display(), "removed unfinished uploads");
    }
    Ok(())
}

impl MediaStore {
    pub fn new(root: PathBuf, shard: usize) -> MediaStore {
        MediaStore {
            root,
            shard,
            next_temp: Cell::new(0),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        debug_assert!(sipbrain_core::media::key::check(key).is_ok(), "checked key");
        self.root.join(key)
    }

    /// Opens the object at `key`; `None` when there is none (or the key
    /// names a directory).
    pub async fn open(&self, key: &str) -> io::Result<Option<Object>> {
        let file = match BufferedFile::open(self.path(key)).await {
            Ok(file) => file,
            Err(error) => {
                let error = to_io(error);
                return match error.kind() {
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Ok(None),
                    _ => Err(error),
                };
            }
        };
        let Some((size, etag)) = describe(&file)? else {
            let _ = file.close().await;
            return Ok(None);
        };
        Ok(Some(Object { file, size, etag }))
    }

    /// True when an object exists at `key`.
    pub async fn exists(&self, key: &str) -> io::Result<bool> {
        match self.open(key).await? {
            Some(object) => {
                object.close().await;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// A fresh temp path (nothing is created).
    pub fn temp_path(&self) -> PathBuf {
        let n = self.next_temp.get();
        self.next_temp.set(n + 1);
        let name = format!("{}-{}-{n}.part", std::process::id(), self.shard);
        self.root.join(TEMP_DIR).join(name)
    }

    /// Creates a temp file to write an upload to.
    pub async fn upload(&self) -> io::Result<Upload> {
        let path = self.temp_path();
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .buffered_open(&path)
            .await
            .map_err(to_io)?;
        Ok(Upload {
            file,
            path,
            written: 0,
        })
    }

    /// Makes an upload the object at `key`: fsync, rename, fsync the
    /// directories the rename and any new parent touched.
    pub async fn commit(&self, upload: Upload, key: &str) -> Result<(), CommitError> {
        let synced = upload.file.fdatasync().await.map_err(to_io);
        let closed = upload.file.close().await.map_err(to_io);
        if let Err(error) = synced.and(closed) {
            self.discard_path(&upload.path).await;
            return Err(CommitError::Io(error));
        }
        self.commit_path(&upload.path, key).await
    }

    /// Makes a complete temp file (written by someone else, e.g. the TTS
    /// engine) the object at `key`: fsync it, then as [`Self::commit`].
    /// The temp file is removed on failure.
    pub async fn commit_file(&self, temp: &Path, key: &str) -> Result<(), CommitError> {
        let synced = async {
            let file = OpenOptions::new()
                .write(true)
                .buffered_open(temp)
                .await
                .map_err(to_io)?;
            let synced = file.fdatasync().await.map_err(to_io);
            let closed = file.close().await.map_err(to_io);
            synced.and(closed)
        }
        .await;
        if let Err(error) = synced {
            self.discard_path(temp).await;
            return Err(CommitError::Io(error));
        }
        self.commit_path(temp, key).await
    }

    async fn commit_path(&self, temp: &Path, key: &str) -> Result<(), CommitError> {
        let result = self.rename_into_place(temp, key).await;
        if result.is_err() {
            self.discard_path(temp).await;
        }
        result
    }

    async fn rename_into_place(&self, temp: &Path, key: &str) -> Result<(), CommitError> {
        let target = self.path(key);
        let conflict = |what: &str| CommitError::Conflict(format!("{key}: {what}"));
        let mut to_sync = self.create_parents(key).await.map_err(|e| match e.kind() {
            io::ErrorKind::NotADirectory | io::ErrorKind::AlreadyExists => {
                conflict("a parent of this key is an object")
            }
            _ => CommitError::Io(e),
        })?;
        glommio::io::rename(temp, &target).await.map_err(|e| {
            let e = to_io(e);
            match e.kind() {
                io::ErrorKind::IsADirectory | io::ErrorKind::DirectoryNotEmpty => {
                    conflict("other objects are below this key")
                }
                _ => CommitError::Io(e),
            }
        })?;
        let parent = target
            .parent()
            .expect("an object is below the root")
            .to_path_buf();
        if !to_sync.contains(&parent) {
            to_sync.push(parent);
        }
        for dir in to_sync {
            sync_dir(&dir).await.map_err(CommitError::Io)?;
        }
        Ok(())
    }

    /// Creates the missing directories of `key`'s parents; returns the
    /// directories whose entries changed (the parents of those created).
    async fn create_parents(&self, key: &str) -> io::Result<Vec<PathBuf>> {
        let mut changed = Vec::new();
        let mut dir = self.root.clone();
        let segments: Vec<&str> = key.split('/').collect();
        for segment in &segments[..segments.len() - 1] {
            let parent = dir.clone();
            dir.push(segment);
            match Directory::open(&dir).await {
                Ok(opened) => {
                    opened.close().await.map_err(to_io)?;
                    continue;
                }
                Err(error) => {
                    let error = to_io(error);
                    if error.kind() != io::ErrorKind::NotFound {
                        return Err(error);
                    }
                }
            }
            let created = Directory::create(&dir).await.map_err(to_io)?;
            created.close().await.map_err(to_io)?;
            if !changed.contains(&parent) {
                changed.push(parent);
            }
        }
        Ok(changed)
    }

    /// Removes an unfinished upload.
    pub async fn discard(&self, upload: Upload) {
        let _ = upload.file.close().await;
        self.discard_path(&upload.path).await;
    }

    /// Removes a temp file (best effort: the next start empties `.tmp`).
    pub async fn discard_path(&self, temp: &Path) {
        if let Err(error) = glommio::io::remove(temp).await {
            let error = to_io(error);
            if error.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %temp.display(), %error, "cannot remove a temp file");
            }
        }
    }
}

impl Object {
    /// Up to `len` bytes from `pos` (fewer only at the end of the file).
    pub async fn read(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        let read = self.file.read_at(pos, len).await.map_err(to_io)?;
        Ok(read.to_vec())
    }

    pub async fn close(self) {
        let _ = self.file.close().await;
    }
}

impl Upload {
    /// Appends bytes. A short write (the disk is full) is an error: the
    /// upload is then discarded, never committed.
    pub async fn write(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        let len = bytes.len();
        if len == 0 {
            return Ok(());
        }
        let written = self
            .file
            .write_at(bytes, self.written)
            .await
            .map_err(to_io)?;
        self.written += written as u64;
        if written != len {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write: {written} of {len} bytes (is the disk full?)"),
            ));
        }
        Ok(())
    }
}

/// Size and entity tag of an open regular file; `None` for anything else.
/// One `fstat` of the open descriptor: the inode is in memory once the
/// file is open, so this reads no disk.
fn describe(file: &BufferedFile) -> io::Result<Option<(u64, String)>> {
    // SAFETY: fstat writes only into the zeroed struct we own, and the
    // descriptor stays open for the call (we hold `file`).
    let stat = unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        if libc::fstat(file.as_raw_fd(), &mut stat) != 0 {
            return Err(io::Error::last_os_error());
        }
        stat
    };
    if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Ok(None);
    }
    let size = stat.st_size as u64;
    let mtime_ns =
        (stat.st_mtime as i128 * 1_000_000_000 + stat.st_mtime_nsec as i128).max(0) as u128;
    let etag = sipbrain_core::api::media::etag(size, mtime_ns, stat.st_ino);
    Ok(Some((size, etag)))
}

async fn sync_dir(dir: &Path) -> io::Result<()> {
    let opened = Directory::open(dir).await.map_err(to_io)?;
    let synced = opened.sync().await.map_err(to_io);
    let closed = opened.close().await.map_err(to_io);
    synced.and(closed)
}

impl MediaStore {
    /// The first `len` bytes of a file and its size (a temp file the TTS
    /// engine wrote).
    pub async fn read_head(&self, path: &Path, len: usize) -> io::Result<(Vec<u8>, u64)> {
        let file = BufferedFile::open(path).await.map_err(to_io)?;
        let result = async {
            let size = file.file_size().await.map_err(to_io)?;
            let head = file.read_at(0, len).await.map_err(to_io)?;
            Ok((head.to_vec(), size))
        }
        .await;
        let _ = file.close().await;
        result
    }
}
