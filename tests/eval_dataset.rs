//! Dataset readers: COCO json layout, YOLO labels layout (checked against the COCO json of
//! the same images), dataset yaml, and one-line errors for broken label sets.

mod common;

use std::path::Path;
use yoloq_gen::eval::coco80::COCO80;
use yoloq_gen::eval::coco_json::{load_dets, load_gt};
use yoloq_gen::eval::cocoeval::{evaluate, STAT_NAMES};
use yoloq_gen::eval::dataset::{open_dataset, open_yolo_yaml, DatasetKind};

#[test]
fn coco80_table_matches_the_coco_json() {
    let Some(json) = common::shared("data/val2017-79/annotations/instances_val2017.json") else {
        return;
    };
    let mut cats = load_gt(&json).unwrap().categories;
    cats.sort_by_key(|c| c.id);
    let table: Vec<(u64, String)> = COCO80.iter().map(|c| (c.0, c.1.to_string())).collect();
    let json_cats: Vec<(u64, String)> = cats.into_iter().map(|c| (c.id, c.name)).collect();
    assert_eq!(table, json_cats);
}

#[test]
fn coco_layout_is_preferred_and_complete() {
    let Some(dir) = common::shared("data/val2017-79") else {
        return;
    };
    let ds = open_dataset(&dir).unwrap();
    assert_eq!(ds.kind, DatasetKind::Coco);
    assert_eq!(
        (ds.images.len(), ds.gt.annotations.len(), ds.names.len()),
        (79, 624, 80)
    );
    assert_eq!(ds.category_id(0), Some(1));
    assert_eq!(ds.category_id(79), Some(90));
    for im in &ds.images {
        let (w, h) = image::ImageReader::open(&im.path)
            .unwrap()
            .into_dimensions()
            .unwrap();
        assert_eq!((w, h), (im.width, im.height), "{}", im.path.display());
    }
}

/// The YOLO labels of val2017-79 are the non-crowd COCO boxes, normalized: the derived ground
/// truth must give the same boxes (to label rounding) and the same AP50. Small/medium/large
/// differ because COCO's `area` is the segmentation area while the YOLO-derived area is the
/// box area, and because the 5 crowd regions (ignored regions in COCO) are absent from the
/// labels, so detections on them become false positives.
#[test]
fn yolo_labels_agree_with_coco_json() {
    let (Some(dir), Some(dets)) = (
        common::shared("data/val2017-79"),
        common::shared("reference/ultralytics-real-fused.val2017-79.detections.json"),
    ) else {
        return;
    };
    let coco = open_dataset(&dir).unwrap();
    let yolo = open_dataset(&dir.join("images")).unwrap();
    assert_eq!(yolo.kind, DatasetKind::Yolo);
    assert_eq!(yolo.images.len(), 79);
    let mut ids: Vec<u64> = coco.images.iter().map(|i| i.id).collect();
    ids.sort_unstable();
    assert_eq!(yolo.images.iter().map(|i| i.id).collect::<Vec<_>>(), ids);
    let plain: Vec<_> = coco.gt.annotations.iter().filter(|a| !a.iscrowd).collect();
    assert_eq!(yolo.gt.annotations.len(), plain.len());
    for y in &yolo.gt.annotations {
        let hit = plain.iter().any(|c| {
            c.image_id == y.image_id
                && c.category_id == y.category_id
                && (0..4).all(|k| (c.bbox[k] - y.bbox[k]).abs() < 0.01)
        });
        assert!(hit, "YOLO box {y:?} has no COCO twin");
    }
    let dets = load_dets(&dets).unwrap();
    let a = evaluate(&coco.gt, &dets).stats;
    let b = evaluate(&yolo.gt, &dets).stats;
    for i in 0..12 {
        eprintln!(
            "{:>5} coco-json {:.4} yolo-labels {:.4}",
            STAT_NAMES[i], a[i], b[i]
        );
    }
    assert!((a[1] - b[1]).abs() < 0.01, "AP50 {} vs {}", a[1], b[1]);
}

#[test]
fn coco128_has_background_images() {
    let Some(dir) = common::shared("data/coco128") else {
        return;
    };
    let ds = open_dataset(&dir).unwrap();
    assert_eq!(ds.kind, DatasetKind::Yolo);
    assert_eq!((ds.images.len(), ds.gt.annotations.len()), (128, 929));
    let with_boxes: std::collections::HashSet<u64> =
        ds.gt.annotations.iter().map(|a| a.image_id).collect();
    assert_eq!(ds.images.len() - with_boxes.len(), 2);
}

