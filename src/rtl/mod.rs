//! Hardware generation: `QuantGraph` → [`HwDesign`] → rendered Verilog, ROM images,
//! testbenches, simulation and synthesis.
//!
//! Architecture: layer-sequential. A controller runs one module per hardware layer (input
//! loader, convolution, max-pool, upsample, residual add) in graph order over one shared
//! activation memory; slices and concats cost nothing because producers write straight into
//! their place inside the concatenated buffer. [`lower`] decides every address, bit width,
//! shift and cycle count; the templates only place them.
//!
//! Guarantees: every width is derived from the actual weights and formats so that no
//! intermediate value can overflow; the cycle model of each layer is the RTL's schedule.

pub mod conv;
pub mod emit;
pub mod golden;
pub mod hex;
pub mod layout;
pub mod movers;
pub mod qnms;
pub mod sim;
pub mod synth;

use crate::error::{Error, Result};
use crate::quant::{QOp, QuantGraph};
use serde::Serialize;

/// Counter width used by every engine (enough for 640x640 feature maps and taps).
pub const CW: u32 = 16;

/// One hardware step of the layer-sequential schedule.
#[derive(Clone, Debug, Serialize)]
pub struct HwLayer {
    /// Position in the schedule (the controller's `cur`).
    pub index: usize,
    /// Node of the quantized graph this layer produces (for the `qnms` stage, which reads
    /// the head outputs and produces detections, one past the last node).
    pub node: usize,
    pub name: String,
    /// Verilog module name.
    pub module: String,
    pub kind: String,
    /// Output shape `[c, h, w]` and its base address in the activation memory.
    pub shape: [usize; 3],
    pub out_base: usize,
    /// Multiply-accumulates this layer performs (0 for data movement).
    pub macs: u64,
    /// Cycles from `go` to `done` (the RTL schedule, see each kind's `cycles`).
    pub cycles: u64,
    pub params: LayerParams,
}

/// Kind-specific parameters handed to the templates.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type")]
pub enum LayerParams {
    Input(movers::InputP),
    Conv(Box<conv::ConvP>),
    Pool(movers::PoolP),
    Upsample(movers::UpsampleP),
    Add(movers::AddP),
    Qnms(Box<qnms::QnmsP>),
}

/// Where a tensor of the quantized graph lives.
#[derive(Clone, Debug, Serialize)]
pub struct NodePlace {
    pub name: String,
    pub kind: String,
    pub shape: [usize; 3],
    pub base: usize,
}

/// The whole accelerator.
#[derive(Clone, Debug, Serialize)]
pub struct HwDesign {
    pub top: String,
    pub imgsz: [usize; 2],
    pub parallel: usize,
    /// Word width of the activation memory: the widest tensor format.
    pub abits: u32,
    pub wbits: u32,
    /// Activation memory depth (words of `abits`) and address width.
    pub mem_depth: usize,
    pub aw: u32,
    pub layers: Vec<HwLayer>,
    pub nodes: Vec<NodePlace>,
    /// Nodes holding the network outputs (box and class logits per level).
    pub outputs: Vec<usize>,
    /// Cycles for a frame: every layer plus one controller cycle between layers.
    pub frame_cycles: u64,
    pub total_macs: u64,
}

impl HwDesign {
    /// Record the post-processing stage's outcome on the golden image: its output size
    /// (count + records) and its cycles, which depend on the number of candidates.
    pub fn set_qnms_run(&mut self, run: &qnms::QnmsRun) {
        if let Some(l) = self.layers.iter_mut().find(|l| l.kind == "qnms") {
            l.shape = [1, 1, run.codes.len()];
            l.cycles = run.cycles;
        }
        self.frame_cycles = frame_cycles(&self.layers);
    }
}

/// Cycles for a frame: every layer plus one controller cycle between layers.
fn frame_cycles(layers: &[HwLayer]) -> u64 {
    layers.iter().map(|l| l.cycles + 1).sum::<u64>() + 1
}

/// Width in bits of an unsigned value up to `max` (at least 1).
pub fn ubits(max: u64) -> u32 {
    (64 - max.leading_zeros()).max(1)
}

