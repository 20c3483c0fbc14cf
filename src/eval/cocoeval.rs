//! COCO bbox evaluation reproducing pycocotools 2.0.x `COCOeval(iouType='bbox')` with its
//! default parameters: `evaluate()`, `accumulate()` and `summarize()`.
//!
//! Guarantees: the 12 summary numbers follow pycocotools' semantics exactly (images and
//! categories of the ground truth only, detection area `w*h`, ground-truth area from the
//! annotation, IoU/recall thresholds built like `np.linspace`, -1 for settings without
//! ground truth, means over entries > -1 summed in numpy's pairwise order). Detections on
//! images or categories the ground truth does not list are ignored (use
//! [`super::coco_json::check_dets`] for pycocotools' `loadRes` refusal). Work is split per
//! category with rayon; the result does not depend on the thread count.

use super::accumulate::{accumulate, mean_valid};
use super::coco_json::{CocoGt, Detection};
use super::matching::{evaluate_cell, Cell, ImgEval};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Area ranges all, small, medium, large (`[0, 1e5**2]`, `[0, 32**2]`, ...).
pub const AREA_RANGES: [[f64; 2]; 4] =
    [[0.0, 1e10], [0.0, 1024.0], [1024.0, 9216.0], [9216.0, 1e10]];
/// `maxDets` of pycocotools.
pub const MAX_DETS: [usize; 3] = [1, 10, 100];
/// Names of the 12 summary numbers, in `stats` order.
pub const STAT_NAMES: [&str; 12] = [
    "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
];

/// `np.linspace(start, stop, num)` (endpoint=True), computed the way numpy computes it:
/// `i * ((stop - start) / (num - 1)) + start`, last element set to `stop`.
pub fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 1 {
        return vec![start];
    }
    let step = (stop - start) / (num - 1) as f64;
    let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    if let Some(last) = v.last_mut() {
        *last = stop;
    }
    v
}

/// IoU thresholds `np.linspace(.5, .95, 10)`.
pub fn iou_thresholds() -> Vec<f64> {
    linspace(0.5, 0.95, 10)
}

/// Recall thresholds `np.linspace(0, 1, 101)`.
pub fn recall_thresholds() -> Vec<f64> {
    linspace(0.0, 1.0, 101)
}

/// AP of one category (area all, 100 detections); -1 when it has no ground truth.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CategoryAp {
    pub id: u64,
    pub name: String,
    /// AP@[.5:.95]
    pub ap: f64,
    /// AP@.5
    pub ap50: f64,
    /// Number of non-crowd ground-truth boxes.
    pub n_gt: usize,
}

/// Everything `accumulate()` and `summarize()` produce.
#[derive(Debug, Clone)]
pub struct EvalResult {
    /// The 12 numbers of `COCOeval.stats` (see [`STAT_NAMES`]).
    pub stats: [f64; 12],
    /// Per category, in ascending id order.
    pub per_category: Vec<CategoryAp>,
    /// Mean precision over categories at the 101 recall thresholds, IoU 0.5, area all,
    /// 100 detections (-1 where no category has ground truth).
    pub pr_iou50: Vec<f64>,
    /// The same averaged over the 10 IoU thresholds too.
    pub pr_iou_mean: Vec<f64>,
    /// pycocotools `eval['precision']`, shape `[T, R, K, A, M]`, C order.
    pub precision: Vec<f64>,
    /// pycocotools `eval['recall']`, shape `[T, K, A, M]`, C order.
    pub recall: Vec<f64>,
}

const T: usize = 10;
const R: usize = 101;
const A: usize = 4;
const M: usize = 3;

/// Precision `[T][R][A][M]` and recall `[T][A][M]` of one category.
fn eval_category(cells: &BTreeMap<u64, Cell>, iou: &[f64], rec: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let per_img: Vec<Vec<ImgEval>> = cells
        .values()
        .map(|c| evaluate_cell(c, iou, &AREA_RANGES, MAX_DETS[M - 1]))
        .collect();
    let mut prec = vec![-1.0; T * R * A * M];
    let mut rcl = vec![-1.0; T * A * M];
    for a in 0..A {
        let evals: Vec<&ImgEval> = per_img.iter().map(|v| &v[a]).collect();
        for (m, &max_det) in MAX_DETS.iter().enumerate() {
            if let Some(acc) = accumulate(&evals, max_det, T, rec) {
                for t in 0..T {
                    rcl[(t * A + a) * M + m] = acc.recall[t];
                    for r in 0..R {
                        prec[((t * R + r) * A + a) * M + m] = acc.precision[t][r];
                    }
                }
            }
        }
    }
    (prec, rcl)
}

