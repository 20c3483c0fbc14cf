//! Per-node timing of the integer reference model at 640×640 (or `IMGSZ`): runs the
//! integer forward node by node (`int_model::run_nodes`, values freed after their last
//! use, as `int_model::forward` does) and prints, per node, the median over the rounds, then
//! the sum per operation kind. Needs a `yoloq-gen quantize` output directory.
//!
//!     QUANT_DIR=/tmp/q8 cargo bench --bench int_layers [-- ROUNDS]

use ndarray::Array3;
use std::collections::BTreeMap;
use std::time::Instant;
use yoloq_gen::quant::int_model::run_nodes;
use yoloq_gen::quant::{QOp, QuantGraph};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn kind(q: &QuantGraph, i: usize) -> String {
    match &q.nodes[i].op {
        QOp::Input { .. } => "input".into(),
        QOp::Conv(c) => format!("conv{}x{}s{}", c.weight.dim().2, c.weight.dim().2, c.stride),
        QOp::FloatConv(_) => "floatconv".into(),
        QOp::Slice { .. } => "slice".into(),
        QOp::Concat => "concat".into(),
        QOp::Add { .. } => "add".into(),
        QOp::MaxPool { .. } => "maxpool".into(),
        QOp::Upsample { .. } => "upsample".into(),
    }
}

/// One forward pass; the time of every node in ms.
fn run(q: &QuantGraph, x: &Array3<f32>) -> Vec<f64> {
    let mut ms = vec![0.0; q.nodes.len()];
    let mut t = Instant::now();
    run_nodes(q, x, false, |i| {
        let now = Instant::now();
        ms[i] = (now - t).as_secs_f64() * 1e3;
        t = now;
    });
    ms
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(11);
    let Ok(dir) = std::env::var("QUANT_DIR") else {
        eprintln!("SKIPPED: set QUANT_DIR to a `yoloq-gen quantize` output directory");
        return;
    };
    let sz: usize = std::env::var("IMGSZ")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(640);
    let q = yoloq_gen::quant::store::load(std::path::Path::new(&dir)).expect("quant dir");
    let x = Array3::from_shape_fn((3, sz, sz), |(c, y, x)| {
        ((c * 31 + y * 7 + x * 3) % 255) as f32 / 255.0
    });
    for _ in 0..2 {
        run(&q, &x);
    }
    let per: Vec<Vec<f64>> = (0..rounds).map(|_| run(&q, &x)).collect();
    let total = median(per.iter().map(|r| r.iter().sum()).collect());
    println!(
        "{} rayon threads, {rounds} rounds, {sz}x{sz}: median forward (sum of nodes) {total:.2} ms",
        rayon::current_num_threads()
    );
    let mut by_kind: BTreeMap<String, f64> = BTreeMap::new();
    for i in 0..q.nodes.len() {
        let m = median(per.iter().map(|r| r[i]).collect());
        *by_kind.entry(kind(&q, i)).or_default() += m;
        let shape = match &q.nodes[i].op {
            QOp::Conv(c) => {
                let d = c.weight.dim();
                format!("{}->{}", d.1, d.0)
            }
            _ => String::new(),
        };
        println!(
            "{i:4} {:28} {:10} {shape:10} {m:7.3} ms",
            q.nodes[i].name,
            kind(&q, i)
        );
    }
    for (k, v) in by_kind {
        println!("  {k:12} {v:7.2} ms");
    }
}
