//! COCO json reading and writing: ground truth (`instances_*.json`) and detection results.
//!
//! Guarantees: every required key is checked per element, and a missing or malformed key is
//! reported as one line naming the file, the array, the index and the key. Unknown keys
//! (`segmentation`, `licenses`, ...) are skipped without being built in memory. Numbers are
//! kept as f64 exactly as parsed; nothing is rounded or clamped.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One image of a ground-truth set. `file_name`/`width`/`height` are optional for
/// evaluation (pycocotools does not need them) but required by the dataset readers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageInfo {
    pub id: u64,
    pub file_name: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// One category (COCO ids are 1..=90 with gaps).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Category {
    pub id: u64,
    pub name: String,
}

/// One ground-truth box. `area` is the annotation's own area field (the segmentation area
/// in COCO), which is what pycocotools uses for the small/medium/large ranges.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GtAnnotation {
    pub id: u64,
    pub image_id: u64,
    pub category_id: u64,
    /// `[x, y, w, h]` in pixels.
    pub bbox: [f64; 4],
    pub area: f64,
    pub iscrowd: bool,
}

/// A COCO ground truth: images, annotations and categories, in file order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CocoGt {
    pub images: Vec<ImageInfo>,
    pub annotations: Vec<GtAnnotation>,
    pub categories: Vec<Category>,
}

impl CocoGt {
    /// The ground truth without the images `ids` and their annotations.
    pub fn without_images(&self, ids: &std::collections::HashSet<u64>) -> CocoGt {
        CocoGt {
            images: self
                .images
                .iter()
                .filter(|i| !ids.contains(&i.id))
                .cloned()
                .collect(),
            annotations: self
                .annotations
                .iter()
                .filter(|a| !ids.contains(&a.image_id))
                .cloned()
                .collect(),
            categories: self.categories.clone(),
        }
    }
}

/// One detection in COCO results format (`bbox` is `[x, y, w, h]` in pixels).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub image_id: u64,
    pub category_id: u64,
    pub bbox: [f64; 4],
    pub score: f64,
}

#[derive(Deserialize)]
struct RawGt {
    images: Option<Vec<RawImage>>,
    annotations: Option<Vec<RawAnn>>,
    categories: Option<Vec<RawCat>>,
}

#[derive(Deserialize)]
struct RawImage {
    id: Option<u64>,
    file_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
}

#[derive(Deserialize)]
struct RawAnn {
    id: Option<u64>,
    image_id: Option<u64>,
    category_id: Option<u64>,
    bbox: Option<Vec<f64>>,
    area: Option<f64>,
    iscrowd: Option<u64>,
}

