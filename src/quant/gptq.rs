//! GPTQ rounding (`--rounding gptq`): the integer weights of every convolution chosen to
//! reproduce the layer's output on the calibration images, instead of each weight's nearest
//! step.
//!
//! Per convolution, with `X` the unfolded (im2col) input codes minus the zero point — taken
//! from the integer model whose earlier layers are already quantized, so each layer sees the
//! errors of the ones before it — and `H = X Xᵀ` (plus 1% of its mean diagonal), the weights
//! of an output channel are rounded one input column at a time; each column's rounding
//! error, divided by the pivot of `U` (`Uᵀ U = H⁻¹`), is subtracted from the columns not yet
//! rounded along `U`'s row — the optimal correction of `‖(W − Q) X‖²` for those columns.
//! Columns are visited in im2col order (measured better here than decreasing `H` diagonal,
//! GPTQ's "act order": W4A8 0.3889 against 0.3769 AP, docs/RESULTS.md).
//!
//! `--rounding gptq-refine` rounds for the error bias correction leaves: GPTQ runs on the
//! centred statistics `H − s sᵀ / N` (`s = Σ x`, `N` columns) when the layer is
//! bias-corrected, and a greedy integer descent (single ±1 moves of one code that lower
//! `dᵀ C d`) follows, so the result is a local minimum of that error. Measured at W6A8 with
//! every layer at 6 bits: 0.4065 → 0.4171 AP (docs/RESULTS.md).
//!
//! Guarantees: the per-channel scales are the ones nearest rounding uses (only the integers
//! change, so the shifts, formats and hardware are the same); every weight lies in
//! `[−(2^(W−1) − 1), 2^(W−1) − 1]`; with `H` diagonal the result is nearest rounding exactly;
//! `H` is summed exactly (integer products in f64) and every other sum runs in a fixed order,
//! so the weights do not depend on the thread count.

mod linalg;

pub use linalg::upper_cholesky_of_inverse;

use super::int_model::{eval_qnode, input_codes, Value};
use super::spec::weight_max;
use super::{QNode, QOp};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::model::conv::{im2col, matmul_f64};
use ndarray::{Array2, Array3, Array4, ArrayView3};
use rayon::prelude::*;

/// Dampening added to `H`'s diagonal, as a share of its mean diagonal (0.1 measured worse at
/// W4A8: 0.3780 against 0.3889 AP).
pub const DAMP: f64 = 0.01;
/// Output channels rounded together (each row of `U` is read once per block).
const ROW_BLOCK: usize = 16;

/// Output positions per image that enter `H` at most: above this an evenly spaced subset
/// (every `ceil(n / MAX_COLUMNS)`-th position in raster order) is used.
pub const MAX_COLUMNS: usize = 4096;

/// `Σ x xᵀ` over the unfolded input columns `x` of one convolution.
#[derive(Clone, Debug)]
pub struct Hessian {
    /// `[K, K]` with `K = c_in · k · k` in im2col order (channel, tap row, tap column).
    pub h: Array2<f64>,
    /// Input columns summed (output positions over all images).
    pub samples: u64,
    /// `Σ x` over the same columns (the input mean times `samples`).
    pub sum: Vec<f64>,
}

/// The selected columns of an im2col matrix (`kk` rows), as f64, row-major `kk × n_sel`.
fn columns(cols: &[f32], kk: usize) -> (Vec<f64>, usize) {
    let n = cols.len() / kk;
    let step = n.div_ceil(MAX_COLUMNS).max(1);
    let sel = n.div_ceil(step);
    let mut a = Vec::with_capacity(kk * sel);
    for row in cols.chunks_exact(n) {
        a.extend(row.iter().step_by(step).map(|&v| v as f64));
    }
    (a, sel)
}

fn transpose(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut t = vec![0f64; rows * cols];
    for (r, row) in a.chunks_exact(cols).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            t[c * rows + r] = v;
        }
    }
    t
}

impl Hessian {
    pub fn zeros(k: usize) -> Self {
        Hessian {
            h: Array2::zeros((k, k)),
            samples: 0,
            sum: vec![0.0; k],
        }
    }

    /// Add the columns of one input `x` (codes `[c_in, h, w]`) of a `k × k` convolution;
    /// padded positions read `zero`, i.e. 0 after centring, as in the integer convolution.
    pub fn add_codes(
        &mut self,
        x: ArrayView3<i32>,
        zero: i32,
        k: usize,
        stride: usize,
        pad: usize,
    ) {
        self.add_values(x.mapv(|v| (v - zero) as f32).view(), k, stride, pad);
    }

