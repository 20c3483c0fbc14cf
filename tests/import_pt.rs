//! `.pt` import: generated Ultralytics-like and state-dict fixtures, every storage dtype,
//! non-contiguous views, and the real shared checkpoint checked against independent numbers.

mod common;
mod import_fixtures;

use import_fixtures::*;
use std::path::Path;
use yoloq_gen::import::{load_checkpoint, torch_pt::load_pt, CheckpointFormat};

fn names(ck: &yoloq_gen::import::Checkpoint) -> Vec<&str> {
    ck.tensors.keys().map(String::as_str).collect()
}

fn values(ck: &yoloq_gen::import::Checkpoint, name: &str) -> Vec<f32> {
    ck.tensors[name].iter().copied().collect()
}

#[test]
fn unfused_ultralytics_checkpoint_gives_torch_state_dict_names() {
    let (zip, _) = tiny_yolo(false, false);
    let ck = load_pt(Path::new("tiny.pt"), &zip).unwrap();
    assert_eq!(ck.format, CheckpointFormat::UltralyticsPt);
    // num_batches_tracked (an int64 buffer) is left out; bias=None is not a tensor.
    assert_eq!(
        names(&ck),
        [
            "model.0.bn.bias",
            "model.0.bn.running_mean",
            "model.0.bn.running_var",
            "model.0.bn.weight",
            "model.0.conv.weight",
            "model.22.dfl.conv.weight"
        ]
    );
    assert_eq!(ck.tensors["model.0.conv.weight"].shape(), [2, 3, 3, 3]);
    assert_eq!(values(&ck, "model.0.conv.weight"), vals(54, 0));
    assert_eq!(values(&ck, "model.0.bn.running_var"), [0.5, 2.0]);
    assert_eq!(
        values(&ck, "model.22.dfl.conv.weight"),
        (0..16).map(|i| i as f32).collect::<Vec<_>>()
    );
    assert_eq!(ck.bn_eps.len(), 1);
    assert_eq!(ck.bn_eps["model.0.bn"], 0.001);
    assert_eq!(
        ck.class_names.as_deref(),
        Some(&["person".to_string(), "bicycle".to_string()][..])
    );
    assert_eq!(ck.strides.as_deref(), Some(&[8.0, 16.0, 32.0][..]));
}

#[test]
fn fused_form_and_ema_are_found() {
    let (zip, _) = tiny_yolo(true, true);
    let ck = load_pt(Path::new("fused.pt"), &zip).unwrap();
    assert_eq!(
        names(&ck),
        [
            "model.0.conv.bias",
            "model.0.conv.weight",
            "model.22.dfl.conv.weight"
        ]
    );
    assert_eq!(values(&ck, "model.0.conv.bias"), vals(2, 1));
    assert!(ck.bn_eps.is_empty());
}

#[test]
fn plain_state_dicts_top_level_and_nested() {
    let mut b = PtBuilder::default();
    let w = b.tensor(Dt::F32, &vals(6, 0), &[2, 3]);
    let bias = b.tensor(Dt::F32, &[1.0, -2.0], &[2]);
    let sd = vec![(s("fc.weight"), w), (s("fc.bias"), bias)];
    for root in [
        P::OrderedDict(sd.clone()),
        P::Dict(vec![
            (s("epoch"), P::Int(3)),
            (s("state_dict"), P::OrderedDict(sd.clone())),
        ]),
        P::Dict(vec![(s("model"), P::OrderedDict(sd.clone()))]),
    ] {
        let ck = load_pt(Path::new("sd.pt"), &b.zip("archive", &root)).unwrap();
        assert_eq!(ck.format, CheckpointFormat::StateDictPt);
        assert_eq!(names(&ck), ["fc.bias", "fc.weight"]);
        assert_eq!(ck.tensors["fc.weight"].shape(), [2, 3]);
        assert_eq!(values(&ck, "fc.bias"), [1.0, -2.0]);
        assert!(ck.class_names.is_none() && ck.strides.is_none());
    }
}

