//! `yoloq-gen bench`: median wall time of the float forward pass and, with `--quant DIR`,
//! of the integer reference model on the same input.

use clap::Args;
use ndarray::Array3;
use std::path::PathBuf;
use std::time::Instant;
use yoloq_gen::{fuse, model, quant};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Checkpoint to time.
    #[arg(long)]
    pub model: PathBuf,
    /// Input size (square), a multiple of 32.
    #[arg(long, default_value_t = super::args::defaults::IMGSZ)]
    pub imgsz: usize,
    /// Also print the time split by operation kind.
    #[arg(long)]
    pub profile: bool,
    /// Timed runs (after two warm-up runs).
    #[arg(long, default_value_t = 10, value_parser = super::args::at_least_one)]
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
    super::args::model_file(&a.model)?;
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
        print_profile(g.graph(), &x, a.runs.max(1));
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
        let nms = yoloq_gen::defaults::PREDICT_NMS;
        let t = time_ms(a.runs, || {
            quant::int_model::forward(q, &x, false, nms);
        });
        report("integer", t);
        println!("integer / float median: {:.2}", t.0 / med);
    }
    Ok(())
}

/// Print the per-op-kind split and the slowest nodes of `runs` profiled forward passes
/// (medians over the runs), with the convolutions' GFLOP/s.
fn print_profile(g: &yoloq_gen::graph::Graph, x: &Array3<f32>, runs: usize) {
    use yoloq_gen::graph::Op;
    let per_run: Vec<Vec<(String, f64)>> = (0..runs).map(|_| profile(g, x)).collect();
    let node_ms: Vec<f64> = (0..g.nodes.len())
        .map(|i| {
            let mut v: Vec<f64> = per_run.iter().map(|r| r[i].1).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        })
        .collect();
    let mut kinds: std::collections::BTreeMap<&str, f64> = Default::default();
    for (i, (k, _)) in per_run[0].iter().enumerate() {
        *kinds.entry(k).or_default() += node_ms[i];
    }
    for (k, ms) in kinds {
        println!("  {k:<12} {ms:8.1} ms (sum of per-node medians)");
    }
    // Output pixels of every node, from one pass that keeps all values.
    let pixels: Vec<f64> = yoloq_gen::model::run(g, x, true)
        .values
        .iter()
        .map(|v| {
            v.as_ref()
                .map_or(0.0, |v| (v.shape()[1] * v.shape()[2]) as f64)
        })
        .collect();
    let mut order: Vec<usize> = (0..g.nodes.len()).collect();
    order.sort_by(|&i, &j| node_ms[j].total_cmp(&node_ms[i]));
    println!("  slowest nodes:");
    for &i in order.iter().take(12) {
        let n = &g.nodes[i];
        let rate = match &n.op {
            Op::Conv(c) => {
                let (co, ci, k, _) = c.weight.dim();
                let flop = 2.0 * (co * ci * k * k) as f64 * pixels[i];
                format!(" {:6.1} GFLOP/s", flop / node_ms[i] / 1e6)
            }
            _ => String::new(),
        };
        println!(
            "    {:<24} {:<12} {:6.2} ms{rate}",
            n.name, per_run[0][i].0, node_ms[i]
        );
    }
}

/// Per-node (op kind, milliseconds) of one forward pass, for `bench --profile`; values are
/// freed after their last use exactly as in the timed forward pass.
pub fn profile(g: &yoloq_gen::graph::Graph, x: &Array3<f32>) -> Vec<(String, f64)> {
    use yoloq_gen::graph::Op;
    let mut acc: Vec<(String, f64)> = g
        .nodes
        .iter()
        .map(|n| match &n.op {
            Op::Conv(c) => (format!("conv{}x{}s{}", c.k(), c.k(), c.stride), 0.0),
            op => (op.kind().to_string(), 0.0),
        })
        .collect();
    yoloq_gen::model::forward::forward_timed(g, x, false, &mut |i, s| acc[i].1 = s * 1e3);
    acc
}
