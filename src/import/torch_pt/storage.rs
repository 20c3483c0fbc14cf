//! Reading storage records from the checkpoint zip and applying tensor views to them.
//!
//! Guarantees: reads are capped by the size the pickle declares; a view (offset, shape,
//! stride, any strides including non-contiguous and zero) is checked to lie inside the
//! bytes actually present before any element is read; results are float32 in row-major
//! order. Non-float storages yield `None`.

use crate::import::pickle::{Dtype, TensorRef};
use ndarray::{ArrayD, IxDyn};
use std::collections::HashMap;
use std::io::{Cursor, Read};

/// Most elements one tensor may expand to (stride-0 views can exceed their storage).
const MAX_ELEMENTS: u64 = 1 << 28;
/// Largest storage record read.
const MAX_STORAGE_BYTES: u64 = 1 << 32;

pub(super) struct Storages<'b> {
    zip: zip::ZipArchive<Cursor<&'b [u8]>>,
    prefix: String,
    raw: HashMap<String, Vec<u8>>,
}

impl<'b> Storages<'b> {
    pub fn new(zip: zip::ZipArchive<Cursor<&'b [u8]>>, prefix: String) -> Self {
        Storages {
            zip,
            prefix,
            raw: HashMap::new(),
        }
    }

    /// Read a whole zip entry, at most `limit` bytes.
    pub fn read_entry(&mut self, name: &str, limit: u64) -> Result<Vec<u8>, String> {
        let file = self.zip.by_name(name).map_err(|e| match e {
            zip::result::ZipError::FileNotFound => format!("missing record {name} in the zip"),
            e => format!("cannot open record {name} ({e}); the zip is corrupt: re-download it"),
        })?;
        let mut buf = Vec::with_capacity(file.size().min(limit).min(1 << 26) as usize);
        file.take(limit).read_to_end(&mut buf).map_err(|e| {
            format!("cannot read record {name} ({e}); the zip is corrupt: re-download it")
        })?;
        Ok(buf)
    }

    /// The tensor `t` as float32, or `None` for integer/bool storages.
    pub fn tensor(&mut self, t: &TensorRef) -> Result<Option<ArrayD<f32>>, String> {
        if !t.dtype.is_float() {
            return Ok(None);
        }
        let size = t.dtype.size().unwrap_or(4) as u64;
        let name = format!("{}data/{}", self.prefix, t.storage_key);
        if !self.raw.contains_key(&name) {
            let want = t.numel.saturating_mul(size).min(MAX_STORAGE_BYTES);
            let bytes = self.read_entry(&name, want)?;
            self.raw.insert(name.clone(), bytes);
        }
        let bytes = &self.raw[&name];
        let have = (bytes.len() as u64 / size).min(t.numel);
        let count = view_len(t, have).map_err(|e| format!("storage {name}: {e}"))?;
        let shape: Vec<usize> = t.shape.iter().map(|&d| d as usize).collect();
        let mut vals = Vec::with_capacity(count);
        for_each_index(t, count, |i| vals.push(decode(&t.dtype, bytes, i as usize)));
        ArrayD::from_shape_vec(IxDyn(&shape), vals)
            .map(Some)
            .map_err(|e| format!("bad shape {:?}: {e}", t.shape))
    }
}

/// Number of elements of the view, after checking every index stays below `have`.
fn view_len(t: &TensorRef, have: u64) -> Result<usize, String> {
    let mut count: u64 = 1;
    let mut last = t.offset;
    for (&d, &s) in t.shape.iter().zip(&t.stride) {
        count = count
            .checked_mul(d)
            .filter(|&c| c <= MAX_ELEMENTS)
            .ok_or_else(|| format!("shape {:?} has more than {MAX_ELEMENTS} elements", t.shape))?;
        if d > 0 {
            last = s
                .checked_mul(d - 1)
                .and_then(|x| x.checked_add(last))
                .ok_or("view offsets overflow")?;
        }
    }
    if count > 0 && last >= have {
        return Err(format!(
            "storage too short for shape {:?} stride {:?} offset {}: needs {} elements, has {have}",
            t.shape,
            t.stride,
            t.offset,
            last + 1
        ));
    }
    Ok(count as usize)
}

/// Visit the storage index of every element of the view in row-major order.
fn for_each_index(t: &TensorRef, count: usize, mut f: impl FnMut(u64)) {
    if count == 0 {
        return;
    }
    let n = t.shape.len();
    let mut idx = vec![0u64; n];
    let mut pos = t.offset;
    for _ in 0..count {
        f(pos);
        // Odometer step on the last axis, carrying into earlier ones.
        for ax in (0..n).rev() {
            idx[ax] += 1;
            pos = pos.wrapping_add(t.stride[ax]);
            if idx[ax] < t.shape[ax] {
                break;
            }
            pos = pos.wrapping_sub(t.stride[ax].wrapping_mul(t.shape[ax]));
            idx[ax] = 0;
        }
    }
}

/// Element `i` of a little-endian storage as f32 (the caller checked the bounds).
fn decode(dtype: &Dtype, b: &[u8], i: usize) -> f32 {
    match dtype {
        Dtype::F16 => half::f16::from_le_bytes([b[2 * i], b[2 * i + 1]]).to_f32(),
        Dtype::BF16 => half::bf16::from_le_bytes([b[2 * i], b[2 * i + 1]]).to_f32(),
        Dtype::F64 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[8 * i..8 * i + 8]);
            f64::from_le_bytes(a) as f32
        }
        _ => f32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]),
    }
}
