//! Float predictions match Ultralytics `YOLO.predict` (reference/ultralytics-predict-samples.json)
//! on both sample images, for the fused and the unfused (synthetic-BN) checkpoint: same number of
//! detections, same classes in the same order, confidence and every box corner equal up to the
//! reference file's rounding (4 decimals, 0.1 px). Checked through the library (`validate::detect`) and through `yoloq-gen predict --json`,
//! whose `--save DIR` must write one annotated PNG per image, of the image's size.
mod common;

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use yoloq_gen::image_io::load_rgb;
use yoloq_gen::validate::{detect, Stage, ValParams};

/// (checkpoint, key prefix in the reference file).
const MODELS: [(&str, &str); 2] = [
    ("models/yolov8n-coco-fused.safetensors", "real-fused"),
    ("models/yolov8n-coco-synthbn.pt", "synthbn"),
];
const IMAGES: [&str; 2] = ["bus.jpg", "zidane.jpg"];

#[derive(Debug, Deserialize)]
struct Det {
    cls: String,
    conf: f32,
    xyxy: [f32; 4],
}

type Predictions = BTreeMap<String, Vec<Det>>;

fn reference() -> Option<Predictions> {
    let path = common::shared("reference/ultralytics-predict-samples.json")?;
    Some(serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
}

/// The reference is rounded to 4 decimals (conf) and 0.1 px (corners): half a unit of that,
/// plus f32 noise (1e-7 at conf ~1, 1e-4 at corners ~1000 px). Measured: the library is at most
/// 0.00005 / 0.050 px from the reference (the rounding itself), `predict --json` (rounded
/// the same way) 0 / 0.
const CONF_TOL: f32 = 0.5e-4 + 1e-6;
const PX_TOL: f32 = 0.05 + 1e-4;

fn assert_matches(what: &str, got: &[Det], want: &[Det]) {
    let show = |d: &[Det]| format!("{d:?}");
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} detections, Ultralytics has {}\n ours {}\n want {}",
        got.len(),
        want.len(),
        show(got),
        show(want)
    );
    let (mut dconf, mut dbox) = (0f32, 0f32);
    for (g, w) in got.iter().zip(want) {
        dconf = dconf.max((g.conf - w.conf).abs());
        for k in 0..4 {
            dbox = dbox.max((g.xyxy[k] - w.xyxy[k]).abs());
        }
    }
    eprintln!("{what}: max |conf diff| {dconf:.5}, max corner diff {dbox:.3} px");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.cls, w.cls, "{what} #{i}: class");
        assert!(
            (g.conf - w.conf).abs() <= CONF_TOL,
            "{what} #{i}: conf {g:?} vs {w:?}"
        );
        for k in 0..4 {
            let d = (g.xyxy[k] - w.xyxy[k]).abs();
            assert!(
                d <= PX_TOL,
                "{what} #{i}: corner {k} off by {d:.3} px: {g:?} vs {w:?}"
            );
        }
    }
}

/// Ultralytics predict defaults.
const PARAMS: ValParams = ValParams {
    imgsz: 640,
    conf: 0.25,
    iou: 0.7,
    max_det: 300,
};

#[test]
fn library_detect_matches_ultralytics_predict() {
    let Some(refs) = reference() else { return };
    let Some(samples) = common::shared("data/samples") else {
        return;
    };
    for (model, prefix) in MODELS {
        let Some(path) = common::shared(model) else {
            return;
        };
        let fused = yoloq_gen::fuse::fuse(&yoloq_gen::model::FloatGraph::load(&path).unwrap());
        let graph = fused.graph();
        for image in IMAGES {
            let img = load_rgb(&samples.join(image)).unwrap();
            let got: Vec<Det> = detect(&Stage::Float(graph), &img, &PARAMS)
                .iter()
                .map(|d| Det {
                    cls: graph.class_names[d.cls].clone(),
                    conf: d.conf,
                    xyxy: d.xyxy,
                })
                .collect();
            let key = format!("{prefix}/{image}");
            assert_matches(&key, &got, &refs[&key]);
        }
    }
}

fn predict_cli(model: &Path, images: &[PathBuf], save: &Path) -> Predictions {
    let out = Command::new(env!("CARGO_BIN_EXE_yoloq-gen"))
        .args(["predict", "--json", "--model"])
        .arg(model)
        .arg("--save")
        .arg(save)
        .args(images)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "predict failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "predict --json output is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn predict_command_json_and_saved_images_match_ultralytics() {
    let Some(refs) = reference() else { return };
    let Some(samples) = common::shared("data/samples") else {
        return;
    };
    let images: Vec<PathBuf> = IMAGES.iter().map(|i| samples.join(i)).collect();
    for (model, prefix) in MODELS {
        let Some(path) = common::shared(model) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let save = dir.path().join("annotated");
        let got = predict_cli(&path, &images, &save);
        assert_eq!(got.len(), IMAGES.len(), "{prefix}: keys {:?}", got.keys());
        for (image, src) in IMAGES.iter().zip(&images) {
            let key = format!("{prefix}/{image}");
            let given = src.display().to_string();
            assert_matches(&format!("cli {key}"), &got[&given], &refs[&key]);
            let stem = image.trim_end_matches(".jpg");
            let png = save.join(format!("{stem}.png"));
            assert!(
                std::fs::read(&png).unwrap().starts_with(b"\x89PNG"),
                "{}",
                png.display()
            );
            let drawn = load_rgb(&png).unwrap();
            let original = load_rgb(src).unwrap();
            assert_eq!(
                drawn.dimensions(),
                original.dimensions(),
                "{}",
                png.display()
            );
            // Boxes and labels were drawn on it.
            assert!(drawn != original, "{}: nothing drawn", png.display());
        }
    }
}
