//! The main job: every stage in order for one bit width and board — import, fuse, validate,
//! calibrate + quantize, validate the integer model next to the float one, then the hardware
//! stages. Every argument, input and output folder is checked before the first stage starts.
//! Each stage is the library call its subcommand makes, with that subcommand's option struct;
//! [`stage_options`] is the one place where the main job sets an option from its own flags,
//! every other option keeps the subcommand's default, and the tests below check that a stage
//! re-run by hand with the command the job prints gets the same options.

use super::args::{self, defaults, BoardOpt};
use super::emit::EmitOpts;
use super::quantize::QuantArgs;
use super::sim::SimOpts;
use super::synth::SynthOpts;
use super::val::{ValIo, ValOpts};
use clap::Args;
use std::path::{Path, PathBuf};
use yoloq_gen::quant::run as qrun;
use yoloq_gen::quant::QuantConfig;
use yoloq_gen::util::outdir;
use yoloq_gen::{fuse, model, rtl, Error};

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
    #[command(flatten)]
    pub board: BoardOpt,
    /// Input size of the generated hardware and its golden vectors (a multiple of 32; default:
    /// 128 on a folded board such as ice40, the size its bitstream is documented at; 64 for the
    /// layer-sequential engine; `emit --imgsz`).
    #[arg(long)]
    pub hw_imgsz: Option<usize>,
    /// MAC lanes per convolution layer of the layer-sequential engine (1 to 64; the folded
    /// engine's lanes come from the board; `emit --parallel`).
    #[arg(long, default_value_t = defaults::PARALLEL, value_parser = args::at_least_one)]
    pub parallel: usize,
    /// Also simulate the whole generated network (Verilator: about a minute for the folded
    /// YOLOv8n at 128x128, with the host program on the simulated board).
    #[arg(long)]
    pub sim: bool,
    #[command(flatten)]
    pub sim_opts: SimOpts,
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

/// The options of every stage of the main job.
#[derive(Debug, Clone, PartialEq)]
pub struct StageOptions {
    /// `import --imgsz` (shapes and MACs in architecture.yaml).
    pub import_imgsz: usize,
    /// `quantize`'s configuration and `--imgsz`, `--calib-images`, `--sample-imgsz`.
    pub quant: QuantConfig,
    pub calib_imgsz: usize,
    pub calib_images: usize,
    pub sample_imgsz: usize,
    pub val: ValOpts,
    pub emit: EmitOpts,
    pub sim: SimOpts,
    pub synth: SynthOpts,
}

