//! Quantization: calibration, the N-bit integer-only model and its artifacts.
//!
//! `FusedGraph` + calibration statistics → [`QuantGraph`]: every tensor has a [`QFormat`],
//! every convolution integer weights, an integer bias with the input zero point folded in,
//! per-channel requantization (multiplier, shift) and, for SiLU, a lookup table. The
//! integer reference model ([`int_model`]) is the golden model the RTL must match.

pub mod artifacts;
pub mod bias_correct;
pub mod budget;
pub mod calibrate;
pub mod gptq;
pub mod groups;
pub mod int_model;
pub mod kernels;
pub mod qhead;
pub mod quantize;
pub mod run;
pub mod sensitivity;
pub mod spec;
pub mod store;
pub mod sweep;
pub mod weights;

use crate::graph::{Conv, DetectHead};
use ndarray::Array4;
use serde::{Deserialize, Serialize};
pub use spec::QFormat;
use std::collections::BTreeMap;

/// How activation clipping ranges are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum CalibMethod {
    Max,
    Percentile(f64),
    Mse,
}

/// As written on the command line (`--calib-method`): `max`, `mse` or `percentile:P`.
impl std::fmt::Display for CalibMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CalibMethod::Max => f.write_str("max"),
            CalibMethod::Mse => f.write_str("mse"),
            CalibMethod::Percentile(p) => write!(f, "percentile:{p}"),
        }
    }
}

/// Per-channel or per-tensor weight scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Granularity {
    Channel,
    Tensor,
}

/// Power-of-two scales (requantize by shift) or integer multiplier + shift.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum ScaleMode {
    Pow2,
    Mult,
}

/// How a convolution's float weights become integers (the scales are chosen first and are the
/// same either way; only the integer weights differ).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Rounding {
    /// Each weight to its nearest step.
    #[default]
    Nearest,
    /// Error feedback across input columns from the layer's calibration inputs (GPTQ).
    Gptq,
    /// GPTQ on the statistics bias correction leaves (the input covariance, when bias
    /// correction is on), then a greedy integer descent on the same output error.
    GptqRefine,
}

impl Rounding {
    /// Whether the rounding is learned from the calibration images (GPTQ, refined or not).
    pub fn learned(self) -> bool {
        self != Rounding::Nearest
    }
}

/// How each output channel's weight scale is chosen among the candidates (pow2: the widest
/// exponent covering the largest weight and the two finer ones; mult: 100 % down to 50 %).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScaleSearch {
    /// The least squared weight error `Σ (w_q · s − w)²` (with `--calib-method mse`).
    #[default]
    Weight,
    /// With GPTQ rounding: the least output error on the calibration inputs after rounding
    /// at each candidate, `(w − q·s)ᵀ H (w − q·s)` (centred when bias correction is on).
    Output,
}

/// Whether the head's last convolutions and the DFL/decode stay in float.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum HeadMode {
    Float,
    Int,
}

/// Every option of a quantization run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantConfig {
    pub wbits: u32,
    pub abits: u32,
    /// Index width of the SiLU tables (pre-activation bits).
    pub lut_bits: u32,
    /// Width of the head's output logits (box distribution and class), which feed only the
    /// post-processing, never another multiplier.
    #[serde(default = "default_head_bits")]
    pub head_bits: u32,
    pub method: CalibMethod,
    pub granularity: Granularity,
    pub scale: ScaleMode,
    pub head: HeadMode,
    pub qnms: bool,
    /// Fold the mean output shift caused by weight rounding into the integer bias.
    #[serde(default)]
    pub bias_correct: bool,
    /// Layers whose weights keep at least 8 bits (`first`, `head` or node-name prefixes).
    #[serde(default)]
    pub keep8: Vec<String>,
    /// Rounding of the weights to integers.
    #[serde(default)]
    pub rounding: Rounding,
    /// How per-channel weight scales are chosen.
    #[serde(default)]
    pub scale_search: ScaleSearch,
    /// Width of the input image codes (pixels shifted right by `8 − bits`); `None`: `abits`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_bits: Option<u32>,
    /// A weight-memory budget (`--wbits 4.5`, `--wbits 1.8MB`): each layer's width is chosen
    /// from its measured sensitivity ([`budget`]); `wbits` is then the nominal width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wbudget: Option<budget::WeightBudget>,
    /// Each convolution's weight width, by node name, as the budget chose it (empty without a
    /// budget: `wbits` and `keep8` decide).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub layer_bits: BTreeMap<String, u32>,
}