#[test]
fn every_float_storage_type_converts_to_f32() {
    // Values chosen so bf16/f16 rounding is visible: 1/3 is inexact in every type.
    let v = [0.5, -1.25, 1.0 / 3.0, 1024.0, 3.0e-3];
    for dt in [Dt::F16, Dt::BF16, Dt::F32, Dt::F64] {
        let mut b = PtBuilder::default();
        let t = b.tensor(dt, &v, &[5]);
        let zip = b.zip("x", &P::OrderedDict(vec![(s("t"), t)]));
        let ck = load_pt(Path::new("dt.pt"), &zip).unwrap();
        let want: Vec<f32> = v.iter().map(|&x| dt.round(x)).collect();
        assert_eq!(values(&ck, "t"), want, "{dt:?}");
    }
}

#[test]
fn strided_views_follow_offset_and_stride() {
    let storage: Vec<f32> = (0..40).map(|i| i as f32).collect();
    let cases: [(&[usize], &[usize], usize); 4] = [
        (&[3, 4], &[1, 3], 2),       // transposed view
        (&[2, 3], &[10, 2], 5),      // every other column, offset
        (&[2, 3], &[0, 1], 7),       // expanded (stride 0)
        (&[2, 0, 3], &[9, 3, 1], 0), // empty
    ];
    for (shape, stride, offset) in cases {
        let mut b = PtBuilder::default();
        let t = b.view(Dt::F32, &storage, shape, stride, offset);
        let ck = load_pt(
            Path::new("v.pt"),
            &b.zip("v", &P::OrderedDict(vec![(s("t"), t)])),
        )
        .unwrap();
        // Naive reference: enumerate indices in row-major order.
        let n: usize = shape.iter().product();
        let want: Vec<f32> = (0..n)
            .map(|flat| {
                let (mut rem, mut pos) = (flat, offset);
                for ax in (0..shape.len()).rev() {
                    pos += (rem % shape[ax]) * stride[ax];
                    rem /= shape[ax];
                }
                storage[pos]
            })
            .collect();
        assert_eq!(ck.tensors["t"].shape(), shape);
        assert_eq!(values(&ck, "t"), want, "{shape:?} {stride:?} {offset}");
    }
}

/// Fold BN into conv the standard way: w * gamma / sqrt(var + eps).
fn fold(ck: &yoloq_gen::import::Checkpoint, conv: &str, bn: &str) -> (Vec<f32>, Vec<f32>) {
    let eps = ck.bn_eps[bn];
    let g = values(ck, &format!("{bn}.weight"));
    let beta = values(ck, &format!("{bn}.bias"));
    let mean = values(ck, &format!("{bn}.running_mean"));
    let var = values(ck, &format!("{bn}.running_var"));
    let w = values(ck, &format!("{conv}.weight"));
    let per = w.len() / g.len();
    let scale: Vec<f32> = g
        .iter()
        .zip(&var)
        .map(|(g, v)| g / (v + eps).sqrt())
        .collect();
    let wf = w
        .iter()
        .enumerate()
        .map(|(i, x)| x * scale[i / per])
        .collect();
    let bf = (0..g.len()).map(|c| beta[c] - mean[c] * scale[c]).collect();
    (wf, bf)
}

