//! COCO evaluation: datasets, a pycocotools-exact bbox evaluator, reports and plots.
//!
//! | module | what it guarantees |
//! |---|---|
//! | [`coco_json`] | COCO ground-truth / results json in and out, one-line errors naming file, index, key |
//! | [`cocoeval`] | `COCOeval(iouType='bbox')` stats, per-category AP and PR curves, as pycocotools 2.0.x |
//! | [`dataset`] | COCO (json + images) and Ultralytics YOLO (images/ + labels/, or .yaml) datasets |
//! | [`plot`] | PR-curve and AP-bar PNGs |
//! | [`report`] | aligned text tables and the `--json` stats record |

mod accumulate;
pub mod coco80;
pub mod coco_json;
pub mod cocoeval;
mod data_yaml;
pub mod dataset;
mod matching;
pub mod plot;
pub mod report;
mod yolo;

pub use accumulate::{numpy_reduce_sum, numpy_sum};
pub use matching::bbox_iou;
