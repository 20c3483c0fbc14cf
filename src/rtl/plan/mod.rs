//! The architecture-neutral hardware plan: everything about a quantized network at one input
//! size that does not depend on how the hardware is organised. Every backend
//! (`rtl::layerseq`, the folded architecture) starts from the same [`Plan`].
//!
//! Guarantees of [`plan`]:
//! - the layers are the graph's computing nodes in graph order (slices and concats are
//!   aliases, see [`layout`]), followed by the NMS stage when the model has `--qnms` tables;
//! - every tensor has a shape and a base address in one activation memory of `mem_depth`
//!   words of `abits` bits (the widest tensor format), live buffers never overlap and the
//!   head outputs stay readable to the end; the NMS records follow every tensor;
//! - every width (accumulator, bias, sum, multiplier, shifts, requantizer target, residual
//!   add) is proven from the actual integer weights and formats, so no intermediate value of
//!   the integer reference model (`quant::int_model`) can overflow it;
//! - per-channel values are typed ([`conv::ChannelParams`]) and the integer weights and
//!   SiLU tables are the model's own, unchanged.
//!
//! What is left to a backend: lanes, module names, ROM packing, counters, schedules and cycle
//! models.

pub mod conv;
pub mod layout;
pub mod movers;
pub mod qnms;

use crate::error::{Error, Result};
use crate::quant::{QOp, QuantGraph};
use serde::{Deserialize, Serialize};

pub use conv::{ChannelParams, ConvPlan};
pub use movers::{AddPlan, InputPlan, PoolPlan, UpsamplePlan};
pub use qnms::QnmsPlan;

/// What a planned layer computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    Input,
    Conv,
    MaxPool,
    Upsample,
    Add,
    Qnms,
}

impl LayerKind {
    /// Every kind, in declaration order.
    pub const ALL: [LayerKind; 6] = [
        LayerKind::Input,
        LayerKind::Conv,
        LayerKind::MaxPool,
        LayerKind::Upsample,
        LayerKind::Add,
        LayerKind::Qnms,
    ];

    /// The lowercase name used in manifests and reports (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            LayerKind::Input => "input",
            LayerKind::Conv => "conv",
            LayerKind::MaxPool => "maxpool",
            LayerKind::Upsample => "upsample",
            LayerKind::Add => "add",
            LayerKind::Qnms => "qnms",
        }
    }
}

impl std::fmt::Display for LayerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialEq<&str> for LayerKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Kind-specific, architecture-neutral parameters of a planned layer.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type")]
pub enum LayerPlan {
    Input(InputPlan),
    Conv(Box<ConvPlan>),
    MaxPool(PoolPlan),
    Upsample(UpsamplePlan),
    Add(AddPlan),
    Qnms(Box<QnmsPlan>),
}

impl LayerPlan {
    pub fn kind(&self) -> LayerKind {
        match self {
            LayerPlan::Input(_) => LayerKind::Input,
            LayerPlan::Conv(_) => LayerKind::Conv,
            LayerPlan::MaxPool(_) => LayerKind::MaxPool,
            LayerPlan::Upsample(_) => LayerKind::Upsample,
            LayerPlan::Add(_) => LayerKind::Add,
            LayerPlan::Qnms(_) => LayerKind::Qnms,
        }
    }
}

/// One computing layer of the plan.
#[derive(Clone, Debug, Serialize)]
pub struct PlanLayer {
    pub kind: LayerKind,
    /// Node of the quantized graph this layer produces (for the NMS stage, which reads the
    /// head outputs and produces detections, one past the last node).
    pub node: usize,
    pub name: String,
    /// Output shape `[c, h, w]` (the NMS stage: `[1, 1, words reserved]`) and its base
    /// address in the activation memory.
    pub shape: [usize; 3],
    pub out_base: usize,
    /// Multiply-accumulates this layer performs (0 for data movement).
    pub macs: u64,
    pub params: LayerPlan,
}

/// Where a tensor of the quantized graph lives.
#[derive(Clone, Debug, Serialize)]
pub struct NodePlace {
    pub name: String,
    /// Short op name ([`op_kind`]).
    pub kind: String,
    pub shape: [usize; 3],
    pub base: usize,
}

/// The neutral plan of a quantized network at one input size.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// Input `[h, w]`.
    pub imgsz: [usize; 2],
    /// Word width of the activation memory: the widest tensor format.
    pub abits: u32,
    pub wbits: u32,
    /// Activation memory depth (words of `abits`) and its address width.
    pub mem_depth: usize,
    pub aw: u32,
    pub layers: Vec<PlanLayer>,
    /// Every node of the quantized graph (aliases included), by node index.
    pub nodes: Vec<NodePlace>,
    /// Nodes holding the network outputs (box and class logits per level), sorted.
    pub outputs: Vec<usize>,
    pub total_macs: u64,
}

