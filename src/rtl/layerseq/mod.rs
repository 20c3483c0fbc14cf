//! The layer-sequential architecture: [`Plan`] → [`HwDesign`] → rendered Verilog.
//!
//! A controller runs one module per planned layer (input loader, convolution, max-pool,
//! upsample, residual add, NMS stage) in plan order over one shared activation memory laid
//! out by the plan; slices and concats cost nothing because producers write straight into
//! their place inside the concatenated buffer. [`lower`] adds what this organisation needs:
//! module names, `parallel` MAC lanes per convolution, ROM images, counter widths and the
//! cycle model of every engine; the templates (`templates/layerseq/`) only place them.
//!
//! Guarantees: the widths and addresses are the plan's; the cycle model of each layer is the
//! RTL's schedule (the frame: every layer plus one controller cycle between layers).

pub mod conv;
pub mod emit;
pub mod movers;

use super::plan::{InputPlan, LayerKind, LayerPlan, NodePlace, Plan};
use super::qnms::QnmsRun;
use super::sanitize;
use crate::error::{Error, Result};
use serde::Serialize;

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
    pub kind: LayerKind,
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
    Input(InputPlan),
    Conv(Box<conv::ConvP>),
    Pool(movers::PoolP),
    Upsample(movers::UpsampleP),
    Add(super::plan::AddPlan),
    Qnms(Box<super::plan::QnmsPlan>),
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
    pub fn set_qnms_run(&mut self, run: &QnmsRun) {
        if let Some(l) = self.layers.iter_mut().find(|l| l.kind == LayerKind::Qnms) {
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

/// Lower the plan with `parallel` MAC lanes per convolution.
pub fn lower(plan: &Plan, parallel: usize) -> Result<HwDesign> {
    if !(1..=64).contains(&parallel) {
        return Err(Error::arg(
            "--parallel",
            format!("{parallel} MAC lanes is not supported; use 1 to 64"),
        ));
    }
    let layers: Vec<HwLayer> = plan
        .layers
        .iter()
        .enumerate()
        .map(|(index, l)| {
            let (params, cycles) = match &l.params {
                LayerPlan::Input(p) => (LayerParams::Input(p.clone()), movers::input_cycles(p)),
                LayerPlan::Conv(c) => {
                    let p = conv::lower(c, plan.aw, parallel);
                    let cycles = p.cycles();
                    (LayerParams::Conv(Box::new(p)), cycles)
                }
                LayerPlan::MaxPool(p) => {
                    let p = movers::pool(p, plan.aw);
                    let cycles = p.cycles();
                    (LayerParams::Pool(p), cycles)
                }
                LayerPlan::Upsample(p) => {
                    let p = movers::upsample(p);
                    let cycles = p.cycles();
                    (LayerParams::Upsample(p), cycles)
                }
                LayerPlan::Add(p) => (LayerParams::Add(p.clone()), movers::add_cycles(p)),
                // Without candidates; the golden image's count replaces it (`set_qnms_run`).
                LayerPlan::Qnms(p) => (LayerParams::Qnms(p.clone()), p.schedule(&[]).cycles),
            };
            HwLayer {
                index,
                node: l.node,
                name: l.name.clone(),
                module: format!("yq_l{index:03}_{}", sanitize(&l.name)),
                kind: l.kind,
                shape: l.shape,
                out_base: l.out_base,
                macs: l.macs,
                cycles,
                params,
            }
        })
        .collect();
    Ok(HwDesign {
        top: "yq_top".into(),
        imgsz: plan.imgsz,
        parallel,
        abits: plan.abits,
        wbits: plan.wbits,
        mem_depth: plan.mem_depth,
        aw: plan.aw,
        frame_cycles: frame_cycles(&layers),
        layers,
        nodes: plan.nodes.clone(),
        outputs: plan.outputs.clone(),
        total_macs: plan.total_macs,
    })
}
