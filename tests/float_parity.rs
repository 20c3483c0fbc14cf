//! Float model vs Ultralytics, layer by layer (bus.jpg at 320) and end to end (640).
mod common;

use ndarray::{Array3, ArrayD, Ix3};
use std::collections::BTreeMap;
use std::path::Path;
use yoloq_gen::fuse::fuse;
use yoloq_gen::import::safetensors_io::read_tensors;
use yoloq_gen::model::{run, FloatGraph};

fn input_of(r: &BTreeMap<String, ArrayD<f32>>) -> Array3<f32> {
    let x = r["input"].clone();
    let s = x.shape().to_vec();
    x.into_shape_with_order((s[1], s[2], s[3]))
        .unwrap()
        .into_dimensionality::<Ix3>()
        .unwrap()
}

/// max|a-b| / max|ref|
fn rel_err(a: &[f32], reference: &[f32]) -> f32 {
    assert_eq!(a.len(), reference.len(), "element count");
    let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(reference)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    diff / scale.max(1e-12)
}

fn check_layers(model: &Path, reference: &Path) {
    let fg = FloatGraph::load(model).expect("model loads");
    let r = read_tensors(reference).unwrap();
    let x = input_of(&r);
    for (name, g) in [
        ("unfused-or-as-loaded", fg.0.clone()),
        ("fused", fuse(&fg).0),
    ] {
        let out = run(&g, &x, true);
        for (idx, node) in &g.modules {
            let key = format!("model.{idx}");
            let got = out.values[*node].as_ref().unwrap();
            let e = rel_err(got.as_slice().unwrap(), r[&key].as_slice().unwrap());
            assert!(
                e <= 1e-3,
                "{}: {name} {key}: rel max-abs-diff {e}",
                model.display()
            );
        }
        let e = rel_err(
            out.output.as_slice().unwrap(),
            r["output"].as_slice().unwrap(),
        );
        assert!(
            e <= 1e-3,
            "{}: {name} output: rel max-abs-diff {e}",
            model.display()
        );
    }
}

fn check_output(model: &Path, reference: &Path) {
    let fg = FloatGraph::load(model).expect("model loads");
    let r = read_tensors(reference).unwrap();
    let x = input_of(&r);
    let out = run(&fuse(&fg).0, &x, false);
    let e = rel_err(
        out.output.as_slice().unwrap(),
        r["output"].as_slice().unwrap(),
    );
    assert!(
        e <= 1e-3,
        "{}: 640 output rel max-abs-diff {e}",
        model.display()
    );
}

#[test]
fn fused_safetensors_matches_ultralytics_per_layer_320() {
    let (Some(m), Some(r)) = (
        common::shared("models/yolov8n-coco-fused.safetensors"),
        common::shared("reference/yolov8n-real-fused.bus320.layers.safetensors"),
    ) else {
        return;
    };
    check_layers(&m, &r);
}

#[test]
fn fused_safetensors_matches_ultralytics_640() {
    let (Some(m), Some(r)) = (
        common::shared("models/yolov8n-coco-fused.safetensors"),
        common::shared("reference/yolov8n-real-fused.bus640.output.safetensors"),
    ) else {
        return;
    };
    check_output(&m, &r);
}

#[test]
fn synthbn_pt_matches_ultralytics_per_layer_320() {
    let (Some(m), Some(r)) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        common::shared("reference/yolov8n-synthbn.bus320.layers.safetensors"),
    ) else {
        return;
    };
    check_layers(&m, &r);
}

#[test]
fn synthbn_pt_matches_ultralytics_640() {
    let (Some(m), Some(r)) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        common::shared("reference/yolov8n-synthbn.bus640.output.safetensors"),
    ) else {
        return;
    };
    check_output(&m, &r);
}