#[test]
fn real_checkpoint_matches_python_and_folds_to_the_fused_weights() {
    let Some(pt) = common::shared("models/yolov8n-coco-synthbn.pt") else {
        return;
    };
    let Some(st) = common::shared("models/yolov8n-coco-fused.safetensors") else {
        return;
    };
    let ck = load_checkpoint(&pt).unwrap();
    assert_eq!(ck.format, CheckpointFormat::UltralyticsPt);
    let convs = ck
        .tensors
        .iter()
        .filter(|(n, a)| n.ends_with(".weight") && a.ndim() == 4)
        .count();
    assert_eq!(convs, 64, "63 convolutions + the DFL conv");
    assert_eq!(ck.bn_eps.len(), 57);
    assert!(ck.bn_eps.values().all(|&e| e == 0.001));
    let names = ck.class_names.as_ref().unwrap();
    assert_eq!(
        (names.len(), names[0].as_str(), names[79].as_str()),
        (80, "person", "toothbrush")
    );
    assert_eq!(ck.strides.as_deref(), Some(&[8.0, 16.0, 32.0][..]));
    // Obtained with python3: zipfile.read('yolov8n-coco-synthbn/data/0') (the storage of
    // model.0.conv.weight) decoded by struct.unpack('<432e'): first 4 values, sum of |x|.
    let w = values(&ck, "model.0.conv.weight");
    assert_eq!(ck.tensors["model.0.conv.weight"].shape(), [16, 3, 3, 3]);
    let first: Vec<f64> = w[..4].iter().map(|&x| x as f64).collect();
    assert_eq!(
        first,
        [-3.357421875, -0.308349609375, 3.115234375, -10.7265625]
    );
    let abs: f64 = w.iter().map(|x| x.abs() as f64).sum();
    assert!((abs - 1282.6516571044922).abs() < 1e-9, "{abs}");

    // Every fused tensor (127) must be reproduced: directly, or by folding conv + bn.
    let fused = load_checkpoint(&st).unwrap();
    assert_eq!(fused.format, CheckpointFormat::Safetensors);
    assert_eq!(fused.tensors.len(), 127);
    let mut worst = 0f32;
    for (name, want) in &fused.tensors {
        let base = name.rsplit_once(".conv.").map(|(b, _)| b);
        let bn = base
            .map(|b| format!("{b}.bn"))
            .filter(|bn| ck.bn_eps.contains_key(bn));
        let got = match (base, bn) {
            (Some(base), Some(bn)) => {
                let (wf, bf) = fold(&ck, &format!("{base}.conv"), &bn);
                if name.ends_with(".weight") {
                    wf
                } else {
                    bf
                }
            }
            _ => values(&ck, name),
        };
        assert_eq!(got.len(), want.len(), "{name}");
        let scale = want.iter().fold(0f32, |m, x| m.max(x.abs()));
        for (g, w) in got.iter().zip(want.iter()) {
            worst = worst.max((g - w).abs() / scale);
        }
    }
    // Measured: 7.9e-4 (fp16 rounding of weight and BN scale, relative to each tensor's range).
    assert!(worst < 2e-3, "worst relative error {worst}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    /// Arbitrary views over a short storage: Ok exactly when every index is in bounds
    /// (checked naively), with the naive values; never a panic.
    #[test]
    fn arbitrary_views_are_bounds_checked(
        len in 0usize..12,
        shape in proptest::collection::vec(0usize..4, 0..4),
        strides in proptest::collection::vec(0usize..6, 4),
        offset in 0usize..14,
    ) {
        let storage: Vec<f32> = (0..len).map(|i| i as f32 + 0.5).collect();
        let stride = &strides[..shape.len()];
        let mut b = PtBuilder::default();
        let t = b.view(Dt::F32, &storage, &shape, stride, offset);
        let got = load_pt(Path::new("p.pt"), &b.zip("p", &P::OrderedDict(vec![(s("t"), t)])));
        let n: usize = shape.iter().product();
        let idx: Vec<usize> = (0..n)
            .map(|flat| {
                let (mut rem, mut pos) = (flat, offset);
                for ax in (0..shape.len()).rev() {
                    pos += (rem % shape[ax]) * stride[ax];
                    rem /= shape[ax];
                }
                pos
            })
            .collect();
        if idx.iter().all(|&i| i < len) {
            let ck = got.unwrap();
            let want: Vec<f32> = idx.iter().map(|&i| storage[i]).collect();
            proptest::prop_assert_eq!(values(&ck, "t"), want);
        } else {
            let e = got.unwrap_err().to_string();
            proptest::prop_assert!(e.contains("too short"), "{}", e);
        }
    }
}