impl Plan {
    /// The NMS stage, when the model has one.
    pub fn qnms(&self) -> Option<&QnmsPlan> {
        self.layers.iter().find_map(|l| match &l.params {
            LayerPlan::Qnms(p) => Some(p.as_ref()),
            _ => None,
        })
    }
}

/// Plan the quantized graph `q` at input size `h x w`.
pub fn plan(q: &QuantGraph, h: usize, w: usize) -> Result<Plan> {
    crate::model::check_imgsz("--imgsz", h, w)?;
    let shapes = layout::shapes(q, h, w)?;
    let lay = layout::place(q, &shapes)?;
    // Memory word: the widest tensor format (head logits may be wider than activations).
    let abits = q
        .nodes
        .iter()
        .filter_map(|n| n.fmt.map(|f| f.bits))
        .max()
        .unwrap_or(q.config.abits);
    // The post-processing stage writes its records after every tensor.
    let depth = lay.depth + qnms::region(q, &shapes);
    let aw = super::ubits(depth.saturating_sub(1) as u64);
    let mut layers = Vec::new();
    for (i, n) in q.nodes.iter().enumerate() {
        let src = n.inputs.first().copied();
        let input = |k: usize| (&shapes[n.inputs[k]], lay.base[n.inputs[k]]);
        let params = match &n.op {
            QOp::Slice { .. } | QOp::Concat => continue,
            QOp::FloatConv(_) => {
                return Err(Error::arg(
                    "--quant",
                    format!("{} is a float convolution (--head float); RTL needs a model quantized with --head int", n.name),
                ))
            }
            QOp::Input { shift } => {
                LayerPlan::Input(movers::input(&shapes[i], *shift, lay.base[i], q.config.abits))
            }
            QOp::Conv(c) => {
                let src = src.expect("a convolution has an input");
                let fi = q.nodes[src].fmt.expect("conv input is integer");
                let fo = n.fmt.expect("conv output is integer");
                let (ishape, in_base) = input(0);
                LayerPlan::Conv(Box::new(conv::build(c, &fi, &fo, ishape, &shapes[i], in_base, lay.base[i], abits)))
            }
            QOp::MaxPool { k, stride, pad } => {
                let (ishape, in_base) = input(0);
                LayerPlan::MaxPool(movers::pool(ishape, &shapes[i], *k, *stride, *pad, in_base, lay.base[i]))
            }
            QOp::Upsample { factor } => {
                let (ishape, in_base) = input(0);
                LayerPlan::Upsample(movers::upsample(ishape, *factor, in_base, lay.base[i]))
            }
            QOp::Add { shifts } => {
                let fmts: Vec<_> = n.inputs.iter().map(|&j| q.nodes[j].fmt.expect("int")).collect();
                let bases: Vec<_> = n.inputs.iter().map(|&j| lay.base[j]).collect();
                LayerPlan::Add(movers::add(&n.name, &shapes[i], &bases, &fmts, shifts, &n.fmt.expect("int"), lay.base[i])?)
            }
        };
        let macs = match &params {
            LayerPlan::Conv(p) => p.macs(),
            _ => 0,
        };
        layers.push(PlanLayer {
            kind: params.kind(),
            node: i,
            name: n.name.clone(),
            shape: shapes[i],
            out_base: lay.base[i],
            macs,
            params,
        });
    }
    if q.qnms.is_some() {
        let p = qnms::build(q, &shapes, &lay.base, lay.depth, abits)?;
        layers.push(PlanLayer {
            kind: LayerKind::Qnms,
            node: q.nodes.len(),
            name: "qnms".into(),
            shape: [1, 1, p.region],
            out_base: p.out_base,
            macs: 0,
            params: LayerPlan::Qnms(Box::new(p)),
        });
    }
    let nodes = q
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| NodePlace {
            name: n.name.clone(),
            kind: op_kind(&n.op).into(),
            shape: shapes[i],
            base: lay.base[i],
        })
        .collect();
    let total_macs = layers.iter().map(|l| l.macs).sum();
    Ok(Plan {
        imgsz: [h, w],
        abits,
        wbits: q.config.wbits,
        mem_depth: depth,
        aw,
        layers,
        nodes,
        outputs: layout::outputs(q),
        total_macs,
    })
}

/// Short kind name of a quantized op.
pub fn op_kind(op: &QOp) -> &'static str {
    match op {
        QOp::Input { .. } => "input",
        QOp::Conv(_) => "conv",
        QOp::FloatConv(_) => "floatconv",
        QOp::Slice { .. } => "slice",
        QOp::Concat => "concat",
        QOp::Add { .. } => "add",
        QOp::MaxPool { .. } => "maxpool",
        QOp::Upsample { .. } => "upsample",
    }
}

#[cfg(test)]
mod tests {
    use super::LayerKind;

    #[test]
    fn kind_names_are_the_serde_names() {
        for k in LayerKind::ALL {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            let back: LayerKind = serde_json::from_str(&json).unwrap();
            assert_eq!(back, k);
        }
    }
}
