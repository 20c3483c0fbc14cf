//! Per-layer timing of the float 3×3 stride-1 convolutions of YOLOv8n at 640×640: the
//! im2col + GEMM kernel (`conv_tiled`) against Winograd F(2×2, 3×3) (`conv_winograd`, with
//! its weight transform counted), alternating A B A B in one process so that both see the
//! same machine load. Prints per layer the median of each and the ratio.
//!
//!     RAYON_NUM_THREADS=1 cargo bench --bench conv_kernels [-- ROUNDS]

use std::time::Instant;
use yoloq_gen::model::conv_tiled::{conv2d_fused, Epilogue, Geom};
use yoloq_gen::model::conv_winograd::{applies, conv2d_winograd, transform_weights};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(15);
    // (name, ci, co, h = w): the distinct 3x3 stride-1 shapes of YOLOv8n at 640.
    let layers = [
        ("model.2.m (16@160)", 16, 16, 160),
        ("model.4/15.m (32@80)", 32, 32, 80),
        ("model.6/12/18.m (64@40)", 64, 64, 40),
        ("model.8/21.m (128@20)", 128, 128, 20),
        ("22.cv2.0 (64@80)", 64, 64, 80),
        ("22.cv3.0.0 (64->80@80)", 64, 80, 80),
        ("22.cv3.0.1 (80@80)", 80, 80, 80),
        ("22.cv2.1.0 (128->64@40)", 128, 64, 40),
        ("22.cv3.1.0 (128->80@40)", 128, 80, 40),
        ("22.cv2.2.0 (256->64@20)", 256, 64, 20),
        ("22.cv3.2.0 (256->80@20)", 256, 80, 20),
    ];
    let (mut ta, mut tb) = (0.0, 0.0);
    println!(
        "{} rayon threads, {rounds} rounds",
        rayon::current_num_threads()
    );
    for (name, ci, co, hw) in layers {
        let g = Geom {
            ci,
            h: hw,
            w: hw,
            co,
            k: 3,
            stride: 1,
            pad: 1,
        };
        let mut s = 1u64;
        let mut rnd = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let x: Vec<f32> = (0..ci * hw * hw).map(|_| rnd()).collect();
        let w: Vec<f32> = (0..co * ci * 9).map(|_| rnd() * 0.1).collect();
        let (scale, shift) = (vec![1f32; co], vec![0f32; co]);
        let ep = Epilogue {
            scale: &scale,
            shift: &shift,
            silu: true,
        };
        let mut out = vec![0f32; co * hw * hw];
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            conv2d_fused(&x, g, &w, &ep, &mut out);
            a.push(t.elapsed().as_secs_f64() * 1e3);
            if applies(g) {
                let t = Instant::now();
                let u = transform_weights(&w, co, ci);
                conv2d_winograd(&x, g, &u, &ep, &mut out);
                b.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let ma = median(a);
        let gflop = 2.0 * (ci * co * 9 * hw * hw) as f64 / 1e9;
        if b.is_empty() {
            println!(
                "{name:26} im2col {ma:7.3} ms ({:5.1} GFLOP/s)  winograd n/a",
                gflop / ma * 1e3
            );
            ta += ma;
            tb += ma;
        } else {
            let mb = median(b);
            println!(
                "{name:26} im2col {ma:7.3} ms ({:5.1} GFLOP/s)  winograd {mb:7.3} ms  ratio {:.2}",
                gflop / ma * 1e3,
                mb / ma
            );
            ta += ma;
            tb += mb;
        }
    }
    println!(
        "sum of medians: im2col {ta:.2} ms, chosen {tb:.2} ms, ratio {:.2}",
        tb / ta
    );
}
