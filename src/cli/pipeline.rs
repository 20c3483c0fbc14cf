//! The main job: every stage in order for one bit width and board — import, fuse, validate,
//! calibrate + quantize, validate the integer model next to the float one, then the hardware
//! stages. Every argument, input and output folder is checked before the first stage starts;
//! the stages are the library calls the subcommands make, with the same defaults
//! (`args::defaults`).

use super::args::{self, defaults, Board, SimulatorArg};
use super::quantize::QuantArgs;
use clap::Args;
use std::path::{Path, PathBuf};
use yoloq_gen::quant::run as qrun;
use yoloq_gen::util::outdir;
use yoloq_gen::{fuse, image_io, model, preprocess, rtl, Error};

#[derive(Args, Debug)]
pub struct PipelineArgs {
    /// Checkpoint (default: ./yolov8n.pt, else the cached or downloaded official yolov8n.pt).
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub q: QuantArgs,
    /// Validation dataset (default: $YOLOQ_DATA_DIR/data/val2017-79).
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, default_value = defaults::BOARD, value_parser = args::board, help = args::board_help())]
    pub board: Board,
    /// Input size of the generated hardware and its golden vectors (a multiple of 32; default:
    /// 128 on a folded board such as ice40, the size its bitstream is documented at; 64 for the
    /// layer-sequential engine).
    #[arg(long)]
    pub hw_imgsz: Option<usize>,
    /// MAC lanes per convolution layer of the layer-sequential engine (1 to 64; the folded
    /// engine's lanes come from the board).
    #[arg(long, default_value_t = defaults::PARALLEL, value_parser = args::at_least_one)]
    pub parallel: usize,
    /// Also simulate the whole generated network (Verilator: about a minute for the folded
    /// YOLOv8n at 128x128, with the host program on the simulated board).
    #[arg(long)]
    pub sim: bool,
    /// Simulator for --sim.
    #[arg(long, value_enum, default_value_t = SimulatorArg::Verilator)]
    pub simulator: SimulatorArg,
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

/// An external tool that a requested stage needs, checked before any work.
fn need_tool(tool: &str, flag: &str) -> anyhow::Result<()> {
    if which::which(tool).is_err() {
        return Err(Error::arg(
            flag,
            format!("needs `{tool}` on PATH; install it (bash .ci/run installs the toolchain) or drop {flag}"),
        )
        .into());
    }
    Ok(())
}

