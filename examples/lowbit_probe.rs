//! Measurement tool for issue 11's low-bit rows: one calibration, then each variant named on
//! the command line is quantized in memory, validated (AP on val2017-79) and its whole-model
//! output error `E` measured on held-out coco128 images (64..72, never calibrated on).
//!
//! `YOLOQ_DATA_DIR=/path/to/shared cargo run --release --example lowbit_probe -- w6 w6:keep8=first`
//!
//! A variant is `w<bits>` (GPTQ, bias correction, pow2 per channel, A8) followed by
//! `:key=value` options: `keep8=a,b`, `round=nearest|gptq|gptq-refine`, `abits=N` (8-bit
//! input), `bits=name@B,...` (per-layer widths by node name), `gptq_images=N` (GPTQ rounds on
//! the first `N ≤ 128` coco128 images while the activation ranges stay calibrated on 64; with
//! `N > 64` the "held-out" images are among the rounding ones).
use std::path::Path;
use std::time::Instant;
use yoloq_gen::eval::{cocoeval, dataset};
use yoloq_gen::quant::{
    gptq::CalibImages, quantize, run, sensitivity, sweep, QuantConfig, Rounding,
};
use yoloq_gen::validate::{run_stage, Stage, ValParams};

fn parse(spec: &str) -> (QuantConfig, usize) {
    let mut parts = spec.split(':');
    let head = parts.next().unwrap();
    let wbits: u32 = head.trim_start_matches('w').parse().expect("w<bits>");
    let mut cfg = QuantConfig {
        wbits,
        rounding: if wbits < 8 {
            Rounding::Gptq
        } else {
            Rounding::Nearest
        },
        ..QuantConfig::default()
    };
    let mut gptq_images = 64;
    for p in parts {
        let (k, v) = p.split_once('=').expect("key=value");
        match k {
            "keep8" => cfg.keep8 = v.split(',').map(String::from).collect(),
            "round" => {
                cfg.rounding = match v {
                    "nearest" => Rounding::Nearest,
                    "gptq" => Rounding::Gptq,
                    "gptq-refine" => Rounding::GptqRefine,
                    _ => panic!("round=nearest|gptq|gptq-refine"),
                }
            }
            "abits" => {
                cfg.abits = v.parse().unwrap();
                cfg.input_bits = Some(8);
            }
            "bits" => {
                for kv in v.split(',') {
                    let (n, b) = kv.split_once('@').expect("name@bits");
                    cfg.layer_bits.insert(n.to_string(), b.parse().unwrap());
                }
            }
            "gptq_images" => gptq_images = v.parse::<usize>().unwrap().clamp(1, 128),
            _ => panic!("unknown option {k}"),
        }
    }
    (cfg, gptq_images)
}

fn main() {
    let d = std::env::var("YOLOQ_DATA_DIR").expect("set YOLOQ_DATA_DIR to the shared folder");
    let d = Path::new(&d);
    let model = d.join("models/yolov8n-coco-synthbn.pt");
    let fg = yoloq_gen::fuse::fuse(&yoloq_gen::model::FloatGraph::load(&model).unwrap());
    let t = Instant::now();
    let all = run::calib_images(&d.join("data/coco128/images"), 128).unwrap();
    let images = all[..64].to_vec();
    let held: Vec<_> = all[64..72].to_vec();
    let stats = run::calibrate_images(&fg, &images, 640).unwrap();
    eprintln!("calibration {:.0} s", t.elapsed().as_secs_f64());
    let load = |i: usize| run::load_input(&all[i], 640);
    let load_held = |i: usize| run::load_input(&held[i], 640);
    let ds = dataset::open_dataset(&d.join("data/val2017-79")).unwrap();
    let p = ValParams {
        imgsz: 640,
        conf: 0.001,
        iou: 0.7,
        max_det: 300,
    };
    let no_ap = std::env::var("PROBE_NO_AP").is_ok();
    for spec in std::env::args().skip(1) {
        let (cfg, gptq_images) = parse(&spec);
        let im = CalibImages {
            count: gptq_images.min(all.len()),
            load: &load,
        };
        let t = Instant::now();
        let q = quantize::quantize_with(&fg, &stats, &cfg, Some(im)).unwrap();
        let tq = t.elapsed().as_secs_f64();
        let mut e = 0.0;
        for h in 0..2 {
            let l = |i: usize| load_held(4 * h + i);
            let him = CalibImages { count: 4, load: &l };
            e += sensitivity::model_error(fg.graph(), &q, him).unwrap() / 2.0;
        }
        let (ap, ap50) = if no_ap {
            (f64::NAN, f64::NAN)
        } else {
            let run = run_stage(&Stage::Quant(&q), &ds, &p, &spec, true).unwrap();
            let s = cocoeval::evaluate(&ds.gt, &run.dets).stats;
            (s[0], s[1])
        };
        println!(
            "{spec}: avg bits {:.3}, E(held-out 8) {e:.4}, AP {ap:.4} AP50 {ap50:.4}, quantize {tq:.0} s, total {:.0} s",
            sweep::average_wbits(&q),
            t.elapsed().as_secs_f64()
        );
    }
}
