//! `yoloq-gen predict`: detections on images, as text, JSON or annotated PNGs.

use super::args::{self, defaults};
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use yoloq_gen::util::outdir;
use yoloq_gen::validate::{detect, Stage, ValParams};
use yoloq_gen::{draw, image_io, model, postprocess, quant, Error};

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Float checkpoint (.pt or .safetensors).
    #[arg(long, required_unless_present = "quant")]
    pub model: Option<PathBuf>,
    /// Use a quantized model directory instead of the float model.
    #[arg(long, conflicts_with = "model")]
    pub quant: Option<PathBuf>,
    /// Inference size (long side), a multiple of 32.
    #[arg(long, default_value_t = defaults::IMGSZ)]
    pub imgsz: usize,
    /// Score threshold (0..1).
    #[arg(long, default_value_t = defaults::PREDICT_CONF, value_parser = args::score)]
    pub conf: f32,
    /// NMS IoU threshold (above 0, at most 1).
    #[arg(long, default_value_t = defaults::IOU, value_parser = args::iou)]
    pub iou: f32,
    /// Detections kept per image (at least 1).
    #[arg(long, default_value_t = defaults::MAX_DET, value_parser = args::at_least_one)]
    pub max_det: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write annotated PNGs into this folder (new, empty, or written by yoloq-gen before).
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Save into a non-empty folder that yoloq-gen did not write (only its own files are replaced).
    #[arg(long)]
    pub force: bool,
    /// Stop at the first unreadable image instead of skipping it.
    #[arg(long)]
    pub strict: bool,
    /// Images (JPEG or PNG).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

#[derive(Serialize)]
pub(super) struct JsonDet {
    cls: String,
    conf: f32,
    xyxy: [f32; 4],
}

/// Detections as printed: class name, confidence to 4 places, box to 0.1 pixel.
pub(super) fn rounded(dets: &[postprocess::Detection], names: &[String]) -> Vec<JsonDet> {
    dets.iter()
        .map(|d| JsonDet {
            cls: names
                .get(d.cls)
                .cloned()
                .unwrap_or_else(|| format!("class{}", d.cls)),
            conf: (d.conf * 1e4).round() / 1e4,
            xyxy: d.xyxy.map(|v| (v * 10.0).round() / 10.0),
        })
        .collect()
}

/// The text form of one image's detections.
pub(super) fn print_text(key: &str, jd: &[JsonDet]) {
    println!("{key}: {} detections", jd.len());
    for d in jd {
        println!(
            "  {:<14} {:.3}  [{:.1}, {:.1}, {:.1}, {:.1}]",
            d.cls, d.conf, d.xyxy[0], d.xyxy[1], d.xyxy[2], d.xyxy[3]
        );
    }
}

pub fn run(a: PredictArgs) -> anyhow::Result<()> {
    model::check_imgsz("--imgsz", a.imgsz, a.imgsz)?;
    if let Some(dir) = &a.save {
        outdir::check(dir, "--save", a.force)?;
    }
    let p = ValParams {
        imgsz: a.imgsz,
        conf: a.conf,
        iou: a.iou,
        max_det: a.max_det,
    };
    let (fg, qg);
    let (stage, names) = match (&a.model, &a.quant) {
        (_, Some(d)) => {
            qg = quant::store::load(d)?;
            (Stage::Quant(&qg), qg.class_names.clone())
        }
        (Some(m), None) => {
            fg = yoloq_gen::fuse::fuse(&model::FloatGraph::load(m)?);
            (Stage::Float(fg.graph()), fg.graph().class_names.clone())
        }
        (None, None) => {
            return Err(Error::arg(
                "--model",
                "pass a checkpoint with --model or a quantized directory with --quant",
            )
            .into())
        }
    };
    let staging = match &a.save {
        Some(dir) => Some(outdir::Staging::begin(dir, "predict")?),
        None => None,
    };
    // Keyed by the path as given: two inputs with the same file name stay apart, and so do
    // their PNGs (`bus.png`, `bus-2.png`, ...).
    // In input order (serde_json keeps insertion order).
    let mut all = serde_json::Map::new();
    let mut png_names = std::collections::BTreeSet::new();
    let mut skipped = 0usize;
    for path in &a.images {
        let key = path.display().to_string();
        if all.contains_key(&key) {
            continue;
        }
        let mut img = match image_io::load_rgb(path) {
            Ok(img) => img,
            Err(e) if !a.strict => {
                eprintln!("warning: skipped unreadable image: {e}");
                skipped += 1;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let dets = detect(&stage, &img, &p);
        if let Some(st) = &staging {
            let labelled: Vec<_> = dets
                .iter()
                .map(|d| (*d, format!("{} {:.2}", names[d.cls], d.conf)))
                .collect();
            draw::annotate(&mut img, &labelled);
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
            let name = (1..)
                .map(|i| match i {
                    1 => format!("{stem}.png"),
                    _ => format!("{stem}-{i}.png"),
                })
                .find(|n| !png_names.contains(n))
                .expect("a free name");
            image_io::save_png(&st.path().join(&name), &img)?;
            png_names.insert(name);
        }
        let jd = rounded(&dets, &names);
        if !a.json {
            print_text(&key, &jd);
        }
        all.insert(key, serde_json::to_value(&jd)?);
    }
    if all.is_empty() {
        return Err(Error::arg(
            "IMAGE",
            format!(
                "none of the {} images could be read; pass JPEG or PNG files",
                a.images.len()
            ),
        )
        .into());
    }
    if skipped > 0 {
        eprintln!(
            "skipped {skipped} unreadable image(s) of {}",
            a.images.len()
        );
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    if let (Some(st), Some(dir)) = (staging, &a.save) {
        st.commit()?;
        eprintln!("annotated images in {}", dir.display());
    }
    Ok(())
}