pub fn run(a: PipelineArgs) -> anyhow::Result<()> {
    // Everything up front: arguments, inputs, tools, output folders.
    let (cfg, calib) = a.q.check()?;
    let b = rtl::synth::board(&a.board.0)?;
    hardware_takes(&cfg, b.arch, &b.name)?;
    if b.arch == rtl::Arch::Layerseq && a.parallel > MAX_LANES {
        return Err(Error::arg(
            "--parallel",
            format!(
                "{} MAC lanes is more than the layer-sequential engine takes; use 1 to {MAX_LANES}",
                a.parallel
            ),
        )
        .into());
    }
    let data = args::val_data(a.data.as_deref())?;
    let ds = yoloq_gen::eval::dataset::open_dataset(&data)?;
    if ds.images.is_empty() {
        return Err(Error::data(&data, "the dataset has no images").into());
    }
    let hw_imgsz = a.hw_imgsz.unwrap_or(match b.arch {
        rtl::Arch::Folded => defaults::FOLDED_HW_IMGSZ,
        rtl::Arch::Layerseq => defaults::HW_IMGSZ,
    });
    model::check_imgsz("--hw-imgsz", hw_imgsz, hw_imgsz)?;
    if a.sim {
        need_tool(a.simulator.name(), "--sim")?;
    }
    if a.synth {
        need_tool("yosys", "--synth")?;
    }
    let sample = args::sample_image(&calib)?;
    let import_dir = a.out.join("import");
    let qdir = a.out.join(format!("quant_w{}a{}", cfg.wbits, cfg.abits));
    let val_dir = a.out.join("val");
    let rtl_dir = a.out.join(match b.arch {
        rtl::Arch::Folded => format!("rtl_{0}x{0}_folded", hw_imgsz),
        rtl::Arch::Layerseq => format!("rtl_{0}x{0}_p{1}", hw_imgsz, a.parallel),
    });
    outdir::check(&a.out, "--out", a.force)?;
    for d in [&import_dir, &qdir, &val_dir] {
        outdir::check(d, "--out", a.force)?;
    }
    outdir::check_design(&rtl_dir, "--out", a.force)?;
    let url = yoloq_gen::import::download::model_url();
    let model_path =
        yoloq_gen::import::download::resolve_model(a.model.as_deref(), &super::cache_dir(), &url)?;
    let entries: Vec<String> = [&import_dir, &qdir, &val_dir, &rtl_dir]
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
        super::import::import_to(&model_path, &import_dir, a.q.imgsz)?
    );

    println!(
        "[2/{total}] calibrate + quantize W{}A{} ({:?} scales, {:?}, {:?} rounding, {:?} head at {} bits, quantized NMS {})",
        cfg.wbits,
        cfg.abits,
        cfg.scale,
        cfg.granularity,
        cfg.rounding,
        cfg.head,
        cfg.head_bits,
        if cfg.qnms { "on" } else { "off" }
    );
    let fg = fuse::fuse(&model::FloatGraph::load(&model_path)?);
    let q = qrun::quantize_model(&fg, &calib, a.q.calib_images, a.q.imgsz, &cfg)?;
    qrun::write_outputs(
        &qrun::Outputs {
            q: &q,
            fused: &fg,
            sample: &sample,
            sample_imgsz: defaults::SAMPLE_IMGSZ,
        },
        &qdir,
    )?;
    println!("  wrote {}", qdir.display());

    println!(
        "[3/{total}] validate original, fused and quantized on {}",
        data.display()
    );
    let outcome = super::val::validate(&super::val::ValArgs {
        model: Some(model_path.clone()),
        quant: vec![qdir.clone()],
        stages: vec!["original".into(), "fused".into()],
        data: Some(data.clone()),
        imgsz: a.q.imgsz,
        conf: defaults::VAL_CONF,
        iou: defaults::IOU,
        max_det: defaults::MAX_DET,
        json: Some(a.out.join("val.json")),
        save_dets: None,
        report: val_dir,
        strict: false,
        force: a.force,
        classes: false,
    })?;
    warn_collapse(&outcome.rows, &cfg);

    println!(
        "[4/{total}] emit Verilog, ROM images and testbenches ({0}x{0} input, {1} architecture)",
        hw_imgsz,
        match b.arch {
            rtl::Arch::Folded => "folded",
            rtl::Arch::Layerseq => "layer-sequential",
        }
    );
    emit(&q, b.arch, &sample, hw_imgsz, a.parallel, &rtl_dir)?;

    println!("[5/{total}] simulate (bit-exact against the integer reference model)");
    if a.sim {
        super::sim::run(super::sim::SimArgs {
            dir: rtl_dir.clone(),
            simulator: a.simulator,
            layer: None,
            all: true,
            json: Some(a.out.join("sim.json")),
        })?;
        if b.arch == rtl::Arch::Folded {
            // the host program on the simulated board: what a user with the board would run
            println!("  the host program against the simulated board (UART, flash model):");
            super::board::run(super::board::BoardCmd {
                cmd: super::board::BoardSub::Run(super::board::RunArgs {
                    design: rtl_dir.clone(),
                    port: "sim".into(),
                    save: None,
                    force: false,
                    images: vec![sample.clone()],
                }),
            })?;
        }
    } else {
        println!(
            "  not asked for (add --sim): yoloq-gen sim {} --simulator {}",
            rtl_dir.display(),
            a.simulator.name()
        );
    }
    println!("[6/{total}] synthesize for {}", b.name);
    if a.synth {
        super::synth::run(super::synth::SynthArgs {
            dir: rtl_dir.clone(),
            board: a.board.clone(),
            no_pnr: false,
            json: Some(a.out.join("synth.json")),
        })?;
    } else {
        println!(
            "  not asked for (add --synth, ~8 minutes on ice40): yoloq-gen synth {} --board {}",
            rtl_dir.display(),
            a.board.0
        );
    }
    Ok(())
}