#[test]
fn dataset_yaml_with_names_map() {
    let Some(coco128) = common::shared("data/coco128") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let names: String = COCO80
        .iter()
        .enumerate()
        .map(|(i, c)| format!("  {i}: {}\n", c.1))
        .collect();
    let yaml = tmp.path().join("coco128.yaml");
    let text = format!(
        "path: {}\ntrain: images/train2017\nval: images/train2017\nnames:\n{names}",
        coco128.display()
    );
    std::fs::write(&yaml, text).unwrap();
    let ds = open_dataset(&yaml).unwrap();
    assert_eq!((ds.images.len(), ds.gt.annotations.len()), (128, 929));
    assert_eq!(ds.category_ids[..3], [1, 2, 3]);
    // a 3-class yaml over COCO labels must fail on the first class >= 3, naming file:line
    let small = tmp.path().join("small.yaml");
    let text = format!(
        "path: {}\nval: images/train2017\nnames: [a, b, c]\n",
        coco128.display()
    );
    std::fs::write(&small, text).unwrap();
    let err = open_yolo_yaml(&small, "val").unwrap_err().to_string();
    assert!(err.contains(".txt:") && err.contains("class"), "{err}");
}

/// A temporary YOLO dataset with one 20x10 PNG per entry of `labels`.
fn yolo_tmp(labels: &[Option<&str>]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("images")).unwrap();
    std::fs::create_dir_all(tmp.path().join("labels")).unwrap();
    for (i, l) in labels.iter().enumerate() {
        image::RgbImage::new(20, 10)
            .save(tmp.path().join(format!("images/{i}.png")))
            .unwrap();
        if let Some(l) = l {
            std::fs::write(tmp.path().join(format!("labels/{i}.txt")), l).unwrap();
        }
    }
    tmp
}

fn open_err(dir: &Path) -> String {
    let e = open_dataset(dir).unwrap_err().to_string();
    assert!(!e.contains('\n'), "multi-line error: {e}");
    e
}

#[test]
fn yolo_boxes_are_denormalized() {
    let tmp = yolo_tmp(&[
        Some("0 0.5 0.5 0.5 0.2\n0 0.5 0.5 0.5 0.2\n\n2 0.25 0.5 0.5 1.0\n"),
        Some(""),
        None,
    ]);
    let ds = open_dataset(tmp.path()).unwrap();
    assert_eq!(ds.images.len(), 3);
    assert_eq!((ds.images[0].width, ds.images[0].height), (20, 10));
    let a = &ds.gt.annotations;
    assert_eq!(a.len(), 2, "duplicate line dropped");
    assert_eq!(
        (a[0].bbox, a[0].area, a[0].category_id),
        ([5.0, 4.0, 10.0, 2.0], 20.0, 1)
    );
    assert_eq!((a[1].bbox, a[1].category_id), ([0.0, 0.0, 10.0, 10.0], 3));
}

#[test]
fn broken_label_sets_name_file_and_line() {
    let cases = [
        ("0 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1\n", "0.txt:2"),
        ("0 0.5 0.5 0.1 0.1\nx 0.5 0.5 0.1 0.1\n", "0.txt:2"),
        ("80 0.5 0.5 0.1 0.1\n", "0.txt:1"),
        ("3 0.5 1.2 0.1 0.1\n", "0.txt:1"),
    ];
    for (label, want) in cases {
        let tmp = yolo_tmp(&[Some(label)]);
        let e = open_err(tmp.path());
        assert!(e.contains(want), "{label:?}: {e}");
    }
    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(empty.path().join("images")).unwrap();
    assert!(open_err(empty.path()).contains("empty dataset"));
    // an image list naming a missing file
    let tmp = yolo_tmp(&[Some("0 0.5 0.5 0.1 0.1\n")]);
    std::fs::write(
        tmp.path().join("val.txt"),
        "./images/0.png\n./images/9.png\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("d.yaml"), "val: val.txt\nnames: [a]\n").unwrap();
    let e = open_err(&tmp.path().join("d.yaml"));
    assert!(e.contains("val.txt:2") && e.contains("9.png"), "{e}");
}

#[test]
fn broken_coco_json_names_index_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("instances_val.json");
    let ann = r#"{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1, "iscrowd": 0}"#;
    let bad = r#"{"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "iscrowd": 0}"#;
    let text =
        format!(r#"{{"images": [{{"id": 1}}], "annotations": [{ann}, {bad}], "categories": []}}"#);
    std::fs::write(&p, text).unwrap();
    let e = load_gt(&p).unwrap_err().to_string();
    assert!(
        e.contains("instances_val.json") && e.contains("annotations[1]") && e.contains("`area`"),
        "{e}"
    );
    std::fs::write(
        &p,
        r#"[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 0.5}]"#,
    )
    .unwrap();
    let e = load_dets(&p).unwrap_err().to_string();
    assert!(e.contains("detections[0].bbox has 3 numbers"), "{e}");
    std::fs::write(&p, "{not json").unwrap();
    assert!(load_gt(&p)
        .unwrap_err()
        .to_string()
        .contains("instances_val.json"));
}
