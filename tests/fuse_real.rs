//! BN folding on the real checkpoint: our fold of the unfused synthbn checkpoint equals
//! Ultralytics' own fold (the real fused weights), and fused outputs equal unfused outputs.
mod common;

use ndarray::{Array3, Ix3};
use yoloq_gen::fuse::{fuse, fused_tensors};
use yoloq_gen::import::safetensors_io::read_tensors;
use yoloq_gen::model::{run, FloatGraph};

#[test]
fn fold_matches_ultralytics_fused_weights() {
    let (Some(pt), Some(real)) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        common::shared("models/yolov8n-coco-fused.safetensors"),
    ) else {
        return;
    };
    let ours = fused_tensors(&fuse(&FloatGraph::load(&pt).unwrap()));
    let theirs = read_tensors(&real).unwrap();
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "same tensor names"
    );
    assert_eq!(ours.len(), 127);
    let params: usize = theirs.values().map(|t| t.len()).sum();
    assert_eq!(params, 3_151_904);
    for (name, t) in &theirs {
        let o = &ours[name];
        assert_eq!(o.shape(), t.shape(), "{name}");
        let scale = t.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = o
            .iter()
            .zip(t.iter())
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            diff <= 1e-3 * scale,
            "{name}: max diff {diff} vs scale {scale}"
        );
    }
}

#[test]
fn fused_outputs_equal_unfused() {
    let (Some(pt), Some(r)) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        common::shared("reference/yolov8n-synthbn.bus320.layers.safetensors"),
    ) else {
        return;
    };
    let fg = FloatGraph::load(&pt).unwrap();
    let x: Array3<f32> = read_tensors(&r).unwrap()["input"]
        .clone()
        .into_shape_with_order((3, 320, 320))
        .unwrap()
        .into_dimensionality::<Ix3>()
        .unwrap();
    let a = run(&fg.0, &x, true);
    let b = run(&fuse(&fg).0, &x, true);
    for (idx, node) in &fg.0.modules {
        let (u, f) = (
            a.values[*node].as_ref().unwrap(),
            b.values[*node].as_ref().unwrap(),
        );
        let scale = u.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = u
            .iter()
            .zip(f.iter())
            .fold(0f32, |m, (p, q)| m.max((p - q).abs()));
        assert!(diff <= 1e-4 * scale, "model.{idx}: {diff} vs {scale}");
    }
    let scale = a.output.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = a
        .output
        .iter()
        .zip(b.output.iter())
        .fold(0f32, |m, (p, q)| m.max((p - q).abs()));
    assert!(diff <= 1e-4 * scale, "output: {diff} vs {scale}");
}
