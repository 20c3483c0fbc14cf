//! Output error `E` (src/quant/sensitivity.rs) of whole W8A8 models against the float model,
//! pow2 against multiplier scales, with and without bias correction and with `mse` / `max`
//! ranges: the measurement behind "pow2 vs mult at 8 bits" in docs/RESULTS.md.
//!
//! `YOLOQ_DATA_DIR=/path/to/shared cargo run --release --example scale_error`
use std::path::Path;
use yoloq_gen::quant::{
    gptq::CalibImages, quantize, run, sensitivity, CalibMethod, QuantConfig, ScaleMode,
};

fn main() {
    let d = std::env::var("YOLOQ_DATA_DIR").expect("set YOLOQ_DATA_DIR to the shared folder");
    let d = Path::new(&d);
    let model = d.join("models/yolov8n-coco-synthbn.pt");
    let fg = yoloq_gen::fuse::fuse(&yoloq_gen::model::FloatGraph::load(&model).unwrap());
    let images = run::calib_images(&d.join("data/coco128/images"), 64).unwrap();
    let stats = run::calibrate_images(&fg, &images, 640).unwrap();
    let load = |i: usize| run::load_input(&images[i], 640);
    let im = CalibImages {
        count: images.len(),
        load: &load,
    };
    for method in [CalibMethod::Mse, CalibMethod::Max] {
        for bias_correct in [false, true] {
            for scale in [ScaleMode::Pow2, ScaleMode::Mult] {
                let cfg = QuantConfig {
                    scale,
                    bias_correct,
                    method,
                    ..QuantConfig::default()
                };
                let q = quantize::quantize_with(&fg, &stats, &cfg, Some(im)).unwrap();
                let e = sensitivity::model_error(fg.graph(), &q, im).unwrap();
                println!("W8A8 {scale:?} {method} bias_correct={bias_correct}: E = {e:.4}");
            }
        }
    }
}
