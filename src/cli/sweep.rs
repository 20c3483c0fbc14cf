//! `yoloq-gen sweep`: calibrate once, then quantize and validate every standard variant
//! (weights 8/6/4 bits, pow2/mult, per-channel/per-tensor, head float/int, qnms on/off,
//! nearest/GPTQ rounding)
//! against the float baseline; write `results.md`, `results.json` and `ap_vs_bits.png`.

use super::args::{self, defaults};
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use yoloq_gen::eval::dataset;
use yoloq_gen::quant::gptq::CalibImages;
use yoloq_gen::quant::sweep::{self, SweepRow};
use yoloq_gen::quant::{quantize, run, CalibMethod};
use yoloq_gen::util::write_atomic_str;
use yoloq_gen::validate::{Stage, ValParams};
use yoloq_gen::{fuse, model, Error};

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Checkpoint (.pt or .safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Calibration images folder, never the validation images (default:
    /// $YOLOQ_DATA_DIR/data/coco128/images).
    #[arg(long)]
    pub calib: Option<PathBuf>,
    /// Validation dataset: COCO json, YOLO .yaml, or a folder (default:
    /// $YOLOQ_DATA_DIR/data/val2017-79).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Input size for calibration and validation.
    #[arg(long, default_value_t = defaults::IMGSZ)]
    pub imgsz: usize,
    /// How many calibration images (first K by name).
    #[arg(long, default_value_t = defaults::CALIB_IMAGES, value_parser = args::at_least_one)]
    pub calib_images: usize,
    /// Clipping-range choice for every variant: max, percentile:P or mse.
    #[arg(long, default_value = "mse", value_parser = super::quantize::parse_method)]
    pub calib_method: CalibMethod,
    /// Output folder for results.md, results.json and ap_vs_bits.png (new, empty, or written
    /// by yoloq-gen before).
    #[arg(long, default_value = "runs/sweep")]
    pub out: PathBuf,
    /// Write into a non-empty folder that yoloq-gen did not write (only its own files are replaced).
    #[arg(long)]
    pub force: bool,
}

#[derive(Serialize)]
struct ResultsJson<'a> {
    command: &'a str,
    calib_images: usize,
    imgsz: usize,
    float: &'a SweepRow,
    variants: &'a [SweepRow],
}

fn command_line(a: &SweepArgs, calib: &std::path::Path, data: &std::path::Path) -> String {
    let method = match a.calib_method {
        CalibMethod::Max => "max".to_string(),
        CalibMethod::Mse => "mse".to_string(),
        CalibMethod::Percentile(p) => format!("percentile:{p}"),
    };
    format!(
        "yoloq-gen sweep --model {} --calib {} --data {} --imgsz {} --calib-images {} --calib-method {method}",
        a.model.display(),
        calib.display(),
        data.display(),
        a.imgsz,
        a.calib_images,
    )
}

pub fn run(a: SweepArgs) -> anyhow::Result<()> {
    model::check_imgsz("--imgsz", a.imgsz, a.imgsz)?;
    args::model_file(&a.model)?;
    yoloq_gen::util::outdir::check(&a.out, "--out", a.force)?;
    let calib = args::calib_dir(a.calib.as_deref())?;
    super::quantize::no_images(&calib)?;
    let data = args::val_data(a.data.as_deref())?;
    let ds = dataset::open_dataset(&data)?;
    if ds.images.is_empty() {
        return Err(Error::data(&data, "the dataset has no images").into());
    }
    let p = ValParams {
        imgsz: a.imgsz,
        conf: defaults::VAL_CONF,
        iou: defaults::IOU,
        max_det: defaults::MAX_DET,
    };
    let variants = sweep::standard_variants(a.calib_method);
    for v in &variants {
        quantize::check_bits(&v.config)?;
    }
    let fg = fuse::fuse(&model::FloatGraph::load(&a.model)?);
    let images = run::calib_images(&calib, a.calib_images)?;
    let stats = run::calibrate_images(&fg, &images, a.imgsz)?;
    let load = |i: usize| run::load_input(&images[i], a.imgsz);
    let im = CalibImages {
        count: images.len(),
        load: &load,
    };
    let fs = sweep::evaluate_stage(&Stage::Float(fg.graph()), &ds, &p, "float")?;
    let float = SweepRow::float(&fs);
    eprintln!("float (fused): AP {:.4} AP50 {:.4}", float.ap, float.ap50);
    let pb = yoloq_gen::progress::bar(variants.len() as u64, "variants");
    let rows = sweep::run_variants(&fg, &stats, Some(im), &ds, &p, &variants, float.ap, |r| {
        pb.suspend(|| eprintln!("{}: AP {:.4} AP50 {:.4}", r.name, r.ap, r.ap50));
        pb.inc(1);
    })?;
    pb.finish_and_clear();
    let all: Vec<SweepRow> = std::iter::once(float.clone()).chain(rows.clone()).collect();
    let table = sweep::markdown_table(&all);
    println!("{table}");
    let cmd = command_line(&a, &calib, &data);
    let staging = yoloq_gen::util::outdir::Staging::begin(&a.out, "sweep")?;
    let t = staging.path();
    let md = format!(
        "# Quantization sweep\n\n`{cmd}`\n\nValidation: {} images at {}, conf {}, iou {}, max_det {}; \
         calibration on the first {} images of the calibration set.\n\n{table}",
        ds.images.len(),
        a.imgsz,
        p.conf,
        p.iou,
        p.max_det,
        a.calib_images
    );
    write_atomic_str(&t.join("results.md"), &md)?;
    let json = ResultsJson {
        command: &cmd,
        calib_images: a.calib_images,
        imgsz: a.imgsz,
        float: &float,
        variants: &rows,
    };
    write_atomic_str(
        &t.join("results.json"),
        &(serde_json::to_string_pretty(&json)? + "\n"),
    )?;
    sweep::plot_ap_vs_bits(&t.join("ap_vs_bits.png"), &rows, float.ap)?;
    staging.commit()?;
    eprintln!(
        "wrote {0}/results.md, {0}/results.json, {0}/ap_vs_bits.png",
        a.out.display()
    );
    Ok(())
}
