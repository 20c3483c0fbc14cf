//! The network as a flat, topologically ordered list of nodes.
//!
//! Every stage (float, fused, quantized, hardware) keeps the same node indices, so a
//! tensor produced by node `i` can be compared across stages by index or by name.
//! Node names follow the Ultralytics module paths (`model.2.cv1`, `model.2.m.0.add`, ...).

use ndarray::{Array1, Array4};
use serde::Serialize;

/// Index of a node in [`Graph::nodes`].
pub type NodeId = usize;

/// Activation applied after a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Act {
    Silu,
    Identity,
}

/// BatchNorm2d parameters (inference form).
#[derive(Clone, Debug)]
pub struct BatchNorm {
    pub gamma: Array1<f32>,
    pub beta: Array1<f32>,
    pub mean: Array1<f32>,
    pub var: Array1<f32>,
    pub eps: f32,
}

/// A 2-D convolution (groups = 1), optionally followed by BatchNorm and an activation.
#[derive(Clone, Debug)]
pub struct Conv {
    /// `[c_out, c_in, k_h, k_w]`
    pub weight: Array4<f32>,
    pub bias: Option<Array1<f32>>,
    pub bn: Option<BatchNorm>,
    pub stride: usize,
    pub pad: usize,
    pub act: Act,
}

impl Conv {
    pub fn c_out(&self) -> usize {
        self.weight.shape()[0]
    }
    pub fn c_in(&self) -> usize {
        self.weight.shape()[1]
    }
    pub fn k(&self) -> usize {
        self.weight.shape()[2]
    }
}

/// One operation of the network. (Conv is large, but a graph holds only ~230 nodes.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Op {
    /// The image tensor, `[3, H, W]`, RGB in [0, 1].
    Input,
    Conv(Conv),
    /// Channels `start..end` of the single input (C2f's `chunk(2)`).
    Slice {
        start: usize,
        end: usize,
    },
    /// Channel concatenation of all inputs, in order.
    Concat,
    /// Element-wise sum of two inputs (Bottleneck shortcut).
    Add,
    MaxPool {
        k: usize,
        stride: usize,
        pad: usize,
    },
    /// Nearest-neighbour upsampling by an integer factor.
    Upsample {
        factor: usize,
    },
}

impl Op {
    /// Short kind name used in reports and templates.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Conv(_) => "conv",
            Op::Slice { .. } => "slice",
            Op::Concat => "concat",
            Op::Add => "add",
            Op::MaxPool { .. } => "maxpool",
            Op::Upsample { .. } => "upsample",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub op: Op,
    pub inputs: Vec<NodeId>,
}

/// The Detect head's wiring: per level, the node giving box-distribution logits
/// (`4 * reg_max` channels) and the node giving class logits (`nc` channels).
#[derive(Clone, Debug)]
pub struct DetectHead {
    pub nc: usize,
    pub reg_max: usize,
    pub strides: Vec<usize>,
    pub box_nodes: Vec<NodeId>,
    pub cls_nodes: Vec<NodeId>,
}

/// YOLOv8 model scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Scale {
    N,
    S,
    M,
    L,
    X,
}

impl Scale {
    pub fn letter(self) -> char {
        match self {
            Scale::N => 'n',
            Scale::S => 's',
            Scale::M => 'm',
            Scale::L => 'l',
            Scale::X => 'x',
        }
    }
}

/// The whole network.
#[derive(Clone, Debug)]
pub struct Graph {
    pub nodes: Vec<Node>,
    /// `(ultralytics module index, node holding that module's output)` for modules 0..=21.
    pub modules: Vec<(usize, NodeId)>,
    pub head: DetectHead,
    pub class_names: Vec<String>,
    pub scale: Scale,
}

impl Graph {
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// For each node, how many later nodes (or the head) read it.
    pub fn consumers(&self) -> Vec<Vec<NodeId>> {
        let mut out = vec![Vec::new(); self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for &j in &n.inputs {
                out[j].push(i);
            }
        }
        out
    }

    /// Output shape `[c, h, w]` of every node for an input of `h x w`.
    pub fn shapes(&self, h: usize, w: usize) -> Vec<[usize; 3]> {
        let mut s: Vec<[usize; 3]> = Vec::with_capacity(self.nodes.len());
        for n in &self.nodes {
            let sh = match &n.op {
                Op::Input => [3, h, w],
                Op::Conv(c) => {
                    let [_, ih, iw] = s[n.inputs[0]];
                    let k = c.k();
                    [
                        c.c_out(),
                        (ih + 2 * c.pad - k) / c.stride + 1,
                        (iw + 2 * c.pad - k) / c.stride + 1,
                    ]
                }
                Op::Slice { start, end } => {
                    let [_, ih, iw] = s[n.inputs[0]];
                    [end - start, ih, iw]
                }
                Op::Concat => {
                    let [_, ih, iw] = s[n.inputs[0]];
                    [n.inputs.iter().map(|&i| s[i][0]).sum(), ih, iw]
                }
                Op::Add => s[n.inputs[0]],
                Op::MaxPool { k, stride, pad } => {
                    let [c, ih, iw] = s[n.inputs[0]];
                    [
                        c,
                        (ih + 2 * pad - k) / stride + 1,
                        (iw + 2 * pad - k) / stride + 1,
                    ]
                }
                Op::Upsample { factor } => {
                    let [c, ih, iw] = s[n.inputs[0]];
                    [c, ih * factor, iw * factor]
                }
            };
            s.push(sh);
        }
        s
    }

    /// Number of anchors (output columns) for an input of `h x w`.
    pub fn num_anchors(&self, h: usize, w: usize) -> usize {
        self.head.strides.iter().map(|s| (h / s) * (w / s)).sum()
    }

    /// Total parameter count (conv weights and biases; BN counted as folded).
    pub fn num_params(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| match &n.op {
                Op::Conv(c) => c.weight.len() + c.c_out(),
                _ => 0,
            })
            .sum()
    }
}
