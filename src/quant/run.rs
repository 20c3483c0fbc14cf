//! The quantize job end to end: list and letterbox calibration images, calibrate, quantize,
//! and write the whole output directory (staged inside it, then moved into place).

use super::int_model;
use super::{artifacts, calibrate, gptq, quantize, sensitivity, store, QuantConfig, QuantGraph};
use crate::error::{Error, Result};
use crate::fuse::FusedGraph;
use crate::{architecture, image_io, preprocess};
use ndarray::Array3;
use std::path::{Path, PathBuf};

/// Image files under `dir` (recursively), sorted by path. JPEG and PNG.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for e in std::fs::read_dir(d).map_err(|e| Error::io(d, e))? {
            let p = e.map_err(|e| Error::io(d, e))?.path();
            if p.is_dir() {
                walk(&p, out)?;
            } else if p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
            {
                out.push(p);
            }
        }
        Ok(())
    }
    if !dir.is_dir() {
        return Err(Error::data(
            dir,
            "calibration set not found; pass a folder of images (e.g. coco128/images) with --calib",
        ));
    }
    let mut v = Vec::new();
    walk(dir, &mut v)?;
    v.sort();
    Ok(v)
}

/// Letterboxed `[3,H,W]` tensor of an image file (as validation preprocesses it).
pub fn load_input(path: &Path, imgsz: usize) -> Result<Array3<f32>> {
    let img = image_io::load_rgb(path)?;
    Ok(preprocess::letterbox(&img, (imgsz, imgsz), false, 32).tensor)
}

/// The first `k` readable images of `dir` (sorted by path); an unreadable one (corrupt,
/// truncated) is named and skipped.
pub fn calib_images(dir: &Path, k: usize) -> Result<Vec<PathBuf>> {
    let images = list_images(dir)?;
    if images.is_empty() {
        return Err(Error::data(
            dir,
            "no .jpg/.png images in the calibration set; point --calib at a folder of images",
        ));
    }
    let mut chosen: Vec<PathBuf> = Vec::new();
    let mut skipped: Vec<Error> = Vec::new();
    for p in images {
        if chosen.len() == k.max(1) {
            break;
        }
        match image_io::load_rgb(&p) {
            Ok(_) => chosen.push(p),
            Err(e) => {
                eprintln!("warning: skipped unreadable calibration image: {e}");
                skipped.push(e);
            }
        }
    }
    if chosen.is_empty() {
        return Err(skipped.remove(0));
    }
    if !skipped.is_empty() {
        eprintln!(
            "calibration: {} unreadable image(s) skipped, calibrating on {}",
            skipped.len(),
            chosen.len()
        );
    }
    Ok(chosen)
}

/// Calibrate on `images` at `imgsz`, with a progress bar.
pub fn calibrate_images(
    fg: &FusedGraph,
    images: &[PathBuf],
    imgsz: usize,
) -> Result<calibrate::CalibStats> {
    let pb = crate::progress::bar(2 * images.len() as u64, "calibrating");
    let stats = calibrate::calibrate(
        fg,
        images.len(),
        &|i| load_input(&images[i], imgsz),
        &|_| pb.inc(1),
    );
    pb.finish_and_clear();
    stats
}

/// Calibrate on the first `k` readable images of `dir` at `imgsz`, with a progress bar.
pub fn calibrate_dir(
    fg: &FusedGraph,
    dir: &Path,
    k: usize,
    imgsz: usize,
) -> Result<calibrate::CalibStats> {
    calibrate_images(fg, &calib_images(dir, k)?, imgsz)
}

/// Everything `quantize` writes, given a quantized graph.
pub struct Outputs<'a> {
    pub q: &'a QuantGraph,
    pub fused: &'a FusedGraph,
    /// Image whose integer activations become the golden vectors.
    pub sample: &'a Path,
    pub sample_imgsz: usize,
}

/// Write the output directory: files are staged inside `out` and moved into place at the end
/// (`util::outdir`: only files of ours are replaced; callers check the folder rule first).
pub fn write_outputs(o: &Outputs, out: &Path) -> Result<()> {
    let staging = crate::util::outdir::Staging::begin(out, "quantize")?;
    let t = staging.path();
    store::save(o.q, t)?;
    // Compressed architecture with the quantization fields.
    let mut arch = architecture::describe(o.fused.graph(), o.sample_imgsz, o.sample_imgsz);
    let rec: store::ScalesFile =
        serde_norway::from_str(&store::encode(o.q)?.0).map_err(|e| Error::Other(e.to_string()))?;
    for (l, n) in arch.layers.iter_mut().zip(&rec.nodes) {
        let mut v = serde_json::to_value(n).map_err(|e| Error::Other(e.to_string()))?;
        if let Some(m) = v.as_object_mut() {
            for k in ["index", "name", "inputs"] {
                m.remove(k);
            }
            if let Some(op) = m.get_mut("op").and_then(|x| x.as_object_mut()) {
                for k in ["mult", "shift", "wscale"] {
                    op.remove(k);
                }
            }
        }
        l.quant = Some(v);
    }
    architecture::write_yaml(&arch, &t.join("architecture.yaml"))?;
    artifacts::write_mem(o.q, &t.join("mem"))?;
    let x = load_input(o.sample, o.sample_imgsz)?;
    // The golden vectors hold what the hardware computes, NMS stage included.
    let run = int_model::forward(o.q, &x, true, crate::rtl::qnms::NMS);
    artifacts::write_activations_hex(o.q, &run.values, &t.join("activations"))?;
    artifacts::write_activations_safetensors(o.q, &run.values, &t.join("activations.safetensors"))?;
    artifacts::write_first_pixel(o.q, &run.values, &t.join("first_pixel.yaml"))?;
    crate::util::write_atomic_str(
        &t.join("sample.yaml"),
        &format!(
            "image: {}\nimgsz: {}\n",
            o.sample.file_name().and_then(|s| s.to_str()).unwrap_or("?"),
            o.sample_imgsz
        ),
    )?;
    if let Some(sens) = &o.q.sensitivity {
        let widths = sensitivity::chosen_widths(o.q, sens);
        crate::util::write_atomic_str(&t.join("sensitivity.md"), &sens.markdown(&widths))?;
        sensitivity::plot(&t.join("sensitivity.png"), sens, &widths)?;
    }
    staging.commit()?;
    Ok(())
}

/// Calibrate + quantize in one call (the rounding passes that need data read the same
/// calibration images).
pub fn quantize_model(
    fg: &FusedGraph,
    calib: &Path,
    k: usize,
    imgsz: usize,
    cfg: &QuantConfig,
) -> Result<QuantGraph> {
    quantize::check_bits(cfg)?;
    let images = calib_images(calib, k)?;
    let stats = calibrate_images(fg, &images, imgsz)?;
    let load = |i: usize| load_input(&images[i], imgsz);
    let im = gptq::CalibImages {
        count: images.len(),
        load: &load,
    };
    quantize::quantize_with(fg, &stats, cfg, Some(im))
}
