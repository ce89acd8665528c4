//! The data directory:
//!
//! ```text
//! <data-dir>/
//!   nonce.key            the nonce-signing secret (hex)
//!   meta.json            {"format":1,"generation":G,"shards":N}, replaced atomically
//!   gen-<G>/shard-<i>/   shard i's WAL segments and snapshots (storage crate)
//! ```
//!
//! `--shards` may change between runs: the store is re-partitioned into a
//! new generation (written and synced in full), then `meta.json` is
//! switched to it in one rename, and only then is the old one removed. A
//! crash at any point leaves either the old or the new generation in force.

use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// On-disk layout version of the data directory.
pub const FORMAT: u32 = 1;

/// What `meta.json` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub format: u32,
    pub generation: u64,
    pub shards: usize,
}

/// Reads `meta.json`; `None` for a fresh data dir.
pub fn read_meta(data_dir: &Path) -> Result<Option<Meta>, String> {
    let path = data_dir.join("meta.json");
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let meta: Meta = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.format != FORMAT {
        return Err(format!(
            "{}: format {} is not {FORMAT}",
            path.display(),
            meta.format
        ));
    }
    Ok(Some(meta))
}

/// Replaces `meta.json` atomically (temp, fsync, rename, fsync the dir).
pub fn write_meta(data_dir: &Path, meta: &Meta) -> Result<(), String> {
    let temp = data_dir.join("meta.json.tmp");
    let fail =
        |what: &str, e: std::io::Error| format!("{what} meta.json in {}: {e}", data_dir.display());
    let mut file = File::create(&temp).map_err(|e| fail("cannot create", e))?;
    let text = serde_json::to_string(meta).expect("meta serializes");
    file.write_all(text.as_bytes())
        .map_err(|e| fail("cannot write", e))?;
    file.sync_all().map_err(|e| fail("cannot sync", e))?;
    fs::rename(&temp, data_dir.join("meta.json")).map_err(|e| fail("cannot rename", e))?;
    sync_dir(data_dir).map_err(|e| fail("cannot sync the directory of", e))
}

/// fsync of a directory (makes creates, renames and removes durable).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory of shard `shard` in generation `generation`.
pub fn shard_dir(data_dir: &Path, generation: u64, shard: usize) -> PathBuf {
    data_dir
        .join(format!("gen-{generation}"))
        .join(format!("shard-{shard}"))
}

/// Removes generation directories other than `keep` (left by a finished
/// or interrupted re-partitioning).
pub fn remove_other_generations(data_dir: &Path, keep: u64) -> Result<(), String> {
    let entries =
        fs::read_dir(data_dir).map_err(|e| format!("cannot list {}: {e}", data_dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(generation) = name
            .strip_prefix("gen-")
            .and_then(|g| g.parse::<u64>().ok())
        else {
            continue;
        };
        if generation != keep {
            fs::remove_dir_all(entry.path()).map_err(|e| format!("cannot remove {name}: {e}"))?;
        }
    }
    sync_dir(data_dir).map_err(|e| format!("cannot sync {}: {e}", data_dir.display()))
}
