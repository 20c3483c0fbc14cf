//! `yoloq-gen quantize`: calibrate, quantize to N bits and write the hardware artifacts.

use super::args::{self, defaults};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use yoloq_gen::quant::budget::{self, WBits, WeightBudget};
use yoloq_gen::quant::{
    run, CalibMethod, Granularity, HeadMode, QuantConfig, Rounding, ScaleMode, ScaleSearch,
};
use yoloq_gen::{fuse, model, Error};

/// The defaults of the quantization flags: one definition, [`QuantConfig::default`].
fn d() -> QuantConfig {
    QuantConfig::default()
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScaleSearchArg {
    /// Least squared weight error (with --calib-method mse).
    Weight,
    /// Least output error after GPTQ rounding at each candidate scale.
    Output,
}

#[derive(Args, Debug, Clone)]
pub struct QuantArgs {
    /// Bit width of weights and activations (2..=16); --wbits / --abits override.
    #[arg(long, default_value_t = d().wbits)]
    pub bits: u32,
    /// Weight bit width (default: --bits), or a budget: an average in bits per weight (e.g.
    /// 4.5) or a weight-memory size (e.g. 1.8MB, 1700000B); with a budget each layer's width
    /// (2..8) is chosen from its measured sensitivity.
    #[arg(long, value_parser = budget::parse_wbits)]
    pub wbits: Option<WBits>,
    /// Activation bit width (default: --bits).
    #[arg(long)]
    pub abits: Option<u32>,
    /// Index width of the SiLU tables, i.e. of the requantized pre-activation (default: the
    /// activation width, and at least 8).
    #[arg(long)]
    pub lut_bits: Option<u32>,
    /// Width of the input image codes (pixels shifted right by 8 minus this; default: 8 when
    /// the activations are narrower and the head keeps 8 bits, else the activation width).
    #[arg(long)]
    pub input_bits: Option<u32>,
    /// Width of the head's output logits (default: the activation width, and at least 8 with
    /// the quantized NMS, whose hardware stage reads byte records).
    #[arg(long)]
    pub head_bits: Option<u32>,
    /// Calibration images folder, never the validation images (default:
    /// $YOLOQ_DATA_DIR/data/coco128/images).
    #[arg(long)]
    pub calib: Option<PathBuf>,
    /// How many calibration images (first K by name).
    #[arg(long, default_value_t = defaults::CALIB_IMAGES, value_parser = args::at_least_one)]
    pub calib_images: usize,
    /// Clipping-range choice: max, percentile:P (e.g. percentile:99.99) or mse.
    #[arg(long, default_value_t = d().method, value_parser = parse_method)]
    pub calib_method: CalibMethod,
    /// Scales per output channel or per tensor.
    #[arg(long, value_enum, default_value_t = d().granularity)]
    pub granularity: Granularity,
    /// pow2: requantize by shift; mult: integer multiplier + shift.
    #[arg(long, value_enum, default_value_t = d().scale)]
    pub scale: ScaleMode,
    /// Keep the head's last convolutions and decode in float, or quantize them.
    #[arg(long, value_enum, default_value_t = d().head)]
    pub head: HeadMode,
    /// Integer DFL, box decode, score threshold and NMS (the default with --head int).
    #[arg(long, conflicts_with = "no_qnms")]
    pub qnms: bool,
    /// Keep the DFL, box decode and NMS in float after an integer head.
    #[arg(long)]
    pub no_qnms: bool,
    /// Do not fold the mean output shift caused by weight rounding into the integer biases
    /// (bias correction is on by default).
    #[arg(long)]
    pub no_bias_correct: bool,
    /// Layers whose weights keep 8 bits when --wbits is lower, comma separated: first (the
    /// convolution reading the image), head (the last box/class convolutions) or node names.
    #[arg(long, value_delimiter = ',')]
    pub keep8: Vec<String>,
    /// How float weights become integers (same scales either way): nearest, gptq (learned on
    /// the calibration images, layer by layer; default when --wbits is below 8) or
    /// gptq-refine (GPTQ on the input covariance, then a greedy integer descent on the same
    /// output error).
    #[arg(long, value_enum)]
    pub rounding: Option<Rounding>,
    /// How each output channel's weight scale is chosen among its candidates: weight (least
    /// squared weight error) or output (least output error after GPTQ rounding on the
    /// calibration inputs; needs --rounding gptq).
    #[arg(long, value_enum, default_value_t = ScaleSearchArg::Weight)]
    pub scale_search: ScaleSearchArg,
    /// Calibration input size.
    #[arg(long, default_value_t = defaults::IMGSZ)]
    pub imgsz: usize,
}

impl QuantArgs {
    pub fn config(&self) -> QuantConfig {
        let abits = self.abits.unwrap_or(self.bits);
        // On by default, as in `QuantConfig::default()`, where the head is integer.
        let qnms = self.qnms || (!self.no_qnms && d().qnms && self.head == HeadMode::Int);
        let (wbits, wbudget) = match self.wbits {
            None => (self.bits, None),
            Some(WBits::Fixed(b)) => (b, None),
            // The nominal width until the budget is resolved on the model (budget::resolve).
            Some(WBits::Budget(b)) => (
                match b {
                    WeightBudget::Average(a) => (a.floor() as u32).clamp(2, 8),
                    WeightBudget::Bytes(_) => 2,
                },
                Some(b),
            ),
        };
        let head_bits = self
            .head_bits
            .unwrap_or(if qnms { abits.max(8) } else { abits });
        // The image's 8-bit pixels stay whole under narrower activations when the memory holds
        // 8-bit words anyway (the head records): W8A6 0.4011 -> 0.4085 AP (docs/RESULTS.md).
        let input_bits_default = (abits < 8 && head_bits >= 8).then_some(8);
        QuantConfig {
            wbits,
            abits,
            // The table index is internal to a convolution engine (never stored), so it keeps
            // 8 bits under narrower activations: W8A6 0.3457 -> 0.4011 AP (docs/RESULTS.md).
            lut_bits: self.lut_bits.unwrap_or(abits.max(8)),
            input_bits: self.input_bits.or(input_bits_default),
            scale_search: match self.scale_search {
                ScaleSearchArg::Weight => ScaleSearch::Weight,
                ScaleSearchArg::Output => ScaleSearch::Output,
            },
            // The NMS stage in hardware reads 8-bit head records, so a lower-bit body keeps an
            // 8-bit head unless --head-bits says otherwise.
            head_bits,
            method: self.calib_method,
            granularity: self.granularity,
            scale: self.scale,
            head: self.head,
            qnms,
            bias_correct: !self.no_bias_correct,
            keep8: self.keep8.clone(),
            wbudget,
            layer_bits: Default::default(),
            rounding: match self.rounding {
                Some(r) => r,
                // Measured on val2017-79 (docs/RESULTS.md): GPTQ wins below 8 bits; 8-bit
                // models keep nearest rounding.
                None if wbits < 8 => Rounding::Gptq,
                None => d().rounding,
            },
        }
    }
}

impl QuantArgs {
    /// Every quantization argument checked before any work: the configuration and the
    /// calibration folder (which must hold a readable image).
    pub fn check(&self) -> anyhow::Result<(QuantConfig, PathBuf)> {
        for (flag, b) in [
            ("--bits", Some(self.bits)),
            (
                "--wbits",
                match self.wbits {
                    Some(WBits::Fixed(b)) => Some(b),
                    _ => None,
                },
            ),
            ("--abits", self.abits),
            ("--lut-bits", self.lut_bits),
            ("--head-bits", self.head_bits),
            ("--input-bits", self.input_bits),
        ] {
            if let Some(b) = b.filter(|b| !(2..=16).contains(b)) {
                return Err(Error::arg(
                    flag,
                    format!("{b} bits is not supported; use a width from 2 to 16"),
                )
                .into());
            }
        }
        let cfg = self.config();
        yoloq_gen::quant::quantize::check_bits(&cfg)?;
        model::check_imgsz("--imgsz", self.imgsz, self.imgsz)?;
        if cfg.qnms && cfg.head == HeadMode::Float {
            return Err(Error::arg(
                "--qnms",
                "the quantized NMS needs the integer head; use --head int or drop --qnms",
            )
            .into());
        }
        if cfg.scale_search == ScaleSearch::Output && cfg.rounding != Rounding::Gptq {
            return Err(Error::arg(
                "--scale-search",
                "output needs GPTQ rounding (the default below 8-bit weights); add --rounding gptq or use --scale-search weight",
            )
            .into());
        }
        let calib = args::calib_dir(self.calib.as_deref())?;
        no_images(&calib)?;
        // A folder whose images all fail to decode is refused before the model is loaded.
        args::first_readable(&calib)?;
        Ok((cfg, calib))
    }
}

/// A calibration folder without JPEG or PNG images is refused.
pub fn no_images(calib: &std::path::Path) -> anyhow::Result<()> {
    if run::list_images(calib)?.is_empty() {
        return Err(Error::arg(
            "--calib",
            format!(
                "{} holds no .jpg/.png images; pass a folder of calibration images (e.g. coco128/images)",
                calib.display()
            ),
        )
        .into());
    }
    Ok(())
}

pub fn parse_method(s: &str) -> Result<CalibMethod, String> {
    match s {
        "max" => Ok(CalibMethod::Max),
        "mse" => Ok(CalibMethod::Mse),
        _ => match s.strip_prefix("percentile:").map(|p| p.parse::<f64>()) {
            Some(Ok(p)) if p > 50.0 && p <= 100.0 => Ok(CalibMethod::Percentile(p)),
            _ => Err(
                "use max, mse or percentile:P with 50 < P <= 100 (e.g. percentile:99.99)".into(),
            ),
        },
    }
}

#[derive(Args, Debug)]
pub struct QuantizeCmd {
    /// Checkpoint (.pt or .safetensors).
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub q: QuantArgs,
    /// Image whose integer activations are written as golden vectors (default, as in the main
    /// job: $YOLOQ_DATA_DIR/data/samples/bus.jpg when present, else the first readable
    /// calibration image).
    #[arg(long)]
    pub sample: Option<PathBuf>,
    /// Input size of the golden activations and first-pixel trace.
    #[arg(long, default_value_t = defaults::SAMPLE_IMGSZ)]
    pub sample_imgsz: usize,
    /// Output directory (new, empty, or written by yoloq-gen before).
    #[arg(long)]
    pub out: PathBuf,
    /// Write into a non-empty folder that yoloq-gen did not write (only its own files are replaced).
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: QuantizeCmd) -> anyhow::Result<()> {
    let (cfg, calib) = a.q.check()?;
    args::model_file(&a.model)?;
    model::check_imgsz("--sample-imgsz", a.sample_imgsz, a.sample_imgsz)?;
    let sample = match &a.sample {
        Some(s) if !s.is_file() => {
            return Err(Error::arg(
                "--sample",
                format!("{} is not a file; pass an image", s.display()),
            )
            .into())
        }
        Some(s) => s.clone(),
        None => args::sample_image(&calib)?,
    };
    yoloq_gen::util::outdir::check(&a.out, "--out", a.force)?;
    let fg = fuse::fuse(&model::FloatGraph::load(&a.model)?);
    let q = run::quantize_model(&fg, &calib, a.q.calib_images, a.q.imgsz, &cfg)?;
    run::write_outputs(
        &run::Outputs {
            q: &q,
            fused: &fg,
            sample: &sample,
            sample_imgsz: a.sample_imgsz,
        },
        &a.out,
    )?;
    print_summary(&q);
    println!("wrote {}", a.out.display());
    Ok(())
}

/// Per-layer accumulator proof and formats, as a table.
pub fn print_summary(q: &yoloq_gen::quant::QuantGraph) {
    use yoloq_gen::quant::QOp;
    println!(
        "{:<22} {:>5} {:>6} {:>3} {:>5} {:>10} {:>16} {:>8}",
        "layer", "k", "c_out", "W", "frac", "zero", "worst |acc|", "acc bits"
    );
    for n in &q.nodes {
        if let QOp::Conv(c) = &n.op {
            let f = n.fmt.unwrap();
            println!(
                "{:<22} {:>5} {:>6} {:>3} {:>5} {:>10} {:>16} {:>8}",
                n.name,
                c.weight.shape()[2],
                c.weight.shape()[0],
                c.wbits,
                f.frac,
                f.zero,
                c.acc_bound,
                c.acc_bits
            );
        }
    }
}
