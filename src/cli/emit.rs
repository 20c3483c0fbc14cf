//! `yoloq-gen emit`: quantized model → Verilog, ROM images, testbenches and golden vectors.

use super::args::{self, defaults};
use clap::Args;
use std::path::{Path, PathBuf};
use yoloq_gen::quant::{store, QuantConfig, QuantGraph};
use yoloq_gen::rtl::manifest::Manifest;
use yoloq_gen::{image_io, model, preprocess, rtl, synthetic, Error};

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
    #[command(flatten)]
    pub opts: EmitOpts,
    /// Image for the golden vectors (letterboxed to --imgsz); default: with --quant the main
    /// job's sample image ($YOLOQ_DATA_DIR/data/samples/bus.jpg) when present, else (and
    /// with --synthetic) a seeded synthetic image.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Output directory, e.g. generated/<cfg> (new, empty, or an earlier emitted design).
    #[arg(long)]
    pub out: PathBuf,
    /// Write into a non-empty folder that yoloq-gen did not write (only its own files are replaced).
    #[arg(long)]
    pub force: bool,
}

/// How a design is generated: the options of `emit` and of the main job's emit stage, with
/// their defaults defined once (the flags' defaults; [`Default`] parses them).
#[derive(Args, Debug, Clone, PartialEq)]
pub struct EmitOpts {
    /// Hardware architecture (the main job takes the board's).
    #[arg(long, value_enum, default_value_t = rtl::Arch::default())]
    pub arch: rtl::Arch,
    /// Input size (square), a multiple of 32 (default: 64 layer-sequential, 128 folded, the
    /// sizes the designs are documented at).
    #[arg(long)]
    pub imgsz: Option<usize>,
    /// MAC lanes per convolution layer of the layer-sequential engine, 1 to 64 (the folded
    /// engine's lanes are fixed by its board).
    #[arg(long, default_value_t = defaults::PARALLEL, value_parser = args::at_least_one)]
    pub parallel: usize,
    /// Where the folded engine's tensors live: `onchip` (the iCE40 UP5K engine) or `dram`
    /// (the ULX3S engine: row bands through on-chip tiles, tensors in the SDRAM).
    #[arg(long, value_enum, default_value_t = rtl::Tensors::default())]
    pub tensors: rtl::Tensors,
}

impl Default for EmitOpts {
    fn default() -> Self {
        args::clap_defaults()
    }
}

/// MAC lanes per convolution the layer-sequential engine takes (`rtl::layerseq`).
const MAX_LANES: usize = 64;

impl EmitOpts {
    /// The input size: `--imgsz`, else the architecture's documented size.
    pub fn size(&self) -> usize {
        self.imgsz.unwrap_or(defaults::hw_imgsz(self.arch))
    }

    /// Checked before any work; `size_flag` is the flag that sets the size (`--imgsz` here,
    /// `--hw-imgsz` in the main job).
    pub fn check(&self, size_flag: &str) -> anyhow::Result<()> {
        model::check_imgsz(size_flag, self.size(), self.size())?;
        if self.tensors == rtl::Tensors::Dram && self.arch != rtl::Arch::Folded {
            return Err(Error::arg(
                "--tensors",
                "tensors in DRAM are a folded-engine design; add --arch folded",
            )
            .into());
        }
        if self.arch == rtl::Arch::Layerseq && self.parallel > MAX_LANES {
            return Err(Error::arg(
                "--parallel",
                format!(
                    "{} MAC lanes is more than the layer-sequential engine takes; use 1 to {MAX_LANES}",
                    self.parallel
                ),
            )
            .into());
        }
        Ok(())
    }

    /// The flags that give these options to `yoloq-gen emit`.
    pub fn flags(&self) -> Vec<String> {
        let arch = match self.arch {
            rtl::Arch::Layerseq => "layerseq",
            rtl::Arch::Folded => "folded",
        };
        let mut f = vec![
            format!("--arch={arch}"),
            format!("--imgsz={}", self.size()),
            format!("--parallel={}", self.parallel),
        ];
        if self.tensors == rtl::Tensors::Dram {
            f.push("--tensors=dram".into());
        }
        f
    }
}

/// The emit stage: plan `q` with `o`, compute the golden vectors on `image` (letterboxed; a
/// seeded synthetic image when `None`) and write the design to `out` (the caller has checked
/// the folder rule). The library call behind `emit` and the main job's emit stage.
pub fn emit_design(
    q: &QuantGraph,
    o: &EmitOpts,
    image: Option<&Path>,
    out: &Path,
) -> anyhow::Result<Manifest> {
    let size = o.size();
    let x = match image {
        Some(p) => {
            let img = image_io::load_rgb(p)?;
            preprocess::letterbox(&img, (size, size), false, 32).tensor
        }
        None => synthetic::image(synthetic::GOLDEN_IMAGE_SEED, size),
    };
    let m = rtl::generate(q, o.arch, size, o.parallel, o.tensors, &x, out)?;
    println!(
        "wrote {}: {} layers, activation memory {} x {} bits, {} MACs, {} cycles per frame predicted (MAC utilisation {:.3})",
        out.display(),
        m.layers.len(),
        m.mem_depth,
        m.abits,
        m.total_macs,
        m.frame_cycles,
        m.mac_utilisation
    );
    Ok(m)
}

pub fn run(a: EmitArgs) -> anyhow::Result<()> {
    a.opts.check("--imgsz")?;
    if let Some(p) = a.image.as_deref().filter(|p| !p.is_file()) {
        return Err(Error::arg(
            "--image",
            format!("{} is not a file; pass an image", p.display()),
        )
        .into());
    }
    yoloq_gen::util::outdir::check_design(&a.out, "--out", a.force)?;
    let (q, image) = match &a.quant {
        Some(dir) => (store::load(dir)?, a.image.or_else(args::shared_sample)),
        None => {
            // The default configuration: integer head and the integer NMS stage.
            let cfg = QuantConfig::default();
            let q = synthetic::quant_graph(
                synthetic::SEED,
                a.opts.size(),
                synthetic::CALIB_IMAGES,
                &cfg,
            )?;
            (q, a.image)
        }
    };
    emit_design(&q, &a.opts, image.as_deref(), &a.out)?;
    Ok(())
}
