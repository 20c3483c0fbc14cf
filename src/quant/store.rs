//! Saving and loading a quantized model: `scales.yaml` (topology, every format, bit width,
//! shift/multiplier and accumulator width) plus `quant.safetensors` (integer weights, biases,
//! tables; float weights of `--head float` convolutions). `load(save(q)) == q`.

use super::qhead::{LevelTables, QnmsTables};
use super::{QAct, QConv, QFormat, QNode, QOp, QuantConfig, QuantGraph};
use crate::error::{Error, Result};
use crate::graph::{Act, Conv, DetectHead};
use ndarray::{Array1, Array4};
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const SCALES_FILE: &str = "scales.yaml";
pub const WEIGHTS_FILE: &str = "quant.safetensors";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConvRecord {
    pub c_in: usize,
    pub c_out: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub pad_value: i32,
    pub wbits: u32,
    pub silu_pre: Option<QFormat>,
    pub acc_bound: i64,
    pub acc_bits: u32,
    pub mult: Vec<i64>,
    pub shift: Vec<i32>,
    pub wscale: Vec<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OpRecord {
    Input {
        shift: u32,
    },
    Conv(ConvRecord),
    FloatConv {
        c_in: usize,
        c_out: usize,
        k: usize,
        stride: usize,
        pad: usize,
    },
    Slice {
        start: usize,
        end: usize,
    },
    Concat,
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

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeRecord {
    pub index: usize,
    pub name: String,
    pub inputs: Vec<usize>,
    pub format: Option<QFormat>,
    pub op: OpRecord,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeadRecord {
    pub nc: usize,
    pub reg_max: usize,
    pub strides: Vec<usize>,
    pub box_nodes: Vec<usize>,
    pub cls_nodes: Vec<usize>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScalesFile {
    pub format_version: u32,
    pub config: QuantConfig,
    pub head: HeadRecord,
    pub class_names: Vec<String>,
    pub qnms_levels: Option<Vec<(usize, QFormat, QFormat)>>,
    pub nodes: Vec<NodeRecord>,
}

fn to_record(q: &QuantGraph) -> ScalesFile {
    let nodes = q
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| NodeRecord {
            index: i,
            name: n.name.clone(),
            inputs: n.inputs.clone(),
            format: n.fmt,
            op: match &n.op {
                QOp::Input { shift } => OpRecord::Input { shift: *shift },
                QOp::Conv(c) => {
                    let (co, ci, k, _) = c.weight.dim();
                    OpRecord::Conv(ConvRecord {
                        c_in: ci,
                        c_out: co,
                        k,
                        stride: c.stride,
                        pad: c.pad,
                        pad_value: c.pad_value,
                        wbits: c.wbits,
                        silu_pre: match &c.act {
                            QAct::Lut { pre, .. } => Some(*pre),
                            QAct::None => None,
                        },
                        acc_bound: c.acc_bound,
                        acc_bits: c.acc_bits,
                        mult: c.mult.clone(),
                        shift: c.shift.clone(),
                        wscale: c.wscale.clone(),
                    })
                }
                QOp::FloatConv(c) => OpRecord::FloatConv {
                    c_in: c.c_in(),
                    c_out: c.c_out(),
                    k: c.k(),
                    stride: c.stride,
                    pad: c.pad,
                },
                QOp::Slice { start, end } => OpRecord::Slice {
                    start: *start,
                    end: *end,
                },
                QOp::Concat => OpRecord::Concat,
                QOp::Add { shifts } => OpRecord::Add {
                    shifts: shifts.clone(),
                },
                QOp::MaxPool { k, stride, pad } => OpRecord::MaxPool {
                    k: *k,
                    stride: *stride,
                    pad: *pad,
                },
                QOp::Upsample { factor } => OpRecord::Upsample { factor: *factor },
            },
        })
        .collect();
    ScalesFile {
        format_version: 1,
        config: q.config.clone(),
        head: HeadRecord {
            nc: q.head.nc,
            reg_max: q.head.reg_max,
            strides: q.head.strides.clone(),
            box_nodes: q.head.box_nodes.clone(),
            cls_nodes: q.head.cls_nodes.clone(),
        },
        class_names: q.class_names.clone(),
        qnms_levels: q.qnms.as_ref().map(|t| {
            t.levels
                .iter()
                .map(|l| (l.stride, l.box_fmt, l.cls_fmt))
                .collect()
        }),
        nodes,
    }
}

/// Owned tensor bytes for safetensors.
struct Raw(Dtype, Vec<usize>, Vec<u8>);

fn raw_i32(shape: &[usize], v: impl Iterator<Item = i32>) -> Raw {
    Raw(
        Dtype::I32,
        shape.to_vec(),
        v.flat_map(|x| x.to_le_bytes()).collect(),
    )
}
fn raw_i64(v: &[i64]) -> Raw {
    Raw(
        Dtype::I64,
        vec![v.len()],
        v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    )
}
fn raw_f32(shape: &[usize], v: impl Iterator<Item = f32>) -> Raw {
    Raw(
        Dtype::F32,
        shape.to_vec(),
        v.flat_map(|x| x.to_le_bytes()).collect(),
    )
}

/// Integer and float tensors of the quantized model, by name.
fn tensors(q: &QuantGraph) -> BTreeMap<String, Raw> {
    let mut t = BTreeMap::new();
    for n in &q.nodes {
        match &n.op {
            QOp::Conv(c) => {
                t.insert(
                    format!("{}.weight", n.name),
                    raw_i32(c.weight.shape(), c.weight.iter().copied()),
                );
                t.insert(format!("{}.bias", n.name), raw_i64(&c.bias));
                if let QAct::Lut { table, .. } = &c.act {
                    t.insert(
                        format!("{}.silu_table", n.name),
                        raw_i32(&[table.len()], table.iter().copied()),
                    );
                }
            }
            QOp::FloatConv(c) => {
                t.insert(
                    format!("{}.weight", n.name),
                    raw_f32(c.weight.shape(), c.weight.iter().copied()),
                );
                let b = c.bias.clone().unwrap_or_else(|| Array1::zeros(c.c_out()));
                t.insert(
                    format!("{}.bias", n.name),
                    raw_f32(&[b.len()], b.iter().copied()),
                );
            }
            _ => {}
        }
    }
    if let Some(qn) = &q.qnms {
        for (l, lv) in qn.levels.iter().enumerate() {
            t.insert(
                format!("qnms.{l}.exp"),
                raw_i32(&[lv.exp.len()], lv.exp.iter().copied()),
            );
            t.insert(
                format!("qnms.{l}.sigmoid"),
                raw_i32(&[lv.sigmoid.len()], lv.sigmoid.iter().copied()),
            );
        }
    }
    t
}

/// Serialize `scales.yaml` and `quant.safetensors` contents.
pub fn encode(q: &QuantGraph) -> Result<(String, Vec<u8>)> {
    let yaml = serde_norway::to_string(&to_record(q))
        .map_err(|e| Error::Other(format!("cannot serialize scales: {e}")))?;
    let raw = tensors(q);
    let views: Vec<(String, TensorView<'_>)> = raw
        .iter()
        .map(|(k, Raw(d, s, b))| {
            (
                k.clone(),
                TensorView::new(*d, s.clone(), b).expect("consistent tensor"),
            )
        })
        .collect();
    let bytes = safetensors::serialize(views, None)
        .map_err(|e| Error::Other(format!("cannot serialize weights: {e}")))?;
    Ok((yaml, bytes))
}

/// Write both files into `dir` (each atomically).
pub fn save(q: &QuantGraph, dir: &Path) -> Result<()> {
    let (yaml, bytes) = encode(q)?;
    crate::util::write_atomic(&dir.join(WEIGHTS_FILE), &bytes)?;
    crate::util::write_atomic_str(&dir.join(SCALES_FILE), &yaml)
}

fn read_i<T: Copy>(
    st: &SafeTensors,
    path: &Path,
    name: &str,
    dt: Dtype,
    shape: &[usize],
    conv: fn(&[u8]) -> T,
) -> Result<Vec<T>> {
    let v = st.tensor(name).map_err(|_| {
        Error::model(
            path,
            format!("missing tensor `{name}`; re-run `yoloq-gen quantize`"),
        )
    })?;
    if v.dtype() != dt || v.shape() != shape {
        return Err(Error::model(path, format!("tensor `{name}` is {:?} {:?}, expected {dt:?} {shape:?}; the directory is inconsistent, re-run `yoloq-gen quantize`", v.dtype(), v.shape())));
    }
    Ok(v.data().chunks_exact(dt.bitsize() / 8).map(conv).collect())
}

fn le_i32(b: &[u8]) -> i32 {
    i32::from_le_bytes(b.try_into().unwrap())
}
fn le_i64(b: &[u8]) -> i64 {
    i64::from_le_bytes(b.try_into().unwrap())
}
fn le_f32(b: &[u8]) -> f32 {
    f32::from_le_bytes(b.try_into().unwrap())
}

/// Load a quantized model directory written by [`save`], checking it is complete and consistent.
pub fn load(dir: &Path) -> Result<QuantGraph> {
    let sp = dir.join(SCALES_FILE);
    let wp = dir.join(WEIGHTS_FILE);
    let yaml = std::fs::read_to_string(&sp).map_err(|e| Error::io(&sp, e))?;
    let rec: ScalesFile = serde_norway::from_str(&yaml).map_err(|e| {
        Error::model(
            &sp,
            format!("not a yoloq-gen scales file ({e}); re-run `yoloq-gen quantize`"),
        )
    })?;
    let bytes = std::fs::read(&wp).map_err(|e| Error::io(&wp, e))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::model(&wp, format!("not a valid safetensors file ({e})")))?;
    let bad = |msg: String| {
        Error::model(
            &sp,
            format!("{msg}; the directory is inconsistent, re-run `yoloq-gen quantize`"),
        )
    };
    let mut nodes: Vec<QNode> = Vec::with_capacity(rec.nodes.len());
    for (i, n) in rec.nodes.iter().enumerate() {
        if n.index != i || n.inputs.iter().any(|&j| j >= i) {
            return Err(bad(format!(
                "node {} ({}) is out of order or reads a later node",
                i, n.name
            )));
        }
        let op = match &n.op {
            OpRecord::Input { shift } => QOp::Input { shift: *shift },
            OpRecord::Conv(c) => {
                let shape = [c.c_out, c.c_in, c.k, c.k];
                let w = read_i(
                    &st,
                    &wp,
                    &format!("{}.weight", n.name),
                    Dtype::I32,
                    &shape,
                    le_i32,
                )?;
                let bias = read_i(
                    &st,
                    &wp,
                    &format!("{}.bias", n.name),
                    Dtype::I64,
                    &[c.c_out],
                    le_i64,
                )?;
                if c.mult.len() != c.c_out || c.shift.len() != c.c_out {
                    return Err(bad(format!(
                        "{}: {} output channels but {} multipliers / {} shifts",
                        n.name,
                        c.c_out,
                        c.mult.len(),
                        c.shift.len()
                    )));
                }
                let act = match c.silu_pre {
                    Some(pre) => {
                        let len = pre.qmax() as usize + 1;
                        QAct::Lut {
                            pre,
                            table: read_i(
                                &st,
                                &wp,
                                &format!("{}.silu_table", n.name),
                                Dtype::I32,
                                &[len],
                                le_i32,
                            )?,
                        }
                    }
                    None => QAct::None,
                };
                QOp::Conv(QConv {
                    weight: Array4::from_shape_vec(shape, w).expect("checked shape"),
                    wbits: c.wbits,
                    bias,
                    stride: c.stride,
                    pad: c.pad,
                    pad_value: c.pad_value,
                    mult: c.mult.clone(),
                    shift: c.shift.clone(),
                    wscale: c.wscale.clone(),
                    act,
                    acc_bound: c.acc_bound,
                    acc_bits: c.acc_bits,
                })
            }
            OpRecord::FloatConv {
                c_in,
                c_out,
                k,
                stride,
                pad,
            } => {
                let shape = [*c_out, *c_in, *k, *k];
                let w = read_i(
                    &st,
                    &wp,
                    &format!("{}.weight", n.name),
                    Dtype::F32,
                    &shape,
                    le_f32,
                )?;
                let b = read_i(
                    &st,
                    &wp,
                    &format!("{}.bias", n.name),
                    Dtype::F32,
                    &[*c_out],
                    le_f32,
                )?;
                QOp::FloatConv(Conv {
                    weight: Array4::from_shape_vec(shape, w).expect("checked shape"),
                    bias: Some(Array1::from(b)),
                    bn: None,
                    stride: *stride,
                    pad: *pad,
                    act: Act::Identity,
                })
            }
            OpRecord::Slice { start, end } => QOp::Slice {
                start: *start,
                end: *end,
            },
            OpRecord::Concat => QOp::Concat,
            OpRecord::Add { shifts } => QOp::Add {
                shifts: shifts.clone(),
            },
            OpRecord::MaxPool { k, stride, pad } => QOp::MaxPool {
                k: *k,
                stride: *stride,
                pad: *pad,
            },
            OpRecord::Upsample { factor } => QOp::Upsample { factor: *factor },
        };
        if n.format.is_none() && !matches!(op, QOp::FloatConv(_)) {
            return Err(bad(format!("node {} has no format", n.name)));
        }
        nodes.push(QNode {
            name: n.name.clone(),
            op,
            inputs: n.inputs.clone(),
            fmt: n.format,
        });
    }
    let h = &rec.head;
    if h.box_nodes
        .iter()
        .chain(&h.cls_nodes)
        .any(|&i| i >= nodes.len())
    {
        return Err(bad("head refers to a node that does not exist".into()));
    }
    let qnms = match &rec.qnms_levels {
        None => None,
        Some(levels) => Some(QnmsTables {
            levels: levels
                .iter()
                .enumerate()
                .map(|(l, (stride, bf, cf))| {
                    Ok(LevelTables {
                        stride: *stride,
                        box_fmt: *bf,
                        cls_fmt: *cf,
                        exp: read_i(
                            &st,
                            &wp,
                            &format!("qnms.{l}.exp"),
                            Dtype::I32,
                            &[bf.qmax() as usize + 1],
                            le_i32,
                        )?,
                        sigmoid: read_i(
                            &st,
                            &wp,
                            &format!("qnms.{l}.sigmoid"),
                            Dtype::I32,
                            &[cf.qmax() as usize + 1],
                            le_i32,
                        )?,
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        }),
    };
    Ok(QuantGraph {
        nodes,
        head: DetectHead {
            nc: h.nc,
            reg_max: h.reg_max,
            strides: h.strides.clone(),
            box_nodes: h.box_nodes.clone(),
            cls_nodes: h.cls_nodes.clone(),
        },
        class_names: rec.class_names,
        config: rec.config,
        qnms,
        sensitivity: None,
    })
}
