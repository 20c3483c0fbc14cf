//! Small shared helpers: atomic writes, output folders, interrupt cleanup, data-directory lookup.

pub mod interrupt;
pub mod outdir;

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Write `bytes` to `path` via a partial file next to it and a rename, so a crash or error
/// never leaves a half-written file behind. The file gets the usual permissions of a new file
/// (0666 minus the umask); an interrupt removes the partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(
        "{name}.yoloq-partial-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let guard = interrupt::Pending::new(&tmp);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        std::fs::rename(&tmp, path)
    })();
    drop(guard);
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
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
