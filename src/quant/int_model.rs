//! The integer reference model: the golden model for the RTL. After the input is turned
//! into codes once, every node runs on integer codes with the rules of [`super::spec`];
//! only `--head float` convolutions and the non-`--qnms` decode use float.

use super::kernels;
use super::qhead::{self, IntDet};
use super::{QNode, QOp, QuantGraph};
use crate::model::{detect, forward};
use ndarray::{s, Array2, Array3};

/// A node's value: integer codes, or float for `--head float` convolutions.
#[derive(Clone, Debug)]
pub enum Value {
    Int(Array3<i32>),
    Float(Array3<f32>),
}

impl Value {
    pub fn int(&self) -> &Array3<i32> {
        match self {
            Value::Int(a) => a,
            Value::Float(_) => panic!("integer value expected"),
        }
    }
}

/// What the head produces.
pub enum HeadOut {
    /// Float decode `(4 + nc, N)` for the ordinary NMS.
    Decoded(Array2<f32>),
    /// Integer post-processing (`--qnms`) was run: final detections.
    Detections(Vec<IntDet>),
}

/// Post-processing options for `--qnms`.
#[derive(Clone, Copy, Debug)]
pub struct NmsParams {
    pub conf: f32,
    pub iou: f32,
    pub max_det: usize,
    pub multi_label: bool,
}

pub struct IntForward {
    pub values: Vec<Option<Value>>,
    pub head: HeadOut,
}

/// Pixel codes of a `[3,H,W]` image in [0,1] (as produced by letterboxing: `p / 255`).
pub fn input_codes(x: &Array3<f32>, shift: u32) -> Array3<i32> {
    kernels::input_codes(x, shift)
}

/// Evaluate one integer node.
pub fn eval_node(q: &QuantGraph, i: usize, ins: &[&Value]) -> Value {
    eval_qnode(&q.nodes, i, ins)
}

/// Evaluate node `i` of `nodes` (the nodes up to `i` suffice: a node reads only earlier ones).
pub fn eval_qnode(nodes: &[QNode], i: usize, ins: &[&Value]) -> Value {
    let n = &nodes[i];
    match &n.op {
        QOp::Input { .. } => unreachable!("input is provided"),
        QOp::Conv(c) => Value::Int(kernels::conv(
            ins[0].int().view(),
            c,
            n.fmt.as_ref().unwrap(),
        )),
        QOp::FloatConv(c) => {
            let f = nodes[n.inputs[0]].fmt.unwrap();
            let x = ins[0].int().mapv(|v| f.dequant(v));
            Value::Float(forward::run_conv(c, &x))
        }
        QOp::Slice { start, end } => {
            Value::Int(ins[0].int().slice(s![*start..*end, .., ..]).to_owned())
        }
        QOp::Concat => {
            let v: Vec<_> = ins.iter().map(|x| x.int().view()).collect();
            Value::Int(kernels::concat(&v))
        }
        QOp::Add { shifts } => {
            let v: Vec<_> = ins.iter().map(|x| x.int().view()).collect();
            let f: Vec<_> = n.inputs.iter().map(|&j| nodes[j].fmt.unwrap()).collect();
            Value::Int(kernels::add(&v, &f, shifts, n.fmt.as_ref().unwrap()))
        }
        QOp::MaxPool { k, stride, pad } => {
            Value::Int(kernels::maxpool(ins[0].int().view(), *k, *stride, *pad))
        }
        QOp::Upsample { factor } => Value::Int(kernels::upsample(ins[0].int().view(), *factor)),
    }
}

/// Run the integer model on a `[3,H,W]` image in [0,1].
pub fn forward(q: &QuantGraph, x: &Array3<f32>, keep_all: bool, nms: NmsParams) -> IntForward {
    let values = run_nodes(q, x, keep_all, |_| {});
    let head = head_output(q, &values, nms);
    IntForward { values, head }
}

/// Evaluate the nodes in order on a `[3,H,W]` image in [0,1]; unless `keep_all`, a value is
/// freed after its last use (the head's outputs are kept). `done(i)` is called after node
/// `i` (and the freeing of the inputs it was the last use of).
pub fn run_nodes(
    q: &QuantGraph,
    x: &Array3<f32>,
    keep_all: bool,
    mut done: impl FnMut(usize),
) -> Vec<Option<Value>> {
    let n = q.nodes.len();
    let mut remaining = vec![0usize; n];
    for node in &q.nodes {
        for &j in &node.inputs {
            remaining[j] += 1;
        }
    }
    for &i in q.head.box_nodes.iter().chain(&q.head.cls_nodes) {
        remaining[i] += 1;
    }
    let mut values: Vec<Option<Value>> = vec![None; n];
    for i in 0..n {
        let v = match q.nodes[i].op {
            QOp::Input { shift } => Value::Int(input_codes(x, shift)),
            _ => {
                let ins: Vec<&Value> = q.nodes[i]
                    .inputs
                    .iter()
                    .map(|&j| values[j].as_ref().expect("alive"))
                    .collect();
                eval_node(q, i, &ins)
            }
        };
        values[i] = Some(v);
        if !keep_all {
            for &j in &q.nodes[i].inputs {
                remaining[j] -= 1;
                if remaining[j] == 0 {
                    values[j] = None;
                }
            }
        }
        done(i);
    }
    values
}

fn head_output(q: &QuantGraph, values: &[Option<Value>], nms: NmsParams) -> HeadOut {
    let get = |i: usize| values[i].as_ref().unwrap();
    if let Some(t) = &q.qnms {
        let b: Vec<&Array3<i32>> = q.head.box_nodes.iter().map(|&i| get(i).int()).collect();
        let c: Vec<&Array3<i32>> = q.head.cls_nodes.iter().map(|&i| get(i).int()).collect();
        return HeadOut::Detections(qhead::postprocess(
            t,
            q.head.reg_max,
            &b,
            &c,
            nms.conf,
            nms.iou,
            nms.max_det,
            nms.multi_label,
        ));
    }
    let deq = |i: usize| -> Array3<f32> {
        match get(i) {
            Value::Float(a) => a.clone(),
            Value::Int(a) => {
                let f = q.nodes[i].fmt.unwrap();
                a.mapv(|v| f.dequant(v))
            }
        }
    };
    let b: Vec<Array3<f32>> = q.head.box_nodes.iter().map(|&i| deq(i)).collect();
    let c: Vec<Array3<f32>> = q.head.cls_nodes.iter().map(|&i| deq(i)).collect();
    let br: Vec<&Array3<f32>> = b.iter().collect();
    let cr: Vec<&Array3<f32>> = c.iter().collect();
    HeadOut::Decoded(detect::decode(&q.head, &br, &cr))
}