    /// Add the columns of one float input `x` (`[c_in, h, w]`, padding reading 0).
    pub fn add_values(&mut self, xc: ArrayView3<f32>, k: usize, stride: usize, pad: usize) {
        let kk = self.h.nrows();
        let (a, n) = columns(&im2col(xc, k, stride, pad), kk);
        let at = transpose(&a, kk, n);
        let mut out = vec![0f64; kk * kk];
        matmul_f64(kk, kk, n, &a, &at, &mut out);
        for (d, s) in self.h.iter_mut().zip(&out) {
            *d += s;
        }
        for (d, row) in self.sum.iter_mut().zip(a.chunks_exact(n)) {
            *d += row.iter().sum::<f64>();
        }
        self.samples += n as u64;
    }
}

/// The upper Cholesky factor `U` of the dampened `H⁻¹` (`Uᵀ U = H⁻¹`), or `None` when `H`
/// (dampened) is not numerically positive definite. With `centred`, of the dampened
/// `H − s sᵀ / N` instead (the part of the output error bias correction leaves).
fn inverse_factor(hess: &Hessian, centred: bool) -> Option<Vec<f64>> {
    let n = hess.h.nrows();
    let mut h = Array2::from_shape_vec((n, n), error_matrix(hess, centred)).expect("square");
    let live: Vec<f64> = (0..n).map(|i| h[[i, i]]).filter(|&d| d > 0.0).collect();
    let mean = if live.is_empty() {
        1.0
    } else {
        live.iter().sum::<f64>() / live.len() as f64
    };
    for i in 0..n {
        // An input that is always 0 does not constrain its weight: decoupled, nearest.
        if h[[i, i]] <= 0.0 {
            h[[i, i]] = mean;
        }
        h[[i, i]] += DAMP * mean;
    }
    upper_cholesky_of_inverse(h.as_slice().expect("standard layout"), n)
}

/// GPTQ rounding of the rows of `wf` (`co × n`, row-major) at the per-channel `scale`, with
/// the factor `u` of [`inverse_factor`].
fn round_rows(wf: &[f64], scale: &[f64], wbits: u32, u: &[f64], n: usize) -> Vec<i32> {
    let co = scale.len();
    let wm = weight_max(wbits) as f64;
    let mut q = vec![0i32; co * n];
    q.par_chunks_mut(ROW_BLOCK * n)
        .enumerate()
        .for_each(|(b, qb)| {
            let rows = qb.len() / n;
            let o0 = b * ROW_BLOCK;
            // Working weights, one row per output channel.
            let mut wr: Vec<Vec<f64>> = (0..rows)
                .map(|r| wf[(o0 + r) * n..(o0 + r + 1) * n].to_vec())
                .collect();
            for p in 0..n {
                let urow = &u[p * n..(p + 1) * n];
                for (r, row) in wr.iter_mut().enumerate() {
                    let s = scale[o0 + r];
                    let v = row[p];
                    let qv = (v / s).round().clamp(-wm, wm);
                    qb[r * n + p] = qv as i32;
                    let err = (v - qv * s) / urow[p];
                    for (x, &uu) in row[p + 1..].iter_mut().zip(&urow[p + 1..]) {
                        *x -= err * uu;
                    }
                }
            }
        });
    q
}

/// GPTQ integers for `w` (`[c_out, c_in, k, k]`, float) at the per-channel `scale` and
/// `wbits`, from the input statistics `hess`. `None` when `H` (dampened) is not numerically
/// positive definite.
pub fn round_weights(
    w: &Array4<f32>,
    scale: &[f64],
    wbits: u32,
    hess: &Hessian,
) -> Option<Array4<i32>> {
    Some(round_weights_with(
        w,
        scale,
        wbits,
        &InverseFactor::new(hess)?,
    ))
}

/// The factor `U` of a layer's dampened `H⁻¹`, computed once for rounding the layer at several
/// widths or scales.
pub struct InverseFactor {
    u: Vec<f64>,
    n: usize,
    /// With refinement ([`InverseFactor::refined`]): the centred error matrix the integer
    /// descent lowers (empty otherwise).
    e: Vec<f64>,
}

