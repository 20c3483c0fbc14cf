//! The integer DFL / box decode / threshold / NMS (`--qnms`, src/quant/qhead.rs) against an
//! independent float reference written here from the YOLOv8 definition, sharing no code with
//! it: dequantize the head's box and class codes, softmax-expectation DFL, anchor-centre decode
//! times the stride, sigmoid scores, best class per anchor, and a naive class-aware greedy NMS
//! with the IoU as a float ratio.
mod common;

use ndarray::Array3;
use yoloq_gen::quant::int_model::{forward, HeadOut, NmsParams};
use yoloq_gen::quant::{QuantConfig, QuantGraph};

#[derive(Debug, Clone)]
struct RefDet {
    xyxy: [f64; 4],
    score: f64,
    cls: usize,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f64; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    inter / (area(a) + area(b) - inter)
}

/// The float reference on the integer head outputs of `q` for input `x`.
fn reference(q: &QuantGraph, x: &Array3<f32>, p: NmsParams) -> (Vec<RefDet>, HeadOut) {
    let run = forward(q, x, true, p);
    let h = &q.head;
    let mut cands = Vec::new();
    for l in 0..h.strides.len() {
        let (bn, cn) = (h.box_nodes[l], h.cls_nodes[l]);
        let (bf, cf) = (q.nodes[bn].fmt.unwrap(), q.nodes[cn].fmt.unwrap());
        let b = run.values[bn].as_ref().unwrap().int();
        let c = run.values[cn].as_ref().unwrap().int();
        let (nc, hh, ww) = c.dim();
        let s = h.strides[l] as f64;
        for y in 0..hh {
            for xx in 0..ww {
                let logits: Vec<f64> = (0..nc).map(|k| cf.dequant(c[[k, y, xx]]) as f64).collect();
                let mut best = 0;
                for k in 1..nc {
                    if logits[k] > logits[best] {
                        best = k;
                    }
                }
                let score = sigmoid(logits[best]);
                if score < p.conf as f64 {
                    continue;
                }
                let side = |sd: usize| {
                    let v: Vec<f64> = (0..h.reg_max)
                        .map(|i| bf.dequant(b[[sd * h.reg_max + i, y, xx]]) as f64)
                        .collect();
                    let m = v.iter().cloned().fold(f64::MIN, f64::max);
                    let e: Vec<f64> = v.iter().map(|t| (t - m).exp()).collect();
                    let z: f64 = e.iter().sum();
                    e.iter()
                        .enumerate()
                        .map(|(i, e)| i as f64 * e / z)
                        .sum::<f64>()
                };
                let (ax, ay) = (xx as f64 + 0.5, y as f64 + 0.5);
                let xyxy = [
                    (ax - side(0)) * s,
                    (ay - side(1)) * s,
                    (ax + side(2)) * s,
                    (ay + side(3)) * s,
                ];
                cands.push(RefDet {
                    xyxy,
                    score,
                    cls: best,
                });
            }
        }
    }
    cands.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap());
    let mut keep: Vec<RefDet> = Vec::new();
    for c in cands {
        if keep
            .iter()
            .all(|k| k.cls != c.cls || iou(&k.xyxy, &c.xyxy) <= p.iou as f64)
        {
            keep.push(c);
            if keep.len() == p.max_det {
                break;
            }
        }
    }
    (keep, run.head)
}

/// Worst score and corner differences (px) of the integer detections against the reference.
fn compare(what: &str, q: &QuantGraph, x: &Array3<f32>, p: NmsParams) -> (usize, f64, f64) {
    let (want, head) = reference(q, x, p);
    let HeadOut::Detections(got) = head else {
        panic!("{what}: the model was not quantized with --qnms");
    };
    assert_eq!(got.len(), want.len(), "{what}: {got:?}\nvs {want:?}");
    let (mut ds, mut dpx) = (0f64, 0f64);
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.cls, w.cls, "{what}: class order {g:?} vs {w:?}");
        ds = ds.max((g.conf() as f64 - w.score).abs());
        for k in 0..4 {
            dpx = dpx.max((g.xyxy_f32()[k] as f64 - w.xyxy[k]).abs());
        }
    }
    (got.len(), ds, dpx)
}

#[test]
fn integer_postprocess_matches_the_float_reference_on_the_synthetic_model() {
    let cfg = QuantConfig::default();
    assert!(cfg.qnms);
    let size = 64;
    let q = yoloq_gen::synthetic::quant_graph(yoloq_gen::synthetic::SEED, size, 4, &cfg).unwrap();
    let p = NmsParams {
        conf: 0.3,
        iou: 0.7,
        max_det: 300,
        multi_label: false,
    };
    let (mut n, mut ds, mut dpx) = (0, 0f64, 0f64);
    for seed in 0..20 {
        let x = yoloq_gen::synthetic::image(5000 + seed, size);
        let (k, s, d) = compare(&format!("image {seed}"), &q, &x, p);
        n += k;
        ds = ds.max(s);
        dpx = dpx.max(d);
    }
    eprintln!(
        "synthetic: {n} detections, worst score diff {ds:.2e}, worst corner diff {dpx:.3} px"
    );
    assert!(n > 0, "no detections to compare");
    // Scores: the sigmoid table has 15 fraction bits, one rounding: 2^-16 plus f32 noise.
    assert!(ds <= 2f64.powi(-16) + 1e-6, "score diff {ds}");
    // Corners: the DFL mean is rounded to 1/16 cell (half a unit: 1/32 cell), the exp table to
    // 15 fraction bits; at the largest stride (32) 1/32 cell is 1 px.
    let max_stride = *q.head.strides.iter().max().unwrap() as f64;
    assert!(dpx <= max_stride / 32.0 + 0.1, "corner diff {dpx} px");
}
