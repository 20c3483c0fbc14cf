//! Float forward pass over a [`Graph`]: node by node in topological order, freeing each
//! intermediate as soon as its last consumer has run (unless asked to keep them all).

use super::conv_tiled::{conv2d_fused, Epilogue, Geom};
use super::conv_winograd;
use super::{detect, ops};
use crate::graph::{Act, Conv, Graph, Op};
use ndarray::{Array2, Array3};

/// Result of a forward pass.
pub struct Forward {
    /// Output of every node when `keep_all`, else only the head's inputs survive.
    pub values: Vec<Option<Array3<f32>>>,
    /// Detect output `(4 + nc, N)`: `cx, cy, w, h` in input pixels, then class probabilities.
    pub output: Array2<f32>,
}

/// Run one convolution node (with BN if unfused, bias, activation): Winograd F(2×2, 3×3)
/// for the 3×3 stride-1 layers it applies to, else a cache-blocked im2col + GEMM, with the
/// per-channel epilogue applied to each tile while it is hot.
pub fn run_conv(c: &Conv, x: &Array3<f32>) -> Array3<f32> {
    let (ci, h, w) = x.dim();
    let (co, _, k, _) = c.weight.dim();
    let g = Geom {
        ci,
        h,
        w,
        co,
        k,
        stride: c.stride,
        pad: c.pad,
    };
    // y = v * scale + shift, where BN (if any) and the bias are folded per channel.
    let (mut scale, mut shift) = (vec![1f32; co], vec![0f32; co]);
    if let Some(bn) = &c.bn {
        for ch in 0..co {
            let inv = 1.0 / (bn.var[ch] + bn.eps).sqrt();
            scale[ch] = inv * bn.gamma[ch];
            shift[ch] = bn.beta[ch] - bn.mean[ch] * scale[ch];
        }
    }
    if let Some(b) = &c.bias {
        shift.iter_mut().zip(b).for_each(|(s, b)| *s += b);
    }
    let ep = Epilogue {
        scale: &scale,
        shift: &shift,
        silu: c.act == Act::Silu,
    };
    let xs = x.as_standard_layout();
    let ws = c.weight.as_standard_layout();
    let (xs, ws) = (
        xs.as_slice().expect("standard layout"),
        ws.as_slice().expect("standard layout"),
    );
    let mut out = vec![0f32; co * g.ho() * g.wo()];
    if conv_winograd::applies(g) {
        let u = conv_winograd::transform_weights(ws, co, ci);
        conv_winograd::conv2d_winograd(xs, g, &u, &ep, &mut out);
    } else {
        conv2d_fused(xs, g, ws, &ep, &mut out);
    }
    Array3::from_shape_vec((co, g.ho(), g.wo()), out).expect("conv output shape")
}

/// Evaluate one node given its inputs.
pub fn eval_node(op: &Op, inputs: &[&Array3<f32>]) -> Array3<f32> {
    match op {
        Op::Input => unreachable!("input is provided"),
        Op::Conv(c) => run_conv(c, inputs[0]),
        Op::Slice { start, end } => ops::slice(inputs[0].view(), *start, *end),
        Op::Concat => {
            let views: Vec<_> = inputs.iter().map(|x| x.view()).collect();
            ops::concat(&views)
        }
        Op::Add => inputs[0] + inputs[1],
        Op::MaxPool { k, stride, pad } => ops::maxpool(inputs[0].view(), *k, *stride, *pad),
        Op::Upsample { factor } => ops::upsample_nearest(inputs[0].view(), *factor),
    }
}

/// Run the network on one `[3, H, W]` image (RGB in [0,1], H and W multiples of 32).
pub fn forward(g: &Graph, input: &Array3<f32>, keep_all: bool) -> Forward {
    forward_timed(g, input, keep_all, &mut |_, _| {})
}

/// [`forward`], calling `on_node(i, seconds)` after node `i` has been evaluated (profiling).
pub fn forward_timed(
    g: &Graph,
    input: &Array3<f32>,
    keep_all: bool,
    on_node: &mut dyn FnMut(usize, f64),
) -> Forward {
    let n = g.nodes.len();
    let mut remaining: Vec<usize> = g.consumers().iter().map(|c| c.len()).collect();
    for &i in g.head.box_nodes.iter().chain(&g.head.cls_nodes) {
        remaining[i] += 1;
    }
    let mut values: Vec<Option<Array3<f32>>> = vec![None; n];
    for (i, node) in g.nodes.iter().enumerate() {
        let t = std::time::Instant::now();
        let y = if let Op::Input = node.op {
            input.clone()
        } else {
            let ins: Vec<&Array3<f32>> = node
                .inputs
                .iter()
                .map(|&j| values[j].as_ref().expect("input value alive"))
                .collect();
            eval_node(&node.op, &ins)
        };
        values[i] = Some(y);
        on_node(i, t.elapsed().as_secs_f64());
        if !keep_all {
            for &j in &node.inputs {
                remaining[j] -= 1;
                if remaining[j] == 0 {
                    values[j] = None;
                }
            }
        }
    }
    let boxes: Vec<&Array3<f32>> = g
        .head
        .box_nodes
        .iter()
        .map(|&i| values[i].as_ref().unwrap())
        .collect();
    let classes: Vec<&Array3<f32>> = g
        .head
        .cls_nodes
        .iter()
        .map(|&i| values[i].as_ref().unwrap())
        .collect();
    let output = detect::decode(&g.head, &boxes, &classes);
    Forward { values, output }
}
