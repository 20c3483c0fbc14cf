//! The folded engine's layer descriptor: a fixed record of little-endian fields that the
//! loader (`templates/folded/prims/yq_fold_loader.v`) feeds to the generated decoder
//! `yq_fold_desc` (rendered from [`FIELDS`] by `templates/folded/desc.v.tera`).
//!
//! Guarantees: [`FIELDS`] is the only definition of the record layout — the flash image
//! writer and the Verilog decoder both come from it; [`Desc::bytes`] refuses a value that
//! does not fit its field.

use crate::error::{Error, Result};
use serde::Serialize;

/// How wide a field's register is in the decoder. The flash record keeps whole bytes; the
/// decoder keeps only the bits the design can use, so every unit computes at the design's
/// widths (`FoldedDesign::ab`, `FoldedDesign::dw`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Reg {
    /// A byte (codes, shifts, kernel sizes, flags).
    Byte,
    /// A dimension or count: `dw` bits.
    Dim,
    /// A byte address, step or size in the activation memory: `ab` bits (arithmetic is
    /// modulo the memory size, so negative steps wrap).
    Addr,
}

/// Descriptor fields in record order: `(name, bytes, register)`.
pub const FIELDS: [(&str, usize, Reg); 37] = [
    ("kind", 1, Reg::Byte),
    ("flags", 1, Reg::Byte),
    ("c", 2, Reg::Dim),
    ("h", 2, Reg::Dim),
    ("w", 2, Reg::Dim),
    ("co", 2, Reg::Dim),
    ("ho", 2, Reg::Dim),
    ("wo", 2, Reg::Dim),
    ("k", 1, Reg::Byte),
    ("s", 1, Reg::Byte),
    ("pad", 1, Reg::Byte),
    ("padv", 1, Reg::Byte),
    ("pix0", 3, Reg::Addr),
    ("out", 3, Reg::Addr),
    ("inb", 3, Reg::Addr),
    ("g", 2, Reg::Dim),
    ("nch", 1, Reg::Byte),
    ("tc", 2, Reg::Dim),
    ("tc_last", 2, Reg::Dim),
    ("lanes_last", 1, Reg::Byte),
    ("rowstep", 3, Reg::Addr),
    ("chstep", 3, Reg::Addr),
    ("chunkstep", 3, Reg::Addr),
    ("sw", 3, Reg::Addr),
    ("gstep", 3, Reg::Addr),
    ("howo", 3, Reg::Addr),
    ("hw", 3, Reg::Addr),
    ("zero", 1, Reg::Byte),
    ("qmax", 1, Reg::Byte),
    ("lut_len", 2, Reg::Dim),
    ("za", 1, Reg::Byte),
    ("zb", 1, Reg::Byte),
    ("sa", 1, Reg::Byte),
    ("sb", 1, Reg::Byte),
    ("f", 1, Reg::Byte),
    ("n", 3, Reg::Addr),
    ("psum", 3, Reg::Addr),
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
        for &(name, n, _) in FIELDS.iter() {
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

/// One byte of a field as the generated decoder stores it: record index `idx` sets
/// register bits `hi..=lo` of `name` from data bits `dhi..=0`.
#[derive(Clone, Debug, Serialize)]
pub struct ByteSlice {
    pub idx: usize,
    pub hi: u32,
    pub lo: u32,
    pub dhi: u32,
}

/// A register of the generated decoder: name, width, the record bytes that fill it.
#[derive(Clone, Debug, Serialize)]
pub struct FieldPos {
    pub name: &'static str,
    pub bits: u32,
    pub slices: Vec<ByteSlice>,
}

/// Byte offset of a field in the record.
pub fn offset(name: &str) -> usize {
    FIELDS.iter().take_while(|f| f.0 != name).map(|f| f.1).sum()
}

/// The decoder's registers at address width `ab` and dimension width `dw` (bytes beyond a
/// register's width are not stored).
pub fn positions(ab: u32, dw: u32) -> Vec<FieldPos> {
    let mut off = 0;
    FIELDS
        .iter()
        .map(|&(name, bytes, reg)| {
            let bits = match reg {
                Reg::Byte => 8 * bytes as u32,
                Reg::Dim => dw.min(8 * bytes as u32),
                Reg::Addr => ab.min(8 * bytes as u32),
            };
            let slices = (0..bytes as u32)
                .filter(|b| 8 * b < bits)
                .map(|b| {
                    let lo = 8 * b;
                    let hi = (lo + 7).min(bits - 1);
                    ByteSlice {
                        idx: off + b as usize,
                        hi,
                        lo,
                        dhi: hi - lo,
                    }
                })
                .collect();
            off += bytes;
            FieldPos { name, bits, slices }
        })
        .collect()
}

/// Bits a dimension field needs for every descriptor of a design (at least 9: tap counts
/// of a full weight slot and table lengths reach 256), with room for window coordinates.
pub fn dim_bits<'a>(descs: impl Iterator<Item = &'a Desc>) -> u32 {
    let mut max = 256i64;
    for d in descs {
        for &(name, _, reg) in FIELDS.iter() {
            if reg == Reg::Dim {
                max = max.max(d.get(name));
            }
        }
        // the loader's and the convolution unit's chunk counters
        max = max.max(d.get("g") * d.get("nch").max(1));
    }
    // window coordinates reach a dimension plus padding and kernel extent
    crate::rtl::ubits(max as u64 + 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_little_endian_and_checked() {
        let d = Desc::new(DescKind::Conv).set("c", 0x1234).set("sa", -2);
        let b = d.bytes("t").unwrap();
        assert_eq!(b.len(), DESC_BYTES);
        let at = offset;
        assert_eq!(b[0], 1);
        assert_eq!(&b[at("c")..at("c") + 2], &[0x34, 0x12]);
        assert_eq!(b[at("sa")], 0xfe);
        assert!(Desc::new(DescKind::Add).set("k", 300).bytes("t").is_err());
    }
}
