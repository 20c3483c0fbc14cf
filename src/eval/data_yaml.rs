//! Ultralytics dataset `.yaml` files: `path`, `train`/`val`/`test` (folder, `.txt` image
//! list, or a list of those) and `names` (list or `{index: name}` map without gaps).
//!
//! Guarantees: the split's images are listed like Ultralytics lists them (a relative `path`
//! is resolved against the yaml's folder, where Ultralytics would use its datasets folder),
//! and every problem is a one-line error naming the yaml (or the image list and line).

use super::dataset::{yolo_dataset, Dataset};
use super::yolo;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(untagged)]
enum Names {
    List(Vec<String>),
    Map(BTreeMap<usize, String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Split {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct DataYaml {
    path: Option<String>,
    names: Option<Names>,
    nc: Option<usize>,
    #[serde(flatten)]
    splits: BTreeMap<String, serde_norway::Value>,
}

/// What a dataset yaml says about one split, before any file is looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct DataYamlSplit {
    /// Class names in index order.
    pub names: Vec<String>,
    /// The dataset root (`path`, resolved against the yaml's folder when relative).
    pub root: PathBuf,
    /// The split's entries (folders or `.txt` image lists), relative to `root`.
    pub entries: Vec<String>,
}

/// Parse the text of dataset yaml `yaml` for split `split`; touches no file (`yaml` names
/// the file in errors and anchors a relative `path`).
pub fn parse_data_yaml(text: &str, yaml: &Path, split: &str) -> Result<DataYamlSplit> {
    let y: DataYaml = serde_norway::from_str(text)
        .map_err(|e| Error::data(yaml, format!("not a dataset yaml: {e}")))?;
    let names = match y.names {
        Some(Names::List(v)) => v,
        Some(Names::Map(m)) => {
            if m.keys().copied().ne(0..m.len()) {
                return Err(Error::data(
                    yaml,
                    "`names` keys must be 0..nc-1 without gaps",
                ));
            }
            m.into_values().collect()
        }
        None => {
            return Err(Error::data(
                yaml,
                "no `names` key (class names are required)",
            ))
        }
    };
    if y.nc.is_some_and(|nc| nc != names.len()) {
        return Err(Error::data(
            yaml,
            format!("`nc` disagrees with the {} `names`", names.len()),
        ));
    }
    let here = yaml.parent().unwrap_or(Path::new("."));
    let root = match y.path {
        Some(p) if Path::new(&p).is_absolute() => PathBuf::from(p),
        Some(p) => here.join(p),
        None => here.to_path_buf(),
    };
    let value = y
        .splits
        .get(split)
        .cloned()
        .ok_or_else(|| Error::data(yaml, format!("no `{split}` key")))?;
    let entries = match serde_norway::from_value::<Split>(value) {
        Ok(Split::One(s)) => vec![s],
        Ok(Split::Many(v)) => v,
        Err(_) => {
            return Err(Error::data(
                yaml,
                format!("`{split}` must be a path or a list of paths"),
            ))
        }
    };
    Ok(DataYamlSplit {
        names,
        root,
        entries,
    })
}

/// Open split `split` (`val`, `train`, `test`) of an Ultralytics dataset yaml. `path` is
/// resolved against the yaml's folder when relative (Ultralytics uses its datasets dir).
pub fn open_yolo_yaml(yaml: &Path, split: &str) -> Result<Dataset> {
    let text = std::fs::read_to_string(yaml).map_err(|e| Error::io(yaml, e))?;
    let DataYamlSplit {
        names,
        root,
        entries,
    } = parse_data_yaml(&text, yaml, split)?;
    let mut images = Vec::new();
    for e in entries {
        let mut p = root.join(&e);
        if !p.exists() {
            if let Some(rest) = e.strip_prefix("../") {
                p = root.join(rest);
            }
        }
        if p.is_dir() {
            images.extend(yolo::list_images(&p)?);
        } else if p.extension().is_some_and(|x| x == "txt") && p.is_file() {
            images.extend(yolo::list_images_txt(&p)?);
        } else {
            return Err(Error::data(
                yaml,
                format!(
                    "`{split}` entry {} is neither a folder nor a .txt list",
                    p.display()
                ),
            ));
        }
    }
    yolo_dataset(images, &root, names, yaml)
}
