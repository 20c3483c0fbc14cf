//! `yoloq-gen import` end to end, and its answers to bad input: one line naming the file or
//! argument, a non-zero exit, no panic, nothing written.
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use yoloq_gen::import::safetensors_io::{read_tensors, write_f32};

type Tensors = BTreeMap<String, ndarray::ArrayD<f32>>;

fn yoloq(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_yoloq-gen"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

fn assert_clean_failure(args: &[&str], out: &Path, must_mention: &str) {
    let (ok, _, err) = yoloq(args);
    assert!(!ok, "{args:?} should fail");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: expected one line, got {err:?}");
    assert!(
        lines[0].contains(must_mention),
        "{args:?}: {:?} should mention {must_mention}",
        lines[0]
    );
    assert!(
        !out.join("original.safetensors").exists() && !out.join("fused.safetensors").exists(),
        "partial output left"
    );
}

#[test]
fn import_writes_weights_and_architecture() {
    let Some(pt) = common::shared("models/yolov8n-coco-synthbn.pt") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (ok, stdout, err) = yoloq(&[
        "import",
        "--model",
        pt.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    // YOLOv8n: 3,151,904 parameters, 16 of them the fixed DFL weights, not counted.
    assert!(stdout.contains("3151888 parameters"), "{stdout}");
    let orig = read_tensors(&out.join("original.safetensors")).unwrap();
    assert!(orig.contains_key("model.0.bn.running_var"));
    let fused = read_tensors(&out.join("fused.safetensors")).unwrap();
    assert_eq!(fused.len(), 127);
    let arch: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(out.join("architecture.yaml")).unwrap())
            .unwrap();
    let gmacs = arch["totals"]["gmacs"].as_f64().unwrap();
    assert!(
        (gmacs - 4.35).abs() < 0.03,
        "YOLOv8n at 640 is ~4.35 GMAC, got {gmacs}"
    );
    assert_eq!(
        arch["totals"]["params"].as_u64().unwrap() + 16,
        3_151_904,
        "conv params + the 16 DFL weights"
    );
}

#[test]
fn bad_inputs_fail_cleanly() {
    let Some(real) = common::shared("models/yolov8n-coco-fused.safetensors") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out");
    let o = out.to_str().unwrap();
    // Missing file.
    assert_clean_failure(
        &[
            "import",
            "--model",
            d.join("nope.pt").to_str().unwrap(),
            "--out",
            o,
        ],
        &out,
        "nope.pt",
    );
    // Not a zip / not safetensors.
    std::fs::write(d.join("junk.pt"), b"hello, this is not a checkpoint").unwrap();
    assert_clean_failure(
        &[
            "import",
            "--model",
            d.join("junk.pt").to_str().unwrap(),
            "--out",
            o,
        ],
        &out,
        "junk.pt",
    );
    // Truncated zip.
    if let Some(pt) = common::shared("models/yolov8n-coco-synthbn.pt") {
        let b = std::fs::read(&pt).unwrap();
        std::fs::write(d.join("cut.pt"), &b[..b.len() / 2]).unwrap();
        assert_clean_failure(
            &[
                "import",
                "--model",
                d.join("cut.pt").to_str().unwrap(),
                "--out",
                o,
            ],
            &out,
            "cut.pt",
        );
    }
    let base = read_tensors(&real).unwrap();
    let variant = |name: &str, f: &dyn Fn(&mut Tensors)| {
        let mut t = base.clone();
        f(&mut t);
        let p = d.join(name);
        write_f32(&p, &t).unwrap();
        p
    };
    let p = variant("missing.safetensors", &|t| {
        t.remove("model.4.m.0.cv1.conv.weight");
    });
    assert_clean_failure(
        &["import", "--model", p.to_str().unwrap(), "--out", o],
        &out,
        "model.4.m.0.cv1.conv.weight",
    );
    let p = variant("shape.safetensors", &|t| {
        t.insert(
            "model.5.conv.weight".into(),
            ndarray::ArrayD::zeros(vec![128, 63, 3, 3]),
        );
    });
    assert_clean_failure(
        &["import", "--model", p.to_str().unwrap(), "--out", o],
        &out,
        "model.5",
    );
    let p = variant("nan.safetensors", &|t| {
        t.get_mut("model.8.cv2.conv.bias").unwrap()[[3]] = f32::NAN;
    });
    assert_clean_failure(
        &["import", "--model", p.to_str().unwrap(), "--out", o],
        &out,
        "model.8.cv2.conv.bias",
    );
    // Image size not a multiple of 32.
    assert_clean_failure(
        &[
            "import",
            "--model",
            real.to_str().unwrap(),
            "--out",
            o,
            "--imgsz",
            "100",
        ],
        &out,
        "--imgsz",
    );
}
