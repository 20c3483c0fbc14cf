//! Hardware-facing artifacts of a quantized model: `mem/*.hex` ROM images, golden
//! `activations/` of one image, and the `first_pixel.yaml` trace.
//!
//! Hex packing (`$readmemh`, written by [`crate::rtl::hex`]): one value per line, two's complement, as many hex digits as the
//! value's width needs (`ceil(bits / 4)`), in row-major order of the tensor:
//! weights `[c_out][c_in][ky][kx]` at `wbits`; biases at the layer's `acc_bits`; multipliers at
//! 16 bits; shifts at 8 bits; SiLU tables at the activation width; activations `[c][y][x]`.

use super::int_model::Value;
use super::spec::{requant, rshift_round};
use super::{QAct, QConv, QOp, QuantGraph};
use crate::error::Result;
use crate::rtl::hex;
use crate::util::write_atomic_str;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// File-name-safe form of a node name.
pub fn file_stem(name: &str) -> String {
    name.replace('.', "_")
}

/// Write `mem/<layer>.{weight,bias,mult,shift,silu}.hex` for every integer convolution.
pub fn write_mem(q: &QuantGraph, dir: &Path) -> Result<()> {
    for n in &q.nodes {
        if let QOp::Conv(c) = &n.op {
            let stem = dir.join(file_stem(&n.name));
            let p = |ext: &str| stem.with_extension(ext);
            write_atomic_str(
                &p("weight.hex"),
                &hex::values(c.weight.iter().map(|&v| v as i64), c.wbits),
            )?;
            write_atomic_str(
                &p("bias.hex"),
                &hex::values(c.bias.iter().copied(), c.acc_bits),
            )?;
            write_atomic_str(&p("mult.hex"), &hex::values(c.mult.iter().copied(), 16))?;
            write_atomic_str(
                &p("shift.hex"),
                &hex::values(c.shift.iter().map(|&v| v as i64), 8),
            )?;
            if let QAct::Lut { table, .. } = &c.act {
                write_atomic_str(
                    &p("silu.hex"),
                    &hex::values(table.iter().map(|&v| v as i64), q.config.abits),
                )?;
            }
        }
    }
    if let Some(t) = &q.qnms {
        for (l, lv) in t.levels.iter().enumerate() {
            write_atomic_str(
                &dir.join(format!("qnms_{l}.exp.hex")),
                &hex::values(lv.exp.iter().map(|&v| v as i64), 17),
            )?;
            write_atomic_str(
                &dir.join(format!("qnms_{l}.sigmoid.hex")),
                &hex::values(lv.sigmoid.iter().map(|&v| v as i64), 17),
            )?;
        }
    }
    Ok(())
}

