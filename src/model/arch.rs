//! Rebuild the YOLOv8 detect topology from a checkpoint's tensors.
//!
//! Channel counts, bottleneck depth, class count and DFL bins all come from tensor shapes,
//! so every scale (n/s/m/l/x) loads; strides and shortcut flags follow the YOLOv8 yaml.
//! Every tensor is checked for presence, shape and finiteness before use.

use crate::error::{Error, Result};
use crate::graph::{Act, BatchNorm, Conv, DetectHead, Graph, Node, NodeId, Op, Scale};
use crate::import::Checkpoint;
use ndarray::{Array1, Array4, ArrayD, Ix1, Ix4};

/// Ultralytics uses BatchNorm eps 1e-3 (not torch's 1e-5) in every Conv block.
pub const ULTRALYTICS_BN_EPS: f32 = 1e-3;

struct Builder<'a> {
    ck: &'a Checkpoint,
    nodes: Vec<Node>,
    channels: Vec<usize>,
}

impl<'a> Builder<'a> {
    fn err(&self, msg: String) -> Error {
        Error::model(&self.ck.path, msg)
    }

    fn tensor(&self, name: &str) -> Result<&'a ArrayD<f32>> {
        let t = self.ck.tensors.get(name).ok_or_else(|| {
            self.err(format!(
                "missing tensor `{name}`; is this a YOLOv8 detect checkpoint? (export it with ultralytics)"
            ))
        })?;
        if let Some(bad) = t.iter().find(|v| !v.is_finite()) {
            return Err(self.err(format!(
                "tensor `{name}` contains a non-finite value ({bad}); the checkpoint is corrupt, re-export it"
            )));
        }
        Ok(t)
    }

    fn t4(&self, name: &str) -> Result<Array4<f32>> {
        let t = self.tensor(name)?;
        t.clone().into_dimensionality::<Ix4>().map_err(|_| {
            self.err(format!(
                "tensor `{name}` has shape {:?}, expected 4 dimensions [out, in, k, k]",
                t.shape()
            ))
        })
    }

    fn t1(&self, name: &str, len: usize) -> Result<Array1<f32>> {
        let t = self.tensor(name)?;
        if t.shape() != [len] {
            return Err(self.err(format!(
                "tensor `{name}` has shape {:?}, expected [{len}]",
                t.shape()
            )));
        }
        Ok(t.clone().into_dimensionality::<Ix1>().expect("checked"))
    }

    fn has(&self, name: &str) -> bool {
        self.ck.tensors.contains_key(name)
    }

    fn push(&mut self, name: String, op: Op, inputs: Vec<NodeId>, channels: usize) -> NodeId {
        self.nodes.push(Node { name, op, inputs });
        self.channels.push(channels);
        self.nodes.len() - 1
    }

    /// An Ultralytics `Conv` block (conv + BN or conv with bias, then SiLU) at `prefix`.
    fn conv_block(&mut self, prefix: &str, x: NodeId, stride: usize) -> Result<NodeId> {
        let w = self.t4(&format!("{prefix}.conv.weight"))?;
        self.check_square(prefix, &w, x)?;
        let co = w.shape()[0];
        let (bias, bn) = if self.has(&format!("{prefix}.bn.weight")) {
            let eps = self
                .ck
                .bn_eps
                .get(&format!("{prefix}.bn"))
                .copied()
                .unwrap_or(ULTRALYTICS_BN_EPS);
            let bn = BatchNorm {
                gamma: self.t1(&format!("{prefix}.bn.weight"), co)?,
                beta: self.t1(&format!("{prefix}.bn.bias"), co)?,
                mean: self.t1(&format!("{prefix}.bn.running_mean"), co)?,
                var: self.t1(&format!("{prefix}.bn.running_var"), co)?,
                eps,
            };
            if let Some(v) = bn.var.iter().find(|v| **v < 0.0) {
                return Err(self.err(format!(
                    "`{prefix}.bn.running_var` has a negative value {v}"
                )));
            }
            (None, Some(bn))
        } else {
            (Some(self.t1(&format!("{prefix}.conv.bias"), co)?), None)
        };
        let pad = w.shape()[2] / 2;
        let conv = Conv {
            weight: w,
            bias,
            bn,
            stride,
            pad,
            act: Act::Silu,
        };
        Ok(self.push(prefix.to_string(), Op::Conv(conv), vec![x], co))
    }

    /// A plain `nn.Conv2d` with bias (the head's last 1x1 convs).
    fn conv2d(&mut self, prefix: &str, x: NodeId) -> Result<NodeId> {
        let w = self.t4(&format!("{prefix}.weight"))?;
        self.check_square(prefix, &w, x)?;
        let co = w.shape()[0];
        let bias = self.t1(&format!("{prefix}.bias"), co)?;
        let pad = w.shape()[2] / 2;
        let conv = Conv {
            weight: w,
            bias: Some(bias),
            bn: None,
            stride: 1,
            pad,
            act: Act::Identity,
        };
        Ok(self.push(prefix.to_string(), Op::Conv(conv), vec![x], co))
    }

    fn check_square(&self, prefix: &str, w: &Array4<f32>, x: NodeId) -> Result<()> {
        let s = w.shape();
        if s[2] != s[3] || s[2].is_multiple_of(2) {
            return Err(self.err(format!(
                "`{prefix}` kernel is {}x{}, expected an odd square kernel",
                s[2], s[3]
            )));
        }
        if s[1] != self.channels[x] {
            return Err(self.err(format!(
                "`{prefix}` weight expects {} input channels but its input `{}` has {}; wrong tensor shape in the checkpoint",
                s[1], self.nodes[x].name, self.channels[x]
            )));
        }
        Ok(())
    }

    fn c2f(&mut self, prefix: &str, x: NodeId, shortcut: bool) -> Result<NodeId> {
        let cv1 = self.conv_block(&format!("{prefix}.cv1"), x, 1)?;
        let c2 = self.channels[cv1];
        if !c2.is_multiple_of(2) {
            return Err(self.err(format!("`{prefix}.cv1` has an odd channel count {c2}")));
        }
        let c = c2 / 2;
        let a = self.push(
            format!("{prefix}.split0"),
            Op::Slice { start: 0, end: c },
            vec![cv1],
            c,
        );
        let b = self.push(
            format!("{prefix}.split1"),
            Op::Slice { start: c, end: c2 },
            vec![cv1],
            c,
        );
        let mut ys = vec![a, b];
        let mut cur = b;
        let mut i = 0;
        while self.has(&format!("{prefix}.m.{i}.cv1.conv.weight")) {
            let t1 = self.conv_block(&format!("{prefix}.m.{i}.cv1"), cur, 1)?;
            let t2 = self.conv_block(&format!("{prefix}.m.{i}.cv2"), t1, 1)?;
            cur = if shortcut && self.channels[t2] == self.channels[cur] {
                self.push(format!("{prefix}.m.{i}.add"), Op::Add, vec![cur, t2], c)
            } else {
                t2
            };
            ys.push(cur);
            i += 1;
        }
        // A bottleneck with some tensors but no `cv1` is a damaged checkpoint, not a shallower model.
        let partial = format!("{prefix}.m.{i}.");
        if self.ck.tensors.keys().any(|k| k.starts_with(&partial)) {
            self.tensor(&format!("{prefix}.m.{i}.cv1.conv.weight"))?;
        }
        let total = ys.iter().map(|&y| self.channels[y]).sum();
        let cat = self.push(format!("{prefix}.cat"), Op::Concat, ys, total);
        self.conv_block(&format!("{prefix}.cv2"), cat, 1)
    }

    fn sppf(&mut self, prefix: &str, x: NodeId) -> Result<NodeId> {
        let cv1 = self.conv_block(&format!("{prefix}.cv1"), x, 1)?;
        let c = self.channels[cv1];
        let mut ys = vec![cv1];
        for i in 1..=3 {
            let p = self.push(
                format!("{prefix}.pool{i}"),
                Op::MaxPool {
                    k: 5,
                    stride: 1,
                    pad: 2,
                },
                vec![*ys.last().unwrap()],
                c,
            );
            ys.push(p);
        }
        let cat = self.push(format!("{prefix}.cat"), Op::Concat, ys, 4 * c);
        self.conv_block(&format!("{prefix}.cv2"), cat, 1)
    }

    fn upsample(&mut self, name: &str, x: NodeId) -> NodeId {
        let c = self.channels[x];
        self.push(name.to_string(), Op::Upsample { factor: 2 }, vec![x], c)
    }

    fn concat(&mut self, name: &str, xs: Vec<NodeId>) -> NodeId {
        let c = xs.iter().map(|&i| self.channels[i]).sum();
        self.push(name.to_string(), Op::Concat, xs, c)
    }
}

