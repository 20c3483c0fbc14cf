//! The AP effect of the most sensitive layers (issue 11): every convolution's sensitivity is
//! measured at 4 bits (src/quant/sensitivity.rs, one layer at a time, first 4 calibration
//! images), then the `k` worst layers alone are quantized at 4 bits (every other layer at 8,
//! nearest rounding, bias correction, pow2 per channel, integer head + qnms) and validated on
//! val2017-79; for contrast the `k` least sensitive layers alone at 4 bits.
//!
//! `YOLOQ_DATA_DIR=/path/to/shared cargo run --release --example worst_layers [-- BITS]`
use std::path::Path;
use yoloq_gen::eval::{cocoeval, dataset};
use yoloq_gen::quant::{gptq::CalibImages, quantize, run, sensitivity, sweep, QuantConfig};
use yoloq_gen::validate::{run_stage, Stage, ValParams};

fn main() {
    let d = std::env::var("YOLOQ_DATA_DIR").expect("set YOLOQ_DATA_DIR to the shared folder");
    let d = Path::new(&d);
    let bits: u32 = std::env::args()
        .nth(1)
        .map_or(4, |b| b.parse().expect("a width"));
    let fg = yoloq_gen::fuse::fuse(
        &yoloq_gen::model::FloatGraph::load(&d.join("models/yolov8n-coco-synthbn.pt")).unwrap(),
    );
    let g = fg.graph();
    let images = run::calib_images(&d.join("data/coco128/images"), 64).unwrap();
    let stats = run::calibrate_images(&fg, &images, 640).unwrap();
    let load = |i: usize| run::load_input(&images[i], 640);
    let im = CalibImages {
        count: images.len(),
        load: &load,
    };
    let ds = dataset::open_dataset(&d.join("data/val2017-79")).unwrap();
    let p = ValParams {
        imgsz: 640,
        conf: 0.001,
        iou: 0.7,
        max_det: 300,
    };
    let base = QuantConfig::default();
    let sens = sensitivity::measure(g, &stats, &base, im).unwrap();
    let col = sensitivity::WIDTHS.iter().position(|&b| b == bits).unwrap();
    let mut order: Vec<&sensitivity::LayerSensitivity> = sens.layers.iter().collect();
    order.sort_by(|a, b| b.err[col].total_cmp(&a.err[col]).then(a.node.cmp(&b.node)));
    println!("| rank | layer | weights | E at W{bits} |\n|---:|---|---:|---:|");
    for (r, l) in order.iter().enumerate() {
        println!(
            "| {} | {} | {} | {:.3e} |",
            r + 1,
            l.name,
            l.weights,
            l.err[col]
        );
    }
    println!("\n| layers at W{bits} (rest W8) | k | weights at W{bits} | sum of E | AP | AP50 |\n|---|---:|---:|---:|---:|---:|");
    for (label, rev) in [("worst", false), ("least sensitive", true)] {
        for k in [0usize, 1, 2, 4, 8, 16] {
            if rev && k == 0 {
                continue;
            }
            let chosen: Vec<&&sensitivity::LayerSensitivity> = if rev {
                order.iter().rev().take(k).collect()
            } else {
                order.iter().take(k).collect()
            };
            let cfg = QuantConfig {
                layer_bits: sens
                    .layers
                    .iter()
                    .map(|l| {
                        let low = chosen.iter().any(|c| c.node == l.node);
                        (l.name.clone(), if low { bits } else { 8 })
                    })
                    .collect(),
                ..base.clone()
            };
            let q = quantize::quantize_with(&fg, &stats, &cfg, Some(im)).unwrap();
            let run = run_stage(&Stage::Quant(&q), &ds, &p, label, true).unwrap();
            let s = cocoeval::evaluate(&ds.gt, &run.dets).stats;
            let w: usize = chosen.iter().map(|c| c.weights).sum();
            let e: f64 = chosen.iter().map(|c| c.err[col]).sum();
            println!(
                "| {label} | {k} | {w} | {e:.3e} | {:.4} | {:.4} |",
                s[0], s[1]
            );
            let _ = sweep::average_wbits(&q);
        }
    }
}
