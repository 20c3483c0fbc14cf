//! Calibration: run the fused float model over images, collect per-group value histograms
//! (node outputs, and conv pre-activations feeding a SiLU table), then choose each group's
//! format by `max`, `percentile:P` or `mse` (the clipping range minimising quantization error).
//! It also records, per convolution, the mean input under each kernel tap (for bias correction).

use super::bias_correct::TapSums;
use super::groups::scale_groups;
use super::spec::QFormat;
use super::{CalibMethod, ScaleMode};
use crate::fuse::FusedGraph;
use crate::graph::{Act, Graph, Op};
use crate::model::{conv, forward, ops};
use ndarray::Array3;
use rayon::prelude::*;

const BINS: usize = 4096;

/// A fixed-range histogram.
#[derive(Clone, Debug)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<u64>,
}

impl Histogram {
    fn new(lo: f32, hi: f32) -> Self {
        let (lo, hi) = (lo as f64, (hi as f64).max(lo as f64 + 1e-6));
        Histogram {
            lo,
            hi,
            counts: vec![0; BINS],
        }
    }
    fn add(&mut self, xs: &[f32]) {
        let k = BINS as f64 / (self.hi - self.lo);
        for &v in xs {
            let b = ((v as f64 - self.lo) * k) as isize;
            self.counts[b.clamp(0, BINS as isize - 1) as usize] += 1;
        }
    }
    /// Add the counts of a histogram over the same range.
    fn merge_counts(&mut self, o: &Histogram) {
        debug_assert!(self.lo == o.lo && self.hi == o.hi);
        for (c, &d) in self.counts.iter_mut().zip(&o.counts) {
            *c += d;
        }
    }
    fn center(&self, b: usize) -> f64 {
        self.lo + (b as f64 + 0.5) * (self.hi - self.lo) / BINS as f64
    }
    /// The same distribution with every value below `floor` moved to `floor` (the range then
    /// starts at `floor`; used where values below a threshold all mean the same thing).
    pub fn floored(&self, floor: f64) -> Histogram {
        if floor <= self.lo {
            return self.clone();
        }
        let mut h = Histogram {
            lo: floor,
            hi: self.hi.max(floor + 1e-6),
            counts: vec![0; BINS],
        };
        let k = BINS as f64 / (h.hi - h.lo);
        for (b, &c) in self.counts.iter().enumerate() {
            let v = self.center(b).max(floor);
            let nb = (((v - h.lo) * k) as isize).clamp(0, BINS as isize - 1) as usize;
            h.counts[nb] += c;
        }
        h
    }

    /// Value below which `p` percent of the mass lies.
    fn percentile(&self, p: f64) -> f64 {
        let total: u64 = self.counts.iter().sum();
        let target = (p / 100.0 * total as f64).ceil() as u64;
        let mut acc = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            acc += c;
            if acc >= target {
                return self.center(b);
            }
        }
        self.hi
    }
    /// Sum of squared quantization errors of the histogram under format `f`.
    fn sq_error(&self, f: &QFormat) -> f64 {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(b, &c)| {
                let v = self.center(b);
                let d = f.dequant(f.quantize(v as f32)) as f64 - v;
                d * d * c as f64
            })
            .sum()
    }
}

/// Statistics of one calibration run.
#[derive(Clone, Debug)]
pub struct CalibStats {
    /// Scale group of every node output.
    pub groups: Vec<usize>,
    /// Per group: histogram of all member values.
    pub group_hist: Vec<Histogram>,
    /// Per node: histogram of the conv pre-activation (SiLU convs only).
    pub pre_hist: Vec<Option<Histogram>>,
    /// Per node: input sums under each kernel tap (convolutions only).
    pub taps: Vec<Option<TapSums>>,
    pub images: usize,
}

