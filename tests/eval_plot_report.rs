//! Plots decode as PNGs of the promised size with the series drawn in them; report tables
//! are aligned and the json record uses the COCO stat names.

use yoloq_gen::eval::coco_json::{Category, CocoGt, Detection, GtAnnotation, ImageInfo};
use yoloq_gen::eval::cocoeval::{evaluate, EvalResult, STAT_NAMES};
use yoloq_gen::eval::plot::{plot_ap_bars, plot_pr_curves};
use yoloq_gen::eval::report::{format_class_table, format_stats_table, StatsJson};

/// Two images, two classes; detections shifted by `shift` pixels (bigger = worse).
fn result(shift: f64) -> EvalResult {
    let images = (1..=2)
        .map(|id| ImageInfo {
            id,
            file_name: None,
            width: Some(640),
            height: Some(480),
        })
        .collect();
    let mut annotations = Vec::new();
    let mut dets = Vec::new();
    for i in 0..8u64 {
        let bbox = [i as f64 * 60.0, 40.0, 50.0, 80.0];
        let (image_id, category_id) = (1 + i % 2, 1 + i % 3 / 2);
        annotations.push(GtAnnotation {
            id: i + 1,
            image_id,
            category_id,
            bbox,
            area: 4000.0,
            iscrowd: false,
        });
        let moved = [bbox[0] + shift * i as f64, bbox[1], bbox[2], bbox[3]];
        dets.push(Detection {
            image_id,
            category_id,
            bbox: moved,
            score: 0.9 - 0.05 * i as f64,
        });
    }
    let categories = vec![
        Category {
            id: 1,
            name: "a".into(),
        },
        Category {
            id: 2,
            name: "b".into(),
        },
    ];
    evaluate(
        &CocoGt {
            images,
            annotations,
            categories,
        },
        &dets,
    )
}

fn count_color(img: &image::RgbImage, c: [u8; 3]) -> usize {
    img.pixels().filter(|p| p.0 == c).count()
}

#[test]
fn pr_curve_png_has_size_and_lines() {
    let (good, bad) = (result(0.0), result(3.0));
    assert!(good.stats[0] > bad.stats[0]);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("sub/pr.png");
    plot_pr_curves(&path, &[("float", &good), ("int8", &bad)]).unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (1200, 500));
    let non_white = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    assert!(non_white > 2000, "only {non_white} drawn pixels");
}

#[test]
fn ap_bar_png_has_size_and_bars() {
    let rows: Vec<(String, [f64; 12])> = vec![
        ("float".into(), result(0.0).stats),
        ("fused".into(), result(1.0).stats),
        ("int8".into(), result(3.0).stats),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ap.png");
    plot_ap_bars(&path, &rows).unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (600, 450));
    // the float AP bar is 1.0 high: a tall block of the AP colour
    assert!(count_color(&img, [31, 119, 180]) > 5000);
    assert!(count_color(&img, [158, 202, 225]) > 5000);
}

#[test]
fn stats_table_is_aligned() {
    let r = result(0.0).stats;
    let mut s = r;
    s[3] = -1.0;
    let t = format_stats_table(&[("float".into(), r), ("a-long-stage-name".into(), s)]);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 3);
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header[1..], STAT_NAMES);
    assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{t}");
    assert!(lines[1].contains(&format!("{:.4}", r[0])));
    assert_eq!(lines[2].split_whitespace().nth(4), Some("-"));
    let c = format_class_table(&result(0.0).per_category);
    assert_eq!(c.lines().count(), 3);
    assert!(c.lines().nth(1).unwrap().starts_with("a "));
}

#[test]
fn stats_json_keys_and_roundtrip() {
    let s = result(2.0).stats;
    let j = serde_json::to_value(StatsJson::from(s)).unwrap();
    for (i, name) in STAT_NAMES.iter().enumerate() {
        assert_eq!(j[name].as_f64(), Some(s[i]), "{name}");
    }
    let back: StatsJson = serde_json::from_value(j).unwrap();
    assert_eq!(<[f64; 12]>::from(back), s);
}
