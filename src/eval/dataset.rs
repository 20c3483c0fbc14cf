//! Evaluation datasets: COCO layout (instances json + image folder) and Ultralytics YOLO
//! layout (`images/` + `labels/` folders, or a dataset `.yaml`), both exposed as a list of
//! images plus a COCO ground truth that [`super::cocoeval::evaluate`] accepts.
//!
//! Guarantees: every listed image exists; `category_ids[class]` maps a model class index to
//! the ground truth's category id (COCO's 91-id space for the 80 COCO classes, the class
//! index itself for other class lists, as Ultralytics does); errors are one line naming the
//! file (and line) at fault.

use super::coco80;
use super::coco_json::{load_gt, CocoGt};
pub use super::data_yaml::{open_yolo_yaml, parse_data_yaml, DataYamlSplit};
use super::yolo;
pub use super::yolo::{parse_labels, Label};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// One image to run the model on.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageEntry {
    pub id: u64,
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
}

/// Which layout a dataset was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    Coco,
    Yolo,
}

/// Images, ground truth and class names of an evaluation set.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub images: Vec<ImageEntry>,
    pub gt: CocoGt,
    /// Class names in model class order.
    pub names: Vec<String>,
    /// Ground-truth category id of each class index.
    pub category_ids: Vec<u64>,
    pub kind: DatasetKind,
}

impl Dataset {
    /// Category id for model class `class`.
    pub fn category_id(&self, class: usize) -> Option<u64> {
        self.category_ids.get(class).copied()
    }
}

/// Open a dataset, detecting its form: a `.json` file (COCO), a `.yaml` file (YOLO, `val`
/// split), a folder with `annotations/*.json` (COCO, preferred when both forms exist), a
/// folder with `images/` (YOLO), or an `.../images/...` folder itself (YOLO).
pub fn open_dataset(path: &Path) -> Result<Dataset> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if path.is_file() {
        return match ext {
            "json" => open_coco(path, None),
            "yaml" | "yml" => open_yolo_yaml(path, "val"),
            _ => Err(Error::data(
                path,
                "not a dataset: expected a COCO .json, a YOLO .yaml or a folder",
            )),
        };
    }
    if !path.is_dir() {
        return Err(Error::data(path, "dataset path does not exist"));
    }
    if let Some(json) = find_instances_json(&path.join("annotations"))? {
        return open_coco(&json, None);
    }
    if path.join("images").is_dir() {
        return open_yolo_dir(&path.join("images"), None);
    }
    if path.components().any(|c| c.as_os_str() == "images") {
        return open_yolo_dir(path, None);
    }
    Err(Error::data(
        path,
        "not a dataset folder: expected annotations/instances_*.json (COCO) or images/ + labels/ (YOLO)",
    ))
}

/// The instances json of an `annotations/` folder: the only json, else `instances_val*`.
fn find_instances_json(dir: &Path) -> Result<Option<PathBuf>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut jsons: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    jsons.sort();
    let named = |p: &PathBuf, pre: &str| {
        p.file_name()
            .and_then(|f| f.to_str())
            .is_some_and(|f| f.starts_with(pre))
    };
    Ok(match jsons.len() {
        0 => None,
        1 => jsons.pop(),
        _ => match jsons.iter().find(|p| named(p, "instances_val")) {
            Some(p) => Some(p.clone()),
            None => {
                return Err(Error::data(
                    dir,
                    "several json files and no instances_val*.json: pass the json file",
                ))
            }
        },
    })
}

/// Open a COCO json with its images in `image_dir`, or, when `None`, the first of
/// `<root>/images/<split>`, `<root>/<split>`, `<root>/images`, `<root>` that holds the first
/// image (`<root>` is the folder above `annotations/`, `<split>` the json name after
/// `instances_`).
pub fn open_coco(json: &Path, image_dir: Option<&Path>) -> Result<Dataset> {
    let gt = load_gt(json)?;
    if gt.images.is_empty() {
        return Err(Error::data(json, "empty dataset: the json lists no images"));
    }
    let file_of = |i: usize| {
        gt.images[i].file_name.clone().ok_or_else(|| {
            Error::data(
                json,
                format!("images[{i}] has no `file_name` key (needed to find the image)"),
            )
        })
    };
    let first_name = file_of(0)?;
    let dir = match image_dir {
        Some(d) => d.to_path_buf(),
        None => {
            let parent = json.parent().unwrap_or(Path::new("."));
            let root = if parent.file_name().is_some_and(|n| n == "annotations") {
                parent.parent().unwrap_or(Path::new("."))
            } else {
                parent
            };
            let stem = json.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let split = stem.strip_prefix("instances_").unwrap_or(stem);
            let cands = [
                root.join("images").join(split),
                root.join(split),
                root.join("images"),
                root.to_path_buf(),
            ];
            cands.iter().find(|c| c.join(&first_name).is_file()).cloned().ok_or_else(|| {
                Error::data(json, format!("cannot find image {first_name} under {}/{{images/{split},{split},images,.}}", root.display()))
            })?
        }
    };
    let mut images = Vec::with_capacity(gt.images.len());
    for (i, im) in gt.images.iter().enumerate() {
        let path = dir.join(file_of(i)?);
        if !path.is_file() {
            return Err(Error::data(
                json,
                format!("images[{i}]: image {} does not exist", path.display()),
            ));
        }
        let (width, height) = match (im.width, im.height) {
            (Some(w), Some(h)) => (w, h),
            _ => yolo::image_size(&path)?,
        };
        images.push(ImageEntry {
            id: im.id,
            path,
            width,
            height,
        });
    }
    let mut cats = gt.categories.clone();
    cats.sort_by_key(|c| c.id);
    Ok(Dataset {
        images,
        names: cats.iter().map(|c| c.name.clone()).collect(),
        category_ids: cats.iter().map(|c| c.id).collect(),
        gt,
        kind: DatasetKind::Coco,
    })
}

/// Open a YOLO image folder (labels found by the `images` → `labels` rule). Without
/// `names`, the 80 COCO classes are assumed (the models this tool handles are COCO-trained).
pub fn open_yolo_dir(images_dir: &Path, names: Option<Vec<String>>) -> Result<Dataset> {
    let images = yolo::list_images(images_dir)?;
    yolo_dataset(
        images,
        images_dir,
        names.unwrap_or_else(coco80::coco80_names),
        images_dir,
    )
}

pub(crate) fn yolo_dataset(
    images: Vec<PathBuf>,
    root: &Path,
    names: Vec<String>,
    src: &Path,
) -> Result<Dataset> {
    if images.is_empty() {
        return Err(Error::data(
            src,
            "empty dataset: no .jpg/.jpeg/.png images found",
        ));
    }
    let category_ids: Vec<u64> = if coco80::is_coco80(&names) {
        coco80::COCO80.iter().map(|c| c.0).collect()
    } else {
        (0..names.len() as u64).collect()
    };
    let (gt, sizes) = yolo::build_gt(&images, root, &names, &category_ids)?;
    let entries = images
        .into_iter()
        .zip(&gt.images)
        .zip(sizes)
        .map(|((path, info), (width, height))| ImageEntry {
            id: info.id,
            path,
            width,
            height,
        })
        .collect();
    Ok(Dataset {
        images: entries,
        gt,
        names,
        category_ids,
        kind: DatasetKind::Yolo,
    })
}
