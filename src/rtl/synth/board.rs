//! Board descriptions (`boards/*.yaml`, or a user's YAML file): FPGA family, Yosys script,
//! capacity, clock, preferred architecture, memories and the place-and-route tool.
//!
//! Guarantees: a board is typed on load (unknown fields, families, memory kinds and
//! architectures are refused with one line naming the file); the clock is written once
//! (`clock_mhz`; an old file's nextpnr `--freq` is read as the clock, and nextpnr is given
//! `--freq` from the clock); every memory entry has a unit size, and a flash entry its part,
//! size and a user-data offset inside it.

use crate::error::{Error, Result};
use crate::rtl::Arch;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Board files shipped with the tool (`boards/`).
pub const BOARDS: [(&str, &str); 5] = [
    ("generic", include_str!("../../../boards/generic.yaml")),
    ("ice40", include_str!("../../../boards/ice40.yaml")),
    ("ulx3s-85f", include_str!("../../../boards/ulx3s-85f.yaml")),
    ("ecp5", include_str!("../../../boards/ecp5.yaml")),
    ("xc7", include_str!("../../../boards/xc7.yaml")),
];

/// An FPGA family (decides how Yosys' cells are counted, see `stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Generic,
    Ice40,
    Ecp5,
    Xc7,
}

impl Family {
    /// The lowercase name (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Generic => "generic",
            Family::Ice40 => "ice40",
            Family::Ecp5 => "ecp5",
            Family::Xc7 => "xc7",
        }
    }
}

/// A development board the folded design has a top level for (PLL, pads, flash, UART):
/// `synth` builds that top level instead of the bare engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kit {
    /// iCEBreaker (iCE40 UP5K): `board/yq_board.v`, `board/icebreaker.pcf`.
    Icebreaker,
    /// ULX3S (ECP5 85F): `board/ulx3s/yq_board.v`, `board/ulx3s/ulx3s.lpf`.
    Ulx3s,
}

impl Kit {
    /// The board top level inside an emitted folded design.
    pub fn top_file(self) -> &'static str {
        match self {
            Kit::Icebreaker => "board/yq_board.v",
            Kit::Ulx3s => crate::rtl::folded::emit::ULX3S_TOP,
        }
    }
    /// nextpnr's constraint option and file.
    pub fn constraints(self) -> [&'static str; 2] {
        match self {
            Kit::Icebreaker => ["--pcf", "board/icebreaker.pcf"],
            Kit::Ulx3s => ["--lpf", crate::rtl::folded::emit::ULX3S_LPF],
        }
    }
    /// The board's name as its users know it.
    pub fn title(self) -> &'static str {
        match self {
            Kit::Icebreaker => "iCEBreaker",
            Kit::Ulx3s => "ULX3S",
        }
    }
    /// Where the weight image starts in the board's SPI flash.
    pub fn flash_base(self) -> u64 {
        match self {
            Kit::Icebreaker => crate::rtl::folded::board::FLASH_BASE,
            Kit::Ulx3s => crate::rtl::folded::ulx3s::FLASH_BASE,
        }
    }
    /// The commands that write the bitstream `bit` and the weight image `flash` (at
    /// [`Kit::flash_base`]) to the board's flash: iceprog for the iCEBreaker, openFPGALoader
    /// for the ULX3S (`-o` writes a raw file at a flash offset).
    pub fn program_commands(self, bit: &str, flash: &str) -> [String; 2] {
        let at = self.flash_base();
        match self {
            Kit::Icebreaker => [
                format!("iceprog {bit}"),
                format!("iceprog -o {}k {flash}", at / 1024),
            ],
            Kit::Ulx3s => [
                format!("openFPGALoader -b ulx3s -f {bit}"),
                format!("openFPGALoader -b ulx3s -f -o {at:#x} {flash}"),
            ],
        }
    }
    /// The system clock of the board top level.
    pub fn clock_hz(self) -> u64 {
        match self {
            Kit::Icebreaker => crate::rtl::folded::emit::BOARD_HZ,
            Kit::Ulx3s => crate::rtl::folded::ulx3s::CLOCK_HZ,
        }
    }
}

/// Device capacity (absent = unlimited / unknown).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub lut: Option<u64>,
    pub ff: Option<u64>,
    pub dsp: Option<u64>,
    pub bram: Option<u64>,
    #[serde(default)]
    pub spram: Option<u64>,
}

/// The place-and-route tool of a board and its arguments (device, package; the target
/// clock is added from the board's `clock_mhz`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pnr {
    pub tool: String,
    pub args: Vec<String>,
}

