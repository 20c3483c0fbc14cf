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
