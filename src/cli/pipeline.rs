//! The main job: every stage in order for one bit width and board — import, fuse, validate,
//! calibrate + quantize, validate the integer model next to the float one, then the hardware
//! stages. Stages whose inputs are missing (no dataset, no simulator) say so and are skipped.

use clap::Args;
use std::path::PathBuf;
use yoloq_gen::quant::run as qrun;
use yoloq_gen::util::outdir;
use yoloq_gen::{fuse, model, quant};

#[derive(Args, Debug)]
pub struct PipelineArgs {
    /// Checkpoint (default: ./yolov8n.pt, else the cached or downloaded official yolov8n.pt).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Weight and activation bit width (2..=16).
    #[arg(long, default_value_t = 8)]
    pub bits: u32,
    /// Target board: generic, ice40, ecp5 or xc7.
    #[arg(long, default_value = "ice40")]
    pub board: String,
    /// Calibration images (default: $YOLOQ_DATA_DIR/data/coco128/images).
    #[arg(long)]
    pub calib: Option<PathBuf>,
    /// Validation dataset (default: $YOLOQ_DATA_DIR/data/val2017-79).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Calibration and validation input size.
    #[arg(long, default_value_t = 640)]
    pub imgsz: usize,
    /// Calibration images to use.
    #[arg(long, default_value_t = 64)]
    pub calib_images: usize,
    /// Input size of the generated hardware and its golden vectors (a multiple of 32).
    #[arg(long, default_value_t = 64)]
    pub hw_imgsz: usize,
    /// MAC lanes per convolution layer in the generated hardware.
    #[arg(long, default_value_t = 8)]
    pub parallel: usize,
    /// Also simulate the whole generated network in Verilator (YOLOv8n at 64x64: ~3 minutes).
    #[arg(long)]
    pub sim: bool,
    /// Also synthesize the generated design for the board (Yosys; large designs take long).
    #[arg(long)]
    pub synth: bool,
    /// Output directory for every artifact (new, empty, or written by yoloq-gen before).
    #[arg(long, default_value = "runs/yoloq")]
    pub out: PathBuf,
    /// Write into a non-empty folder that yoloq-gen did not write (only its own files are replaced).
    #[arg(long)]
    pub force: bool,
}

fn shared(rel: &str) -> Option<PathBuf> {
    yoloq_gen::util::data_dir()
        .map(|d| d.join(rel))
        .filter(|p| p.exists())
}

pub fn run(a: PipelineArgs) -> anyhow::Result<()> {
    let cfg = quant::QuantConfig {
        wbits: a.bits,
        abits: a.bits,
        lut_bits: a.bits,
        head_bits: a.bits,
        qnms: true,
        ..Default::default()
    };
    quant::quantize::check_bits(&cfg)?;
    model::check_imgsz("--imgsz", a.imgsz, a.imgsz)?;
    let url = yoloq_gen::import::download::model_url();
    let model_path =
        yoloq_gen::import::download::resolve_model(a.model.as_deref(), &super::cache_dir(), &url)?;
    yoloq_gen::rtl::synth::board(&a.board)?;
    model::check_imgsz("--hw-imgsz", a.hw_imgsz, a.hw_imgsz)?;
    let qdir = a.out.join(format!("quant_w{0}a{0}", a.bits));
    let rtl = a
        .out
        .join(format!("rtl_{0}x{0}_p{1}", a.hw_imgsz, a.parallel));
    // The output-folder rule for the job's folder and each stage's folder, before any work.
    outdir::check(&a.out, "--out", a.force)?;
    for d in [a.out.join("import"), qdir.clone(), a.out.join("val")] {
        outdir::check(&d, "--out", a.force)?;
    }
    outdir::check_design(&rtl, "--out", a.force)?;
    let entries: Vec<String> = [&a.out.join("import"), &qdir, &a.out.join("val"), &rtl]
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(|n| format!("{n}/")))
        .chain(["val.json", "sim.json", "synth.json"].map(String::from))
        .collect();
    outdir::write_marker(&a.out, "yoloq-gen", &entries)?;
    let total = 6;
    println!(
        "[1/{total}] import + BatchNorm fusion: {}",
        model_path.display()
    );
    println!(
        "{}",
        super::import::import_to(&model_path, &a.out.join("import"), a.imgsz)?
    );

    let calib = a.calib.clone().or_else(|| shared("data/coco128/images"));
    let data = a.data.clone().or_else(|| shared("data/val2017-79"));
    println!("[2/{total}] calibrate + quantize W{0}A{0} (pow2, per-channel, integer head, quantized NMS)", a.bits);
    let Some(calib) = calib else {
        println!("  skipped: no calibration images (pass --calib DIR or set YOLOQ_DATA_DIR); later stages need them too");
        return Ok(());
    };
    let fg = fuse::fuse(&model::FloatGraph::load(&model_path)?);
    let q = qrun::quantize_model(&fg, &calib, a.calib_images, a.imgsz, &cfg)?;
    let sample = shared("data/samples/bus.jpg").unwrap_or_else(|| {
        qrun::list_images(&calib)
            .map(|mut v| v.remove(0))
            .unwrap_or_default()
    });
    qrun::write_outputs(
        &qrun::Outputs {
            q: &q,
            fused: &fg,
            sample: &sample,
            sample_imgsz: 160,
        },
        &qdir,
    )?;
    println!("  wrote {}", qdir.display());

    println!("[3/{total}] validate original, fused and quantized on COCO");
    match data {
        Some(d) => {
            let args = super::val::ValArgs {
                model: Some(model_path.clone()),
                quant: vec![qdir.clone()],
                stages: vec!["original".into(), "fused".into()],
                data: d,
                imgsz: a.imgsz,
                conf: 0.001,
                iou: 0.7,
                max_det: 300,
                json: Some(a.out.join("val.json")),
                save_dets: None,
                report: a.out.join("val"),
                strict: false,
                force: a.force,
            };
            super::val::validate(&args)?;
        }
        None => println!("  skipped: no validation dataset (pass --data or set YOLOQ_DATA_DIR)"),
    }
    println!(
        "[4/{total}] emit Verilog, ROM images and testbenches ({0}x{0} input, {1} lanes)",
        a.hw_imgsz, a.parallel
    );
    super::emit::run(super::emit::EmitArgs {
        quant: Some(qdir.clone()),
        synthetic: false,
        imgsz: a.hw_imgsz,
        parallel: a.parallel,
        image: Some(sample.clone()),
        out: rtl.clone(),
        force: a.force,
    })?;
    println!("[5/{total}] simulate (bit-exact against the integer reference model)");
    if a.sim {
        super::sim::run(super::sim::SimArgs {
            dir: rtl.clone(),
            simulator: "verilator".into(),
            layer: None,
            all: true,
            json: Some(a.out.join("sim.json")),
        })?;
    } else {
        println!(
            "  skipped (add --sim): yoloq-gen sim {} --simulator verilator",
            rtl.display()
        );
    }
    println!("[6/{total}] synthesize for {}", a.board);
    if a.synth {
        super::synth::run(super::synth::SynthArgs {
            dir: rtl.clone(),
            board: a.board.clone(),
            no_pnr: false,
            json: Some(a.out.join("synth.json")),
        })?;
    } else {
        println!(
            "  skipped (add --synth): yoloq-gen synth {} --board {}\n  note: the whole YOLOv8n does not fit small boards in the layer-sequential design (docs/hardware.md)",
            rtl.display(),
            a.board
        );
    }
    Ok(())
}