impl InverseFactor {
    /// Plain GPTQ (`--rounding gptq`). `None` when `H` (dampened) is not numerically positive
    /// definite.
    pub fn new(hess: &Hessian) -> Option<Self> {
        Some(InverseFactor {
            u: inverse_factor(hess, false)?,
            n: hess.h.nrows(),
            e: Vec::new(),
        })
    }

    /// `--rounding gptq-refine`: GPTQ on the error matrix `C` ([`error_matrix`]: with
    /// `centred`, for bias-corrected layers, `H − s sᵀ / N`, else `H`), then the integer
    /// descent on `dᵀ C d` ([`refine_rows`]). `None` as for [`InverseFactor::new`].
    pub fn refined(hess: &Hessian, centred: bool) -> Option<Self> {
        Some(InverseFactor {
            u: inverse_factor(hess, centred)?,
            n: hess.h.nrows(),
            e: error_matrix(hess, centred),
        })
    }

    /// [`InverseFactor::refined`]`(hess, centred)` when `refine` is `Some(centred)`, else
    /// [`InverseFactor::new`].
    pub fn for_rounding(hess: &Hessian, refine: Option<bool>) -> Option<Self> {
        match refine {
            Some(centred) => Self::refined(hess, centred),
            None => Self::new(hess),
        }
    }
}

/// Passes of the integer descent at most ([`refine_rows`]); measured on YOLOv8n it stops
/// earlier (a pass that changes nothing ends it).
pub const REFINE_PASSES: usize = 8;

/// Greedy integer descent on the rows `q` (`co × n`, row-major) for the output error
/// `dᵀ E d`, `d = w − q·s` per row: columns are visited in order and a column's integer moves
/// by ±1 (within `±(2^(W−1) − 1)`) whenever that lowers the error, for at most
/// [`REFINE_PASSES`] passes, stopping after a pass without a move. GPTQ's result is a
/// sequential (nearest-plane) solution of the same integer least-squares problem; the descent
/// only ever lowers its error. Every sum runs in a fixed order per row.
fn refine_rows(wf: &[f64], scale: &[f64], wbits: u32, e: &[f64], n: usize, q: &mut [i32]) {
    let wm = weight_max(wbits);
    q.par_chunks_mut(n).enumerate().for_each(|(o, qr)| {
        let s = scale[o];
        let mut d: Vec<f64> = (0..n).map(|t| wf[o * n + t] - qr[t] as f64 * s).collect();
        // g = E d, kept up to date as d changes.
        let mut g: Vec<f64> = e.chunks_exact(n).map(|row| linalg::dot(row, &d)).collect();
        for _ in 0..REFINE_PASSES {
            let mut moved = false;
            for j in 0..n {
                let ejj = e[j * n + j];
                if ejj <= 0.0 {
                    continue;
                }
                for step in [1i32, -1] {
                    let nq = qr[j] + step;
                    if nq.abs() > wm {
                        continue;
                    }
                    // d_j − step·s changes dᵀ E d by −2·step·s·g_j + s²·E_jj.
                    let ds = step as f64 * s;
                    if -2.0 * ds * g[j] + ds * ds * ejj < -1e-12 * ds * ds * ejj {
                        qr[j] = nq;
                        d[j] -= ds;
                        for (gi, &c) in g.iter_mut().zip(&e[j * n..(j + 1) * n]) {
                            *gi -= ds * c;
                        }
                        moved = true;
                        break;
                    }
                }
            }
            if !moved {
                break;
            }
        }
    });
}

/// [`round_weights`] with the factor computed beforehand.
pub fn round_weights_with(
    w: &Array4<f32>,
    scale: &[f64],
    wbits: u32,
    f: &InverseFactor,
) -> Array4<i32> {
    let (co, ci, kh, kw) = w.dim();
    let n = ci * kh * kw;
    assert_eq!(f.n, n);
    assert_eq!(scale.len(), co);
    let wf: Vec<f64> = w.iter().map(|&v| v as f64).collect();
    let mut q = round_rows(&wf, scale, wbits, &f.u, n);
    if !f.e.is_empty() {
        refine_rows(&wf, scale, wbits, &f.e, n, &mut q);
    }
    Array4::from_shape_vec((co, ci, kh, kw), q).expect("shape")
}

/// The matrix whose quadratic form `dᵀ E d` is the output error of a weight error `d` on the
/// calibration columns: `H`, or with `centred` its covariance part `H − s sᵀ / N` (the error
/// left after bias correction removes the mean shift).
fn error_matrix(hess: &Hessian, centred: bool) -> Vec<f64> {
    let n = hess.h.nrows();
    let mut e: Vec<f64> = hess.h.as_standard_layout().iter().copied().collect();
    if centred && hess.samples > 0 {
        let inv = 1.0 / hess.samples as f64;
        for i in 0..n {
            for j in 0..n {
                e[i * n + j] -= hess.sum[i] * hess.sum[j] * inv;
            }
        }
    }
    e
}

