//! BatchNorm folding: `FloatGraph` → `FusedGraph`.
//!
//! Guarantees: every convolution of a [`FusedGraph`] has a bias and no BatchNorm, and its
//! output equals conv-then-BN of the source up to float rounding. The fold is Ultralytics'
//! `fuse_conv_and_bn`: `w' = w * g / sqrt(var + eps)`, `b' = (b - mean) * g / sqrt(var + eps) + beta`.

use crate::graph::{Act, BatchNorm, Conv, Graph, Op};
use crate::model::FloatGraph;
use ndarray::{Array1, Array4, ArrayD, Axis};
use std::collections::BTreeMap;

/// The model with BatchNorm folded into every convolution.
#[derive(Clone, Debug)]
pub struct FusedGraph(pub Graph);

impl FusedGraph {
    pub fn graph(&self) -> &Graph {
        &self.0
    }
}

/// Fold one BatchNorm into a convolution's weight and bias.
pub fn fold_bn(
    weight: &Array4<f32>,
    bias: Option<&Array1<f32>>,
    bn: &BatchNorm,
) -> (Array4<f32>, Array1<f32>) {
    let co = weight.shape()[0];
    let mut w = weight.clone();
    let mut b = Array1::<f32>::zeros(co);
    for (c, mut wc) in w.axis_iter_mut(Axis(0)).enumerate() {
        let s = bn.gamma[c] / (bn.var[c] + bn.eps).sqrt();
        wc.mapv_inplace(|v| v * s);
        let b0 = bias.map_or(0.0, |b| b[c]);
        b[c] = s * b0 + (bn.beta[c] - bn.gamma[c] * bn.mean[c] / (bn.var[c] + bn.eps).sqrt());
    }
    (w, b)
}

/// Fold every BatchNorm of the graph.
pub fn fuse(g: &FloatGraph) -> FusedGraph {
    let mut out = g.0.clone();
    for node in &mut out.nodes {
        if let Op::Conv(c) = &mut node.op {
            if let Some(bn) = c.bn.take() {
                let (w, b) = fold_bn(&c.weight, c.bias.as_ref(), &bn);
                c.weight = w;
                c.bias = Some(b);
            } else if c.bias.is_none() {
                c.bias = Some(Array1::zeros(c.c_out()));
            }
        }
    }
    FusedGraph(out)
}

/// Ultralytics state-dict prefix of a conv node's tensors: `Conv` blocks keep theirs
/// under `.conv`, the head's plain `nn.Conv2d` layers directly under the node name.
pub fn conv_tensor_prefix(name: &str, c: &Conv) -> String {
    match c.act {
        Act::Silu => format!("{name}.conv"),
        Act::Identity => name.to_string(),
    }
}

/// The fused weights under Ultralytics names (`...conv.weight`, `...conv.bias`, DFL projection).
pub fn fused_tensors(g: &FusedGraph) -> BTreeMap<String, ArrayD<f32>> {
    let mut t = BTreeMap::new();
    for node in &g.0.nodes {
        if let Op::Conv(c) = &node.op {
            let p = conv_tensor_prefix(&node.name, c);
            t.insert(format!("{p}.weight"), c.weight.clone().into_dyn());
            let b = c.bias.clone().unwrap_or_else(|| Array1::zeros(c.c_out()));
            t.insert(format!("{p}.bias"), b.into_dyn());
        }
    }
    let rm = g.0.head.reg_max;
    let dfl = Array4::from_shape_fn((1, rm, 1, 1), |(_, i, _, _)| i as f32);
    t.insert("model.22.dfl.conv.weight".into(), dfl.into_dyn());
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::conv::conv2d_naive;
    use ndarray::Array3;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Folded conv equals conv followed by BN computed directly.
        #[test]
        fn fold_matches_conv_then_bn(ci in 1usize..5, co in 1usize..6, k in prop::sample::select(vec![1usize, 3]),
                                     with_bias: bool, seed in 0u64..10_000) {
            let mut s = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut rnd = move || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; (s % 10_000) as f32 / 5_000.0 - 1.0 };
            let x = Array3::from_shape_simple_fn((ci, 6, 7), &mut rnd);
            let w = Array4::from_shape_simple_fn((co, ci, k, k), &mut rnd);
            let bias = with_bias.then(|| Array1::from_shape_simple_fn(co, &mut rnd));
            let bn = BatchNorm {
                gamma: Array1::from_shape_simple_fn(co, &mut rnd),
                beta: Array1::from_shape_simple_fn(co, &mut rnd),
                mean: Array1::from_shape_simple_fn(co, &mut rnd),
                var: Array1::from_shape_simple_fn(co, || rnd().abs() + 0.05),
                eps: 1e-3,
            };
            let pad = k / 2;
            let mut direct = conv2d_naive(x.view(), w.view(), 1, pad);
            for c in 0..co {
                let b0 = bias.as_ref().map_or(0.0, |b| b[c]);
                direct.index_axis_mut(Axis(0), c).mapv_inplace(|v| {
                    (v + b0 - bn.mean[c]) / (bn.var[c] + bn.eps).sqrt() * bn.gamma[c] + bn.beta[c]
                });
            }
            let (fw, fb) = fold_bn(&w, bias.as_ref(), &bn);
            let mut fused = conv2d_naive(x.view(), fw.view(), 1, pad);
            for c in 0..co { fused.index_axis_mut(Axis(0), c).mapv_inplace(|v| v + fb[c]); }
            for (a, b) in direct.iter().zip(fused.iter()) {
                prop_assert!((a - b).abs() <= 1e-4 * (1.0 + a.abs()), "{} vs {}", a, b);
            }
        }
    }
}