/// The widths the generated hardware can take, checked before any work (the emit stage
/// would refuse them only after import, calibration and validation).
fn hardware_takes(
    cfg: &yoloq_gen::quant::QuantConfig,
    arch: rtl::Arch,
    board: &str,
) -> anyhow::Result<()> {
    let head_int = cfg.head == yoloq_gen::quant::HeadMode::Int;
    if !head_int {
        return Err(Error::arg(
            "--head",
            "the generated hardware runs the integer head; use --head int (the default), or `yoloq-gen quantize --head float` and `val` for a float head without hardware",
        )
        .into());
    }
    // The activation memory word is the widest tensor format: activations or head logits.
    let widest = cfg.abits.max(cfg.head_bits);
    if arch == rtl::Arch::Folded && widest > 8 {
        let flag = if cfg.abits > 8 {
            "--abits"
        } else {
            "--head-bits"
        };
        return Err(Error::arg(
            flag,
            format!(
                "the {board} board's folded engine stores 8-bit codes, this asks for {widest}-bit tensors; use --bits 8 or lower (and --head-bits 8), or a board with the layer-sequential engine (--board generic)"
            ),
        )
        .into());
    }
    if cfg.qnms && widest < 8 {
        return Err(Error::arg(
            "--head-bits",
            format!(
                "the hardware NMS stage reads 8-bit head records, --head-bits {} is too narrow; use --head-bits 8 (the default under --qnms) or --no-qnms",
                cfg.head_bits
            ),
        )
        .into());
    }
    Ok(())
}

/// MAC lanes per convolution the layer-sequential engine takes (`rtl::layerseq::lower`).
const MAX_LANES: usize = 64;

/// Below this share of the float model's AP the quantized model is called collapsed.
const COLLAPSE_SHARE: f64 = 0.5;

/// A loud warning when the chosen widths lose most of the float model's accuracy.
fn warn_collapse(
    rows: &[(String, yoloq_gen::eval::cocoeval::EvalResult)],
    cfg: &yoloq_gen::quant::QuantConfig,
) {
    let ap = |name: &str| {
        rows.iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.stats[0])
    };
    let Some(float_ap) = ap("fused") else { return };
    let qname = format!("quant_w{}a{}", cfg.wbits, cfg.abits);
    let Some(q_ap) = ap(&qname) else { return };
    if float_ap > 0.0 && q_ap < COLLAPSE_SHARE * float_ap {
        eprintln!(
            "\nWARNING: W{}A{} collapses accuracy: AP {q_ap:.4} against {float_ap:.4} in float ({:.0} % kept); the design is built, but for a usable detector widen --bits (or --wbits/--abits) to 6 or more; --keep8 first,head keeps the first and head weights at 8 bits\n",
            cfg.wbits,
            cfg.abits,
            100.0 * q_ap / float_ap
        );
    }
}

/// The emit stage as a library call (what `yoloq-gen emit --quant DIR --image IMG` does).
fn emit(
    q: &yoloq_gen::quant::QuantGraph,
    arch: rtl::Arch,
    sample: &Path,
    imgsz: usize,
    parallel: usize,
    out: &Path,
) -> anyhow::Result<()> {
    let img = image_io::load_rgb(sample)?;
    let x = preprocess::letterbox(&img, (imgsz, imgsz), false, 32).tensor;
    // The board names its architecture (iCE40: folded, weights from flash).
    let m = rtl::generate(q, arch, imgsz, parallel, &x, out)?;
    println!(
        "  wrote {}: {} layers, {} cycles per frame predicted",
        out.display(),
        m.layers.len(),
        m.frame_cycles
    );
    Ok(())
}
