//! NMS and box scaling: a naive O(n²) transcription of torchvision's `nms` and of Ultralytics'
//! candidate selection as references (proptest), hand-computed cases, speed on 12k candidates,
//! and parity with Ultralytics predict on the bus.jpg reference output.
mod common;

use ndarray::Array2;
use proptest::prelude::*;
use yoloq_gen::postprocess::{
    nms, non_max_suppression, scale_boxes, scale_boxes_ratio_pad, Detection, MAX_WH,
};

/// Reference: torchvision nms, literally (stable sort, suppressed flags, f32 IoU, f64 compare).
fn naive_nms(boxes: &[[f32; 4]], scores: &[f32], thr: f64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| scores[b].partial_cmp(&scores[a]).unwrap());
    let area = |b: &[f32; 4]| (b[2] - b[0]) * (b[3] - b[1]);
    let mut suppressed = vec![false; boxes.len()];
    let mut keep = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        for &j in &order[k + 1..] {
            let (a, b) = (boxes[i], boxes[j]);
            let xx1 = if a[0] < b[0] { b[0] } else { a[0] };
            let yy1 = if a[1] < b[1] { b[1] } else { a[1] };
            let xx2 = if b[2] < a[2] { b[2] } else { a[2] };
            let yy2 = if b[3] < a[3] { b[3] } else { a[3] };
            let w = if xx2 - xx1 > 0.0 { xx2 - xx1 } else { 0.0 };
            let h = if yy2 - yy1 > 0.0 { yy2 - yy1 } else { 0.0 };
            let inter = w * h;
            let ovr = inter / (area(&a) + area(&b) - inter);
            if f64::from(ovr) > thr {
                suppressed[j] = true;
            }
        }
    }
    keep
}

/// Reference: Ultralytics non_max_suppression for one image, written from its Python source.
fn naive_postprocess(
    pred: &Array2<f32>,
    conf: f32,
    iou: f64,
    max_det: usize,
    agnostic: bool,
    multi: bool,
) -> Vec<Detection> {
    let nc = pred.nrows() - 4;
    let mut x: Vec<Detection> = Vec::new();
    for a in 0..pred.ncols() {
        let s: Vec<f32> = (0..nc).map(|c| pred[[4 + c, a]]).collect();
        let best = s.iter().cloned().fold(f32::MIN, f32::max);
        if best <= conf {
            continue;
        }
        let (cx, cy, w, h) = (pred[[0, a]], pred[[1, a]], pred[[2, a]], pred[[3, a]]);
        let xyxy = [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0];
        if multi && nc > 1 {
            x.extend(
                s.iter()
                    .enumerate()
                    .filter(|(_, &v)| v > conf)
                    .map(|(cls, &conf)| Detection { xyxy, conf, cls }),
            );
        } else {
            let cls = s.iter().position(|&v| v == best).unwrap();
            x.push(Detection {
                xyxy,
                conf: best,
                cls,
            });
        }
    }
    let off = if agnostic { 0.0 } else { MAX_WH };
    let boxes: Vec<[f32; 4]> = x
        .iter()
        .map(|d| d.xyxy.map(|v| v + d.cls as f32 * off))
        .collect();
    let scores: Vec<f32> = x.iter().map(|d| d.conf).collect();
    naive_nms(&boxes, &scores, iou)
        .into_iter()
        .take(max_det)
        .map(|i| x[i])
        .collect()
}

