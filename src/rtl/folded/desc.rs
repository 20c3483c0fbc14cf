//! The folded engine's layer descriptor: one record per layer of bit-packed fields, each at
//! the width this design needs ([`Layout`]), that the loader
//! (`templates/folded/prims/yq_fold_loader.v`) shifts into the generated decoder
//! `yq_fold_desc` (rendered from the layout by `templates/folded/desc.v.tera`): a shift
//! register, so no field needs a byte decoder.
//!
//! Guarantees: [`FIELDS`] and [`Layout`] are the only definition of the record — the flash
//! image writer and the Verilog decoder both come from them; [`Desc::bytes`] refuses a value
//! that does not fit its field's range.

use crate::error::{Error, Result};
use serde::Serialize;

/// How wide a field is in the record and the decoder: only the bits the design can use, so
/// every unit computes at the design's widths (`FoldedDesign::ab`, `FoldedDesign::dw`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Reg {
    /// A byte: a code, or a signed shift (two's complement).
    Byte,
    /// A small unsigned number (kind, flags, kernel size, stride, padding, counts of chunks
    /// and lanes, upsample factor): the bits of the largest value in the design.
    Small,
    /// A dimension or count: `dw` bits.
    Dim,
    /// A byte address, step or size in the activation memory: `ab` bits (arithmetic is
    /// modulo the memory size, so negative steps wrap).
    Addr,
}

/// Descriptor fields in record order: `(name, bytes of its value range, register)`.
pub const FIELDS: [(&str, usize, Reg); 37] = [
    ("kind", 1, Reg::Small),
    ("flags", 1, Reg::Small),
    ("c", 2, Reg::Dim),
    ("h", 2, Reg::Dim),
    ("w", 2, Reg::Dim),
    ("co", 2, Reg::Dim),
    ("ho", 2, Reg::Dim),
    ("wo", 2, Reg::Dim),
    ("k", 1, Reg::Small),
    ("s", 1, Reg::Small),
    ("pad", 1, Reg::Small),
    ("padv", 1, Reg::Byte),
    ("pix0", 3, Reg::Addr),
    ("out", 3, Reg::Addr),
    ("inb", 3, Reg::Addr),
    ("g", 2, Reg::Dim),
    ("nch", 1, Reg::Small),
    ("tc", 2, Reg::Dim),
    ("tc_last", 2, Reg::Dim),
    ("lanes_last", 1, Reg::Small),
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
    ("f", 1, Reg::Small),
    ("n", 3, Reg::Addr),
    ("psum", 3, Reg::Addr),
];

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

    /// The value of field `name` as the record holds it.
    fn value(&self, name: &str) -> i64 {
        if name == "kind" {
            self.kind as i64
        } else {
            self.get(name)
        }
    }

    /// The record as the loader reads it, in layout `lay`. `layer` names the layer in errors.
    pub fn bytes(&self, lay: &Layout, layer: &str) -> Result<Vec<u8>> {
        let mut bits = vec![false; 8 * lay.bytes];
        for (f, &(name, n, _)) in lay.fields.iter().zip(FIELDS.iter()) {
            let v = self.value(name);
            // Fields hold unsigned values, or signed bytes (shifts) in two's complement.
            let lo = if n == 1 { -128 } else { 0 };
            let hi = (1i64 << (8 * n)) - 1;
            if v < lo || v > hi || (f.reg == Reg::Small && v >= 1 << f.bits) {
                return Err(Error::Other(format!(
                    "{layer}: descriptor field `{name}` = {v} does not fit {n} byte(s); the folded engine cannot run this layer at this size"
                )));
            }
            for b in 0..f.bits {
                bits[f.off as usize + b as usize] = (v >> b) & 1 == 1;
            }
        }
        Ok(bits
            .chunks(8)
            .map(|c| c.iter().rev().fold(0u8, |a, &b| (a << 1) | b as u8))
            .collect())
    }
}

/// One field of the record: bits `off .. off + bits` (little endian across the record's
/// bytes), and the width of the decoder's output port (a byte for [`Reg::Byte`] and
/// [`Reg::Small`], zero-extended).
#[derive(Clone, Debug, Serialize)]
pub struct FieldPos {
    pub name: &'static str,
    pub reg: Reg,
    pub bits: u32,
    pub off: u32,
    pub port: u32,
}

/// The record layout of one design.
#[derive(Clone, Debug, Serialize)]
pub struct Layout {
    pub fields: Vec<FieldPos>,
    /// Bytes of one record.
    pub bytes: usize,
}

impl Layout {
    /// The layout at address width `ab` and dimension width `dw`, with the small fields as
    /// wide as the largest value among `descs`.
    pub fn new<'a>(ab: u32, dw: u32, descs: impl Iterator<Item = &'a Desc> + Clone) -> Layout {
        let mut off = 0u32;
        let fields: Vec<FieldPos> = FIELDS
            .iter()
            .map(|&(name, bytes, reg)| {
                let (bits, port) = match reg {
                    Reg::Byte => (8, 8),
                    Reg::Small => {
                        let max = descs.clone().map(|d| d.value(name)).max().unwrap_or(0);
                        (crate::rtl::ubits(max.max(1) as u64), 8)
                    }
                    Reg::Dim => (dw.min(8 * bytes as u32), dw),
                    Reg::Addr => (ab.min(8 * bytes as u32), ab),
                };
                let f = FieldPos {
                    name,
                    reg,
                    bits,
                    off,
                    port,
                };
                off += bits;
                f
            })
            .collect();
        Layout {
            fields,
            bytes: off.div_ceil(8) as usize,
        }
    }
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
    fn record_is_packed_little_endian_and_checked() {
        let d = Desc::new(DescKind::Conv)
            .set("c", 0x123)
            .set("sa", -2)
            .set("k", 3);
        let lay = Layout::new(17, 10, std::iter::once(&d));
        let b = d.bytes(&lay, "t").unwrap();
        assert_eq!(b.len(), lay.bytes);
        let field = |name: &str| {
            let f = lay.fields.iter().find(|f| f.name == name).unwrap();
            (0..f.bits).fold(0i64, |a, i| {
                let bit = f.off + i;
                a | ((((b[bit as usize / 8] >> (bit % 8)) & 1) as i64) << i)
            })
        };
        assert_eq!(field("kind"), 1);
        assert_eq!(field("c"), 0x123);
        assert_eq!(field("sa"), 0xfe);
        assert_eq!(field("k"), 3);
        // kind 1 and k 3 need 1 and 2 bits; c is a 10-bit dimension, sa a byte
        let bits = |name: &str| lay.fields.iter().find(|f| f.name == name).unwrap().bits;
        assert_eq!(
            (bits("kind"), bits("k"), bits("c"), bits("sa")),
            (1, 2, 10, 8)
        );
        assert!(Desc::new(DescKind::Add)
            .set("k", 300)
            .bytes(&lay, "t")
            .is_err());
        // a small field larger than the layout was made for
        assert!(Desc::new(DescKind::Conv)
            .set("k", 5)
            .bytes(&lay, "t")
            .is_err());
    }
}