#[derive(Deserialize)]
struct RawCat {
    id: Option<u64>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawDet {
    image_id: Option<u64>,
    category_id: Option<u64>,
    bbox: Option<Vec<f64>>,
    score: Option<f64>,
}

/// Unwrap a required key of element `index` of array `what`.
fn need<T>(v: Option<T>, path: &Path, what: &str, index: usize, key: &str) -> Result<T> {
    v.ok_or_else(|| {
        Error::data(
            path,
            format!("{what}[{index}] has no `{key}` key (every element needs it)"),
        )
    })
}

fn need_box(v: Option<Vec<f64>>, path: &Path, what: &str, index: usize) -> Result<[f64; 4]> {
    let b = need(v, path, what, index, "bbox")?;
    let arr: [f64; 4] = b.as_slice().try_into().map_err(|_| {
        Error::data(
            path,
            format!(
                "{what}[{index}].bbox has {} numbers, expected 4 [x,y,w,h]",
                b.len()
            ),
        )
    })?;
    if arr.iter().any(|x| !x.is_finite()) {
        return Err(Error::data(
            path,
            format!("{what}[{index}].bbox is not finite"),
        ));
    }
    Ok(arr)
}

fn parse_err(path: &Path, e: serde_json::Error, expect: &str) -> Error {
    Error::data(path, format!("not a valid {expect}: {e}"))
}

/// Parse a ground-truth json held in memory; `path` is used for error messages only.
pub fn parse_gt(bytes: &[u8], path: &Path) -> Result<CocoGt> {
    let raw: RawGt = serde_json::from_slice(bytes).map_err(|e| {
        parse_err(
            path,
            e,
            "COCO instances json (object with images/annotations/categories)",
        )
    })?;
    let missing = |k: &str| {
        Error::data(
            path,
            format!("no top-level `{k}` array (is this a COCO instances json?)"),
        )
    };
    let images = raw.images.ok_or_else(|| missing("images"))?;
    let anns = raw.annotations.ok_or_else(|| missing("annotations"))?;
    let cats = raw.categories.ok_or_else(|| missing("categories"))?;
    let mut gt = CocoGt::default();
    for (i, im) in images.into_iter().enumerate() {
        gt.images.push(ImageInfo {
            id: need(im.id, path, "images", i, "id")?,
            file_name: im.file_name,
            width: im.width,
            height: im.height,
        });
    }
    for (i, a) in anns.into_iter().enumerate() {
        let w = "annotations";
        let area = need(a.area, path, w, i, "area")?;
        if !area.is_finite() {
            return Err(Error::data(path, format!("{w}[{i}].area is not finite")));
        }
        gt.annotations.push(GtAnnotation {
            id: need(a.id, path, w, i, "id")?,
            image_id: need(a.image_id, path, w, i, "image_id")?,
            category_id: need(a.category_id, path, w, i, "category_id")?,
            bbox: need_box(a.bbox, path, w, i)?,
            area,
            iscrowd: need(a.iscrowd, path, w, i, "iscrowd")? != 0,
        });
    }
    for (i, c) in cats.into_iter().enumerate() {
        gt.categories.push(Category {
            id: need(c.id, path, "categories", i, "id")?,
            name: need(c.name, path, "categories", i, "name")?,
        });
    }
    Ok(gt)
}

/// Parse a detection-results json (a list of `{image_id, category_id, bbox, score}`).
pub fn parse_dets(bytes: &[u8], path: &Path) -> Result<Vec<Detection>> {
    let raw: Vec<RawDet> = serde_json::from_slice(bytes).map_err(|e| {
        parse_err(
            path,
            e,
            "COCO results json (list of {image_id, category_id, bbox, score})",
        )
    })?;
    let w = "detections";
    raw.into_iter()
        .enumerate()
        .map(|(i, d)| {
            let score = need(d.score, path, w, i, "score")?;
            if !score.is_finite() {
                return Err(Error::data(path, format!("{w}[{i}].score is not finite")));
            }
            Ok(Detection {
                image_id: need(d.image_id, path, w, i, "image_id")?,
                category_id: need(d.category_id, path, w, i, "category_id")?,
                bbox: need_box(d.bbox, path, w, i)?,
                score,
            })
        })
        .collect()
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Load a COCO ground-truth json file.
pub fn load_gt(path: &Path) -> Result<CocoGt> {
    parse_gt(&read(path)?, path)
}

/// Load a COCO detection-results json file.
pub fn load_dets(path: &Path) -> Result<Vec<Detection>> {
    parse_dets(&read(path)?, path)
}

/// Write detections as a COCO results json (atomically).
pub fn save_dets(path: &Path, dets: &[Detection]) -> Result<()> {
    let s = serde_json::to_string(dets).map_err(|e| Error::data(path, e.to_string()))?;
    crate::util::write_atomic_str(path, &s)
}

/// pycocotools' `loadRes` refuses results on images the ground truth does not have;
/// this is the same check, naming `source` (the results file or producer) on failure.
pub fn check_dets(gt: &CocoGt, dets: &[Detection], source: &Path) -> Result<()> {
    let ids: std::collections::HashSet<u64> = gt.images.iter().map(|i| i.id).collect();
    match dets.iter().position(|d| !ids.contains(&d.image_id)) {
        None => Ok(()),
        Some(i) => Err(Error::data(
            source,
            format!(
                "detections[{i}].image_id {} is not an image of the ground truth (results do not match this dataset)",
                dets[i].image_id
            ),
        )),
    }
}
