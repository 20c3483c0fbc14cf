//! The "compressed architecture": one record per node with its kind, wiring, shapes,
//! parameter count and MACs at a given input size, plus totals. Written as YAML by
//! `import` and, with quantization fields filled in, by `quantize`.

use crate::error::Result;
use crate::graph::{Graph, Op};
use serde::Serialize;
use std::path::Path;

#[derive(Clone, Debug, Serialize)]
pub struct LayerRecord {
    pub index: usize,
    pub name: String,
    pub kind: &'static str,
    pub inputs: Vec<String>,
    pub c_in: usize,
    pub c_out: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stride: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub padding: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<&'static str>,
    /// `[C, H, W]` at the architecture's input size.
    pub output_shape: [usize; 3],
    pub params: usize,
    pub macs: u64,
    /// Quantization fields (filled by the quantize stage), free-form key/values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quant: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Totals {
    pub layers: usize,
    pub conv_layers: usize,
    pub params: usize,
    pub macs: u64,
    pub gmacs: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Architecture {
    pub model: String,
    pub scale: String,
    pub input: [usize; 3],
    pub num_classes: usize,
    pub reg_max: usize,
    pub strides: Vec<usize>,
    pub anchors: usize,
    pub layers: Vec<LayerRecord>,
    pub totals: Totals,
}

/// Describe the graph at input size `h x w`.
pub fn describe(g: &Graph, h: usize, w: usize) -> Architecture {
    let shapes = g.shapes(h, w);
    let mut layers = Vec::with_capacity(g.nodes.len());
    for (i, n) in g.nodes.iter().enumerate() {
        let c_in = n
            .inputs
            .iter()
            .map(|&j| shapes[j][0])
            .sum::<usize>()
            .max(if i == 0 { 3 } else { 0 });
        let out = shapes[i];
        let (mut kernel, mut stride, mut padding, mut act) = (None, None, None, None);
        let (mut params, mut macs) = (0usize, 0u64);
        match &n.op {
            Op::Conv(c) => {
                kernel = Some(c.k());
                stride = Some(c.stride);
                padding = Some(c.pad);
                act = Some(match c.act {
                    crate::graph::Act::Silu => "silu",
                    crate::graph::Act::Identity => "none",
                });
                params = c.weight.len() + c.c_out();
                macs = (c.weight.len() * out[1] * out[2]) as u64;
            }
            Op::MaxPool { k, stride: s, pad } => {
                kernel = Some(*k);
                stride = Some(*s);
                padding = Some(*pad);
            }
            Op::Upsample { factor } => stride = Some(*factor),
            _ => {}
        }
        layers.push(LayerRecord {
            index: i,
            name: n.name.clone(),
            kind: n.op.kind(),
            inputs: n.inputs.iter().map(|&j| g.nodes[j].name.clone()).collect(),
            c_in,
            c_out: out[0],
            kernel,
            stride,
            padding,
            activation: act,
            output_shape: out,
            params,
            macs,
            quant: None,
        });
    }
    let params = layers.iter().map(|l| l.params).sum();
    let macs: u64 = layers.iter().map(|l| l.macs).sum();
    Architecture {
        model: format!("yolov8{}", g.scale.letter()),
        scale: g.scale.letter().to_string(),
        input: [3, h, w],
        num_classes: g.head.nc,
        reg_max: g.head.reg_max,
        strides: g.head.strides.clone(),
        anchors: g.num_anchors(h, w),
        totals: Totals {
            layers: layers.len(),
            conv_layers: layers.iter().filter(|l| l.kind == "conv").count(),
            params,
            macs,
            gmacs: macs as f64 / 1e9,
        },
        layers,
    }
}

/// Write the architecture as YAML (atomically).
pub fn write_yaml(a: &Architecture, path: &Path) -> Result<()> {
    let s = serde_norway::to_string(a).map_err(|e| {
        crate::Error::Other(format!(
            "{}: cannot serialize architecture: {e}",
            path.display()
        ))
    })?;
    crate::util::write_atomic_str(path, &s)
}
