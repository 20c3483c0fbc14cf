//! `yoloq-gen val` and `coco-eval` through the binary: JSON keys, report files, bad images
//! listed and skipped (or fatal with --strict), malformed inputs as one-line errors.
mod common;

use std::process::Command;

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

#[test]
fn coco_eval_json_matches_pycocotools() {
    let (Some(gt), Some(dt), Some(summary)) = (
        common::shared("data/val2017-79/annotations/instances_val2017.json"),
        common::shared("reference/ultralytics-real-fused.val2017-79.detections.json"),
        common::shared("reference/pycocotools-summary.json"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stats.json");
    let (ok, stdout, err) = yoloq(&[
        "coco-eval",
        "--gt",
        gt.to_str().unwrap(),
        "--dt",
        dt.to_str().unwrap(),
        "--json",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(stdout.contains("AP50"));
    let got: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let want = want["real-fused/val2017-79"]["pycocotools_stats"]
        .as_array()
        .unwrap();
    let keys = [
        "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
    ];
    for (k, w) in keys.iter().zip(want) {
        let g = got[k].as_f64().unwrap_or_else(|| panic!("key {k} missing"));
        assert!((g - w.as_f64().unwrap()).abs() < 1e-4, "{k}: {g} vs {w}");
    }
    // Detections file with a missing key.
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"[{"image_id": 139, "bbox": [1,2,3,4], "score": 0.5}]"#,
    )
    .unwrap();
    let (ok, _, err) = yoloq(&[
        "coco-eval",
        "--gt",
        gt.to_str().unwrap(),
        "--dt",
        bad.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.trim().lines().count() == 1
            && err.contains("bad.json")
            && err.contains("category_id"),
        "{err}"
    );
}

#[test]
fn val_lists_and_skips_bad_images_or_stops_with_strict() {
    let (Some(model), Some(images)) = (
        common::shared("models/yolov8n-coco-fused.safetensors"),
        common::shared("data/val2017-79/images"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    std::fs::create_dir_all(ds.join("images")).unwrap();
    std::fs::create_dir_all(ds.join("labels")).unwrap();
    for name in ["000000000139", "000000000802"] {
        std::fs::copy(
            images.join(format!("{name}.jpg")),
            ds.join(format!("images/{name}.jpg")),
        )
        .unwrap();
        let lbl = images.parent().unwrap().join(format!("labels/{name}.txt"));
        std::fs::copy(lbl, ds.join(format!("labels/{name}.txt"))).unwrap();
    }
    // A corrupt JPEG: a JPEG signature, then garbage; plus a label so it is not a background image.
    let mut broken = vec![0xFFu8, 0xD8, 0xFF, 0xE0];
    broken.extend(std::iter::repeat_n(0x55u8, 400));
    std::fs::write(ds.join("images/000000000999.jpg"), &broken).unwrap();
    std::fs::write(ds.join("labels/000000000999.txt"), "0 0.5 0.5 0.2 0.2\n").unwrap();
    let json = dir.path().join("v.json");
    let report = dir.path().join("report");
    let args = |strict: bool| {
        let mut v = vec![
            "val",
            "--model",
            model.to_str().unwrap(),
            "--stages",
            "fused",
            "--data",
            ds.to_str().unwrap(),
            "--imgsz",
            "320",
            "--json",
            json.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ];
        if strict {
            v.push("--strict");
        }
        v.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let a: Vec<String> = args(false);
    let (ok, _, err) = yoloq(&a.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert!(ok, "{err}");
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(stats["fused"]["AP50"].as_f64().unwrap() > 0.0);
    assert!(
        report.join("report.md").exists()
            && report.join("pr_curves.png").exists()
            && report.join("ap_per_stage.png").exists()
    );
    assert!(
        err.contains("skipped unreadable image") && err.contains("000000000999.jpg"),
        "{err}"
    );
    let s: Vec<String> = args(true);
    let (ok, _, err) = yoloq(&s.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert!(
        !ok && err.contains("000000000999.jpg") && err.contains("--strict"),
        "{err}"
    );
    // An empty dataset is named.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("images")).unwrap();
    let (ok, _, err) = yoloq(&[
        "val",
        "--model",
        model.to_str().unwrap(),
        "--data",
        empty.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.trim().lines().count() == 1 && err.contains("empty"),
        "{err}"
    );
}
