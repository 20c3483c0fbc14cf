//! torch zip checkpoints (`torch.save` format): Ultralytics checkpoints holding a pickled
//! `DetectionModel`, and plain state dicts.
//!
//! Guarantees: the pickle is decoded by [`super::pickle::unpickle`], so nothing from the
//! file runs; tensors come out as float32 under the names `state_dict()` would give them
//! (integer buffers are left out); every failure is one [`Error::Model`] line naming the
//! file.

mod modules;
mod storage;

use super::pickle::{unpickle, Value};
use super::Checkpoint;
use crate::error::{Error, Result};
use modules::{find_model, Found};
use std::collections::BTreeMap;
use std::path::Path;
use storage::Storages;

/// Largest `data.pkl` accepted (a YOLOv8x checkpoint's is well under 1 MB).
const MAX_PICKLE_BYTES: u64 = 256 << 20;

/// Read a zip-format torch checkpoint already loaded into memory.
pub fn load_pt(path: &Path, bytes: &[u8]) -> Result<Checkpoint> {
    let fail = |msg: String| Error::model(path, msg);
    let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| {
        fail(format!(
            "not a readable zip-format torch checkpoint ({e}); the file may be truncated or not a .pt: re-download it"
        ))
    })?;
    let pkl_name = zip
        .file_names()
        .filter(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .min()
        .map(str::to_string)
        .ok_or_else(|| {
            fail(
                "zip archive has no <name>/data.pkl record, so it is not a torch checkpoint".into(),
            )
        })?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    let mut store = Storages::new(zip, prefix);
    let pkl = store
        .read_entry(&pkl_name, MAX_PICKLE_BYTES)
        .map_err(fail)?;
    let root = unpickle(&pkl).map_err(|e| {
        fail(format!(
            "{pkl_name}: {e}; only checkpoints written by torch.save are read (nothing in the file is run)"
        ))
    })?;
    let found = find_model(&root).ok_or_else(|| {
        fail("no model found: expected an Ultralytics checkpoint (dict with a model under 'ema'/'model') or a state dict of tensors".into())
    })?;
    to_checkpoint(path, found, &mut store)
}

fn to_checkpoint(path: &Path, found: Found<'_>, store: &mut Storages<'_>) -> Result<Checkpoint> {
    let fail = |msg: String| Error::model(path, msg);
    let mut tensors = BTreeMap::new();
    for (name, t) in &found.tensors {
        let damaged = |e| {
            fail(format!(
                "tensor {name}: {e}; the checkpoint is damaged: re-download or re-save it"
            ))
        };
        if let Some(a) = store.tensor(t).map_err(damaged)? {
            tensors.insert(name.clone(), a);
        }
    }
    if tensors.is_empty() {
        return Err(fail(
            "no model found: the checkpoint holds no float tensors".into(),
        ));
    }
    let strides = match found.strides {
        Some(Value::TorchTensor(t)) => store
            .tensor(t)
            .map_err(|e| fail(format!("model stride: {e}")))?
            .map(|a| a.iter().copied().collect()),
        Some(Value::List(v) | Value::Tuple(v)) => {
            v.iter().map(|x| x.as_f64().map(|f| f as f32)).collect()
        }
        _ => None,
    };
    Ok(Checkpoint {
        path: path.to_path_buf(),
        format: found.format,
        tensors,
        bn_eps: found.bn_eps,
        class_names: found.class_names,
        strides,
    })
}
