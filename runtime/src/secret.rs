//! Secrets of the running server: the nonce-signing key (kept in the data
//! directory so nonces outlive a restart) and generated demo tokens.

use rand::RngCore;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

const NONCE_KEY_FILE: &str = "nonce.key";

/// Reads `<data_dir>/nonce.key`, creating it (atomically) on first start.
pub fn load_or_create_nonce_key(data_dir: &Path) -> Result<[u8; 32], String> {
    fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create data dir {}: {e}", data_dir.display()))?;
    let path = data_dir.join(NONCE_KEY_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let bytes =
                hex::decode(text.trim()).map_err(|_| format!("{} is not hex", path.display()))?;
            bytes
                .try_into()
                .map_err(|_| format!("{} must hold 32 bytes", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            write_atomically(data_dir, NONCE_KEY_FILE, hex::encode(key).as_bytes())?;
            Ok(key)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Writes `name` in `dir` as temp file, fsync, rename, fsync of the directory.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let temp = dir.join(format!("{name}.tmp"));
    let target = dir.join(name);
    let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", target.display());
    let mut file = File::create(&temp).map_err(|e| fail("cannot create", e))?;
    file.write_all(bytes).map_err(|e| fail("cannot write", e))?;
    file.sync_all().map_err(|e| fail("cannot sync", e))?;
    fs::rename(&temp, &target).map_err(|e| fail("cannot rename", e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail("cannot sync the directory of", e))?;
    Ok(())
}

/// A random token (32 hex chars) for demo mode.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}
