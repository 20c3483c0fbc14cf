//! Finding the checkpoint to use, downloading the default one when there is none.
//!
//! Guarantees: an explicit `--model` path is used as given (and must exist); otherwise
//! `./yolov8n.pt`, then the cached copy, then a download. A downloaded file only enters
//! the cache after it has parsed as a YOLOv8 detect checkpoint, and it is written
//! atomically, so the cache never holds a partial or wrong file. Failures are one line
//! that says where to get the file and to pass `--model`.

use super::torch_pt::load_pt;
use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the official YOLOv8n checkpoint is published.
pub const DEFAULT_URL: &str =
    "https://github.com/ultralytics/assets/releases/download/v8.2.0/yolov8n.pt";

/// Environment variable that overrides [`DEFAULT_URL`].
pub const URL_ENV: &str = "YOLOQ_MODEL_URL";

/// Largest download accepted (YOLOv8x is ~140 MB).
const MAX_DOWNLOAD_BYTES: u64 = 1 << 30;

/// A tensor every YOLOv8 detect checkpoint has.
const DETECT_MARKER: &str = "model.22.dfl.conv.weight";

/// The download URL: `$YOLOQ_MODEL_URL` if set and non-empty, else [`DEFAULT_URL`].
pub fn model_url() -> String {
    std::env::var(URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_string())
}

/// The checkpoint to load: `model` if given, else `./yolov8n.pt`, else the copy cached in
/// `cache_dir`, else `url` downloaded into `cache_dir`.
pub fn resolve_model(model: Option<&Path>, cache_dir: &Path, url: &str) -> Result<PathBuf> {
    resolve_model_in(Path::new("."), model, cache_dir, url)
}

/// [`resolve_model`] with an explicit directory in place of the current one.
pub fn resolve_model_in(
    cwd: &Path,
    model: Option<&Path>,
    cache_dir: &Path,
    url: &str,
) -> Result<PathBuf> {
    if let Some(m) = model {
        if m.is_file() {
            return Ok(m.to_path_buf());
        }
        return Err(Error::arg(
            "--model",
            format!("{} does not exist or is not a file", m.display()),
        ));
    }
    let local = cwd.join("yolov8n.pt");
    if local.is_file() {
        return Ok(local);
    }
    let cached = cache_dir.join(file_name(url));
    if cached.is_file() {
        return Ok(cached);
    }
    download(url, &cached)?;
    Ok(cached)
}

/// The cache file name: the URL's last path segment if it names a `.pt`, else `yolov8n.pt`.
fn file_name(url: &str) -> String {
    let last = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .rsplit('/')
        .next()
        .unwrap_or("");
    let ok = last.ends_with(".pt") && last.len() > 3 && !last.starts_with('.');
    if ok { last } else { "yolov8n.pt" }.to_string()
}

/// Fetch `url`, check it is a YOLOv8 detect checkpoint, and store it at `dest`.
fn download(url: &str, dest: &Path) -> Result<()> {
    let hint = |why: String| {
        Error::arg(
            "--model",
            format!(
                "no model given and none cached at {}; downloading {url} failed ({why}): download it yourself and pass --model <file.pt>",
                dest.display()
            ),
        )
    };
    eprintln!("downloading {url} to {}", dest.display());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .build()
        .into();
    let resp = agent.get(url).call().map_err(|e| hint(e.to_string()))?;
    let mut bytes = Vec::new();
    resp.into_body()
        .into_reader()
        .take(MAX_DOWNLOAD_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| hint(e.to_string()))?;
    let ck = load_pt(dest, &bytes).map_err(|e| hint(format!("not a usable checkpoint: {e}")))?;
    if !ck.tensors.contains_key(DETECT_MARKER) {
        return Err(hint(format!(
            "not a YOLOv8 detect checkpoint: it has no {DETECT_MARKER}"
        )));
    }
    crate::util::write_atomic(dest, &bytes)
}
