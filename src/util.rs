//! Small shared helpers: atomic writes, data-directory lookup.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` via a temporary file in the same directory and a rename,
/// so a crash or error never leaves a half-written file behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| Error::io(&dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Write a UTF-8 string atomically.
pub fn write_atomic_str(path: &Path, s: &str) -> Result<()> {
    write_atomic(path, s.as_bytes())
}

/// The shared data directory (`YOLOQ_DATA_DIR`), if set and present.
pub fn data_dir() -> Option<PathBuf> {
    let d = std::env::var_os("YOLOQ_DATA_DIR")?;
    let p = PathBuf::from(d);
    p.is_dir().then_some(p)
}
