//! `yoloq-gen bench`: median wall time of the float forward pass.

use clap::Args;
use ndarray::Array3;
use std::path::PathBuf;
use std::time::Instant;
use yoloq_gen::{fuse, model};

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
}

pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    model::check_imgsz("--imgsz", a.imgsz, a.imgsz)?;
    let g = fuse::fuse(&model::FloatGraph::load(&a.model)?);
    let x = Array3::from_shape_fn((3, a.imgsz, a.imgsz), |(c, y, x)| {
        ((c * 31 + y * 7 + x * 3) % 255) as f32 / 255.0
    });
    for _ in 0..2 {
        model::run(g.graph(), &x, false);
    }
    let mut ms: Vec<f64> = (0..a.runs.max(1))
        .map(|_| {
            let t = Instant::now();
            model::run(g.graph(), &x, false);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
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
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "float forward {}x{} ({} threads): median {:.1} ms, min {:.1} ms, max {:.1} ms over {} runs",
        a.imgsz,
        a.imgsz,
        rayon::current_num_threads(),
        ms[ms.len() / 2],
        ms[0],
        ms[ms.len() - 1],
        ms.len()
    );
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