/// Run the full bbox evaluation of `dets` against `gt`.
pub fn evaluate(gt: &CocoGt, dets: &[Detection]) -> EvalResult {
    let iou = iou_thresholds();
    let rec = recall_thresholds();
    let img_ids: HashSet<u64> = gt.images.iter().map(|i| i.id).collect();
    let mut cat_ids: Vec<u64> = gt.categories.iter().map(|c| c.id).collect();
    cat_ids.sort_unstable();
    cat_ids.dedup();
    let kidx: HashMap<u64, usize> = cat_ids.iter().enumerate().map(|(k, &c)| (c, k)).collect();
    // per category: image id (ascending) -> cell
    let mut cells: Vec<BTreeMap<u64, Cell>> = (0..cat_ids.len()).map(|_| BTreeMap::new()).collect();
    for g in &gt.annotations {
        if let (Some(&k), true) = (kidx.get(&g.category_id), img_ids.contains(&g.image_id)) {
            cells[k].entry(g.image_id).or_default().gts.push(g);
        }
    }
    for d in dets {
        if let (Some(&k), true) = (kidx.get(&d.category_id), img_ids.contains(&d.image_id)) {
            cells[k].entry(d.image_id).or_default().dts.push(d);
        }
    }
    let per_cat: Vec<(Vec<f64>, Vec<f64>)> = cells
        .par_iter()
        .map(|c| eval_category(c, &iou, &rec))
        .collect();
    let k_n = cat_ids.len();
    let mut precision = vec![-1.0; T * R * k_n * A * M];
    let mut recall = vec![-1.0; T * k_n * A * M];
    for (k, (p, r)) in per_cat.iter().enumerate() {
        for t in 0..T {
            for a in 0..A {
                for m in 0..M {
                    recall[((t * k_n + k) * A + a) * M + m] = r[(t * A + a) * M + m];
                    for ri in 0..R {
                        precision[(((t * R + ri) * k_n + k) * A + a) * M + m] =
                            p[((t * R + ri) * A + a) * M + m];
                    }
                }
            }
        }
    }
    let res = Summary {
        precision: &precision,
        recall: &recall,
        k_n,
    };
    let t50 = iou.iter().position(|&x| x == 0.5);
    let t75 = iou.iter().position(|&x| x == 0.75);
    let stats = [
        res.ap(None, 0, 2),
        res.ap(t50, 0, 2),
        res.ap(t75, 0, 2),
        res.ap(None, 1, 2),
        res.ap(None, 2, 2),
        res.ap(None, 3, 2),
        res.ar(0, 0),
        res.ar(0, 1),
        res.ar(0, 2),
        res.ar(1, 2),
        res.ar(2, 2),
        res.ar(3, 2),
    ];
    let names: HashMap<u64, &str> = gt
        .categories
        .iter()
        .map(|c| (c.id, c.name.as_str()))
        .collect();
    let per_category = cat_ids
        .iter()
        .enumerate()
        .map(|(k, &id)| CategoryAp {
            id,
            name: names.get(&id).copied().unwrap_or("").to_string(),
            ap: mean_valid(
                (0..T)
                    .flat_map(|t| (0..R).map(move |r| (t, r)))
                    .map(|(t, r)| res.p(t, r, k, 0, 2)),
            ),
            ap50: mean_valid((0..R).map(|r| res.p(0, r, k, 0, 2))),
            n_gt: cells[k]
                .values()
                .flat_map(|c| &c.gts)
                .filter(|g| !g.iscrowd)
                .count(),
        })
        .collect();
    let pr_iou50 = (0..R)
        .map(|r| mean_valid((0..k_n).map(|k| res.p(0, r, k, 0, 2))))
        .collect();
    let pr_iou_mean = (0..R)
        .map(|r| {
            mean_valid(
                (0..T)
                    .flat_map(|t| (0..k_n).map(move |k| (t, k)))
                    .map(|(t, k)| res.p(t, r, k, 0, 2)),
            )
        })
        .collect();
    EvalResult {
        stats,
        per_category,
        pr_iou50,
        pr_iou_mean,
        precision,
        recall,
    }
}

/// Views of the accumulated arrays for `summarize()`.
struct Summary<'a> {
    precision: &'a [f64],
    recall: &'a [f64],
    k_n: usize,
}

impl Summary<'_> {
    fn p(&self, t: usize, r: usize, k: usize, a: usize, m: usize) -> f64 {
        self.precision[(((t * R + r) * self.k_n + k) * A + a) * M + m]
    }
    /// `_summarize(ap=1)`: mean over T (or the one threshold `t`), R, K in C order.
    fn ap(&self, t: Option<usize>, a: usize, m: usize) -> f64 {
        let ts: Vec<usize> = t.map_or((0..T).collect(), |t| vec![t]);
        let vals = ts.iter().flat_map(|&t| {
            (0..R).flat_map(move |r| (0..self.k_n).map(move |k| self.p(t, r, k, a, m)))
        });
        mean_valid(vals)
    }
    /// `_summarize(ap=0)`: mean of recall over T, K.
    fn ar(&self, a: usize, m: usize) -> f64 {
        mean_valid((0..T).flat_map(|t| {
            (0..self.k_n).map(move |k| self.recall[((t * self.k_n + k) * A + a) * M + m])
        }))
    }
}