/// Lower a quantized graph at input size `h x w` with `parallel` MAC lanes per convolution.
pub fn lower(q: &QuantGraph, h: usize, w: usize, parallel: usize) -> Result<HwDesign> {
    crate::model::check_imgsz("--imgsz", h, w)?;
    if !(1..=64).contains(&parallel) {
        return Err(Error::arg(
            "--parallel",
            format!("{parallel} MAC lanes is not supported; use 1 to 64"),
        ));
    }
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
    let aw = ubits(depth.saturating_sub(1) as u64);
    let mut layers = Vec::new();
    for (i, n) in q.nodes.iter().enumerate() {
        let (kind, params, macs) = match &n.op {
            QOp::Slice { .. } | QOp::Concat => continue,
            QOp::FloatConv(_) => {
                return Err(Error::arg(
                    "--quant",
                    format!("{} is a float convolution (--head float); RTL needs a model quantized with --head int", n.name),
                ))
            }
            QOp::Input { shift } => (
                "input",
                LayerParams::Input(movers::input(&shapes[i], *shift, lay.base[i], q.config.abits)),
                0,
            ),
            QOp::Conv(c) => {
                let src = n.inputs[0];
                let fi = q.nodes[src].fmt.expect("conv input is integer");
                let fo = n.fmt.expect("conv output is integer");
                let p = conv::build(c, &fi, &fo, &shapes[src], &shapes[i], lay.base[src], lay.base[i], aw, abits, parallel)?;
                let macs = p.macs();
                ("conv", LayerParams::Conv(Box::new(p)), macs)
            }
            QOp::MaxPool { k, stride, pad } => (
                "maxpool",
                LayerParams::Pool(movers::pool(&shapes[n.inputs[0]], &shapes[i], *k, *stride, *pad, lay.base[n.inputs[0]], lay.base[i], aw)),
                0,
            ),
            QOp::Upsample { factor } => (
                "upsample",
                LayerParams::Upsample(movers::upsample(&shapes[n.inputs[0]], *factor, lay.base[n.inputs[0]], lay.base[i])),
                0,
            ),
            QOp::Add { shifts } => {
                let fmts: Vec<_> = n.inputs.iter().map(|&j| q.nodes[j].fmt.expect("int")).collect();
                let bases: Vec<_> = n.inputs.iter().map(|&j| lay.base[j]).collect();
                let p = movers::add(&n.name, &shapes[i], &bases, &fmts, shifts, &n.fmt.expect("int"), lay.base[i])?;
                ("add", LayerParams::Add(p), 0)
            }
        };
        let index = layers.len();
        let cycles = match &params {
            LayerParams::Input(p) => p.cycles(),
            LayerParams::Conv(p) => p.cycles(),
            LayerParams::Pool(p) => p.cycles(),
            LayerParams::Upsample(p) => p.cycles(),
            LayerParams::Add(p) => p.cycles(),
            LayerParams::Qnms(_) => unreachable!("added after the graph"),
        };
        layers.push(HwLayer {
            index,
            node: i,
            name: n.name.clone(),
            module: format!("yq_l{index:03}_{}", sanitize(&n.name)),
            kind: kind.into(),
            shape: shapes[i],
            out_base: lay.base[i],
            macs,
            cycles,
            params,
        });
    }
    if q.qnms.is_some() {
        let p = qnms::build(q, &shapes, &lay.base, lay.depth, abits)?;
        let index = layers.len();
        layers.push(HwLayer {
            index,
            node: q.nodes.len(),
            name: "qnms".into(),
            module: format!("yq_l{index:03}_qnms"),
            kind: "qnms".into(),
            shape: [1, 1, p.region],
            out_base: p.out_base,
            macs: 0,
            // Without candidates; the golden image's count replaces it (`set_qnms_run`).
            cycles: p.schedule(&[]).cycles,
            params: LayerParams::Qnms(Box::new(p)),
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
    let frame_cycles = frame_cycles(&layers);
    let total_macs = layers.iter().map(|l| l.macs).sum();
    Ok(HwDesign {
        top: "yq_top".into(),
        imgsz: [h, w],
        parallel,
        abits,
        wbits: q.config.wbits,
        mem_depth: depth,
        aw,
        layers,
        nodes,
        outputs: layout::outputs(q),
        frame_cycles,
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

/// A Verilog identifier from a node name (`model.2.m.0.cv1` → `model_2_m_0_cv1`).
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