/// Build the float graph of a YOLOv8 detect model from checkpoint tensors.
#[allow(clippy::vec_init_then_push)]
pub fn build_graph(ck: &Checkpoint) -> Result<Graph> {
    let mut b = Builder {
        ck,
        nodes: Vec::new(),
        channels: Vec::new(),
    };
    let input = b.push("input".into(), Op::Input, vec![], 3);
    let mut m: Vec<NodeId> = Vec::with_capacity(22);
    m.push(b.conv_block("model.0", input, 2)?);
    m.push(b.conv_block("model.1", m[0], 2)?);
    m.push(b.c2f("model.2", m[1], true)?);
    m.push(b.conv_block("model.3", m[2], 2)?);
    m.push(b.c2f("model.4", m[3], true)?);
    m.push(b.conv_block("model.5", m[4], 2)?);
    m.push(b.c2f("model.6", m[5], true)?);
    m.push(b.conv_block("model.7", m[6], 2)?);
    m.push(b.c2f("model.8", m[7], true)?);
    m.push(b.sppf("model.9", m[8])?);
    m.push(b.upsample("model.10", m[9]));
    m.push(b.concat("model.11", vec![m[10], m[6]]));
    m.push(b.c2f("model.12", m[11], false)?);
    m.push(b.upsample("model.13", m[12]));
    m.push(b.concat("model.14", vec![m[13], m[4]]));
    m.push(b.c2f("model.15", m[14], false)?);
    m.push(b.conv_block("model.16", m[15], 2)?);
    m.push(b.concat("model.17", vec![m[16], m[12]]));
    m.push(b.c2f("model.18", m[17], false)?);
    m.push(b.conv_block("model.19", m[18], 2)?);
    m.push(b.concat("model.20", vec![m[19], m[9]]));
    m.push(b.c2f("model.21", m[20], false)?);

    let levels = [m[15], m[18], m[21]];
    let (mut box_nodes, mut cls_nodes) = (Vec::new(), Vec::new());
    for (i, &x) in levels.iter().enumerate() {
        let p = format!("model.22.cv2.{i}");
        let t = b.conv_block(&format!("{p}.0"), x, 1)?;
        let t = b.conv_block(&format!("{p}.1"), t, 1)?;
        box_nodes.push(b.conv2d(&format!("{p}.2"), t)?);
        let p = format!("model.22.cv3.{i}");
        let t = b.conv_block(&format!("{p}.0"), x, 1)?;
        let t = b.conv_block(&format!("{p}.1"), t, 1)?;
        cls_nodes.push(b.conv2d(&format!("{p}.2"), t)?);
    }
    let nbox = b.channels[box_nodes[0]];
    let nc = b.channels[cls_nodes[0]];
    if !nbox.is_multiple_of(4)
        || box_nodes.iter().any(|&n| b.channels[n] != nbox)
        || cls_nodes.iter().any(|&n| b.channels[n] != nc)
    {
        return Err(b.err("Detect head branches disagree on box/class channel counts".into()));
    }
    let reg_max = nbox / 4;
    let dfl = b.t4("model.22.dfl.conv.weight")?;
    if dfl.shape() != [1, reg_max, 1, 1]
        || dfl
            .iter()
            .enumerate()
            .any(|(i, &v)| (v - i as f32).abs() > 1e-6)
    {
        return Err(b.err(format!("`model.22.dfl.conv.weight` must be [1,{reg_max},1,1] holding 0..{reg_max} (the fixed DFL projection)")));
    }
    let strides = match &ck.strides {
        Some(s) if s.len() == 3 => s.iter().map(|&v| v as usize).collect(),
        _ => vec![8, 16, 32],
    };
    if strides != [8, 16, 32] {
        return Err(b.err(format!("Detect strides {strides:?}; only the YOLOv8 P3/P4/P5 strides [8, 16, 32] are supported")));
    }
    let scale = match b.channels[m[0]] {
        16 => Scale::N,
        32 => Scale::S,
        48 => Scale::M,
        64 => Scale::L,
        80 => Scale::X,
        c => {
            return Err(b.err(format!(
                "model.0 has {c} output channels; not a YOLOv8 n/s/m/l/x width"
            )))
        }
    };
    let class_names = match &ck.class_names {
        Some(n) if n.len() == nc => n.clone(),
        _ if nc == 80 => COCO80.iter().map(|s| s.to_string()).collect(),
        _ => (0..nc).map(|i| format!("class{i}")).collect(),
    };
    Ok(Graph {
        nodes: b.nodes,
        modules: m.into_iter().enumerate().collect(),
        head: DetectHead {
            nc,
            reg_max,
            strides,
            box_nodes,
            cls_nodes,
        },
        class_names,
        scale,
    })
}

/// The 80 COCO class names in YOLO index order.
pub const COCO80: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];
