//! Output folders: yoloq-gen writes only into a folder that is new, empty, or its own, and
//! never deletes or overwrites anything it did not write.
//!
//! The rule ([`check`]): an existing, non-empty folder is accepted only when it holds our
//! marker file ([`MARKER`], the list of files a previous run wrote) or an emitted design's
//! `manifest.json`; `--force` accepts any folder, and even then only our own file names are
//! replaced. A command builds its output in a [`Staging`] folder inside the output folder and
//! moves the files into place at the end ([`Staging::commit`]), removing files that the
//! previous run listed in its marker and this run did not write again; an error or an
//! interrupt removes the staging folder.

use super::interrupt::Pending;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The marker file: which command wrote the folder and which files it wrote.
pub const MARKER: &str = "yoloq-outputs.json";

#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Marker {
    pub written_by: String,
    pub command: String,
    /// Paths relative to the folder, `/`-separated.
    pub files: Vec<String>,
}

const WRITTEN_BY: &str = "yoloq-gen";

/// The marker of `dir`, if it holds one of ours.
pub fn read_marker(dir: &Path) -> Option<Marker> {
    let s = std::fs::read_to_string(dir.join(MARKER)).ok()?;
    let m: Marker = serde_json::from_str(&s).ok()?;
    (m.written_by == WRITTEN_BY).then_some(m)
}

/// True when `dir` holds an emitted design's manifest (written by `yoloq-gen emit`).
fn has_design_manifest(dir: &Path) -> bool {
    let Ok(s) = std::fs::read_to_string(dir.join("manifest.json")) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&s).is_ok_and(|v| {
        ["top", "layers", "frame_cycles", "rtl"]
            .iter()
            .all(|k| v.get(k).is_some())
    })
}

/// Whether a folder exists, is empty, or was written by us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// Missing or empty.
    Free,
    /// Holds our marker or a design manifest.
    Ours,
    /// Non-empty and not ours.
    Foreign,
}

/// Classify `dir` (an error if it exists and is not a folder).
pub fn ownership(dir: &Path, flag: &str) -> Result<Ownership> {
    if !dir.exists() {
        return Ok(Ownership::Free);
    }
    if !dir.is_dir() {
        return Err(Error::arg(
            flag,
            format!(
                "{} is a file, not a folder; choose a folder name",
                dir.display()
            ),
        ));
    }
    let mut entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    if entries.next().is_none() {
        return Ok(Ownership::Free);
    }
    if read_marker(dir).is_some() || has_design_manifest(dir) {
        Ok(Ownership::Ours)
    } else {
        Ok(Ownership::Foreign)
    }
}

/// The output-folder rule: refuse a non-empty folder that yoloq-gen did not write, unless `force`.
pub fn check(dir: &Path, flag: &str, force: bool) -> Result<()> {
    match ownership(dir, flag)? {
        Ownership::Foreign if !force => Err(Error::arg(
            flag,
            format!(
                "{} is not empty and was not written by yoloq-gen (no {MARKER}); choose a new or empty folder, or add --force to write into it (only yoloq-gen's own files are replaced, nothing else is deleted)",
                shown(dir)
            ),
        )),
        _ => Ok(()),
    }
}

/// The rule for an emitted design's folder: [`check`], and in addition a `manifest.json` that is
/// not a design manifest of ours is refused even with `force` (emitting over a design manifest
/// replaces the `rtl/`, `mem/` and `tb/` folders it lists).
pub fn check_design(dir: &Path, flag: &str, force: bool) -> Result<()> {
    check(dir, flag, force)?;
    if dir.join("manifest.json").exists() && !has_design_manifest(dir) {
        return Err(Error::arg(
            flag,
            format!(
                "{} holds a manifest.json that yoloq-gen did not write; choose a new or empty folder",
                dir.display()
            ),
        ));
    }
    Ok(())
}

/// `dir` as given, with its absolute form when that says more (e.g. for `.`).
fn shown(dir: &Path) -> String {
    match std::fs::canonicalize(dir) {
        Ok(abs) if abs != dir => format!("{} ({})", dir.display(), abs.display()),
        _ => dir.display().to_string(),
    }
}

