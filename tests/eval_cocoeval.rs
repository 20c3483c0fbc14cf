//! Parity of the bbox evaluator with pycocotools 2.0.11 on val2017-79 (reference numbers
//! in shared/reference/pycocotools-summary.json), plus hand-computed and property cases.

mod common;

use yoloq_gen::eval::coco_json::{load_dets, load_gt};
use yoloq_gen::eval::cocoeval::{evaluate, STAT_NAMES};

#[test]
fn matches_pycocotools_on_val2017_79() {
    let (Some(gt_path), Some(summary)) = (
        common::shared("data/val2017-79/annotations/instances_val2017.json"),
        common::shared("reference/pycocotools-summary.json"),
    ) else {
        return;
    };
    let gt = load_gt(&gt_path).unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    for model in ["real-fused", "synthbn"] {
        let rel = format!("reference/ultralytics-{model}.val2017-79.detections.json");
        let Some(det_path) = common::shared(&rel) else {
            return;
        };
        let dets = load_dets(&det_path).unwrap();
        let entry = &summary[format!("{model}/val2017-79")];
        assert_eq!(entry["n_detections"].as_u64().unwrap() as usize, dets.len());
        let want: Vec<f64> = entry["pycocotools_stats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let got = evaluate(&gt, &dets);
        for i in 0..12 {
            let d = (got.stats[i] - want[i]).abs();
            eprintln!(
                "{model} {:>5} ours {:.17} pycocotools {:.17} diff {d:e}",
                STAT_NAMES[i], got.stats[i], want[i]
            );
            // bit-exact: same float parsing, operation order and numpy summation order
            assert_eq!(
                got.stats[i].to_bits(),
                want[i].to_bits(),
                "{model} {}: {} vs {}",
                STAT_NAMES[i],
                got.stats[i],
                want[i]
            );
        }
    }
}

use proptest::prelude::*;
use yoloq_gen::eval::bbox_iou;
use yoloq_gen::eval::coco_json::{Category, CocoGt, Detection, GtAnnotation, ImageInfo};

fn image(id: u64) -> ImageInfo {
    ImageInfo {
        id,
        file_name: None,
        width: Some(640),
        height: Some(480),
    }
}

fn gt_box(id: u64, image_id: u64, bbox: [f64; 4], iscrowd: bool) -> GtAnnotation {
    GtAnnotation {
        id,
        image_id,
        category_id: 1,
        bbox,
        area: bbox[2] * bbox[3],
        iscrowd,
    }
}

fn det(image_id: u64, bbox: [f64; 4], score: f64) -> Detection {
    Detection {
        image_id,
        category_id: 1,
        bbox,
        score,
    }
}

fn one_class(images: Vec<ImageInfo>, annotations: Vec<GtAnnotation>) -> CocoGt {
    let categories = vec![Category {
        id: 1,
        name: "thing".into(),
    }];
    CocoGt {
        images,
        annotations,
        categories,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// Worked by hand: two large boxes; detections TP (0.9), FP (0.8), and one at IoU exactly
/// 0.6 (0.7), a true positive for thresholds .50/.55/.60 only.
/// At t <= .6: tp 1,1,2 fp 0,1,1 -> recall .5,.5,1, precision 1,.5,.667 -> monotone
/// 1,.667,.667: 51 recall thresholds (0..=.50) at 1 and 50 at 2/3.
/// At t > .6: recall stays .5, precision 1 for 51 thresholds, 0 beyond.
/// AP = (3 (51 + 100/3) + 7 * 51) / 1010 = 610/1010; AP50 = (51 + 100/3)/101; AP75 = 51/101.
/// AR1 = .5 (one detection), AR100 = (3 * 1 + 7 * .5)/10 = .65. No small/medium objects: -1.
#[test]
fn hand_computed_case() {
    let gt = one_class(
        vec![image(7)],
        vec![
            gt_box(1, 7, [0.0, 0.0, 100.0, 100.0], false),
            gt_box(2, 7, [200.0, 200.0, 100.0, 100.0], false),
        ],
    );
    assert_eq!(
        bbox_iou(
            &[225.0, 200.0, 100.0, 100.0],
            &[200.0, 200.0, 100.0, 100.0],
            false
        ),
        0.6
    );
    let dets = [
        det(7, [0.0, 0.0, 100.0, 100.0], 0.9),
        det(7, [400.0, 300.0, 100.0, 100.0], 0.8),
        det(7, [225.0, 200.0, 100.0, 100.0], 0.7),
    ];
    let s = evaluate(&gt, &dets).stats;
    let ap50 = (51.0 + 100.0 / 3.0) / 101.0;
    let want = [
        610.0 / 1010.0,
        ap50,
        51.0 / 101.0,
        -1.0,
        -1.0,
        610.0 / 1010.0,
        0.5,
        0.65,
        0.65,
        -1.0,
        -1.0,
        0.65,
    ];
    for i in 0..12 {
        assert!(
            close(s[i], want[i]),
            "{}: {} vs {}",
            STAT_NAMES[i],
            s[i],
            want[i]
        );
    }
}

/// A detection inside a crowd region has IoU = intersection / detection area = 1 with it,
/// matches the (ignored) crowd box and is ignored, so it costs nothing even though its score
/// is highest. Treated as an ordinary box (IoU 1/16) it would be a false positive first.
#[test]
fn crowd_regions_swallow_detections() {
    let crowd = [0.0, 0.0, 200.0, 200.0];
    let inside = [10.0, 10.0, 50.0, 50.0];
    assert_eq!(bbox_iou(&inside, &crowd, true), 1.0);
    assert_eq!(bbox_iou(&inside, &crowd, false), 2500.0 / 40000.0);
    let gt = one_class(
        vec![image(1)],
        vec![
            gt_box(1, 1, crowd, true),
            gt_box(2, 1, [300.0, 300.0, 100.0, 100.0], false),
        ],
    );
    let dets = [
        det(1, inside, 0.95),
        det(1, [300.0, 300.0, 100.0, 100.0], 0.9),
    ];
    let s = evaluate(&gt, &dets).stats;
    assert!(
        close(s[0], 1.0) && close(s[1], 1.0) && close(s[8], 1.0),
        "{s:?}"
    );
}

/// Equal scores keep input order (numpy mergesort): FP-then-TP gives precision .5 at every
/// recall threshold, TP-then-FP gives 1.
#[test]
fn ties_keep_input_order() {
    let gt = one_class(
        vec![image(1)],
        vec![gt_box(1, 1, [0.0, 0.0, 50.0, 50.0], false)],
    );
    let tp = det(1, [0.0, 0.0, 50.0, 50.0], 0.5);
    let fp = det(1, [100.0, 100.0, 50.0, 50.0], 0.5);
    assert!(close(evaluate(&gt, &[fp, tp]).stats[1], 0.5));
    assert!(close(evaluate(&gt, &[tp, fp]).stats[1], 1.0));
}

/// Only the 100 best detections per image and class count: a correct box ranked 101st is lost.
#[test]
fn max_dets_truncates_per_image() {
    let gt = one_class(
        vec![image(1)],
        vec![gt_box(1, 1, [0.0, 0.0, 50.0, 50.0], false)],
    );
    let mut dets: Vec<Detection> = (0..100)
        .map(|i| det(1, [300.0, 300.0, 10.0 + i as f64, 10.0], 0.9))
        .collect();
    dets.push(det(1, [0.0, 0.0, 50.0, 50.0], 0.1));
    let s = evaluate(&gt, &dets).stats;
    assert_eq!((s[0], s[8]), (0.0, 0.0));
    dets.remove(0);
    assert!(close(evaluate(&gt, &dets).stats[8], 1.0));
}

#[test]
fn no_detections_give_zero_or_minus_one() {
    // one large object only: AP/AR 0 where there is ground truth, -1 where there is none
    let gt = one_class(
        vec![image(1), image(2)],
        vec![gt_box(1, 1, [0.0, 0.0, 200.0, 200.0], false)],
    );
    let s = evaluate(&gt, &[]).stats;
    assert_eq!(
        s,
        [0.0, 0.0, 0.0, -1.0, -1.0, 0.0, 0.0, 0.0, 0.0, -1.0, -1.0, 0.0]
    );
    let r = evaluate(&gt, &[]);
    assert!(r.pr_iou50.iter().all(|&p| p == 0.0));
    // no ground truth at all: everything -1
    let empty = one_class(vec![image(1)], vec![]);
    assert!(evaluate(&empty, &[det(1, [0.0, 0.0, 5.0, 5.0], 0.5)])
        .stats
        .iter()
        .all(|&v| v == -1.0));
}

fn boxes() -> impl Strategy<Value = Vec<(u64, [f64; 4], bool)>> {
    let b = (
        0u64..4,
        0.0..500.0f64,
        0.0..400.0f64,
        2.0..150.0f64,
        2.0..150.0f64,
        0..10u8,
    );
    prop::collection::vec(
        b.prop_map(|(img, x, y, w, h, c)| (img, [x, y, w, h], c == 0)),
        1..25,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Detections equal to the non-crowd ground truth score AP = AR = 1 in every area range
    /// that has objects and -1 in the others.
    #[test]
    fn perfect_detections_score_one(items in boxes()) {
        let anns: Vec<GtAnnotation> = items.iter().enumerate()
            .map(|(i, (img, b, crowd))| gt_box(i as u64 + 1, *img, *b, *crowd)).collect();
        let dets: Vec<Detection> = anns.iter().filter(|a| !a.iscrowd)
            .enumerate().map(|(i, a)| det(a.image_id, a.bbox, 1.0 - i as f64 * 1e-3)).collect();
        let gt = one_class((0..4).map(image).collect(), anns.clone());
        let s = evaluate(&gt, &dets).stats;
        let has = |lo: f64, hi: f64| anns.iter().any(|a| !a.iscrowd && a.area >= lo && a.area <= hi);
        let ranges = [(0.0, 1e10), (0.0, 1024.0), (1024.0, 9216.0), (9216.0, 1e10)];
        let expect: Vec<f64> = ranges.iter().map(|r| if has(r.0, r.1) { 1.0 } else { -1.0 }).collect();
        for (i, &want) in [(0, expect[0]), (1, expect[0]), (2, expect[0]), (3, expect[1]), (4, expect[2]), (5, expect[3]),
                            (8, expect[0]), (9, expect[1]), (10, expect[2]), (11, expect[3])] .iter().map(|(i, w)| (i, w)) {
            prop_assert!(close(s[*i], want), "{} = {} want {}", STAT_NAMES[*i], s[*i], want);
        }
    }
}
