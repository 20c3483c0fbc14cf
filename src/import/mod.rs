//! Model import: Ultralytics `.pt` checkpoints (zip + pickle, read without executing
//! anything), plain torch state-dict `.pt` files and `.safetensors` files.
//!
//! Guarantees: every tensor comes back as float32 under its Ultralytics state-dict name;
//! nothing from the file is ever executed; a malformed file yields one [`Error::Model`]
//! naming the file.

pub mod download;
pub mod pickle;
pub mod safetensors_io;
pub mod torch_pt;

use crate::error::{Error, Result};
use ndarray::ArrayD;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which on-disk form a checkpoint came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum CheckpointFormat {
    /// Ultralytics checkpoint: a dict with a pickled `DetectionModel` under `ema` / `model`.
    UltralyticsPt,
    /// A plain `state_dict()` saved with `torch.save`.
    StateDictPt,
    Safetensors,
}

/// Everything taken from a checkpoint: tensors and a few plain values.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub path: PathBuf,
    pub format: CheckpointFormat,
    /// Tensors by Ultralytics state-dict name (`model.0.conv.weight`, `model.0.bn.running_var`, ...),
    /// converted to float32. Integer buffers such as `num_batches_tracked` are left out.
    pub tensors: BTreeMap<String, ArrayD<f32>>,
    /// BatchNorm `eps` per BN module prefix (`model.0.bn` -> 0.001), when the file records it.
    pub bn_eps: BTreeMap<String, f32>,
    /// Class names in index order, when the file records them.
    pub class_names: Option<Vec<String>>,
    /// Detect strides, when the file records them.
    pub strides: Option<Vec<f32>>,
}

/// Load any supported checkpoint, choosing the reader by content (zip magic) and extension.
pub fn load_checkpoint(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_checkpoint(path, &bytes)
}

/// [`load_checkpoint`] on the file's bytes already in memory (`path` names the file in
/// errors and its extension picks safetensors).
pub fn parse_checkpoint(path: &Path, bytes: &[u8]) -> Result<Checkpoint> {
    if bytes.starts_with(b"PK") {
        torch_pt::load_pt(path, bytes)
    } else if path.extension().is_some_and(|e| e == "safetensors") || looks_like_safetensors(bytes)
    {
        safetensors_io::load_safetensors(path, bytes)
    } else {
        Err(Error::model(
            path,
            "not a zip-based torch checkpoint (.pt) nor a .safetensors file; pass an Ultralytics yolov8*.pt or a .safetensors export",
        ))
    }
}

fn looks_like_safetensors(bytes: &[u8]) -> bool {
    bytes.len() > 9 && bytes[8] == b'{'
}