/// What the main job's flags change in each stage's options; everything else is the
/// subcommand's default. `arch` is the board's architecture.
pub fn stage_options(a: &PipelineArgs, arch: rtl::Arch) -> StageOptions {
    StageOptions {
        import_imgsz: a.q.imgsz,
        quant: a.q.config(),
        calib_imgsz: a.q.imgsz,
        calib_images: a.q.calib_images,
        sample_imgsz: defaults::SAMPLE_IMGSZ,
        val: ValOpts {
            imgsz: a.q.imgsz,
            ..ValOpts::default()
        },
        emit: EmitOpts {
            arch,
            imgsz: a.hw_imgsz,
            parallel: a.parallel,
            ..EmitOpts::default()
        },
        sim: a.sim_opts.clone(),
        synth: SynthOpts {
            board: a.board.clone(),
            ..SynthOpts::default()
        },
    }
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

/// `yoloq-gen <words>` with the paths quoted where they need it: the command that runs a
/// stage by hand.
fn command(words: &[String]) -> String {
    let q = |w: &String| {
        if w.is_empty() || w.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
            format!("'{}'", w.replace('\'', "'\\''"))
        } else {
            w.clone()
        }
    };
    let mut v = vec!["yoloq-gen".to_string()];
    v.extend(words.iter().map(q));
    v.join(" ")
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

pub fn run(a: PipelineArgs) -> anyhow::Result<()> {
    // Everything up front: arguments, inputs, tools, output folders.
    let (cfg, calib) = a.q.check()?;
    let b = rtl::synth::board(&a.board.board.0)?;
    hardware_takes(&cfg, b.arch, &b.name)?;
    let o = stage_options(&a, b.arch);
    o.emit.check("--hw-imgsz")?;
    let data = args::val_data(a.data.as_deref())?;
    let ds = yoloq_gen::eval::dataset::open_dataset(&data)?;
    if ds.images.is_empty() {
        return Err(Error::data(&data, "the dataset has no images").into());
    }
    if a.sim {
        need_tool(o.sim.simulator.name(), "--sim")?;
    }
    if a.synth {
        need_tool("yosys", "--synth")?;
    }
    let sample = args::sample_image(&calib)?;
    let hw_imgsz = o.emit.size();
    let import_dir = a.out.join("import");
    let qdir = a.out.join(format!("quant_w{}a{}", cfg.wbits, cfg.abits));
    let val_dir = a.out.join("val");
    let rtl_dir = a.out.join(match b.arch {
        rtl::Arch::Folded => format!("rtl_{0}x{0}_folded", hw_imgsz),
        rtl::Arch::Layerseq => format!("rtl_{0}x{0}_p{1}", hw_imgsz, o.emit.parallel),
    });
    outdir::check(&a.out, "--out", a.force)?;
    for d in [&import_dir, &qdir, &val_dir] {
        outdir::check(d, "--out", a.force)?;
    }
    outdir::check_design(&rtl_dir, "--out", a.force)?;
    let url = yoloq_gen::import::download::model_url();
    let model_path =
        yoloq_gen::import::download::resolve_model(a.model.as_deref(), &super::cache_dir(), &url)?;
    if a.synth && b.arch == rtl::Arch::Layerseq {
        // One engine per convolution, each with its lanes' multipliers and its weights in ROM:
        // a board with too few DSPs or too little memory is refused before any stage (the
        // head's convolutions only add to these bounds).
        let g = model::FloatGraph::load(&model_path)?;
        let convs: Vec<_> = g
            .graph()
            .nodes
            .iter()
            .filter_map(|n| match &n.op {
                yoloq_gen::graph::Op::Conv(c) => Some(c.weight.len() as u64),
                _ => None,
            })
            .collect();
        let weight_bits = convs.iter().sum::<u64>() * u64::from(cfg.wbits);
        rtl::synth::estimate::check_layerseq(convs.len(), o.emit.parallel, weight_bits, &b)?;
    }
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
        super::import::import_to(&model_path, &import_dir, o.import_imgsz)?
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
    let q = qrun::quantize_model(&fg, &calib, o.calib_images, o.calib_imgsz, &o.quant)?;
    qrun::write_outputs(
        &qrun::Outputs {
            q: &q,
            fused: &fg,
            sample: &sample,
            sample_imgsz: o.sample_imgsz,
        },
        &qdir,
    )?;
    println!("  wrote {}", qdir.display());

    println!(
        "[3/{total}] validate original, fused and quantized on {}",
        data.display()
    );
    let val_io = ValIo {
        model: Some(model_path.clone()),
        quant: vec![qdir.clone()],
        stages: vec!["original".into(), "fused".into()],
        data: Some(data.clone()),
        json: Some(a.out.join("val.json")),
        save_dets: None,
        report: val_dir.clone(),
        force: a.force,
    };
    let outcome = super::val::validate(&val_io, &o.val)?;
    let mut val_cmd = vec!["val".into(), "--model".into(), p(&model_path)];
    val_cmd.extend(["--quant".into(), p(&qdir), "--data".into(), p(&data)]);
    val_cmd.extend(o.val.flags());
    val_cmd.extend(["--report".into(), p(&val_dir)]);
    println!("  by hand: {}", command(&val_cmd));
    warn_collapse(&outcome.rows, &cfg);

    println!(
        "[4/{total}] emit Verilog, ROM images and testbenches ({0}x{0} input, {1} architecture)",
        hw_imgsz,
        match b.arch {
            rtl::Arch::Folded => "folded",
            rtl::Arch::Layerseq => "layer-sequential",
        }
    );
    print!("  ");
    super::emit::emit_design(&q, &o.emit, Some(&sample), &rtl_dir)?;
    let mut emit_cmd = vec!["emit".into(), "--quant".into(), p(&qdir)];
    emit_cmd.extend(o.emit.flags());
    emit_cmd.extend(["--image".into(), p(&sample), "--out".into(), p(&rtl_dir)]);
    println!("  by hand: {}", command(&emit_cmd));
    if a.synth && !o.synth.no_estimate {
        // The design exists now: its resource estimate, before simulation and Yosys.
        rtl::synth::estimate::check(&rtl_dir, &b)?;
    }

    let mut sim_cmd = vec!["sim".into(), p(&rtl_dir)];
    sim_cmd.extend(o.sim.flags());
    println!("[5/{total}] simulate (bit-exact against the integer reference model)");
    if a.sim {
        super::sim::simulate_design(&rtl_dir, &o.sim, None, Some(&a.out.join("sim.json")))?;
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
        println!("  not asked for (add --sim): {}", command(&sim_cmd));
    }
    let mut synth_cmd = vec!["synth".into(), p(&rtl_dir)];
    synth_cmd.extend(o.synth.flags());
    println!("[6/{total}] synthesize for {}", b.name);
    if a.synth {
        super::synth::synthesize_design(&rtl_dir, &o.synth, Some(&a.out.join("synth.json")))?;
    } else {
        println!(
            "  not asked for (add --synth, ~8 minutes on ice40): {}",
            command(&synth_cmd)
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

#[cfg(test)]
mod tests {
    use super::super::{Cli, Cmd};
    use super::*;
    use clap::Parser;

    fn parse(words: &[&str]) -> Cli {
        let argv = std::iter::once("yoloq-gen").chain(words.iter().copied());
        Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{words:?}: {e}"))
    }

    fn sub(words: &[&str]) -> Cmd {
        parse(words).cmd.expect("a subcommand")
    }

    fn main_job(words: &[&str]) -> (PipelineArgs, StageOptions) {
        let c = parse(words);
        assert!(c.cmd.is_none());
        let arch = rtl::synth::board(&c.main.board.board.0).unwrap().arch;
        let o = stage_options(&c.main, arch);
        (c.main, o)
    }

    /// Every stage of the main job without flags runs with the options its subcommand has
    /// without flags (the emit stage with the default board's architecture): a stage re-run by
    /// hand builds the same thing.
    #[test]
    fn main_job_stages_have_the_subcommands_defaults() {
        let (m, o) = main_job(&[]);
        let Cmd::Quantize(qc) = sub(&["quantize", "--model", "m.pt", "--out", "q"]) else {
            unreachable!()
        };
        assert_eq!(qc.q.config(), o.quant);
        assert_eq!(o.quant, QuantConfig::default());
        assert!(o.quant.qnms);
        assert_eq!(
            (qc.q.imgsz, qc.q.calib_images, qc.sample_imgsz),
            (o.calib_imgsz, o.calib_images, o.sample_imgsz)
        );
        // Data paths: neither given, so both go through args::calib_dir / val_data.
        assert_eq!((&qc.q.calib, qc.sample.as_ref()), (&m.q.calib, None));
        let Cmd::Import(i) = sub(&["import", "--model", "m.pt", "--out", "i"]) else {
            unreachable!()
        };
        assert_eq!(i.imgsz, o.import_imgsz);
        let Cmd::Val(v) = sub(&["val", "--model", "m.pt"]) else {
            unreachable!()
        };
        assert_eq!(v.opts, o.val);
        assert_eq!(v.io.data, m.data);
        // The default board (ice40) is folded; emit's own default architecture is the
        // layer-sequential one, which the generic board takes.
        assert_eq!(o.emit.arch, rtl::Arch::Folded);
        let Cmd::Emit(e) = sub(&["emit", "--synthetic", "--arch", "folded", "--out", "d"]) else {
            unreachable!()
        };
        assert_eq!(e.opts, o.emit);
        assert_eq!(e.opts.size(), defaults::FOLDED_HW_IMGSZ);
        let (_, generic) = main_job(&["--board", "generic"]);
        let Cmd::Emit(e) = sub(&["emit", "--synthetic", "--out", "d"]) else {
            unreachable!()
        };
        assert_eq!(e.opts, generic.emit);
        assert_eq!(e.opts.size(), defaults::HW_IMGSZ);
        let Cmd::Sim(s) = sub(&["sim", "d"]) else {
            unreachable!()
        };
        assert_eq!(s.opts, o.sim);
        let Cmd::Synth(s) = sub(&["synth", "d"]) else {
            unreachable!()
        };
        assert_eq!(s.opts, o.synth);
        assert_eq!(s.opts.board.board.0, defaults::BOARD);
        // The option structs' Default is the flags' defaults.
        assert_eq!(
            (ValOpts::default(), SimOpts::default(), SynthOpts::default()),
            (o.val.clone(), o.sim.clone(), o.synth.clone())
        );
    }

    /// The commands the main job prints for re-running a stage by hand parse into the options
    /// the stage ran with, for the defaults and for every main-job flag that reaches a stage.
    #[test]
    fn by_hand_commands_give_the_stage_options() {
        let changed: &[&str] = &[
            "--board",
            "generic",
            "--parallel",
            "4",
            "--hw-imgsz",
            "96",
            "--simulator",
            "icarus",
            "--imgsz",
            "320",
        ];
        for words in [&[][..], changed] {
            let (_, o) = main_job(words);
            let with = |head: &[&str], flags: Vec<String>| -> Cmd {
                let mut v: Vec<&str> = head.to_vec();
                v.extend(flags.iter().map(String::as_str));
                sub(&v)
            };
            let Cmd::Emit(e) = with(&["emit", "--synthetic", "--out", "d"], o.emit.flags()) else {
                unreachable!()
            };
            assert_eq!(
                (e.opts.arch, e.opts.size(), e.opts.parallel),
                (o.emit.arch, o.emit.size(), o.emit.parallel),
                "{words:?}"
            );
            let Cmd::Val(v) = with(&["val", "--model", "m.pt"], o.val.flags()) else {
                unreachable!()
            };
            assert_eq!(v.opts, o.val, "{words:?}");
            let Cmd::Sim(s) = with(&["sim", "d"], o.sim.flags()) else {
                unreachable!()
            };
            assert_eq!(s.opts, o.sim, "{words:?}");
            let Cmd::Synth(s) = with(&["synth", "d"], o.synth.flags()) else {
                unreachable!()
            };
            assert_eq!(s.opts, o.synth, "{words:?}");
        }
        let (_, o) = main_job(changed);
        assert_eq!((o.emit.size(), o.emit.parallel, o.val.imgsz), (96, 4, 320));
    }

    #[test]
    fn by_hand_commands_quote_what_the_shell_would_split() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            command(&w(&["sim", "runs/a b", "it's", "--x=1"])),
            "yoloq-gen sim 'runs/a b' 'it'\\''s' --x=1"
        );
    }
}
