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
    /// A word address or stride in DRAM (boards with external memory): `da` bits.
    Dram,
    /// A byte offset in the flash image ([`FLASH_BITS`] bits): only in designs with copies,
    /// whose row bands read their layer's weights again from one place.
    Flash,
}

/// Bits of a flash image offset (16 MiB, the largest part the boards carry).
pub const FLASH_BITS: u32 = 24;

/// Which units read a field, as a set of [`DescKind`] bits: the units that run a layer of
/// that kind read the field while it runs (`yq_fold_core.v` wires each field to its readers).
pub type Readers = u8;
const INPUT: Readers = 1 << DescKind::Input as u8;
const CONV: Readers = 1 << DescKind::Conv as u8;
/// The window unit runs max-pools and upsamples.
const WINDOW: Readers = (1 << DescKind::MaxPool as u8) | (1 << DescKind::Upsample as u8);
const ADD: Readers = 1 << DescKind::Add as u8;
/// The copy unit between DRAM and the tile memory (`yq_fold_dma`, row bands).
const DMA: Readers = 1 << DescKind::Dma as u8;
/// The controller decodes `kind` for every layer.
const ALL: Readers = 0x7f;

/// Descriptor fields in record order: `(name, bytes of its value range, register, readers)`.
/// Fields no kind reads in common share bits of the record (see [`Layout::new`]).
pub const FIELDS: [(&str, usize, Reg, Readers); 44] = [
    ("kind", 1, Reg::Small, ALL),
    ("flags", 1, Reg::Small, CONV),
    ("c_m1", 2, Reg::Dim, WINDOW),
    ("hp", 2, Reg::Dim, CONV | WINDOW),
    ("wp", 2, Reg::Dim, CONV | WINDOW),
    ("ho_m1", 2, Reg::Dim, CONV | WINDOW),
    ("wo_m1", 2, Reg::Dim, CONV | WINDOW),
    ("k_m1", 1, Reg::Small, CONV | WINDOW),
    ("s", 1, Reg::Small, CONV | WINDOW | INPUT),
    ("pad", 1, Reg::Small, CONV | WINDOW),
    // the window rows above the tensor: `pad`, except in a row band (`band.rs`)
    ("padt", 1, Reg::Small, CONV | WINDOW),
    ("padv", 1, Reg::Byte, CONV),
    ("pix0", 3, Reg::Addr, CONV | WINDOW | ADD),
    ("out", 3, Reg::Addr, CONV | WINDOW | ADD | INPUT | DMA),
    ("inb", 3, Reg::Addr, ADD),
    ("g", 2, Reg::Dim, CONV),
    ("nch_m1", 1, Reg::Small, CONV),
    ("tc_m1", 2, Reg::Dim, CONV),
    ("tc_last_m1", 2, Reg::Dim, CONV),
    ("lanes_last", 1, Reg::Small, CONV),
    ("rowstep", 3, Reg::Addr, CONV | WINDOW),
    ("chstep", 3, Reg::Addr, CONV),
    ("chunkstep", 3, Reg::Addr, CONV),
    ("sw", 3, Reg::Addr, CONV | WINDOW),
    ("gstep", 3, Reg::Addr, CONV),
    ("howo", 3, Reg::Addr, CONV),
    ("hw", 3, Reg::Addr, WINDOW),
    ("zero", 1, Reg::Byte, CONV | ADD),
    ("qmax", 1, Reg::Byte, CONV | ADD),
    ("lut_len", 2, Reg::Dim, CONV),
    ("za", 1, Reg::Byte, ADD),
    ("zb", 1, Reg::Byte, ADD),
    ("sa", 1, Reg::Byte, ADD),
    ("sb", 1, Reg::Byte, ADD),
    ("f_m1", 1, Reg::Small, WINDOW),
    ("n", 3, Reg::Addr, ADD | INPUT),
    ("psum", 3, Reg::Addr, CONV),
    // a copy (`band.rs`, in 16-bit words): direction (0 load, 1 store), DRAM address,
    // segments, words per segment, DRAM and tile strides; `out` is the tile address
    ("dir", 1, Reg::Small, DMA),
    ("dram", 4, Reg::Dram, DMA),
    ("nseg", 2, Reg::Dim, DMA),
    ("seg", 3, Reg::Addr, DMA),
    ("dstride", 4, Reg::Dram, DMA),
    ("cstride", 3, Reg::Addr, DMA),
    // a convolution in row bands: where its table, parameters and weights start in the
    // flash image (every band of the layer reads the same bytes)
    ("body", 3, Reg::Flash, CONV),
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
    Dma = 6,
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

    /// Whether the units running this descriptor's layer read field `readers`.
    fn reads(&self, readers: Readers) -> bool {
        readers & (1 << self.kind as u8) != 0
    }

    /// The record as the loader reads it, in layout `lay`: the fields this kind's units read
    /// (other values stay here for the cycle model; their bits may belong to a field of this
    /// kind). `layer` names the layer in errors.
    pub fn bytes(&self, lay: &Layout, layer: &str) -> Result<Vec<u8>> {
        let mut bits = vec![false; 8 * lay.bytes];
        for (f, &(name, n, _, readers)) in lay.fields.iter().zip(FIELDS.iter()) {
            if !self.reads(readers) {
                continue;
            }
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
    /// Whether the record and the decoder hold the field (copy-only fields exist only in
    /// designs with copies).
    pub present: bool,
    pub reg: Reg,
    pub bits: u32,
    pub off: u32,
    pub port: u32,
}

/// The record layout of one design.
#[derive(Clone, Debug, Serialize)]
pub struct Layout {
    pub fields: Vec<FieldPos>,
    /// Bits of the record that some field occupies (the rest of the last byte is padding).
    pub used: u32,
    /// Bytes of one record.
    pub bytes: usize,
}

impl Layout {
    /// The layout at address width `ab` and dimension width `dw`, with the small fields as
    /// wide as the largest value among `descs`. Each field, in record order, takes the lowest
    /// offset where it overlaps no field placed before it that a kind reads together with it:
    /// the units of one kind see every field they read intact, and fields of different kinds
    /// share bits (each bit of the record is a flip-flop of the decoder).
    ///
    /// A design without copies (no DRAM) has no copy-only fields and no flash offsets: they
    /// take no bits of the record, and the decoder's ports for them are constant zeros (one
    /// core serves both).
    pub fn new<'a>(
        ab: u32,
        dw: u32,
        da: u32,
        descs: impl Iterator<Item = &'a Desc> + Clone,
    ) -> Layout {
        let copies = descs.clone().any(|d| d.kind == DescKind::Dma);
        let mut fields: Vec<FieldPos> = Vec::with_capacity(FIELDS.len());
        for &(name, bytes, reg, readers) in FIELDS.iter() {
            if (readers == DMA || reg == Reg::Flash) && !copies {
                let port = match reg {
                    Reg::Byte | Reg::Small => 8,
                    Reg::Dim => dw,
                    Reg::Addr => ab,
                    Reg::Dram => da.max(1),
                    Reg::Flash => FLASH_BITS,
                };
                fields.push(FieldPos {
                    name,
                    present: false,
                    reg,
                    bits: 0,
                    off: 0,
                    port,
                });
                continue;
            }
            let (bits, port) = match reg {
                Reg::Byte => (8, 8),
                Reg::Small => {
                    let max = descs
                        .clone()
                        .filter(|d| d.reads(readers))
                        .map(|d| d.value(name))
                        .max()
                        .unwrap_or(0);
                    (crate::rtl::ubits(max.max(1) as u64), 8)
                }
                Reg::Dim => (dw.min(8 * bytes as u32), dw),
                Reg::Addr => (ab.min(8 * bytes as u32), ab),
                Reg::Dram => (da.min(8 * bytes as u32), da),
                Reg::Flash => (FLASH_BITS, FLASH_BITS),
            };
            let clash: Vec<(u32, u32)> = fields
                .iter()
                .zip(FIELDS.iter())
                .filter(|(_, g)| g.3 & readers != 0)
                .map(|(f, _)| (f.off, f.off + f.bits))
                .collect();
            let free = |o: u32| clash.iter().all(|&(a, b)| o + bits <= a || o >= b);
            let off = std::iter::once(0)
                .chain(clash.iter().map(|c| c.1))
                .filter(|&o| free(o))
                .min()
                .unwrap_or(0);
            fields.push(FieldPos {
                name,
                present: true,
                reg,
                bits,
                off,
                port,
            });
        }
        let used = fields.iter().map(|f| f.off + f.bits).max().unwrap_or(0);
        Layout {
            fields,
            used,
            bytes: used.div_ceil(8) as usize,
        }
    }
}

/// Bits a dimension field needs for every descriptor of a design (at least 9: tap counts
/// of a full weight slot and table lengths reach 256), with room for window coordinates.
pub fn dim_bits<'a>(descs: impl Iterator<Item = &'a Desc>) -> u32 {
    let mut max = 256i64;
    for d in descs {
        for &(name, _, reg, _) in FIELDS.iter() {
            if reg == Reg::Dim {
                max = max.max(d.get(name));
            }
        }
        // the loader's and the convolution unit's chunk counters
        max = max.max(d.get("g") * (d.get("nch_m1") + 1));
    }
    // window coordinates reach a dimension plus padding and kernel extent
    crate::rtl::ubits(max as u64 + 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Field `name` as decoded from record `b` in layout `lay` (what the decoder's port shows).
    fn field(lay: &Layout, b: &[u8], name: &str) -> i64 {
        let f = lay.fields.iter().find(|f| f.name == name).unwrap();
        (0..f.bits).fold(0i64, |a, i| {
            let bit = f.off + i;
            a | ((((b[bit as usize / 8] >> (bit % 8)) & 1) as i64) << i)
        })
    }

    #[test]
    fn record_is_packed_little_endian_and_checked() {
        let d = Desc::new(DescKind::Conv)
            .set("hp", 0x123)
            .set("sa", -2)
            .set("k_m1", 3);
        let a = Desc::new(DescKind::Add).set("sa", -2).set("n", 7);
        let lay = Layout::new(17, 10, 0, [&d, &a].into_iter());
        let b = d.bytes(&lay, "t").unwrap();
        assert_eq!(b.len(), lay.bytes);
        assert_eq!(field(&lay, &b, "kind"), 1);
        assert_eq!(field(&lay, &b, "hp"), 0x123);
        assert_eq!(field(&lay, &b, "k_m1"), 3);
        let b = a.bytes(&lay, "t").unwrap();
        assert_eq!(field(&lay, &b, "kind"), 4);
        assert_eq!(field(&lay, &b, "sa"), 0xfe);
        assert_eq!(field(&lay, &b, "n"), 7);
        // kind 4 and k_m1 3 need 3 and 2 bits; hp is a 10-bit dimension, sa a byte
        let bits = |name: &str| lay.fields.iter().find(|f| f.name == name).unwrap().bits;
        assert_eq!(
            (bits("kind"), bits("k_m1"), bits("hp"), bits("sa")),
            (3, 2, 10, 8)
        );
        assert!(Desc::new(DescKind::Conv)
            .set("hp", 1 << 16)
            .bytes(&lay, "t")
            .is_err());
        // a small field larger than the layout was made for
        assert!(Desc::new(DescKind::Conv)
            .set("k_m1", 5)
            .bytes(&lay, "t")
            .is_err());
    }

    /// Every kind sees each field it reads at its own bits, whatever the other kinds' fields
    /// hold; fields of different kinds share bits, so the record is shorter than all fields.
    #[test]
    fn fields_of_one_kind_never_share_bits() {
        let kinds = [
            DescKind::Input,
            DescKind::Conv,
            DescKind::MaxPool,
            DescKind::Upsample,
            DescKind::Add,
            DescKind::Post,
        ];
        // every field a kind reads set to a pattern of its own (small fields to 1 or 0)
        let descs: Vec<Desc> = kinds
            .iter()
            .map(|&k| {
                let mut d = Desc::new(k);
                for (i, g) in FIELDS.iter().enumerate().skip(1) {
                    if d.reads(g.3) {
                        let mask = if g.2 == Reg::Small { 1 } else { 0xff };
                        d = d.set(g.0, (i as i64 * 0x9e5 + 1) & mask);
                    }
                }
                d
            })
            .collect();
        let lay = Layout::new(17, 10, 0, descs.iter());
        // no copies: no flash offsets either (the UP5K record keeps its size)
        let body = |l: &Layout| l.fields.iter().find(|f| f.name == "body").unwrap().clone();
        assert!(!body(&lay).present && body(&lay).bits == 0);
        let with_copy = Layout::new(17, 10, 12, descs.iter().chain([&Desc::new(DescKind::Dma)]));
        assert!(body(&with_copy).present && body(&with_copy).bits == FLASH_BITS);
        let all: u32 = lay.fields.iter().map(|f| f.bits).sum();
        assert!(
            lay.used < all,
            "no field shares bits: {} of {all}",
            lay.used
        );
        for d in &descs {
            let mut owner = vec![None; lay.used as usize];
            for (i, (f, g)) in lay.fields.iter().zip(FIELDS.iter()).enumerate() {
                if d.reads(g.3) {
                    for b in f.off..f.off + f.bits {
                        assert_eq!(owner[b as usize], None, "{:?}: {}", d.kind, f.name);
                        owner[b as usize] = Some(i);
                    }
                }
            }
            let b = d.bytes(&lay, "t").unwrap();
            for (f, g) in lay.fields.iter().zip(FIELDS.iter()) {
                if d.reads(g.3) && f.present {
                    assert_eq!(
                        field(&lay, &b, f.name),
                        d.value(f.name),
                        "{:?} {}",
                        d.kind,
                        f.name
                    );
                }
            }
        }
    }
}
