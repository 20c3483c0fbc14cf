//! The folded engine's layer descriptor: a fixed record of little-endian fields that the
//! loader (`templates/folded/prims/yq_fold_loader.v`) feeds to the generated decoder
//! `yq_fold_desc` (rendered from [`FIELDS`] by `templates/folded/desc.v.tera`).
//!
//! Guarantees: [`FIELDS`] is the only definition of the record layout — the flash image
//! writer and the Verilog decoder both come from it; [`Desc::bytes`] refuses a value that
//! does not fit its field.

use crate::error::{Error, Result};
use serde::Serialize;

/// Descriptor fields in record order: `(name, bytes)`.
pub const FIELDS: [(&str, usize); 37] = [
    ("kind", 1),
    ("flags", 1),
    ("c", 2),
    ("h", 2),
    ("w", 2),
    ("co", 2),
    ("ho", 2),
    ("wo", 2),
    ("k", 1),
    ("s", 1),
    ("pad", 1),
    ("padv", 1),
    ("pix0", 3),
    ("out", 3),
    ("inb", 3),
    ("g", 2),
    ("nch", 1),
    ("tc", 2),
    ("tc_last", 2),
    ("lanes_last", 1),
    ("rowstep", 3),
    ("chstep", 3),
    ("chunkstep", 3),
    ("sw", 3),
    ("gstep", 3),
    ("howo", 3),
    ("hw", 3),
    ("zero", 1),
    ("qmax", 1),
    ("lut_len", 2),
    ("za", 1),
    ("zb", 1),
    ("sa", 1),
    ("sb", 1),
    ("f", 1),
    ("n", 3),
    ("psum", 3),
];

/// Bytes of one descriptor record.
pub const DESC_BYTES: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < FIELDS.len() {
        n += FIELDS[i].1;
        i += 1;
    }
    n
};

/// Layer kinds as the engine's controller decodes them (`yq_fold_core.v`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[repr(u8)]
pub enum DescKind {
    Input = 0,
    Conv = 1,
    MaxPool = 2,
    Upsample = 3,
    Add = 4,
    Post = 5,
}

/// `flags` bit: the convolution ends in a SiLU table.
pub const FLAG_LUT: i64 = 1;

/// One layer's descriptor: field values by name (unset fields are 0).
#[derive(Clone, Debug, Serialize)]
pub struct Desc {
    pub kind: DescKind,
    pub values: Vec<(&'static str, i64)>,
}

impl Desc {
    pub fn new(kind: DescKind) -> Self {
        Desc {
            kind,
            values: Vec::new(),
        }
    }

    /// Set a field (by its name in [`FIELDS`]).
    pub fn set(mut self, name: &'static str, v: i64) -> Self {
        debug_assert!(FIELDS.iter().any(|f| f.0 == name), "unknown field {name}");
        self.values.retain(|f| f.0 != name);
        self.values.push((name, v));
        self
    }

    pub fn get(&self, name: &str) -> i64 {
        self.values
            .iter()
            .find(|f| f.0 == name)
            .map(|f| f.1)
            .unwrap_or(0)
    }

    /// The record as the loader reads it. `layer` names the layer in errors.
    pub fn bytes(&self, layer: &str) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(DESC_BYTES);
        for &(name, n) in FIELDS.iter() {
            let v = if name == "kind" {
                self.kind as i64
            } else {
                self.get(name)
            };
            // Fields hold unsigned values, or signed bytes (shifts) in two's complement.
            let lo = if n == 1 { -128 } else { 0 };
            let hi = (1i64 << (8 * n)) - 1;
            if v < lo || v > hi {
                return Err(Error::Other(format!(
                    "{layer}: descriptor field `{name}` = {v} does not fit {n} byte(s); the folded engine cannot run this layer at this size"
                )));
            }
            for b in 0..n {
                out.push(((v >> (8 * b)) & 0xff) as u8);
            }
        }
        Ok(out)
    }
}

/// A field of the generated decoder: name, byte offset, bytes.
#[derive(Clone, Debug, Serialize)]
pub struct FieldPos {
    pub name: &'static str,
    pub offset: usize,
    pub bytes: usize,
}

/// Byte offsets of every field, for the decoder template.
pub fn positions() -> Vec<FieldPos> {
    let mut off = 0;
    FIELDS
        .iter()
        .map(|&(name, bytes)| {
            let p = FieldPos {
                name,
                offset: off,
                bytes,
            };
            off += bytes;
            p
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_little_endian_and_checked() {
        let d = Desc::new(DescKind::Conv).set("c", 0x1234).set("sa", -2);
        let b = d.bytes("t").unwrap();
        assert_eq!(b.len(), DESC_BYTES);
        let pos = positions();
        let at = |n: &str| pos.iter().find(|p| p.name == n).unwrap().offset;
        assert_eq!(b[0], 1);
        assert_eq!(&b[at("c")..at("c") + 2], &[0x34, 0x12]);
        assert_eq!(b[at("sa")], 0xfe);
        assert!(Desc::new(DescKind::Add).set("k", 300).bytes("t").is_err());
    }
}