/// GPTQ integers with each output channel's scale chosen among its candidates `cands[o]`
/// (`(scale, exponent)`, widest first): the rows are rounded at every candidate and each
/// channel keeps the one with the least output error `(w − q·s)ᵀ E (w − q·s)`
/// ([`error_matrix`]; ties keep the wider scale). Returns the integers and each channel's
/// chosen candidate index; `None` as for [`round_weights`].
pub fn round_weights_search(
    w: &Array4<f32>,
    cands: &[Vec<(f64, i32)>],
    wbits: u32,
    hess: &Hessian,
    centred: bool,
) -> Option<(Array4<i32>, Vec<usize>)> {
    let (co, ci, kh, kw) = w.dim();
    let n = ci * kh * kw;
    assert_eq!(hess.h.dim(), (n, n));
    assert_eq!(cands.len(), co);
    let u = inverse_factor(hess, false)?;
    let e = error_matrix(hess, centred);
    let wf: Vec<f64> = w.iter().map(|&v| v as f64).collect();
    let kmax = cands.iter().map(|c| c.len()).max().unwrap_or(1);
    let mut best = vec![(f64::INFINITY, 0usize); co];
    let mut out = vec![0i32; co * n];
    for k in 0..kmax {
        let scale: Vec<f64> = cands.iter().map(|c| c[k.min(c.len() - 1)].0).collect();
        let q = round_rows(&wf, &scale, wbits, &u, n);
        let errs: Vec<f64> = (0..co)
            .into_par_iter()
            .map(|o| {
                let d: Vec<f64> = (0..n)
                    .map(|t| wf[o * n + t] - q[o * n + t] as f64 * scale[o])
                    .collect();
                let ed: Vec<f64> = e.chunks_exact(n).map(|row| linalg::dot(row, &d)).collect();
                linalg::dot(&d, &ed)
            })
            .collect();
        for o in 0..co {
            if k < cands[o].len() && errs[o] < best[o].0 {
                best[o] = (errs[o], k);
                out[o * n..(o + 1) * n].copy_from_slice(&q[o * n..(o + 1) * n]);
            }
        }
    }
    let pick = best.iter().map(|b| b.1).collect();
    Some((
        Array4::from_shape_vec((co, ci, kh, kw), out).expect("shape"),
        pick,
    ))
}

/// Calibration images for passes that run the partly quantized model: `load(i)` gives the
/// `i`-th letterboxed `[3, H, W]` tensor in [0, 1], for `i < count`.
#[derive(Clone, Copy)]
pub struct CalibImages<'a> {
    pub count: usize,
    pub load: &'a (dyn Fn(usize) -> Result<Array3<f32>> + Sync),
}

/// The integer model run layer by layer over every calibration image while the quantizer
/// builds it: each node is evaluated once, with the final (already rounded) nodes before it,
/// and dropped when its last consumer has run.
pub struct Sequential<'a> {
    images: CalibImages<'a>,
    /// Consumers of each node not yet evaluated.
    consumers: Vec<usize>,
    /// Per node, its value on every image while a consumer still needs it.
    values: Vec<Option<Vec<Value>>>,
    next: usize,
    pb: indicatif::ProgressBar,
    /// `--rounding gptq-refine`: `Some(centred)` ([`InverseFactor::for_rounding`]).
    refine: Option<bool>,
}

impl<'a> Sequential<'a> {
    /// With `refine` = `Some(centred)`, the layers are rounded as [`InverseFactor::refined`]
    /// says, else with plain GPTQ.
    pub fn new(g: &Graph, images: CalibImages<'a>, refine: Option<bool>) -> Self {
        let mut consumers = vec![0usize; g.nodes.len()];
        for n in &g.nodes {
            for &j in &n.inputs {
                consumers[j] += 1;
            }
        }
        let convs = g
            .nodes
            .iter()
            .filter(|n| matches!(n.op, crate::graph::Op::Conv(_)))
            .count();
        Sequential {
            images,
            consumers,
            values: vec![None; g.nodes.len()],
            next: 0,
            pb: crate::progress::bar(convs as u64, "gptq"),
            refine,
        }
    }

