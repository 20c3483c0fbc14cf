//! Golden vectors: the integer reference model run on one image, laid out as the
//! testbenches read them.
//!
//! Architecture-neutral: it follows the [`Plan`], so every backend's testbench reads the same
//! vectors (a backend that runs the layers in another order indexes them by layer).
//!
//! Guarantees: `golden` holds, for every planned layer in plan order, that layer's
//! output codes in the order of its memory layout (channel-major), exactly as
//! `quant::int_model::forward` computes them; `pixels` is the 8-bit image the input
//! loader receives (planar RGB). With `--qnms`, the post-processing stage's golden words
//! are the count and detection records of `quant::qhead::postprocess` on the same image.

use super::hex;
use super::plan::{LayerPlan, Plan};
use super::qnms::{QnmsRun, NMS};
use crate::quant::int_model::{forward, input_codes, HeadOut};
use crate::quant::{qhead, QuantGraph};
use ndarray::Array3;
use serde::Serialize;

/// Golden data of one emitted design.
#[derive(Clone, Debug, Serialize)]
pub struct Golden {
    /// Raw pixels (`quant::int_model::input_codes` unshifted), planar, row-major.
    #[serde(skip)]
    pub pixels: Vec<u8>,
    /// Every planned layer's output codes, concatenated in plan order.
    #[serde(skip)]
    pub codes: Vec<i32>,
    /// Offset of each layer's codes in `codes`.
    pub offsets: Vec<usize>,
    /// Per layer: its input tensors as a `$readmemh` image with `@address` lines (empty for
    /// the input loader), for the single-layer testbench.
    #[serde(skip)]
    pub layer_inputs: Vec<String>,
    /// The post-processing stage on this image (with `--qnms`).
    #[serde(skip)]
    pub qnms: Option<QnmsRun>,
}

/// Run the integer model on `image` (`[3,H,W]` in [0,1]) and collect every layer's codes.
pub fn golden(q: &QuantGraph, d: &Plan, image: &Array3<f32>) -> Golden {
    let out = forward(q, image, true, NMS);
    // The 8-bit pixels the loader receives: the reference model's input rule without the shift.
    let pixels = input_codes(image, 0).iter().map(|&c| c as u8).collect();
    let mut codes = Vec::new();
    let mut offsets = Vec::with_capacity(d.layers.len());
    let mut layer_inputs = Vec::with_capacity(d.layers.len());
    let mut qnms = None;
    for l in &d.layers {
        // The layer's input tensors: its node's inputs, or the head outputs for the NMS stage.
        let inputs = match &l.params {
            LayerPlan::Qnms(_) => d.outputs.clone(),
            _ => q.nodes[l.node].inputs.clone(),
        };
        let mut img = String::new();
        for j in inputs {
            let v = out.values[j].as_ref().expect("keep_all keeps every value");
            img.push_str(&format!("@{:x}\n", d.nodes[j].base));
            img.push_str(&hex::values(v.int().iter().map(|&c| c as i64), d.abits));
        }
        layer_inputs.push(img);
        offsets.push(codes.len());
        if let LayerPlan::Qnms(p) = &l.params {
            let int = |n: &usize| out.values[*n].as_ref().expect("kept").int();
            let b: Vec<_> = q.head.box_nodes.iter().map(int).collect();
            let c: Vec<_> = q.head.cls_nodes.iter().map(int).collect();
            let t = q.qnms.as_ref().expect("qnms layer implies tables");
            let cands = qhead::candidates(t, q.head.reg_max, &b, &c, NMS.conf, NMS.multi_label);
            let run = p.schedule(&cands);
            if let HeadOut::Detections(dets) = &out.head {
                assert_eq!(dets, &run.kept, "the engine's NMS order is the reference's");
            }
            codes.extend(run.codes.iter().copied());
            qnms = Some(run);
        } else {
            let v = out.values[l.node]
                .as_ref()
                .expect("keep_all keeps every value");
            codes.extend(v.int().iter().copied());
        }
    }
    Golden {
        pixels,
        codes,
        offsets,
        layer_inputs,
        qnms,
    }
}
