//! `yoloq-gen val` (stages side by side on a dataset) and `yoloq-gen coco-eval` (the evaluator alone).

use super::args::{self, defaults};
use clap::Args;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use yoloq_gen::eval::{coco_json, cocoeval, dataset, plot, report};
use yoloq_gen::util::outdir;
use yoloq_gen::validate::{run_stage, Stage, ValParams};
use yoloq_gen::{fuse, model, quant, Error};

#[derive(Args, Debug)]
pub struct ValArgs {
    #[command(flatten)]
    pub io: ValIo,
    #[command(flatten)]
    pub opts: ValOpts,
}

/// What `val` reads and writes.
#[derive(Args, Debug, Clone)]
pub struct ValIo {
    /// Float checkpoint: adds the stages `original` (as loaded) and `fused` (BN folded).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Quantized model directory from `yoloq-gen quantize` (repeatable); adds one stage each.
    #[arg(long)]
    pub quant: Vec<PathBuf>,
    /// Which float stages to run.
    #[arg(long, value_delimiter = ',', default_value = "original,fused")]
    pub stages: Vec<String>,
    /// Dataset: COCO json, YOLO .yaml, or a folder (annotations/*.json or images/ + labels/);
    /// default: $YOLOQ_DATA_DIR/data/val2017-79.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Write the 12 numbers per stage as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write each stage's detections in COCO results format (`FILE` for one stage, `FILE.<stage>.json` for several).
    #[arg(long)]
    pub save_dets: Option<PathBuf>,
    /// Folder for the report (table, per-class AP, PR curves and AP bars as PNG); new, empty,
    /// or written by yoloq-gen before.
    #[arg(long, default_value = "runs/val")]
    pub report: PathBuf,
    /// Write the report into a non-empty folder that yoloq-gen did not write (only its own
    /// files are replaced).
    #[arg(long)]
    pub force: bool,
}

/// How a stage is scored: the options of `val` and of the main job's validation stage, with
/// their defaults defined once (the flags' defaults; [`Default`] parses them).
#[derive(Args, Debug, Clone, PartialEq)]
pub struct ValOpts {
    /// Inference size (long side), a multiple of 32.
    #[arg(long, default_value_t = defaults::IMGSZ)]
    pub imgsz: usize,
    /// Score threshold (0..1).
    #[arg(long, default_value_t = defaults::VAL_CONF, value_parser = args::score)]
    pub conf: f32,
    /// NMS IoU threshold (above 0, at most 1).
    #[arg(long, default_value_t = defaults::IOU, value_parser = args::iou)]
    pub iou: f32,
    /// Detections kept per image (at least 1).
    #[arg(long, default_value_t = defaults::MAX_DET, value_parser = args::at_least_one)]
    pub max_det: usize,
    /// Fail on the first unreadable image instead of listing and skipping it.
    #[arg(long)]
    pub strict: bool,
    /// Also print the per-class AP table (it is always in the report).
    #[arg(long)]
    pub classes: bool,
}

impl Default for ValOpts {
    fn default() -> Self {
        args::clap_defaults()
    }
}

impl ValOpts {
    /// The flags that give these options to `yoloq-gen val`.
    pub fn flags(&self) -> Vec<String> {
        let mut v = vec![
            format!("--imgsz={}", self.imgsz),
            format!("--conf={}", self.conf),
            format!("--iou={}", self.iou),
            format!("--max-det={}", self.max_det),
        ];
        v.extend(self.strict.then(|| "--strict".to_string()));
        v.extend(self.classes.then(|| "--classes".to_string()));
        v
    }
}

/// The result of `val`: per stage, its name and evaluation.
#[allow(dead_code)] // rows are for callers that post-process results
pub struct ValOutcome {
    pub rows: Vec<(String, cocoeval::EvalResult)>,
}

pub fn run(a: ValArgs) -> anyhow::Result<()> {
    validate(&a.io, &a.opts).map(|_| ())
}

