//! Ultralytics YOLO label layout: image listing, the `images` → `labels` path rule and
//! `class cx cy w h` label files (normalized), turned into a COCO ground truth.
//!
//! Guarantees: images are listed in sorted path order; a missing or empty label file is a
//! background image; every malformed line, class ≥ nc or coordinate outside [0, 1] (±1e-6)
//! is an error naming `file:line`; exact duplicate lines are dropped (as Ultralytics does);
//! polygon lines (`class x1 y1 x2 y2 ...`) become their bounding box.

use super::coco_json::{CocoGt, GtAnnotation, ImageInfo};
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

const EPS: f64 = 1e-6;
const IMAGE_EXTS: [&str; 3] = ["jpg", "jpeg", "png"];

/// One label line: class and normalized `cx cy w h`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Label {
    pub class: usize,
    pub xywh: [f64; 4],
}

pub(crate) fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Every JPEG/PNG under `dir`, recursively, sorted.
pub(crate) fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
            let p = e.map_err(|e| Error::io(&d, e))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if is_image(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Image paths listed one per line in a `.txt` file (relative to the file's folder).
pub(crate) fn list_images_txt(txt: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(txt).map_err(|e| Error::io(txt, e))?;
    let base = txt.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        let p = base.join(l.strip_prefix("./").unwrap_or(l));
        if !p.is_file() {
            return Err(Error::data(
                format!("{}:{}", txt.display(), i + 1),
                format!("image {} does not exist", p.display()),
            ));
        }
        out.push(p);
    }
    Ok(out)
}

/// Ultralytics' rule: the last `images` folder of the path becomes `labels`, extension `.txt`.
pub(crate) fn label_path(img: &Path) -> PathBuf {
    let comps: Vec<_> = img.components().collect();
    let dirs = comps.len().saturating_sub(1);
    let pos = comps[..dirs]
        .iter()
        .rposition(|c| c.as_os_str() == "images");
    let mut p: PathBuf = comps
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if Some(i) == pos {
                "labels".as_ref()
            } else {
                c.as_os_str()
            }
        })
        .collect();
    p.set_extension("txt");
    p
}

/// Parse the text of label file `path` (named in errors); `nc` is the number of classes.
pub fn parse_labels(text: &str, path: &Path, nc: usize) -> Result<Vec<Label>> {
    let mut out: Vec<Label> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = || PathBuf::from(format!("{}:{}", path.display(), i + 1));
        let toks: Vec<&str> = line.split_whitespace().collect();
        if toks.is_empty() {
            continue;
        }
        let nums: Vec<f64> = toks
            .iter()
            .map(|t| t.parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                Error::data(
                    at(),
                    format!("malformed label line `{line}` (expected `class cx cy w h`)"),
                )
            })?;
        let c = nums[0];
        if c < 0.0 || c.fract() != 0.0 || c >= nc as f64 {
            return Err(Error::data(
                at(),
                format!("class {c} is not an integer in 0..{nc} (wrong dataset names/nc?)"),
            ));
        }
        let coords = &nums[1..];
        if coords.iter().any(|&v| !(-EPS..=1.0 + EPS).contains(&v)) {
            return Err(Error::data(
                at(),
                "coordinates outside [0, 1] (labels must be normalized by image size)",
            ));
        }
        let xywh = match coords.len() {
            4 => [coords[0], coords[1], coords[2], coords[3]],
            n if n >= 6 && n % 2 == 0 => polygon_box(coords),
            _ => {
                return Err(Error::data(
                    at(),
                    format!("malformed label line `{line}` (expected `class cx cy w h`)"),
                ));
            }
        };
        let lb = Label {
            class: c as usize,
            xywh,
        };
        if !out.contains(&lb) {
            out.push(lb);
        }
    }
    Ok(out)
}

fn polygon_box(xy: &[f64]) -> [f64; 4] {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in xy.chunks(2) {
        (x0, x1) = (x0.min(p[0]), x1.max(p[0]));
        (y0, y1) = (y0.min(p[1]), y1.max(p[1]));
    }
    [(x0 + x1) / 2.0, (y0 + y1) / 2.0, x1 - x0, y1 - y0]
}

/// Width and height from the image header.
pub(crate) fn image_size(p: &Path) -> Result<(u32, u32)> {
    image::ImageReader::open(p)
        .map_err(|e| Error::io(p, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(p, e))?
        .into_dimensions()
        .map_err(|e| Error::data(p, format!("cannot read image size: {e}")))
}

/// Image id rule: numeric file stems when all are numeric and distinct, else the index.
pub(crate) fn image_ids(images: &[PathBuf]) -> Vec<u64> {
    let stems: Option<Vec<u64>> = images
        .iter()
        .map(|p| p.file_stem()?.to_str()?.parse::<u64>().ok())
        .collect();
    if let Some(s) = stems {
        let uniq: std::collections::HashSet<_> = s.iter().collect();
        if uniq.len() == s.len() {
            return s;
        }
    }
    (0..images.len() as u64).collect()
}

/// Read sizes and labels of `images` and build the ground truth (categories from
/// `category_ids`/`names`, annotation ids from 1, area = box area in pixels, iscrowd 0).
pub(crate) fn build_gt(
    images: &[PathBuf],
    root: &Path,
    names: &[String],
    category_ids: &[u64],
) -> Result<(CocoGt, Vec<(u32, u32)>)> {
    let ids = image_ids(images);
    let read: Vec<((u32, u32), Vec<Label>)> = images
        .par_iter()
        .map(|img| {
            // An unreadable image stays in the set (size 0x0): the stage runner lists it as
            // bad and skips it (or stops with --strict); its labels still count as ground truth.
            let size = image_size(img).unwrap_or((0, 0));
            let lp = label_path(img);
            let labels = match std::fs::read_to_string(&lp) {
                Ok(t) => parse_labels(&t, &lp, names.len())?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(Error::io(&lp, e)),
            };
            Ok((size, labels))
        })
        .collect::<Result<_>>()?;
    let mut gt = CocoGt::default();
    for (i, name) in names.iter().enumerate() {
        gt.categories.push(super::coco_json::Category {
            id: category_ids[i],
            name: name.clone(),
        });
    }
    for ((img, &id), ((w, h), labels)) in images.iter().zip(&ids).zip(&read) {
        let rel = img.strip_prefix(root).unwrap_or(img);
        gt.images.push(ImageInfo {
            id,
            file_name: Some(rel.to_string_lossy().into_owned()),
            width: Some(*w),
            height: Some(*h),
        });
        let (wf, hf) = (*w as f64, *h as f64);
        for lb in labels {
            let [cx, cy, bw, bh] = lb.xywh;
            let bbox = [(cx - bw / 2.0) * wf, (cy - bh / 2.0) * hf, bw * wf, bh * hf];
            gt.annotations.push(GtAnnotation {
                id: gt.annotations.len() as u64 + 1,
                image_id: id,
                category_id: category_ids[lb.class],
                bbox,
                area: bbox[2] * bbox[3],
                iscrowd: false,
            });
        }
    }
    let sizes = read.iter().map(|r| r.0).collect();
    Ok((gt, sizes))
}
