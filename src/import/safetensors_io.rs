//! Reading and writing `.safetensors` files with Ultralytics tensor names.

use super::{Checkpoint, CheckpointFormat};
use crate::error::{Error, Result};
use ndarray::ArrayD;
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::Path;

/// Parse a safetensors file already read into memory.
pub fn load_safetensors(path: &Path, bytes: &[u8]) -> Result<Checkpoint> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        Error::model(
            path,
            format!("not a valid safetensors file ({e}); re-export it or pass the .pt checkpoint"),
        )
    })?;
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        if let Some(a) = view_to_f32(path, &name, &view)? {
            tensors.insert(name, a);
        }
    }
    Ok(Checkpoint {
        path: path.to_path_buf(),
        format: CheckpointFormat::Safetensors,
        tensors,
        bn_eps: BTreeMap::new(),
        class_names: None,
        strides: None,
    })
}

/// Convert one tensor view to f32; integer tensors are skipped (`None`).
fn view_to_f32(path: &Path, name: &str, v: &TensorView<'_>) -> Result<Option<ArrayD<f32>>> {
    let data = v.data();
    let vals: Vec<f32> = match v.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect(),
        _ => return Ok(None),
    };
    ArrayD::from_shape_vec(v.shape().to_vec(), vals)
        .map(Some)
        .map_err(|e| Error::model(path, format!("tensor {name}: {e}")))
}

/// Read a safetensors file into named f32 arrays (any dtype convertible to f32).
pub fn read_tensors(path: &Path) -> Result<BTreeMap<String, ArrayD<f32>>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(load_safetensors(path, &bytes)?.tensors)
}

/// Write named f32 arrays as a safetensors file, atomically (temp file + rename).
pub fn write_f32(path: &Path, tensors: &BTreeMap<String, ArrayD<f32>>) -> Result<()> {
    let mut raw: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::with_capacity(tensors.len());
    for (name, a) in tensors {
        let bytes: Vec<u8> = a.iter().flat_map(|x| x.to_le_bytes()).collect();
        raw.push((name.clone(), bytes, a.shape().to_vec()));
    }
    let views: Vec<(String, TensorView<'_>)> = raw
        .iter()
        .map(|(n, b, s)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).expect("consistent view"),
            )
        })
        .collect();
    let bytes = safetensors::serialize(views, None)
        .map_err(|e| Error::model(path, format!("cannot serialize: {e}")))?;
    crate::util::write_atomic(path, &bytes)
}