/// Write (or extend) the marker of `dir` for `command` with `files` (relative paths).
pub fn write_marker(dir: &Path, command: &str, files: &[String]) -> Result<()> {
    let mut all: Vec<String> = read_marker(dir).map(|m| m.files).unwrap_or_default();
    for f in files {
        if !all.contains(f) {
            all.push(f.clone());
        }
    }
    let m = Marker {
        written_by: WRITTEN_BY.into(),
        command: command.into(),
        files: all,
    };
    let s = serde_json::to_string_pretty(&m).map_err(|e| Error::Other(e.to_string()))?;
    super::write_atomic_str(&dir.join(MARKER), &(s + "\n"))
}

/// A folder inside the output folder where a command builds its files before they are moved
/// into place. Dropped without [`Staging::commit`] (error, panic), it is removed, and so is
/// the output folder when this run created it and it is still empty.
#[derive(Debug)]
pub struct Staging {
    out: PathBuf,
    dir: PathBuf,
    command: String,
    created_out: bool,
    _guard: Pending,
    _out_guard: Option<Pending>,
}

impl Staging {
    /// Create the staging folder `OUT/yoloq-partial-<pid>` (and `OUT` if needed).
    pub fn begin(out: &Path, command: &str) -> Result<Staging> {
        let created_out = !out.exists();
        let out_guard = created_out.then(|| Pending::if_empty(out));
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let dir = out.join(format!("yoloq-partial-{}", std::process::id()));
        let guard = Pending::new(&dir);
        if read_marker(out).is_some() {
            remove_leftover_staging(out);
        }
        std::fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Staging {
            out: out.to_path_buf(),
            dir,
            command: command.into(),
            created_out,
            _guard: guard,
            _out_guard: out_guard,
        })
    }

    /// Where the command writes its files.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Move every staged file into the output folder (replacing files of the same name), remove
    /// the files the previous run of ours listed and this one did not write, write the marker.
    /// Returns the relative paths written.
    pub fn commit(self) -> Result<Vec<String>> {
        let mut files = Vec::new();
        list_files(&self.dir, &self.dir, &mut files)?;
        files.sort();
        let old = read_marker(&self.out).map(|m| m.files).unwrap_or_default();
        // The marker first: an interrupt while files move leaves a folder that is still ours.
        let m = Marker {
            written_by: WRITTEN_BY.into(),
            command: self.command.clone(),
            files: files.clone(),
        };
        let s = serde_json::to_string_pretty(&m).map_err(|e| Error::Other(e.to_string()))?;
        super::write_atomic_str(&self.out.join(MARKER), &(s + "\n"))?;
        for stale in old.iter().filter(|f| !files.contains(f)) {
            let p = self.out.join(stale);
            if p.is_file() {
                std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
                remove_empty_parents(&p, &self.out);
            }
        }
        for rel in &files {
            let (src, dst) = (self.dir.join(rel), self.out.join(rel));
            if let Some(parent) = dst.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            if dst.is_dir() {
                return Err(Error::Other(format!(
                    "{} is a folder where yoloq-gen writes a file; move it away and re-run",
                    dst.display()
                )));
            }
            std::fs::rename(&src, &dst).map_err(|e| Error::io(&dst, e))?;
        }
        Ok(files)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.dir.exists() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        if self.created_out && std::fs::read_dir(&self.out).is_ok_and(|mut d| d.next().is_none()) {
            let _ = std::fs::remove_dir(&self.out);
        }
    }
}

/// Remove `yoloq-partial-*` folders that a killed run of ours left in one of our folders.
fn remove_leftover_staging(out: &Path) {
    let Ok(rd) = std::fs::read_dir(out) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let ours = e
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with("yoloq-partial-"));
        if ours && p.is_dir() {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let p = e.map_err(|e| Error::io(dir, e))?.path();
        if p.is_dir() {
            list_files(root, &p, out)?;
        } else {
            let rel = p.strip_prefix(root).expect("under root");
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

/// Remove the now-empty folders between `file` and `root` (exclusive).
fn remove_empty_parents(file: &Path, root: &Path) {
    let mut d = file.parent();
    while let Some(p) = d {
        if p == root || std::fs::remove_dir(p).is_err() {
            break;
        }
        d = p.parent();
    }
}