/// A kind of memory on or next to the FPGA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryKind {
    /// Single-port RAM blocks (iCE40 UltraPlus SB_SPRAM256KA).
    Spram,
    /// Embedded block RAM (iCE40 SB_RAM40_4K).
    Ebr,
    /// Block RAM of other families (ECP5 DP16KD, Xilinx RAMB36).
    Bram,
    /// SPI flash (configuration flash with room for user data).
    Flash,
    /// External SDRAM.
    Sdram,
}

/// One kind of memory: `count` units of `bits` (or `bytes`) each, `width` data bits per
/// access.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    pub kind: MemoryKind,
    #[serde(default = "one")]
    pub count: u64,
    /// Bits per unit (give this or `bytes`).
    #[serde(default)]
    pub bits: Option<u64>,
    /// Bytes per unit (give this or `bits`).
    #[serde(default)]
    pub bytes: Option<u64>,
    /// Data bits per access of one unit.
    pub width: u32,
    /// Flash: the part, e.g. `W25Q128JV`.
    #[serde(default)]
    pub part: Option<String>,
    /// Flash: byte offset where user data may start (below it: the FPGA bitstream).
    #[serde(default)]
    pub user_offset: Option<u64>,
}

fn one() -> u64 {
    1
}

impl Memory {
    /// Bits of one unit.
    pub fn unit_bits(&self) -> u64 {
        self.bits
            .or(self.bytes.map(|b| 8 * b))
            .expect("checked on load")
    }
    /// Words of `width` bits in one unit.
    pub fn depth(&self) -> u64 {
        self.unit_bits() / self.width as u64
    }
    /// Bits of all units.
    pub fn total_bits(&self) -> u64 {
        self.count * self.unit_bits()
    }
    /// Flash: bytes available for user data after `user_offset`.
    pub fn user_bytes(&self) -> Option<u64> {
        Some(self.unit_bits() / 8 - self.user_offset?)
    }

    fn check(&self) -> std::result::Result<(), String> {
        let what = format!("{:?} memory", self.kind).to_lowercase();
        let bits = match (self.bits, self.bytes) {
            (Some(b), None) => b,
            (None, Some(b)) => 8 * b,
            _ => {
                return Err(format!(
                    "{what}: give exactly one of `bits` and `bytes` per unit"
                ))
            }
        };
        if self.count == 0 || bits == 0 || self.width == 0 || bits % self.width as u64 != 0 {
            return Err(format!(
                "{what}: count, size and width must be non-zero and the size a multiple of the width"
            ));
        }
        match (self.kind, &self.part, self.user_offset) {
            (MemoryKind::Flash, Some(_), Some(off)) if off < bits / 8 => Ok(()),
            (MemoryKind::Flash, _, _) => Err(format!(
                "{what}: needs `part` and a `user_offset` inside its `bytes`"
            )),
            (_, None, None) => Ok(()),
            _ => Err(format!(
                "{what}: `part` and `user_offset` are for flash only"
            )),
        }
    }
}

/// A board description.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    pub name: String,
    pub family: Family,
    /// Yosys commands (`;`-separated), `{top}` replaced by the top module.
    pub synth: String,
    /// Yosys commands for the folded architecture, when they differ from `synth`.
    #[serde(default)]
    pub synth_folded: Option<String>,
    #[serde(default)]
    pub resources: Resources,
    /// The board's clock, the timing target of place-and-route.
    #[serde(default)]
    pub clock_mhz: Option<f64>,
    /// The architecture this board is meant for (default: layer-sequential).
    #[serde(default)]
    pub arch: Arch,
    #[serde(default)]
    pub memories: Vec<Memory>,
    pub nextpnr: Option<Pnr>,
    /// The development board whose top level a folded design is built as.
    #[serde(default)]
    pub kit: Option<Kit>,
}

impl Board {
    /// The Yosys commands for a design of architecture `arch`.
    pub fn synth_for(&self, arch: Arch) -> &str {
        match (arch, &self.synth_folded) {
            (Arch::Folded, Some(s)) => s,
            _ => &self.synth,
        }
    }

    /// The memories of one kind.
    pub fn memories_of(&self, kind: MemoryKind) -> impl Iterator<Item = &Memory> {
        self.memories.iter().filter(move |m| m.kind == kind)
    }
}

/// Parse a board description; `source` names it in errors.
pub fn parse_board(text: &str, source: &str) -> Result<Board> {
    let bad = |msg: String| Error::data(source, format!("bad board description: {msg}"));
    let mut b: Board = serde_norway::from_str(text).map_err(|e| bad(e.to_string()))?;
    for m in &b.memories {
        m.check().map_err(bad)?;
    }
    if let Some(p) = &mut b.nextpnr {
        // The clock lives in `clock_mhz`; an older file gives it as nextpnr's `--freq`.
        if let Some(i) = p.args.iter().position(|a| a == "--freq") {
            let f: f64 = p
                .args
                .get(i + 1)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad("nextpnr `--freq` needs a number (MHz)".into()))?;
            match b.clock_mhz {
                Some(c) if c != f => {
                    return Err(bad(format!(
                        "clock_mhz {c} and nextpnr --freq {f} disagree; keep clock_mhz only"
                    )))
                }
                _ => b.clock_mhz = Some(f),
            }
            p.args.drain(i..i + 2);
        }
        if let Some(c) = b.clock_mhz {
            p.args.extend(["--freq".to_string(), c.to_string()]);
        }
    }
    match b.clock_mhz {
        Some(c) if !(c > 0.0 && c.is_finite()) => Err(bad(format!("clock_mhz {c} is not a clock"))),
        _ => Ok(b),
    }
}