impl Default for QuantConfig {
    fn default() -> Self {
        QuantConfig {
            wbits: 8,
            abits: 8,
            lut_bits: 8,
            head_bits: 8,
            method: CalibMethod::Mse,
            granularity: Granularity::Channel,
            scale: ScaleMode::Pow2,
            head: HeadMode::Int,
            qnms: true,
            bias_correct: true,
            keep8: Vec::new(),
            rounding: Rounding::Nearest,
            scale_search: ScaleSearch::Weight,
            input_bits: None,
            wbudget: None,
            layer_bits: BTreeMap::new(),
        }
    }
}

fn default_head_bits() -> u32 {
    8
}

/// Activation after an integer convolution.
#[derive(Clone, Debug)]
pub enum QAct {
    /// Requantize straight to the output format.
    None,
    /// Requantize to `pre` (the table index), then `out = table[index]`.
    Lut { pre: QFormat, table: Vec<i32> },
}

/// An integer convolution.
#[derive(Clone, Debug)]
pub struct QConv {
    /// `[co, ci, k, k]`, symmetric signed `wbits` values.
    pub weight: Array4<i32>,
    pub wbits: u32,
    /// Per output channel: `round(b / (s_in * s_w)) - zero_in * sum(w)`.
    pub bias: Vec<i64>,
    pub stride: usize,
    pub pad: usize,
    /// Code inserted at padded positions: the input's zero point.
    pub pad_value: i32,
    /// Per output channel requantization multiplier (1 with power-of-two scales).
    pub mult: Vec<i64>,
    /// Per output channel rounding right shift (negative = left shift).
    pub shift: Vec<i32>,
    /// Per output channel weight scale exponent (pow2) or scale.
    pub wscale: Vec<f64>,
    pub act: QAct,
    /// Worst-case |accumulator| from the actual weights and input range, and its signed width.
    pub acc_bound: i64,
    pub acc_bits: u32,
}

impl QConv {
    /// A layer with unit multipliers, no shift, unit weight scales, no activation and no
    /// accumulator bound recorded (for kernels and tests that need only the arithmetic).
    pub fn plain(
        weight: Array4<i32>,
        bias: Vec<i64>,
        stride: usize,
        pad: usize,
        pad_value: i32,
    ) -> QConv {
        let co = weight.dim().0;
        QConv {
            weight,
            wbits: 8,
            bias,
            stride,
            pad,
            pad_value,
            mult: vec![1; co],
            shift: vec![0; co],
            wscale: vec![1.0; co],
            act: QAct::None,
            acc_bound: 0,
            acc_bits: 0,
        }
    }
}

/// One operation of the quantized network.
#[derive(Clone, Debug)]
pub enum QOp {
    /// Raw 8-bit pixels, shifted right by `shift` to fit the activation width.
    Input {
        shift: u32,
    },
    Conv(QConv),
    /// A head convolution kept in float (`--head float`): dequantized input, float output.
    FloatConv(Conv),
    Slice {
        start: usize,
        end: usize,
    },
    Concat,
    /// Saturating add; each input is first aligned to the output scale by `shifts[i]`
    /// (a rounding right shift, negative = left).
    Add {
        shifts: Vec<i32>,
    },
    MaxPool {
        k: usize,
        stride: usize,
        pad: usize,
    },
    Upsample {
        factor: usize,
    },
}

#[derive(Clone, Debug)]
pub struct QNode {
    pub name: String,
    pub op: QOp,
    pub inputs: Vec<usize>,
    /// Output format (`None` for float outputs of `FloatConv`).
    pub fmt: Option<QFormat>,
}

/// The quantized network (same node indices as the fused float graph).
#[derive(Clone, Debug)]
pub struct QuantGraph {
    pub nodes: Vec<QNode>,
    pub head: DetectHead,
    pub class_names: Vec<String>,
    pub config: QuantConfig,
    /// Integer post-processing tables (present with `--qnms`).
    pub qnms: Option<qhead::QnmsTables>,
    /// The per-layer sensitivity behind a budget's widths (absent when loaded from disk).
    pub sensitivity: Option<sensitivity::Sensitivity>,
}

impl QuantGraph {
    pub fn node_by_name(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }
}
