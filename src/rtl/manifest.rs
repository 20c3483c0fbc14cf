//! `manifest.json`: what an emitted design records about itself, for `sim` and `synth` to
//! read back (they work on any architecture's output through it).
//!
//! Guarantees: written by the emitter as pretty JSON in a fixed field order (byte-identical
//! on every run); a directory without a readable manifest is refused with a message naming
//! the file and the fix.

use super::plan::LayerKind;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One layer as recorded in `manifest.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ManifestLayer {
    pub index: usize,
    pub name: String,
    /// Verilog module of the layer (its engine or wrapper).
    pub module: String,
    pub kind: LayerKind,
    pub shape: [usize; 3],
    pub macs: u64,
    /// Predicted cycles from the layer's start to its end.
    pub cycles: u64,
}

/// `manifest.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub top: String,
    pub imgsz: [usize; 2],
    pub parallel: usize,
    pub abits: u32,
    pub wbits: u32,
    pub mem_depth: usize,
    pub frame_cycles: u64,
    pub total_macs: u64,
    /// Useful MACs / (parallel * frame cycles).
    pub mac_utilisation: f64,
    pub layers: Vec<ManifestLayer>,
    /// RTL sources in compilation order, relative to the output directory.
    pub rtl: Vec<String>,
    pub testbench: String,
    /// Full design parameters per layer (informative).
    pub design: serde_json::Value,
}

/// Read `manifest.json` of an emitted design.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let p = dir.join("manifest.json");
    let s = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
    serde_json::from_str(&s).map_err(|e| {
        Error::data(
            &p,
            format!("not a yoloq-gen manifest ({e}); re-run `yoloq-gen emit`"),
        )
    })
}
