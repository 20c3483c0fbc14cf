//! Hardware generation: `QuantGraph` → [`plan::Plan`] (architecture-neutral) → an
//! architecture's design → rendered Verilog, ROM images, testbenches, simulation and
//! synthesis.
//!
//! Stages and what each guarantees:
//! - [`plan`]: shapes, memory layout, proven widths and typed parameters of every layer,
//!   shared by every architecture;
//! - [`layerseq`]: the layer-sequential architecture (one engine per layer, run in turn);
//! - [`folded`]: the folded architecture (one shared MAC array, layer descriptors and weights
//!   streamed from flash, activations in one single-ported memory);
//! - [`golden`]: the integer reference model's codes of every planned layer on one image;
//! - [`manifest`]: what an emitted design records for [`sim`] and [`synth`], which work on
//!   any architecture's output;
//! - [`qnms`]: the shared NMS engine's options, record format and cycle schedule;
//! - [`hex`]: the `$readmemh` image format.

pub mod folded;
pub mod golden;
pub mod hex;
pub mod layerseq;
pub mod manifest;
pub mod plan;
pub mod qnms;
pub mod sim;
pub mod synth;

use crate::error::Result;
use crate::quant::QuantGraph;
use manifest::Manifest;
use ndarray::Array3;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Counter width used by every engine (enough for 640x640 feature maps and taps).
pub const CW: u32 = 16;

/// Hand-written Verilog primitives every architecture may use (`templates/common/`), copied
/// verbatim into a design's `rtl/`: `(file name, source)`.
pub mod prims {
    pub const MEM: (&str, &str) = ("yq_mem.v", include_str!("../../templates/common/yq_mem.v"));
    pub const ROM: (&str, &str) = ("yq_rom.v", include_str!("../../templates/common/yq_rom.v"));
    pub const REQUANT: (&str, &str) = (
        "yq_requant.v",
        include_str!("../../templates/common/yq_requant.v"),
    );
    pub const QNMS_ENGINE: (&str, &str) = (
        "yq_qnms_engine.v",
        include_str!("../../templates/common/yq_qnms_engine.v"),
    );
}

/// Shared Tera templates: the layer port list, the NMS stage wrapper and the Makefile.
pub const COMMON_TEMPLATES: [(&str, &str); 3] = [
    (
        "layer_ports.tera",
        include_str!("../../templates/common/layer_ports.tera"),
    ),
    ("qnms.v", include_str!("../../templates/common/qnms.v.tera")),
    (
        "Makefile",
        include_str!("../../templates/common/Makefile.tera"),
    ),
];

/// A hardware architecture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// One engine per layer, run in graph order over one activation memory.
    #[default]
    Layerseq,
    /// One shared engine folded over every layer (small FPGAs).
    Folded,
}

/// Where the folded engine's tensors live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Tensors {
    /// In the engine's activation memory (the iCE40 UP5K engine: 16 lanes, 128 KiB).
    #[default]
    Onchip,
    /// In the board's SDRAM, computed in row bands through the activation memory (the ULX3S
    /// engine: 64 lanes, 128 KiB of tiles).
    Dram,
}

/// Plan `q` at `size x size`, build the design of `arch` (a folded one with its tensors where
/// `tensors` says), compute the golden vectors on `image` and write everything to `out`.
pub fn generate(
    q: &QuantGraph,
    arch: Arch,
    size: usize,
    parallel: usize,
    tensors: Tensors,
    image: &Array3<f32>,
    out: &Path,
) -> Result<Manifest> {
    match arch {
        Arch::Layerseq => layerseq::emit::generate(q, size, parallel, image, out),
        // The folded engine's lanes come from where its tensors live, not from --parallel.
        Arch::Folded => {
            let hw = match tensors {
                Tensors::Onchip => folded::FoldHw::up5k(),
                Tensors::Dram => folded::FoldHw::ulx3s(),
            };
            folded::emit::generate_with(q, size, hw, tensors, image, out)
        }
    }
}

/// Render one Tera template; an error names the template and the whole cause chain.
pub(crate) fn render_template(t: &tera::Tera, name: &str, ctx: &tera::Context) -> Result<String> {
    t.render(name, ctx).map_err(|e| {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        crate::error::Error::Other(format!("rendering template {name}: {msg}"))
    })
}

/// Write a rendered design to `out`: the generated sub-directories `dirs` of an earlier design
/// are replaced (only when `out/manifest.json` marks the directory as ours), then every file is
/// written atomically.
pub(crate) fn write_design(out: &Path, dirs: &[&str], files: &[(String, String)]) -> Result<()> {
    if out.join("manifest.json").is_file() {
        for sub in dirs {
            let p = out.join(sub);
            if p.is_dir() {
                std::fs::remove_dir_all(&p).map_err(|e| crate::error::Error::io(&p, e))?;
            }
        }
    }
    for (rel, body) in files {
        crate::util::write_atomic_str(&out.join(rel), body)?;
    }
    Ok(())
}

/// Width in bits of an unsigned value up to `max` (at least 1).
pub fn ubits(max: u64) -> u32 {
    (64 - max.leading_zeros()).max(1)
}

/// A Verilog identifier from a node name (`model.2.m.0.cv1` → `model_2_m_0_cv1`).
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