    /// Evaluate every node built so far (`nodes`) that has not run yet.
    fn advance(&mut self, nodes: &[QNode]) -> Result<()> {
        while self.next < nodes.len() {
            let j = self.next;
            self.next += 1;
            if self.consumers[j] > 0 {
                let vals: Vec<Value> = (0..self.images.count)
                    .into_par_iter()
                    .map(|img| match nodes[j].op {
                        QOp::Input { shift } => {
                            Ok(Value::Int(input_codes(&(self.images.load)(img)?, shift)))
                        }
                        _ => {
                            let ins: Vec<&Value> = nodes[j]
                                .inputs
                                .iter()
                                .map(|&s| &self.values[s].as_ref().expect("alive")[img])
                                .collect();
                            Ok(eval_qnode(nodes, j, &ins))
                        }
                    })
                    .collect::<Result<_>>()?;
                self.values[j] = Some(vals);
            }
            for &s in &nodes[j].inputs {
                self.consumers[s] -= 1;
                if self.consumers[s] == 0 {
                    self.values[s] = None;
                }
            }
        }
        Ok(())
    }

    /// `H` of the convolution `name` that comes after `nodes` (a `c_in · k · k` square, with
    /// stride and padding) and reads node `src`, whose codes have zero point `zero`.
    #[allow(clippy::too_many_arguments)]
    fn hessian(
        &mut self,
        nodes: &[QNode],
        name: &str,
        src: usize,
        zero: i32,
        (stride, pad): (usize, usize),
        (ci, k): (usize, usize),
    ) -> Result<Hessian> {
        self.advance(nodes)?;
        let xs = self.values[src]
            .as_ref()
            .ok_or_else(|| Error::Other(format!("gptq: the input of {name} was not evaluated")))?;
        let mut hess = Hessian::zeros(ci * k * k);
        for x in xs {
            let x = match x {
                Value::Int(a) => a,
                Value::Float(_) => {
                    return Err(Error::Other(format!(
                        "gptq: the input of {name} is not an integer tensor"
                    )))
                }
            };
            hess.add_codes(x.view(), zero, k, stride, pad);
        }
        Ok(hess)
    }

    fn not_definite(&self, name: &str) {
        self.pb.suspend(|| {
            eprintln!("warning: gptq: {name}: input statistics not positive definite; nearest rounding kept")
        });
    }

    /// GPTQ integers for the convolution `name` that comes after `nodes` (float weights
    /// `w`, per-channel `scale`, `wbits`, stride and padding) and reads node `src`, whose
    /// codes have zero point `zero`. `None` (the caller keeps nearest rounding; a warning is
    /// printed) when the layer's `H` is not numerically positive definite.
    #[allow(clippy::too_many_arguments)]
    pub fn weights(
        &mut self,
        nodes: &[QNode],
        name: &str,
        src: usize,
        zero: i32,
        conv: (usize, usize),
        w: &Array4<f32>,
        scale: &[f64],
        wbits: u32,
    ) -> Result<Option<Array4<i32>>> {
        let (_, ci, k, _) = w.dim();
        let hess = self.hessian(nodes, name, src, zero, conv, (ci, k))?;
        let q = InverseFactor::for_rounding(&hess, self.refine)
            .map(|f| round_weights_with(w, scale, wbits, &f));
        if q.is_none() {
            self.not_definite(name);
        }
        self.pb.inc(1);
        Ok(q)
    }

    /// As [`Sequential::weights`], with each output channel's scale chosen among `cands[o]`
    /// by the output error after rounding ([`round_weights_search`]): the integers and each
    /// channel's chosen candidate index.
    #[allow(clippy::too_many_arguments)]
    pub fn weights_search(
        &mut self,
        nodes: &[QNode],
        name: &str,
        src: usize,
        zero: i32,
        conv: (usize, usize),
        w: &Array4<f32>,
        cands: &[Vec<(f64, i32)>],
        wbits: u32,
        centred: bool,
    ) -> Result<Option<(Array4<i32>, Vec<usize>)>> {
        let (_, ci, k, _) = w.dim();
        let hess = self.hessian(nodes, name, src, zero, conv, (ci, k))?;
        let q = round_weights_search(w, cands, wbits, &hess, centred);
        if q.is_none() {
            self.not_definite(name);
        }
        self.pb.inc(1);
        Ok(q)
    }

    pub fn finish(&self) {
        self.pb.finish_and_clear();
    }
}
