//! `manifest.json`: what an emitted design records about itself, for `sim` and `synth` to
//! read back (they work on any architecture's output through it).
//!
//! Guarantees: written by the emitter as pretty JSON in a fixed field order (byte-identical
//! on every run); a directory without a readable manifest is refused with a message naming
//! the file and the fix.

use super::plan::LayerKind;
use super::Arch;
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
    /// The architecture that emitted the design (absent in older manifests: layerseq).
    #[serde(default)]
    pub arch: Arch,
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
    /// Simulation models the testbench instantiates besides the RTL (the SDRAM model of a
    /// design with DRAM), relative to the output directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sim_models: Vec<String>,
    /// Full design parameters per layer (informative).
    pub design: serde_json::Value,
    /// What a host program needs to run a board built from this design (folded designs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostInfo>,
}

/// The host side of a board design: frame size, where the detections are, class names.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HostInfo {
    /// Bytes of one input frame (letterboxed planar RGB codes, one byte each).
    pub input_bytes: usize,
    /// Activation-memory byte address of the detection records (count, then 11-byte
    /// records), when the design ends in the integer NMS stage.
    pub det_base: Option<usize>,
    /// Most records the stage writes.
    pub max_det: usize,
    pub class_names: Vec<String>,
    /// UART baud rate of the board.
    pub baud: u64,
    /// The input's row bands `[y0, y1)` when the engine loads it band by band (a design with
    /// DRAM): the host sends each band's rows of every channel after the board's 'R'. Empty:
    /// the input is taken whole, in planar order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_bands: Vec<[usize; 2]>,
}

impl HostInfo {
    /// The bytes to send for the planar `[3, h, w]` codes `codes`, one chunk per 'R'.
    pub fn input_chunks(&self, codes: &[u8]) -> Vec<Vec<u8>> {
        if self.input_bands.is_empty() {
            return vec![codes.to_vec()];
        }
        let h = self.input_bands.iter().map(|b| b[1]).max().unwrap_or(0);
        let w = codes.len() / (3 * h.max(1));
        self.input_bands
            .iter()
            .map(|&[y0, y1]| {
                crate::rtl::folded::band::rows_order([3, h, w], std::iter::once((y0, y1)))
                    .into_iter()
                    .map(|i| codes[i])
                    .collect()
            })
            .collect()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_without_arch_read_as_layerseq() {
        let m = Manifest {
            top: "t".into(),
            arch: Arch::Folded,
            imgsz: [32, 32],
            parallel: 1,
            abits: 8,
            wbits: 8,
            mem_depth: 1,
            frame_cycles: 1,
            total_macs: 0,
            mac_utilisation: 0.0,
            layers: vec![],
            rtl: vec![],
            testbench: "tb/tb_top.v".into(),
            sim_models: Vec::new(),
            design: serde_json::Value::Null,
            host: None,
        };
        let mut v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["arch"], "folded");
        assert_eq!(serde_json::from_value::<Manifest>(v.clone()).unwrap(), m);
        v.as_object_mut().unwrap().remove("arch");
        let old: Manifest = serde_json::from_value(v).unwrap();
        assert_eq!(old.arch, Arch::Layerseq);
    }
}