/// The validation stage: every stage of `a` scored on its dataset with `o`, the report
/// written (the library call behind `val` and the main job's validation).
pub fn validate(a: &ValIo, o: &ValOpts) -> anyhow::Result<ValOutcome> {
    model::check_imgsz("--imgsz", o.imgsz, o.imgsz)?;
    outdir::check(&a.report, "--report", a.force)?;
    if a.model.is_none() && a.quant.is_empty() {
        return Err(Error::arg(
            "--model/--quant",
            "nothing to validate; pass --model M and/or --quant DIR",
        )
        .into());
    }
    if a.model.is_some() {
        for s in &a.stages {
            if !["original", "fused"].contains(&s.as_str()) {
                return Err(Error::arg(
                    "--stages",
                    format!("unknown stage `{s}`; use original and/or fused"),
                )
                .into());
            }
        }
    }
    for (flag, p) in a
        .model
        .iter()
        .map(|m| ("--model", m))
        .chain(a.quant.iter().map(|q| ("--quant", q)))
    {
        if !p.exists() {
            return Err(Error::arg(flag, format!("{} does not exist", p.display())).into());
        }
    }
    let data = args::val_data(a.data.as_deref())?;
    let ds = dataset::open_dataset(&data)?;
    if ds.images.is_empty() {
        return Err(Error::data(&data, "the dataset has no images").into());
    }
    let p = ValParams {
        imgsz: o.imgsz,
        conf: o.conf,
        iou: o.iou,
        max_det: o.max_det,
    };
    let mut rows = Vec::new();
    let mut skipped: Vec<PathBuf> = Vec::new();
    let mut eval = |name: String, stage: Stage| -> anyhow::Result<()> {
        let run = run_stage(&stage, &ds, &p, &name, o.strict)?;
        for (path, e) in &run.bad_images {
            if !skipped.contains(path) {
                eprintln!("warning: skipped unreadable image {}: {e}", path.display());
                skipped.push(path.clone());
            }
        }
        // A skipped image leaves the evaluation with its ground truth.
        let bad: std::collections::HashSet<u64> = ds
            .images
            .iter()
            .filter(|im| run.bad_images.iter().any(|(p, _)| *p == im.path))
            .map(|im| im.id)
            .collect();
        let gt = ds.gt.without_images(&bad);
        if let Some(f) = &a.save_dets {
            coco_json::save_dets(
                &stage_file(
                    f,
                    &name,
                    a.model.is_some() as usize * a.stages.len() + a.quant.len(),
                ),
                &run.dets,
            )?;
        }
        let r = cocoeval::evaluate(&gt, &run.dets);
        eprintln!(
            "{name}: AP {:.4} AP50 {:.4} ({} detections on {} images{})",
            r.stats[0],
            r.stats[1],
            run.dets.len(),
            gt.images.len(),
            skipped_note(bad.len())
        );
        rows.push((name, r));
        Ok(())
    };
    if let Some(m) = &a.model {
        let fg = model::FloatGraph::load(m)?;
        for s in &a.stages {
            match s.as_str() {
                "original" => eval("original".into(), Stage::Float(fg.graph()))?,
                "fused" => {
                    let f = fuse::fuse(&fg);
                    eval("fused".into(), Stage::Float(f.graph()))?
                }
                other => {
                    return Err(Error::arg(
                        "--stages",
                        format!("unknown stage `{other}`; use original and/or fused"),
                    )
                    .into())
                }
            }
        }
    }
    for d in &a.quant {
        let q = quant::store::load(d)?;
        let name = d
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("quant")
            .to_string();
        eval(name, Stage::Quant(&q))?;
    }
    let n_skipped = skipped.len();
    write_report(&rows, &ds, &data, n_skipped, a, o)?;
    Ok(ValOutcome { rows })
}

/// `"; N unreadable images skipped, their ground truth left out"`, or nothing.
fn skipped_note(n: usize) -> String {
    match n {
        0 => String::new(),
        n => format!("; {n} unreadable image(s) skipped, their ground truth left out"),
    }
}

fn stage_file(f: &Path, stage: &str, n_stages: usize) -> PathBuf {
    if n_stages <= 1 {
        f.to_path_buf()
    } else {
        f.with_extension(format!("{stage}.json"))
    }
}

fn write_report(
    rows: &[(String, cocoeval::EvalResult)],
    ds: &dataset::Dataset,
    data: &Path,
    skipped: usize,
    a: &ValIo,
    o: &ValOpts,
) -> anyhow::Result<()> {
    let stats: Vec<(String, [f64; 12])> = rows.iter().map(|(n, r)| (n.clone(), r.stats)).collect();
    let table = report::format_stats_table(&stats);
    println!("{table}");
    let (last_name, last) = rows.last().expect("at least one stage");
    if o.classes {
        println!(
            "per-class AP ({last_name}):\n{}",
            report::format_class_table(&last.per_category)
        );
    }
    if let Some(j) = &a.json {
        let m: BTreeMap<&str, report::StatsJson> = stats
            .iter()
            .map(|(n, s)| (n.as_str(), report::StatsJson::from(*s)))
            .collect();
        yoloq_gen::util::write_atomic_str(j, &serde_json::to_string_pretty(&m)?)?;
    }
    let dir = &a.report;
    let staging = outdir::Staging::begin(dir, "val")?;
    let t = staging.path();
    let md = format!(
        "# Validation report\n\ndataset: {} ({} images{}), imgsz {}, conf {}, iou {}, max_det {}\n\n```\n{table}\n```\n\nper-class AP ({last_name}):\n\n```\n{}\n```\n",
        data.display(),
        ds.images.len(),
        skipped_note(skipped),
        o.imgsz,
        o.conf,
        o.iou,
        o.max_det,
        report::format_class_table(&last.per_category)
    );
    yoloq_gen::util::write_atomic_str(&t.join("report.md"), &md)?;
    let series: Vec<(&str, &cocoeval::EvalResult)> =
        rows.iter().map(|(n, r)| (n.as_str(), r)).collect();
    plot::plot_pr_curves(&t.join("pr_curves.png"), &series)?;
    plot::plot_ap_bars(&t.join("ap_per_stage.png"), &stats)?;
    staging.commit()?;
    eprintln!(
        "report: {}/report.md, pr_curves.png, ap_per_stage.png",
        dir.display()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct CocoEvalArgs {
    /// Ground truth (COCO instances json).
    #[arg(long)]
    pub gt: PathBuf,
    /// Detections (COCO results json).
    #[arg(long)]
    pub dt: PathBuf,
    /// Write the 12 numbers as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn coco_eval(a: CocoEvalArgs) -> anyhow::Result<()> {
    let gt = coco_json::load_gt(&a.gt)?;
    let dt = coco_json::load_dets(&a.dt)?;
    coco_json::check_dets(&gt, &dt, &a.dt)?;
    let r = cocoeval::evaluate(&gt, &dt);
    println!(
        "{}",
        report::format_stats_table(&[("detections".to_string(), r.stats)])
    );
    println!("{}", report::format_class_table(&r.per_category));
    if let Some(j) = &a.json {
        yoloq_gen::util::write_atomic_str(
            j,
            &serde_json::to_string_pretty(&report::StatsJson::from(r.stats))?,
        )?;
    }
    Ok(())
}
