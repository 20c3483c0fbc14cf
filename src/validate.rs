//! Run a model stage (float or quantized) over a dataset and score it with the COCO evaluator.
//!
//! Preprocessing and post-processing follow Ultralytics predict (minimal-padding letterbox,
//! confidence filter, class-aware NMS, boxes scaled back to the original image), which is how
//! the reference detections were produced. Unreadable images are listed, not silently dropped.

use crate::error::{Error, Result};
use crate::eval::coco_json::Detection;
use crate::eval::dataset::Dataset;
use crate::graph::Graph;
use crate::postprocess::{self, Detection as Det};
use crate::quant::int_model::{self, HeadOut, NmsParams};
use crate::quant::QuantGraph;
use crate::{image_io, model, preprocess};
use rayon::prelude::*;
use std::path::PathBuf;

/// A model to validate.
pub enum Stage<'a> {
    Float(&'a Graph),
    Quant(&'a QuantGraph),
}

/// Inference settings.
#[derive(Clone, Copy, Debug)]
pub struct ValParams {
    pub imgsz: usize,
    pub conf: f32,
    pub iou: f32,
    pub max_det: usize,
}

/// Detections of one stage plus the images that could not be read.
pub struct StageRun {
    pub dets: Vec<Detection>,
    pub bad_images: Vec<(PathBuf, String)>,
}

/// Detections (in original-image pixels) of one stage on one letterboxed image.
pub fn detect(stage: &Stage, img: &image::RgbImage, p: &ValParams) -> Vec<Det> {
    let lb = preprocess::letterbox(img, (p.imgsz, p.imgsz), true, 32);
    // Ultralytics predict NMS on a decoded `(4 + nc, N)` output.
    let nms = |out: ndarray::Array2<f32>| {
        postprocess::non_max_suppression(out.view(), p.conf, p.iou as f64, p.max_det, false, false)
    };
    let mut dets = match stage {
        Stage::Float(g) => nms(model::run(g, &lb.tensor, false).output),
        Stage::Quant(q) => {
            let params = NmsParams {
                conf: p.conf,
                iou: p.iou,
                max_det: p.max_det,
                multi_label: false,
            };
            match int_model::forward(q, &lb.tensor, false, params).head {
                HeadOut::Decoded(out) => nms(out),
                HeadOut::Detections(d) => int_dets(&d),
            }
        }
    };
    postprocess::scale_boxes(&mut dets, lb.input_hw(), lb.orig_hw);
    dets
}

/// Detections of the integer post-processing in letterboxed-input pixels.
pub fn int_dets(d: &[crate::quant::qhead::IntDet]) -> Vec<Det> {
    d.iter()
        .map(|d| Det {
            xyxy: d.xyxy_f32(),
            conf: d.conf(),
            cls: d.cls,
        })
        .collect()
}

/// Run a stage over every image of the dataset (in parallel), with a progress bar.
pub fn run_stage(
    stage: &Stage,
    ds: &Dataset,
    p: &ValParams,
    label: &str,
    strict: bool,
) -> Result<StageRun> {
    if ds.images.is_empty() {
        return Err(Error::Other(
            "the dataset has no images; check the --data path".into(),
        ));
    }
    let pb = crate::progress::bar(ds.images.len() as u64, label);
    let results: Vec<std::result::Result<Vec<Detection>, (PathBuf, String)>> = ds
        .images
        .par_iter()
        .map(|im| {
            let r = match image_io::load_rgb(&im.path) {
                Ok(img) => Ok(detect(stage, &img, p)
                    .into_iter()
                    .filter_map(|d| {
                        let cat = ds.category_id(d.cls)?;
                        let [x1, y1, x2, y2] = d.xyxy.map(|v| v as f64);
                        Some(Detection {
                            image_id: im.id,
                            category_id: cat,
                            bbox: [x1, y1, x2 - x1, y2 - y1],
                            score: d.conf as f64,
                        })
                    })
                    .collect()),
                Err(e) => Err((im.path.clone(), e.to_string())),
            };
            pb.inc(1);
            r
        })
        .collect();
    pb.finish_and_clear();
    let mut run = StageRun {
        dets: Vec::new(),
        bad_images: Vec::new(),
    };
    for r in results {
        match r {
            Ok(d) => run.dets.extend(d),
            Err(bad) => run.bad_images.push(bad),
        }
    }
    if strict && !run.bad_images.is_empty() {
        let (p, e) = &run.bad_images[0];
        return Err(Error::data(
            p,
            format!(
                "unreadable image ({e}); {} bad image(s) in total, --strict stops here",
                run.bad_images.len()
            ),
        ));
    }
    Ok(run)
}