/// A built-in board by name, or a board YAML file by path.
pub fn board(name: &str) -> Result<Board> {
    let text = match BOARDS.iter().find(|b| b.0 == name) {
        Some(b) => b.1.to_string(),
        None if Path::new(name).is_file() => {
            std::fs::read_to_string(name).map_err(|e| Error::io(name, e))?
        }
        None => {
            return Err(Error::arg(
                "--board",
                format!(
                    "unknown board `{name}`; use {} or a board .yaml file",
                    BOARDS.map(|b| b.0).join(", ")
                ),
            ))
        }
    };
    parse_board(&text, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_boards_load_and_ice40_is_the_icebreaker() {
        for (name, _) in BOARDS {
            let b = board(name).unwrap();
            assert_eq!(b.name, name);
            let family = if name == "ulx3s-85f" { "ecp5" } else { name };
            assert_eq!(b.family.as_str(), family);
        }
        assert_eq!(board("ice40").unwrap().kit, Some(Kit::Icebreaker));
        assert_eq!(board("ulx3s-85f").unwrap().kit, Some(Kit::Ulx3s));
        let b = board("ice40").unwrap();
        assert_eq!(b.arch, Arch::Folded);
        assert_eq!(b.clock_mhz, Some(12.0));
        let p = &b.nextpnr.as_ref().unwrap().args;
        assert_eq!(p.iter().filter(|a| *a == "--freq").count(), 1);
        assert_eq!(p[p.len() - 2..], ["--freq", "12"]);
        // UP5K: 4 x 256 kbit SPRAM (16K x 16), 30 x 4 kbit EBR, 16 MiB flash, data at 1 MiB.
        let spram: Vec<_> = b.memories_of(MemoryKind::Spram).collect();
        assert_eq!(
            (spram[0].count, spram[0].depth(), spram[0].width),
            (4, 16384, 16)
        );
        let ebr: Vec<_> = b.memories_of(MemoryKind::Ebr).collect();
        assert_eq!(ebr[0].total_bits(), 30 * 4096);
        let flash = b.memories_of(MemoryKind::Flash).next().unwrap();
        assert_eq!(flash.part.as_deref(), Some("W25Q128JV"));
        assert_eq!(flash.unit_bits() / 8, 16 << 20);
        assert_eq!(flash.user_offset, Some(0x10_0000));
        assert_eq!(flash.user_bytes(), Some(15 << 20));
        for name in ["generic", "ecp5", "xc7"] {
            assert_eq!(board(name).unwrap().arch, Arch::Layerseq);
        }
    }

    #[test]
    fn old_freq_argument_becomes_the_clock() {
        let old = "name: b\nfamily: ice40\nsynth: s\nnextpnr: {tool: t, args: [--up5k, --freq, \"24\"]}\n";
        let b = parse_board(old, "old.yaml").unwrap();
        assert_eq!(b.clock_mhz, Some(24.0));
        assert_eq!(b.arch, Arch::Layerseq);
        assert_eq!(b.nextpnr.unwrap().args, ["--up5k", "--freq", "24"]);
        let clash = format!("{old}clock_mhz: 12\n");
        let e = parse_board(&clash, "clash.yaml").unwrap_err().to_string();
        assert!(e.contains("clash.yaml") && e.contains("disagree"), "{e}");
    }

    #[test]
    fn bad_memories_and_fields_are_refused() {
        let base = "name: b\nfamily: generic\nsynth: s\n";
        for (extra, want) in [
            (
                "memories: [{kind: flash, bytes: 1024, width: 1}]",
                "user_offset",
            ),
            ("memories: [{kind: ebr, width: 16}]", "exactly one"),
            (
                "memories: [{kind: ebr, bits: 4096, width: 16, part: X}]",
                "flash only",
            ),
            ("memories: [{kind: rom, bits: 8, width: 8}]", "rom"),
            ("family2: x", "family2"),
            ("arch: streaming", "streaming"),
        ] {
            let e = parse_board(&format!("{base}{extra}\n"), "x.yaml")
                .unwrap_err()
                .to_string();
            assert!(e.contains("x.yaml") && e.contains(want), "{extra}: {e}");
        }
    }
}