/// Random boxes on a coarse grid (so exact ties in coordinates and scores happen).
fn boxes_strategy(max: usize) -> impl Strategy<Value = Vec<([f32; 4], f32)>> {
    prop::collection::vec(
        ((0u8..40, 0u8..40, 1u8..20, 1u8..20), 0u8..12).prop_map(|((x, y, w, h), s)| {
            let (x, y) = (x as f32 * 4.0, y as f32 * 4.0);
            (
                [x, y, x + w as f32 * 4.0, y + h as f32 * 4.0],
                s as f32 / 11.0,
            )
        }),
        0..max,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn nms_matches_naive_torchvision(bs in boxes_strategy(120), thr in prop::sample::select(vec![0.0, 0.3, 0.45, 0.5, 0.7, 0.95])) {
        let boxes: Vec<[f32; 4]> = bs.iter().map(|b| b.0).collect();
        let scores: Vec<f32> = bs.iter().map(|b| b.1).collect();
        prop_assert_eq!(nms(&boxes, &scores, thr), naive_nms(&boxes, &scores, thr));
    }

    #[test]
    fn postprocess_matches_naive_ultralytics(
        bs in boxes_strategy(150), nc in 1usize..5, seed in any::<u64>(),
        agnostic in any::<bool>(), multi in any::<bool>(), max_det in 1usize..40,
    ) {
        // Columns: cx, cy, w, h, then nc class scores on a coarse grid.
        let mut pred = Array2::<f32>::zeros((4 + nc, bs.len()));
        let mut s = seed | 1;
        for (a, (b, _)) in bs.iter().enumerate() {
            pred[[0, a]] = (b[0] + b[2]) / 2.0;
            pred[[1, a]] = (b[1] + b[3]) / 2.0;
            pred[[2, a]] = b[2] - b[0];
            pred[[3, a]] = b[3] - b[1];
            for c in 0..nc {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                pred[[4 + c, a]] = (s % 21) as f32 / 20.0;
            }
        }
        let got = non_max_suppression(pred.view(), 0.25, 0.45, max_det, agnostic, multi);
        let want = naive_postprocess(&pred, 0.25, 0.45, max_det, agnostic, multi);
        prop_assert_eq!(got, want);
    }
}

/// Build a (4 + nc, N) prediction from (cx, cy, w, h, scores).
fn pred_of(anchors: &[([f32; 4], Vec<f32>)]) -> Array2<f32> {
    let nc = anchors[0].1.len();
    let mut p = Array2::<f32>::zeros((4 + nc, anchors.len()));
    for (a, (b, s)) in anchors.iter().enumerate() {
        for k in 0..4 {
            p[[k, a]] = b[k];
        }
        for (c, &v) in s.iter().enumerate() {
            p[[4 + c, a]] = v;
        }
    }
    p
}

#[test]
fn hand_computed_cases() {
    // Two 10×10 boxes offset by 5 px in x: inter 50, union 150, IoU 1/3.
    let p = pred_of(&[
        ([10.0, 10.0, 10.0, 10.0], vec![0.9, 0.0]),
        ([15.0, 10.0, 10.0, 10.0], vec![0.8, 0.0]),
    ]);
    assert_eq!(
        non_max_suppression(p.view(), 0.25, 0.3, 300, false, false).len(),
        1
    );
    assert_eq!(
        non_max_suppression(p.view(), 0.25, 0.34, 300, false, false).len(),
        2
    );
    let d = non_max_suppression(p.view(), 0.25, 0.3, 300, false, false)[0];
    assert_eq!(
        d,
        Detection {
            xyxy: [5.0, 5.0, 15.0, 15.0],
            conf: 0.9,
            cls: 0
        }
    );
    // Same boxes, different classes: class-aware keeps both, agnostic keeps one.
    let p = pred_of(&[
        ([10.0, 10.0, 10.0, 10.0], vec![0.9, 0.0]),
        ([10.0, 10.0, 10.0, 10.0], vec![0.0, 0.8]),
    ]);
    assert_eq!(
        non_max_suppression(p.view(), 0.25, 0.7, 300, false, false).len(),
        2
    );
    assert_eq!(
        non_max_suppression(p.view(), 0.25, 0.7, 300, true, false).len(),
        1
    );
    // IoU exactly 0.5: [0, 0, 20, 10] contains [0, 0, 10, 10]; inter 100, union 200.
    let p = pred_of(&[
        ([10.0, 5.0, 20.0, 10.0], vec![0.9]),
        ([5.0, 5.0, 10.0, 10.0], vec![0.8]),
    ]);
    assert_eq!(
        non_max_suppression(p.view(), 0.25, 0.5, 300, false, false).len(),
        2,
        "IoU == thr is kept"
    );
    assert_eq!(
        non_max_suppression(p.view(), 0.25, 0.49, 300, false, false).len(),
        1
    );
    // Score equal to the threshold is not a candidate.
    let p = pred_of(&[([10.0, 10.0, 4.0, 4.0], vec![0.25, 0.1])]);
    assert!(non_max_suppression(p.view(), 0.25, 0.7, 300, false, false).is_empty());
    // Multi-label: one anchor with two classes above threshold gives two detections, best first.
    let p = pred_of(&[([10.0, 10.0, 4.0, 4.0], vec![0.3, 0.6, 0.1])]);
    let d = non_max_suppression(p.view(), 0.25, 0.7, 300, false, true);
    assert_eq!(
        d.iter().map(|d| (d.cls, d.conf)).collect::<Vec<_>>(),
        vec![(1, 0.6), (0, 0.3)]
    );
    assert_eq!(
        non_max_suppression(p.view(), 0.25, 0.7, 300, false, false).len(),
        1
    );
    // max_det truncates after sorting by confidence.
    let far: Vec<_> = (0..10)
        .map(|i| {
            (
                [i as f32 * 50.0, 0.0, 10.0, 10.0],
                vec![0.3 + i as f32 * 0.05],
            )
        })
        .collect();
    let d = non_max_suppression(pred_of(&far).view(), 0.25, 0.7, 3, false, false);
    assert_eq!(
        d.iter().map(|d| d.xyxy[0]).collect::<Vec<_>>(),
        vec![445.0, 395.0, 345.0]
    );
}

#[test]
fn scale_boxes_recomputes_pad_like_ultralytics() {
    // bus.jpg (1080×810) letterboxed to 640×640: gain 0.5926, pad x = round(80 - 0.1) = 80.
    let mut d = [Detection {
        xyxy: [80.0, 0.0, 560.0, 640.0],
        conf: 1.0,
        cls: 0,
    }];
    scale_boxes(&mut d, (640, 640), (1080, 810));
    let want = [0.0, 0.0, 810.0, 1080.0];
    for (got, want) in d[0].xyxy.iter().zip(want) {
        assert!((got - want).abs() < 1e-3, "{:?}", d[0].xyxy);
    }
    // Ultralytics recomputes the pad from the shapes, which can differ from the letterbox's
    // own pad: 489×500 (w×h) into 64×64 gives w·r = 62.592 → 63 px, dw = 1, letterbox left
    // pad round(0.4) = 0, but scale_boxes uses round((64 - 62.592) / 2 - 0.1) = round(0.604) = 1.
    let g = yoloq_gen::preprocess::letterbox_geometry((500, 489), (64, 64), false, 32);
    assert_eq!((g.unpad_hw, g.pad_tblr), ((64, 63), (0, 0, 0, 1)));
    let mut d = [Detection {
        xyxy: [10.0, 10.0, 70.0, 30.0],
        conf: 1.0,
        cls: 0,
    }];
    scale_boxes(&mut d, (64, 64), (500, 489));
    let gain = (64.0f64 / 500.0) as f32;
    assert_eq!(
        d[0].xyxy,
        [9.0 / gain, 10.0 / gain, 489.0, 30.0 / gain],
        "x2 clipped to w0"
    );
    // Explicit ratio_pad.
    let mut d = [Detection {
        xyxy: [12.0, 14.0, 22.0, 24.0],
        conf: 1.0,
        cls: 0,
    }];
    scale_boxes_ratio_pad(&mut d, 0.5, (2.0, 4.0), (100, 100));
    assert_eq!(d[0].xyxy, [20.0, 20.0, 40.0, 40.0]);
}

#[test]
fn nms_on_12k_candidates_is_fast() {
    // 12,000 candidates over 80 classes (as val with conf 0.001 can produce), and agnostic.
    let mut s = 99u64;
    let mut r = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    let n = 12_000;
    let mut pred = Array2::<f32>::zeros((84, n));
    for a in 0..n {
        pred[[0, a]] = r() * 640.0;
        pred[[1, a]] = r() * 640.0;
        pred[[2, a]] = 5.0 + r() * 100.0;
        pred[[3, a]] = 5.0 + r() * 100.0;
        let c = (r() * 80.0) as usize % 80;
        pred[[4 + c, a]] = 0.002 + r() * 0.9;
    }
    for agnostic in [false, true] {
        let t = std::time::Instant::now();
        let d = non_max_suppression(pred.view(), 0.001, 0.7, 300, agnostic, true);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        eprintln!(
            "12k candidates, agnostic={agnostic}: {} kept, {ms:.1} ms",
            d.len()
        );
        assert_eq!(d.len(), 300);
        assert!(ms < 2000.0, "NMS took {ms} ms");
    }
}

/// Read tensor `key` of a safetensors file as a 2-D (rows, anchors) array (batch dim dropped).
fn read_output(path: &std::path::Path) -> Array2<f32> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor("output").unwrap();
    let s = t.shape().to_vec();
    let v = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    Array2::from_shape_vec((s[1], s[2]), v).unwrap()
}

#[test]
fn real_outputs_match_naive_reference_in_val_and_predict_settings() {
    // Real Detect outputs (8400 and 2100 anchors): val settings (conf 0.001, multi-label,
    // 300 max) and predict settings (conf 0.25), class-aware and agnostic.
    for rel in [
        "reference/yolov8n-real-fused.bus640.output.safetensors",
        "reference/yolov8n-real-fused.bus320.layers.safetensors",
    ] {
        let Some(path) = common::shared(rel) else {
            return;
        };
        let pred = read_output(&path);
        for (conf, multi, agnostic) in [
            (0.001, true, false),
            (0.25, false, false),
            (0.001, false, true),
        ] {
            let got = non_max_suppression(pred.view(), conf, 0.7, 300, agnostic, multi);
            let want = naive_postprocess(&pred, conf, 0.7, 300, agnostic, multi);
            assert_eq!(
                got, want,
                "{rel} conf={conf} multi={multi} agnostic={agnostic}"
            );
            assert!(!got.is_empty());
        }
    }
}