/// One forward pass returning every node output and every SiLU conv's pre-activation.
fn forward_with_pre(g: &Graph, x: &Array3<f32>) -> (Vec<Array3<f32>>, Vec<Option<Array3<f32>>>) {
    let mut vals: Vec<Array3<f32>> = Vec::with_capacity(g.nodes.len());
    let mut pre = vec![None; g.nodes.len()];
    for (i, n) in g.nodes.iter().enumerate() {
        let y = match &n.op {
            Op::Input => x.clone(),
            Op::Conv(c) if c.act == Act::Silu && c.bn.is_none() => {
                let mut z =
                    conv::conv2d(vals[n.inputs[0]].view(), c.weight.view(), c.stride, c.pad);
                if let Some(b) = &c.bias {
                    ops::add_bias(&mut z, b.as_slice().unwrap());
                }
                let mut y = z.clone();
                ops::silu_inplace(&mut y);
                pre[i] = Some(z);
                y
            }
            op => {
                let ins: Vec<&Array3<f32>> = n.inputs.iter().map(|&j| &vals[j]).collect();
                forward::eval_node(op, &ins)
            }
        };
        vals.push(y);
    }
    (vals, pre)
}

fn minmax(a: &Array3<f32>) -> (f32, f32) {
    a.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

fn merge(a: (f32, f32), b: (f32, f32)) -> (f32, f32) {
    (a.0.min(b.0), a.1.max(b.1))
}

/// Images run in parallel per chunk; statistics are merged in image order after each chunk
/// (a bound on the per-image partial statistics held at once).
const CHUNK: usize = 8;

/// `f(i)` for every image in parallel, chunk by chunk, then `merge(i, result)` in image
/// order; the first failing image (in order) stops the run with its error.
fn per_image<T: Send>(
    n_images: usize,
    f: impl Fn(usize) -> crate::Result<T> + Sync,
    mut merge: impl FnMut(T),
) -> crate::Result<()> {
    for c0 in (0..n_images).step_by(CHUNK) {
        let chunk: Vec<crate::Result<T>> = (c0..(c0 + CHUNK).min(n_images))
            .into_par_iter()
            .map(&f)
            .collect();
        for r in chunk {
            merge(r?);
        }
    }
    Ok(())
}

/// Collect statistics over `inputs` (`[3,H,W]` tensors from `load(i)`), calling `tick` per
/// image. Images are processed in parallel; the statistics do not depend on the thread
/// count (ranges and histogram counts are order-free, tap sums are added in image order).
pub fn calibrate(
    g: &FusedGraph,
    n_images: usize,
    load: &(dyn Fn(usize) -> crate::Result<Array3<f32>> + Sync),
    tick: &(dyn Fn(&str) + Sync),
) -> crate::Result<CalibStats> {
    let g = g.graph();
    let groups = scale_groups(g);
    let ng = groups.iter().max().map_or(0, |m| m + 1);
    let n = g.nodes.len();
    // Pass 1: ranges.
    let mut grange = vec![(f32::INFINITY, f32::NEG_INFINITY); ng];
    let mut prange = vec![(f32::INFINITY, f32::NEG_INFINITY); n];
    per_image(
        n_images,
        |i| {
            let (vals, pre) = forward_with_pre(g, &load(i)?);
            let mm: Vec<(f32, f32)> = vals.par_iter().map(minmax).collect();
            let pm: Vec<Option<(f32, f32)>> = pre.iter().map(|p| p.as_ref().map(minmax)).collect();
            tick("ranges");
            Ok((mm, pm))
        },
        |(mm, pm)| {
            for (node, r) in mm.into_iter().enumerate() {
                grange[groups[node]] = merge(grange[groups[node]], r);
            }
            for (node, p) in pm.into_iter().enumerate() {
                if let Some(p) = p {
                    prange[node] = merge(prange[node], p);
                }
            }
        },
    )?;
    // Pass 2: histograms over the final ranges.
    let group_hist0: Vec<Histogram> = grange.iter().map(|r| Histogram::new(r.0, r.1)).collect();
    let pre_hist0: Vec<Option<Histogram>> = (0..n)
        .map(|i| {
            prange[i]
                .0
                .is_finite()
                .then(|| Histogram::new(prange[i].0, prange[i].1))
        })
        .collect();
    let taps0: Vec<Option<TapSums>> = g
        .nodes
        .iter()
        .map(|n| match &n.op {
            Op::Conv(c) => Some(TapSums::zeros(c.c_in(), c.k())),
            _ => None,
        })
        .collect();
    let (mut group_hist, mut pre_hist, mut taps) =
        (group_hist0.clone(), pre_hist0.clone(), taps0.clone());
    per_image(
        n_images,
        |i| {
            let (vals, pre) = forward_with_pre(g, &load(i)?);
            let mut taps = taps0.clone();
            taps.par_iter_mut().enumerate().for_each(|(node, t)| {
                if let (Some(t), Op::Conv(c)) = (t, &g.nodes[node].op) {
                    t.add(vals[g.nodes[node].inputs[0]].view(), c.stride, c.pad);
                }
            });
            let mut gh = group_hist0.clone();
            gh.par_iter_mut().enumerate().for_each(|(gid, h)| {
                for (node, v) in vals.iter().enumerate() {
                    if groups[node] == gid {
                        h.add(v.as_slice().unwrap());
                    }
                }
            });
            let mut ph = pre_hist0.clone();
            ph.par_iter_mut().zip(pre.par_iter()).for_each(|(h, p)| {
                if let (Some(h), Some(p)) = (h, p) {
                    h.add(p.as_slice().unwrap());
                }
            });
            tick("histograms");
            Ok((taps, gh, ph))
        },
        |(t, gh, ph)| {
            for (acc, t) in taps.iter_mut().zip(&t) {
                if let (Some(acc), Some(t)) = (acc, t) {
                    acc.merge(t);
                }
            }
            for (acc, h) in group_hist.iter_mut().zip(&gh) {
                acc.merge_counts(h);
            }
            for (acc, h) in pre_hist.iter_mut().zip(&ph) {
                if let (Some(acc), Some(h)) = (acc, h) {
                    acc.merge_counts(h);
                }
            }
        },
    )?;
    Ok(CalibStats {
        groups,
        group_hist,
        pre_hist,
        taps,
        images: n_images,
    })
}

/// Candidate formats covering the clip range `[lo, hi]` with `bits` codes.
fn candidates(lo: f64, hi: f64, bits: u32, scale: ScaleMode, search: bool) -> Vec<QFormat> {
    let qmax = ((1u64 << bits) - 1) as f64;
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let span = (hi - lo).max(1e-9);
    let zero_for = |s: f64| ((-lo / s).ceil()).clamp(0.0, qmax) as i32;
    let mut out = Vec::new();
    match scale {
        ScaleMode::Pow2 => {
            // Largest frac whose range still holds [lo, hi]: s >= span / qmax.
            let f0 = (qmax / span).log2().floor() as i32;
            let steps = if search { 6 } else { 0 };
            for f in f0..=f0 + steps {
                let s = (-f as f64).exp2();
                let fmt = QFormat::pow2(bits, f, zero_for(s));
                out.push(fmt);
                // When the top of the range is cut, also try zero points that trade bottom for top.
                let needed_top = (hi / s).ceil() as i64;
                if (qmax as i64 - fmt.zero as i64) < needed_top {
                    let z_top = (qmax as i64 - needed_top).max(0);
                    for z in [z_top, (z_top + fmt.zero as i64) / 2] {
                        out.push(QFormat::pow2(bits, f, z as i32));
                    }
                }
            }
        }
        ScaleMode::Mult => {
            let steps = if search { 40 } else { 0 };
            for k in 0..=steps {
                let a = 1.0 - 0.0175 * k as f64; // clip from 100% down to 30%
                let s = span * a / qmax;
                let z = zero_for(s);
                out.push(QFormat {
                    bits,
                    zero: z,
                    frac: 0,
                    scale: s,
                });
            }
        }
    }
    out
}

/// Choose a format for a histogram.
pub fn choose_format(h: &Histogram, bits: u32, method: CalibMethod, scale: ScaleMode) -> QFormat {
    let (lo, hi) = match method {
        CalibMethod::Max | CalibMethod::Mse => (h.lo, h.hi),
        CalibMethod::Percentile(p) => (h.percentile(100.0 - p).min(0.0), h.percentile(p)),
    };
    let cands = candidates(lo, hi, bits, scale, method == CalibMethod::Mse);
    if method != CalibMethod::Mse {
        return cands[0];
    }
    cands
        .into_iter()
        .map(|f| (h.sq_error(&f), f))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|x| x.1)
        .expect("at least one candidate")
}
