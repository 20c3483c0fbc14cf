//! `yoloq-gen emit`: quantized model → Verilog, ROM images, testbenches and golden vectors.

use super::args::defaults;
use clap::Args;
use std::path::PathBuf;
use yoloq_gen::quant::{store, QuantConfig};
use yoloq_gen::{image_io, preprocess, rtl, synthetic};

#[derive(Args, Debug)]
pub struct EmitArgs {
    /// Quantized model directory (from `yoloq-gen quantize`).
    #[arg(
        long,
        required_unless_present = "synthetic",
        conflicts_with = "synthetic"
    )]
    pub quant: Option<PathBuf>,
    /// Use the built-in tiny synthetic YOLOv8-family model instead of --quant.
    #[arg(long)]
    pub synthetic: bool,
    /// Input size (square), a multiple of 32.
    #[arg(long, default_value_t = defaults::HW_IMGSZ)]
    pub imgsz: usize,
    /// MAC lanes per convolution layer of the layer-sequential engine (the main job's default).
    #[arg(long, default_value_t = defaults::PARALLEL, value_parser = super::args::at_least_one)]
    pub parallel: usize,
    /// Image for the golden vectors (letterboxed to --imgsz); default: a seeded synthetic image.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Hardware architecture.
    #[arg(long, value_enum, default_value_t = rtl::Arch::Layerseq)]
    pub arch: rtl::Arch,
    /// Output directory, e.g. generated/<cfg> (new, empty, or an earlier emitted design).
    #[arg(long)]
    pub out: PathBuf,
    /// Write into a non-empty folder that yoloq-gen did not write (only its own files are replaced).
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: EmitArgs) -> anyhow::Result<()> {
    yoloq_gen::util::outdir::check_design(&a.out, "--out", a.force)?;
    let q = match &a.quant {
        Some(dir) => store::load(dir)?,
        None => {
            // The default configuration: integer head and the integer NMS stage.
            let cfg = QuantConfig::default();
            synthetic::quant_graph(synthetic::SEED, a.imgsz, synthetic::CALIB_IMAGES, &cfg)?
        }
    };
    let image = match &a.image {
        Some(p) => {
            let img = image_io::load_rgb(p)?;
            preprocess::letterbox(&img, (a.imgsz, a.imgsz), false, 32).tensor
        }
        None => synthetic::image(synthetic::GOLDEN_IMAGE_SEED, a.imgsz),
    };
    let m = rtl::generate(&q, a.arch, a.imgsz, a.parallel, &image, &a.out)?;
    println!(
        "wrote {}: {} layers, activation memory {} x {} bits, {} MACs, {} cycles per frame predicted (MAC utilisation {:.3})",
        a.out.display(),
        m.layers.len(),
        m.mem_depth,
        m.abits,
        m.total_macs,
        m.frame_cycles,
        m.mac_utilisation
    );
    Ok(())
}
