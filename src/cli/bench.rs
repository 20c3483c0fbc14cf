//! `yoloq-gen bench`: median wall time of the float forward pass and, with `--quant DIR`,
//! of the integer reference model on the same input.

use clap::Args;
use ndarray::Array3;
use std::path::PathBuf;
use std::time::Instant;
use yoloq_gen::quant::int_model::NmsParams;
use yoloq_gen::{fuse, model, quant};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Checkpoint to time.
    #[arg(long)]
    pub model: PathBuf,
    /// Input size (square), a multiple of 32.
    #[arg(long, default_value_t = 640)]
    pub imgsz: usize,
    /// Also print the time split by operation kind.
    #[arg(long)]
    pub profile: bool,
    /// Timed runs (after two warm-up runs).
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Also time the integer reference model of this quantized directory (`yoloq-gen quantize`).
    #[arg(long)]
    pub quant: Option<PathBuf>,
    /// Write the bench input (`input`, [3,H,W]) and the float output (`output`, [4+nc, N]) to
    /// this safetensors file, e.g. to check another implementation against ours.
    #[arg(long)]
    pub dump: Option<PathBuf>,
}

/// Median, min and max of `runs` timed calls of `f` (milliseconds), after two warm-up calls.
fn time_ms(runs: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
    f();
    f();
    let mut ms: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    (ms[ms.len() / 2], ms[0], ms[ms.len() - 1])
}

pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    model::check_imgsz("--imgsz", a.imgsz, a.imgsz)?;
    let g = fuse::fuse(&model::FloatGraph::load(&a.model)?);
    let x = Array3::from_shape_fn((3, a.imgsz, a.imgsz), |(c, y, x)| {
        ((c * 31 + y * 7 + x * 3) % 255) as f32 / 255.0
    });
    let q = a
        .quant
        .as_ref()
        .map(|d| quant::store::load(d))
        .transpose()?;
    if let Some(path) = &a.dump {
        let out = model::run(g.graph(), &x, false).output;
        let tensors = [
            ("input".to_string(), x.clone().into_dyn()),
            ("output".to_string(), out.into_dyn()),
        ]
        .into_iter()
        .collect();
        yoloq_gen::import::safetensors_io::write_f32(path, &tensors)?;
    }
    let (med, min, max) = time_ms(a.runs, || {
        model::run(g.graph(), &x, false);
    });
    if a.profile {
        // Median over the timed runs of each op kind's total.
        let runs: Vec<Vec<(String, f64)>> =
            (0..a.runs.max(1)).map(|_| profile(g.graph(), &x)).collect();
        for (i, (k, _)) in runs[0].iter().enumerate() {
            let mut v: Vec<f64> = runs.iter().map(|r| r[i].1).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            println!("  {k:<12} {:8.1} ms (median)", v[v.len() / 2]);
        }
    }
    let threads = rayon::current_num_threads();
    let report = |what: &str, (med, min, max): (f64, f64, f64)| {
        println!(
            "{what} forward {}x{} ({threads} threads): median {med:.1} ms, min {min:.1} ms, max {max:.1} ms over {} runs",
            a.imgsz, a.imgsz, a.runs.max(1)
        )
    };
    report("float", (med, min, max));
    if let Some(q) = &q {
        let nms = NmsParams {
            conf: 0.25,
            iou: 0.7,
            max_det: 300,
            multi_label: false,
        };
        let t = time_ms(a.runs, || {
            quant::int_model::forward(q, &x, false, nms);
        });
        report("integer", t);
        println!("integer / float median: {:.2}", t.0 / med);
    }
    Ok(())
}

/// Per-op-kind time split of one forward pass (milliseconds), for `bench --profile`.
pub fn profile(g: &yoloq_gen::graph::Graph, x: &Array3<f32>) -> Vec<(String, f64)> {
    use yoloq_gen::graph::Op;
    use yoloq_gen::model::forward::eval_node;
    let mut vals: Vec<Array3<f32>> = Vec::new();
    let mut acc: std::collections::BTreeMap<String, f64> = Default::default();
    for n in &g.nodes {
        let t = Instant::now();
        let y = match &n.op {
            Op::Input => x.clone(),
            op => {
                let ins: Vec<&Array3<f32>> = n.inputs.iter().map(|&j| &vals[j]).collect();
                eval_node(op, &ins)
            }
        };
        let key = match &n.op {
            Op::Conv(c) => format!("conv{}x{}s{}", c.k(), c.k(), c.stride),
            op => op.kind().to_string(),
        };
        *acc.entry(key).or_default() += t.elapsed().as_secs_f64() * 1e3;
        vals.push(y);
    }
    acc.into_iter().collect()
}