/// Write every integer node output as `activations/<node>.hex` (codes, `[c][y][x]`).
pub fn write_activations_hex(q: &QuantGraph, values: &[Option<Value>], dir: &Path) -> Result<()> {
    for (n, v) in q.nodes.iter().zip(values) {
        if let (Some(Value::Int(a)), Some(f)) = (v, n.fmt) {
            write_atomic_str(
                &dir.join(format!("{}.hex", file_stem(&n.name))),
                &hex::values(a.iter().map(|&x| x as i64), f.bits),
            )?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct ConvTrace {
    /// Codes of the receptive field of output (0,0): one row per input channel holding its
    /// `k x k` window row-major (padding shows the pad code); for 1x1 convolutions one row of all channels.
    window: Vec<Vec<i32>>,
    /// Output channel 0's weights, laid out like `window`.
    weights_ch0: Vec<Vec<i32>>,
    bias_ch0: i64,
    /// Channel 0: accumulator after adding each input channel's `k x k` products (bias first).
    partial_sums_ch0: Vec<i64>,
    acc_ch0: i64,
    mult_ch0: i64,
    shift_ch0: i32,
    product_ch0: i64,
    rounded_shifted_ch0: i64,
    plus_zero_ch0: i64,
    saturated_ch0: i32,
    table_output_ch0: Option<i32>,
    /// All channels: accumulators and final output codes at (0,0).
    acc_all: Vec<i64>,
    out_all: Vec<i32>,
}

#[derive(Serialize)]
struct LayerTrace {
    index: usize,
    name: String,
    kind: &'static str,
    /// Input codes at (0,0), all channels of every input.
    input_00: Vec<Vec<i32>>,
    output_00: Vec<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conv: Option<ConvTrace>,
}

fn at00(v: &Value) -> Vec<i32> {
    match v {
        Value::Int(a) => a.outer_iter().map(|p| p[[0, 0]]).collect(),
        Value::Float(_) => vec![],
    }
}

/// One row per channel of its `k x k` values; for `k == 1`, a single row of all channels.
fn rows(ci: usize, k: usize, f: &dyn Fn(usize, usize, usize) -> i32) -> Vec<Vec<i32>> {
    let per = |ch: usize| {
        (0..k)
            .flat_map(move |ky| (0..k).map(move |kx| (ky, kx)))
            .map(move |(ky, kx)| f(ch, ky, kx))
    };
    if k == 1 {
        vec![(0..ci).map(|ch| f(ch, 0, 0)).collect()]
    } else {
        (0..ci).map(|ch| per(ch).collect()).collect()
    }
}

fn conv_trace(c: &QConv, x: &ndarray::Array3<i32>, out_fmt: &super::QFormat) -> ConvTrace {
    let (co, ci, k, _) = c.weight.dim();
    let (h, w) = (x.shape()[1] as isize, x.shape()[2] as isize);
    let win = |ch: usize, ky: usize, kx: usize| {
        let (y, xx) = (ky as isize - c.pad as isize, kx as isize - c.pad as isize);
        if y < 0 || xx < 0 || y >= h || xx >= w {
            c.pad_value
        } else {
            x[[ch, y as usize, xx as usize]]
        }
    };
    let acc_of = |o: usize| -> (i64, Vec<i64>) {
        let mut acc = c.bias[o];
        let mut partial = vec![acc];
        for ch in 0..ci {
            for ky in 0..k {
                for kx in 0..k {
                    acc += win(ch, ky, kx) as i64 * c.weight[[o, ch, ky, kx]] as i64;
                }
            }
            partial.push(acc);
        }
        (acc, partial)
    };
    let out_of = |o: usize, acc: i64| match &c.act {
        QAct::None => requant(acc, c.mult[o], c.shift[o], out_fmt),
        QAct::Lut { pre, table } => table[requant(acc, c.mult[o], c.shift[o], pre) as usize],
    };
    let (acc0, partial) = acc_of(0);
    let target = match &c.act {
        QAct::None => *out_fmt,
        QAct::Lut { pre, .. } => *pre,
    };
    let product = acc0 * c.mult[0];
    let shifted = rshift_round(product, c.shift[0]);
    let plus_zero = shifted + target.zero as i64;
    let saturated = plus_zero.clamp(0, target.qmax() as i64) as i32;
    let accs: Vec<i64> = (0..co).map(|o| acc_of(o).0).collect();
    ConvTrace {
        window: rows(ci, k, &|ch, ky, kx| win(ch, ky, kx)),
        weights_ch0: rows(ci, k, &|ch, ky, kx| c.weight[[0, ch, ky, kx]]),
        bias_ch0: c.bias[0],
        partial_sums_ch0: partial,
        acc_ch0: acc0,
        mult_ch0: c.mult[0],
        shift_ch0: c.shift[0],
        product_ch0: product,
        rounded_shifted_ch0: shifted,
        plus_zero_ch0: plus_zero,
        saturated_ch0: saturated,
        table_output_ch0: match &c.act {
            QAct::Lut { table, .. } => Some(table[saturated as usize]),
            QAct::None => None,
        },
        out_all: accs
            .iter()
            .enumerate()
            .map(|(o, &a)| out_of(o, a))
            .collect(),
        acc_all: accs,
    }
}

/// Write `first_pixel.yaml`: the computation of output pixel (0,0) of every layer, recomputed
/// directly from the definition and checked against the model's own output.
pub fn write_first_pixel(q: &QuantGraph, values: &[Option<Value>], path: &Path) -> Result<()> {
    let mut layers = Vec::new();
    for (i, n) in q.nodes.iter().enumerate() {
        let Some(v) = values[i].as_ref() else {
            continue;
        };
        let input_00 = n
            .inputs
            .iter()
            .filter_map(|&j| values[j].as_ref().map(at00))
            .collect();
        let conv = match (&n.op, n.fmt) {
            (QOp::Conv(c), Some(f)) => {
                let t = conv_trace(c, values[n.inputs[0]].as_ref().unwrap().int(), &f);
                if t.out_all != at00(v) {
                    return Err(crate::Error::Other(format!(
                        "first-pixel trace of {} disagrees with the integer model",
                        n.name
                    )));
                }
                Some(t)
            }
            _ => None,
        };
        let kind = match &n.op {
            QOp::Input { .. } => "input",
            QOp::Conv(_) => "conv",
            QOp::FloatConv(_) => "float_conv",
            QOp::Slice { .. } => "slice",
            QOp::Concat => "concat",
            QOp::Add { .. } => "add",
            QOp::MaxPool { .. } => "maxpool",
            QOp::Upsample { .. } => "upsample",
        };
        layers.push(LayerTrace {
            index: i,
            name: n.name.clone(),
            kind,
            input_00,
            output_00: at00(v),
            conv,
        });
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Output pixel (0,0) of every layer, step by step (see docs/quantization.md)."
    );
    s.push_str(&crate::compact_yaml::to_string(&layers)?);
    write_atomic_str(path, &s)
}

/// Write every integer node output as an I32 tensor named after the node.
pub fn write_activations_safetensors(
    q: &QuantGraph,
    values: &[Option<Value>],
    path: &Path,
) -> Result<()> {
    use safetensors::{tensor::TensorView, Dtype};
    let raw: Vec<(String, Vec<usize>, Vec<u8>)> = q
        .nodes
        .iter()
        .zip(values)
        .filter_map(|(n, v)| match v {
            Some(Value::Int(a)) => Some((
                n.name.clone(),
                a.shape().to_vec(),
                a.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )),
            _ => None,
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = raw
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::I32, s.clone(), b).expect("consistent"),
            )
        })
        .collect();
    let bytes =
        safetensors::serialize(views, None).map_err(|e| crate::Error::Other(e.to_string()))?;
    crate::util::write_atomic(path, &bytes)
}
