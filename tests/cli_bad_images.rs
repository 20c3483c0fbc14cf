//! A truncated JPEG through the binary, in the three commands that read images: `predict`,
//! `val` and calibration (`quantize`). libjpeg would fill the missing rows with grey and warn;
//! the warning makes the file unreadable: it is named, skipped and counted (or fatal with
//! `--strict`), and `val` scores as if the image were not in the dataset at all.
mod common;

use std::path::{Path, PathBuf};
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

/// The first 60 % of `src`: a baseline JPEG cut mid-scan.
fn truncated(src: &Path, dst: &Path) {
    let b = std::fs::read(src).unwrap();
    std::fs::write(dst, &b[..b.len() * 3 / 5]).unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn truncated_jpeg_is_unreadable_for_the_library_but_decodes_leniently() {
    let Some(bus) = common::shared("data/samples/bus.jpg") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("cut.jpg");
    truncated(&bus, &cut);
    let e = yoloq_gen::image_io::load_rgb(&cut).unwrap_err().to_string();
    assert!(
        e.contains("cut.jpg") && e.contains("Premature end of JPEG file"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1);
    // What OpenCV would return: full size, a grey (128) tail where the data ran out.
    let bytes = std::fs::read(&cut).unwrap();
    let (img, warn) = yoloq_gen::image_io::decode_rgb_lenient(&bytes).unwrap();
    assert_eq!(img.dimensions(), (810, 1080));
    assert!(warn.is_some());
    assert!(img
        .rows()
        .next_back()
        .unwrap()
        .all(|p| p.0 == [128, 128, 128]));
    // The whole file has no warning.
    let (_, warn) = yoloq_gen::image_io::decode_rgb_lenient(&std::fs::read(&bus).unwrap()).unwrap();
    assert!(warn.is_none());
}

#[test]
fn predict_skips_and_counts_or_stops_with_strict_and_keeps_same_named_inputs() {
    let (Some(model), Some(bus)) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        common::shared("data/samples/bus.jpg"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("cut.jpg");
    truncated(&bus, &cut);
    // Same file name, other folder, other picture (mirrored), so the two outputs differ.
    let other = tmp.path().join("b/bus.jpg");
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    let mut img = yoloq_gen::image_io::load_rgb(&bus).unwrap();
    image::imageops::flip_horizontal_in_place(&mut img);
    img.save_with_format(&other, image::ImageFormat::Jpeg)
        .unwrap();
    let save = tmp.path().join("saved");
    let (ok, out, err) = yoloq(&[
        "predict",
        "--json",
        "--model",
        s(&model),
        "--save",
        s(&save),
        s(&bus),
        s(&cut),
        s(&other),
    ]);
    assert!(ok, "{err}");
    assert!(
        err.contains("cut.jpg") && err.contains("skipped 1 unreadable image(s) of 3"),
        "{err}"
    );
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys, [s(&bus), s(&other)], "keyed by the path as given");
    // Mirroring moves the boxes: the two entries are the two pictures, not one twice.
    assert_ne!(json[s(&bus)], json[s(&other)]);
    let pngs: Vec<PathBuf> = ["bus.png", "bus-2.png"]
        .iter()
        .map(|n| save.join(n))
        .collect();
    assert!(
        pngs.iter().all(|p| p.is_file()),
        "{:?}",
        std::fs::read_dir(&save).unwrap().collect::<Vec<_>>()
    );
    assert_ne!(
        std::fs::read(&pngs[0]).unwrap(),
        std::fs::read(&pngs[1]).unwrap()
    );
    let (ok, _, err) = yoloq(&[
        "predict",
        "--strict",
        "--model",
        s(&model),
        s(&bus),
        s(&cut),
    ]);
    assert!(
        !ok && err.contains("cut.jpg") && err.trim().lines().count() == 1,
        "{err}"
    );
}

/// A YOLO dataset of `names` from val2017-79 in `dir`, plus `extra` (image bytes, label).
fn dataset(dir: &Path, src: &Path, names: &[&str], extra: Option<(&Path, &str)>) {
    std::fs::create_dir_all(dir.join("images")).unwrap();
    std::fs::create_dir_all(dir.join("labels")).unwrap();
    for n in names {
        std::fs::copy(
            src.join(format!("images/{n}.jpg")),
            dir.join(format!("images/{n}.jpg")),
        )
        .unwrap();
        std::fs::copy(
            src.join(format!("labels/{n}.txt")),
            dir.join(format!("labels/{n}.txt")),
        )
        .unwrap();
    }
    if let Some((img, label_of)) = extra {
        truncated(img, &dir.join("images/900000000001.jpg"));
        std::fs::copy(
            src.join(format!("labels/{label_of}.txt")),
            dir.join("labels/900000000001.txt"),
        )
        .unwrap();
    }
}

#[test]
fn val_leaves_the_skipped_image_and_its_ground_truth_out() {
    let (Some(model), Some(src)) = (
        common::shared("models/yolov8n-coco-fused.safetensors"),
        common::shared("data/val2017-79"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let names = ["000000000139", "000000011813", "000000000802"];
    let (with, without) = (tmp.path().join("with"), tmp.path().join("without"));
    // The truncated image carries the labels of 000000000139 (many objects): scored as an
    // image, its ground truth would all be missed and lower the recall.
    let img139 = src.join("images/000000000139.jpg");
    dataset(&with, &src, &names, Some((&img139, "000000000139")));
    dataset(&without, &src, &names, None);
    let val = |ds: &Path, tag: &str, strict: bool| {
        let json = tmp.path().join(format!("{tag}.json"));
        let report = tmp.path().join(format!("report-{tag}"));
        let mut args = vec![
            "val",
            "--model",
            s(&model),
            "--stages",
            "fused",
            "--data",
            s(ds),
            "--imgsz",
            "320",
            "--json",
            s(&json),
            "--report",
            s(&report),
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        if strict {
            args.push("--strict".into());
        }
        let (ok, _, err) = yoloq(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let stats = std::fs::read_to_string(&json).ok();
        let md = std::fs::read_to_string(report.join("report.md")).ok();
        (ok, err, stats, md)
    };
    let (ok, err, with_stats, md) = val(&with, "with", false);
    assert!(ok, "{err}");
    assert!(
        err.contains("900000000001.jpg") && err.contains("Premature end"),
        "{err}"
    );
    assert!(md
        .unwrap()
        .contains("(4 images; 1 unreadable image(s) skipped, their ground truth left out)"));
    let (ok, err, without_stats, _) = val(&without, "without", false);
    assert!(ok, "{err}");
    // Identical numbers: the skipped image is as absent as if it had never been there.
    assert_eq!(with_stats.unwrap(), without_stats.unwrap());
    let (ok, err, _, _) = val(&with, "strict", true);
    assert!(
        !ok && err.contains("900000000001.jpg") && err.contains("--strict"),
        "{err}"
    );
}

#[test]
fn calibration_names_and_skips_a_truncated_image() {
    let (Some(model), Some(bus), Some(zidane)) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        common::shared("data/samples/bus.jpg"),
        common::shared("data/samples/zidane.jpg"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let calib = tmp.path().join("calib");
    std::fs::create_dir_all(&calib).unwrap();
    truncated(&bus, &calib.join("a-cut.jpg"));
    std::fs::copy(&zidane, calib.join("b.jpg")).unwrap();
    let q = |calib: &Path, out: &Path| {
        yoloq(&[
            "quantize",
            "--model",
            s(&model),
            "--calib",
            s(calib),
            "--calib-images",
            "1",
            "--imgsz",
            "64",
            "--sample-imgsz",
            "64",
            "--out",
            s(out),
        ])
    };
    let (ok, _, err) = q(&calib, &tmp.path().join("q"));
    assert!(ok, "{err}");
    assert!(
        err.contains("a-cut.jpg")
            && err.contains("1 unreadable image(s) skipped, calibrating on 1"),
        "{err}"
    );
    // Nothing readable: the error names the file.
    std::fs::remove_file(calib.join("b.jpg")).unwrap();
    let (ok, _, err) = q(&calib, &tmp.path().join("q2"));
    assert!(
        !ok && err.contains("a-cut.jpg") && err.trim().lines().count() == 1,
        "{err}"
    );
}

/// A 167-byte JPEG whose header claims 20039×35152 pixels (the image fuzzer's finding) is
/// refused from its header: named, skipped and counted by `predict`, fatal with `--strict`,
/// without the gigabytes libjpeg would allocate for it (4.2 GB peak RSS before the check).
#[test]
fn predict_refuses_a_jpeg_header_larger_than_its_file_without_decoding() {
    let (Some(model), Some(bus)) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        common::shared("data/samples/bus.jpg"),
    ) else {
        return;
    };
    let huge = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions/image/jpeg-704mpx-header-167-bytes");
    let (ok, _, err) = yoloq(&["predict", "--model", s(&model), s(&bus), s(&huge)]);
    assert!(ok, "{err}");
    assert!(
        err.contains("jpeg-704mpx-header-167-bytes: JPEG header claims 20039×35152 pixels")
            && err.contains("skipped 1 unreadable image(s) of 2"),
        "{err}"
    );
    let (ok, _, err) = yoloq(&["predict", "--strict", "--model", s(&model), s(&huge)]);
    assert!(
        !ok && err.contains("limit of 2^26") && err.trim().lines().count() == 1,
        "{err}"
    );
}
