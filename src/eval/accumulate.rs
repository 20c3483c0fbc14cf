//! pycocotools `accumulate` for one (category, area range, maxDets) setting, and numpy's
//! summation order for the final means.
//!
//! Guarantees: the same concatenation order (images ascending, each cut to `maxDet`), the
//! same stable score sort, cumulative sums, `np.spacing(1)` in the precision denominator,
//! right-to-left monotone precision and `searchsorted(side='left')` sampling (out-of-range
//! recall thresholds keep precision 0) as pycocotools 2.0.x.

use super::matching::{score_order, ImgEval};

/// `np.spacing(1)`: the gap between 1.0 and the next f64.
const EPS: f64 = f64::EPSILON;

/// Precision at each recall threshold (`[T][R]`) and final recall (`[T]`) of one setting,
/// or `None` when pycocotools leaves it at -1 (no image evaluated, or no non-ignored
/// ground truth).
pub(crate) struct Accumulated {
    pub precision: Vec<Vec<f64>>,
    pub recall: Vec<f64>,
}

/// Accumulate the per-image results `evals` (images in ascending id order).
pub(crate) fn accumulate(
    evals: &[&ImgEval],
    max_det: usize,
    n_thr: usize,
    rec_thrs: &[f64],
) -> Option<Accumulated> {
    if evals.is_empty() {
        return None;
    }
    let npig = evals
        .iter()
        .map(|e| e.gt_ig.iter().filter(|&&g| !g).count())
        .sum::<usize>();
    if npig == 0 {
        return None;
    }
    // concatenated (image, column) pairs in the order numpy concatenates them
    let mut cols: Vec<(usize, usize)> = Vec::new();
    for (i, e) in evals.iter().enumerate() {
        let n = e.scores.len().min(max_det);
        cols.extend((0..n).map(|d| (i, d)));
    }
    cols.sort_by(|a, b| score_order(evals[a.0].scores[a.1], evals[b.0].scores[b.1]));
    let npig = npig as f64;
    let mut precision = Vec::with_capacity(n_thr);
    let mut recall = Vec::with_capacity(n_thr);
    for t in 0..n_thr {
        let (mut tp, mut fp) = (0u64, 0u64);
        let mut rc = Vec::with_capacity(cols.len());
        let mut pr = Vec::with_capacity(cols.len());
        for &(i, d) in &cols {
            let e = evals[i];
            let nd = e.scores.len();
            let matched = e.dtm[t * nd + d] != 0;
            if !e.dt_ig[t * nd + d] {
                if matched {
                    tp += 1;
                } else {
                    fp += 1;
                }
            }
            let (tpf, fpf) = (tp as f64, fp as f64);
            rc.push(tpf / npig);
            pr.push(tpf / (fpf + tpf + EPS));
        }
        recall.push(rc.last().copied().unwrap_or(0.0));
        for i in (1..pr.len()).rev() {
            if pr[i] > pr[i - 1] {
                pr[i - 1] = pr[i];
            }
        }
        let mut q = vec![0.0; rec_thrs.len()];
        for (qi, &r) in q.iter_mut().zip(rec_thrs) {
            // searchsorted(side='left'): first index with rc[idx] >= r
            let idx = rc.partition_point(|&x| x < r);
            match pr.get(idx) {
                Some(&p) => *qi = p,
                None => break,
            }
        }
        precision.push(q);
    }
    Some(Accumulated { precision, recall })
}

/// numpy's pairwise summation (`pairwise_sum` in the add reduction, block 128, 8-way unroll).
pub fn numpy_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for (j, rj) in r.iter_mut().enumerate() {
                *rj += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[i..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        numpy_sum(&a[..n2]) + numpy_sum(&a[n2..])
    }
}

/// `np.add.reduce` of a 1-D float array: the identity 0 plus the pairwise sums of the
/// iterator's buffer-sized chunks (8192 elements), in order.
pub fn numpy_reduce_sum(a: &[f64]) -> f64 {
    a.chunks(8192).fold(0.0, |acc, c| acc + numpy_sum(c))
}

/// `np.mean(s[s > -1])`, or -1 when nothing is above -1 (pycocotools `_summarize`).
pub fn mean_valid(values: impl IntoIterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.into_iter().filter(|&x| x > -1.0).collect();
    if v.is_empty() {
        -1.0
    } else {
        numpy_reduce_sum(&v) / v.len() as f64
    }
}
