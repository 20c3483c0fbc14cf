//! End-to-end accuracy on val2017-79 at 640 against the Ultralytics + pycocotools figures
//! (AP 0.4206, AP50 0.5804), for the float stages, the W8A8 integer models and the W6A8 model
//! with bias correction, the W4A8 model with GPTQ rounding and the mixed-width model of a
//! 4.5-bit budget (calibrated on coco128, never on the validation images).
mod common;

use yoloq_gen::eval::{cocoeval, dataset};
use yoloq_gen::fuse::fuse;
use yoloq_gen::model::FloatGraph;
use yoloq_gen::quant::{quantize::quantize, run::calibrate_dir, HeadMode, QuantConfig};
use yoloq_gen::validate::{run_stage, Stage, ValParams};

const FLOAT_AP: f64 = 0.4206;
const FLOAT_AP50: f64 = 0.5804;
/// Our float stages against Ultralytics' figures: measured 0.0001 (0.4207 / 0.5805 for the
/// synthetic-BN checkpoint, 0.4206 / 0.5804 for the fused safetensors); the evaluator is
/// pycocotools-exact, so what is left is float noise flipping the rank of a detection or two,
/// worth about 1e-4 AP on 79 images: 2e-4 allowed.
const FLOAT_TOL: f64 = 2e-4;
/// Quantized models: measured AP (docs/RESULTS.md, this machine) minus 0.002 — the models are
/// deterministic (tests/quant_determinism.rs), so the margin only covers float differences
/// between machines in calibration (MSE range search) and in the float parts of the model.
const QUANT_TOL: f64 = 0.002;
const P: ValParams = ValParams {
    imgsz: 640,
    conf: 0.001,
    iou: 0.7,
    max_det: 300,
};

fn ap(stage: &Stage, ds: &dataset::Dataset) -> [f64; 12] {
    let run = run_stage(stage, ds, &P, "val", true).unwrap();
    cocoeval::evaluate(&ds.gt, &run.dets).stats
}

#[test]
fn float_stages_match_ultralytics_map() {
    let (Some(pt), Some(st), Some(data)) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        common::shared("models/yolov8n-coco-fused.safetensors"),
        common::shared("data/val2017-79"),
    ) else {
        return;
    };
    let ds = dataset::open_dataset(&data).unwrap();
    let fg = FloatGraph::load(&pt).unwrap();
    let original = ap(&Stage::Float(fg.graph()), &ds);
    let fused = ap(&Stage::Float(fuse(&fg).graph()), &ds);
    let real = ap(&Stage::Float(FloatGraph::load(&st).unwrap().graph()), &ds);
    for (name, s) in [
        ("original", original),
        ("fused", fused),
        ("real fused safetensors", real),
    ] {
        eprintln!("{name}: AP {:.4} AP50 {:.4}", s[0], s[1]);
        assert!((s[0] - FLOAT_AP).abs() <= FLOAT_TOL, "{name} AP {}", s[0]);
        assert!(
            (s[1] - FLOAT_AP50).abs() <= FLOAT_TOL,
            "{name} AP50 {}",
            s[1]
        );
    }
    // BatchNorm folding changes the float rounding only: measured 0.0000.
    assert!(
        (original[0] - fused[0]).abs() <= FLOAT_TOL,
        "original vs fused AP differ: {} vs {}",
        original[0],
        fused[0]
    );
}

#[test]
fn w8a8_integer_models_keep_accuracy() {
    let (Some(pt), Some(calib), Some(data)) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        common::shared("data/coco128/images"),
        common::shared("data/val2017-79"),
    ) else {
        return;
    };
    let ds = dataset::open_dataset(&data).unwrap();
    let fg = fuse(&FloatGraph::load(&pt).unwrap());
    let stats = calibrate_dir(&fg, &calib, 64, 640).unwrap();
    // The defaults: integer head with the quantized NMS, bias correction.
    let cfg = QuantConfig::default();
    assert!(cfg.qnms && cfg.bias_correct && cfg.head == HeadMode::Int);
    let q = quantize(&fg, &stats, &cfg).unwrap();
    let s = ap(&Stage::Quant(&q), &ds);
    eprintln!(
        "W8A8 pow2 per-channel, int head, qnms, bias correction: AP {:.4} AP50 {:.4}",
        s[0], s[1]
    );
    assert!(
        s[0] >= 0.4203 - QUANT_TOL,
        "W8A8 int head + qnms + bc AP {} (measured 0.4203)",
        s[0]
    );
    // The same without bias correction.
    let cfg = QuantConfig {
        bias_correct: false,
        ..Default::default()
    };
    let q = quantize(&fg, &stats, &cfg).unwrap();
    let s = ap(&Stage::Quant(&q), &ds);
    eprintln!(
        "W8A8 pow2 per-channel, int head, qnms: AP {:.4} AP50 {:.4}",
        s[0], s[1]
    );
    assert!(
        s[0] >= 0.4170 - QUANT_TOL,
        "W8A8 int head + qnms AP {} (measured 0.4170)",
        s[0]
    );
    // Head kept in float, ordinary NMS.
    let cfg = QuantConfig {
        head: HeadMode::Float,
        qnms: false,
        bias_correct: false,
        ..Default::default()
    };
    let q = quantize(&fg, &stats, &cfg).unwrap();
    let s = ap(&Stage::Quant(&q), &ds);
    eprintln!(
        "W8A8 pow2 per-channel, float head: AP {:.4} AP50 {:.4}",
        s[0], s[1]
    );
    assert!(
        s[0] >= 0.4220 - QUANT_TOL,
        "W8A8 float head AP {} (measured 0.4220)",
        s[0]
    );
    // 6-bit pow2 weights with bias correction, integer head and quantized NMS.
    let cfg = QuantConfig {
        wbits: 6,
        bias_correct: true,
        ..Default::default()
    };
    let q = quantize(&fg, &stats, &cfg).unwrap();
    let s = ap(&Stage::Quant(&q), &ds);
    eprintln!(
        "W6A8 pow2 per-channel, bias correction, int head, qnms: AP {:.4} AP50 {:.4}",
        s[0], s[1]
    );
    assert!(
        s[0] >= 0.4064 - QUANT_TOL,
        "W6A8 bias-corrected AP {} (measured 0.4064)",
        s[0]
    );
}

/// GPTQ rounding at W4A8 with the first and head convolutions at 8 bits (4.04 bits per
/// weight on average), calibrated and rounded on the first 64 coco128 images; in the full
/// tier also W6A8 with every layer at 6 bits and refined GPTQ, and W6A6 with GPTQ.
#[test]
fn w4a8_gptq_keeps_accuracy() {
    use yoloq_gen::quant::{gptq::CalibImages, quantize::quantize_with, run, Rounding};
    let (Some(pt), Some(calib), Some(data)) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        common::shared("data/coco128/images"),
        common::shared("data/val2017-79"),
    ) else {
        return;
    };
    let ds = dataset::open_dataset(&data).unwrap();
    let fg = fuse(&FloatGraph::load(&pt).unwrap());
    let images = run::calib_images(&calib, 64).unwrap();
    let stats = run::calibrate_images(&fg, &images, 640).unwrap();
    let load = |i: usize| run::load_input(&images[i], 640);
    let im = CalibImages {
        count: images.len(),
        load: &load,
    };
    let cfg = QuantConfig {
        wbits: 4,
        keep8: vec!["first".into(), "head".into()],
        rounding: Rounding::Gptq,
        ..Default::default()
    };
    let q = quantize_with(&fg, &stats, &cfg, Some(im)).unwrap();
    let s = ap(&Stage::Quant(&q), &ds);
    eprintln!(
        "W4A8 gptq, first and head at 8 bits, bias correction, int head, qnms: AP {:.4} AP50 {:.4}",
        s[0], s[1]
    );
    assert!(
        s[0] >= 0.3889 - QUANT_TOL,
        "W4A8 gptq keep8=first,head AP {} (measured 0.3889)",
        s[0]
    );
    // Every layer at 6 bits with refined GPTQ (issue 11: at least 0.415); a full-tier run
    // (YOLOQ_FULL=1), left out of CI for time, with the same calibration.
    if common::full_tier("accuracy::w4a8_gptq_keeps_accuracy (W6A8 gptq-refine)") {
        let cfg = QuantConfig {
            wbits: 6,
            rounding: Rounding::GptqRefine,
            ..Default::default()
        };
        let q = quantize_with(&fg, &stats, &cfg, Some(im)).unwrap();
        let s = ap(&Stage::Quant(&q), &ds);
        eprintln!(
            "W6A8 gptq-refine, every layer 6-bit, bias correction, int head, qnms: AP {:.4} AP50 {:.4}",
            s[0], s[1]
        );
        assert!(
            s[0] >= 0.4171 - QUANT_TOL,
            "W6A8 gptq-refine AP {} (measured 0.4171)",
            s[0]
        );
    }
    // W6A6 as `quantize --wbits 6 --abits 6` builds it (issue 11: at least 0.390): GPTQ, the
    // SiLU table index, the input image and the head logits at 8 bits; full tier, same
    // calibration.
    if common::full_tier("accuracy::w4a8_gptq_keeps_accuracy (W6A6 gptq)") {
        let cfg = QuantConfig {
            wbits: 6,
            abits: 6,
            lut_bits: 8,
            head_bits: 8,
            input_bits: Some(8),
            rounding: Rounding::Gptq,
            ..Default::default()
        };
        let q = quantize_with(&fg, &stats, &cfg, Some(im)).unwrap();
        let s = ap(&Stage::Quant(&q), &ds);
        eprintln!(
            "W6A6 gptq, 8-bit table index, input and head, bias correction, int head, qnms: AP {:.4} AP50 {:.4}",
            s[0], s[1]
        );
        assert!(
            s[0] >= 0.3992 - QUANT_TOL,
            "W6A6 gptq AP {} (measured 0.3992)",
            s[0]
        );
    }
}

/// Mixed precision for an average of 4.5 bits per weight (issue 11: at least 0.405) and of
/// 4.04 (the memory of W4A8 with the first and head convolutions at 8 bits; issue 11's W4A8:
/// at least 0.390): each layer's width (2–8) chosen from its measured sensitivity, GPTQ
/// rounding, calibrated and rounded on the first 64 coco128 images (one calibration for both).
#[test]
fn budgets_keep_accuracy() {
    use yoloq_gen::quant::budget::WeightBudget;
    use yoloq_gen::quant::{gptq::CalibImages, quantize::quantize_with, run, sweep, Rounding};
    let (Some(pt), Some(calib), Some(data)) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        common::shared("data/coco128/images"),
        common::shared("data/val2017-79"),
    ) else {
        return;
    };
    let ds = dataset::open_dataset(&data).unwrap();
    let fg = fuse(&FloatGraph::load(&pt).unwrap());
    let images = run::calib_images(&calib, 64).unwrap();
    let stats = run::calibrate_images(&fg, &images, 640).unwrap();
    let load = |i: usize| run::load_input(&images[i], 640);
    let im = CalibImages {
        count: images.len(),
        load: &load,
    };
    // The 4.04-bit budget (the memory of W4A8 with the first and head convolutions at 8 bits)
    // is a full-tier run (YOLOQ_FULL=1), left out of CI for time.
    for (avg, measured) in [(4.5, 0.4058), (4.04, 0.4052)] {
        if avg < 4.5 && !common::full_tier("accuracy::budgets_keep_accuracy (4.04-bit budget)") {
            continue;
        }
        let cfg = QuantConfig {
            wbits: 4,
            wbudget: Some(WeightBudget::Average(avg)),
            rounding: Rounding::Gptq,
            ..Default::default()
        };
        let q = quantize_with(&fg, &stats, &cfg, Some(im)).unwrap();
        let bits = sweep::average_wbits(&q);
        assert!(bits <= avg, "budget {avg}: average {bits} bits per weight");
        let s = ap(&Stage::Quant(&q), &ds);
        eprintln!(
            "W{avg}A8 mixed (budget), gptq, bias correction, int head, qnms: {bits:.3} bits per weight, AP {:.4} AP50 {:.4}",
            s[0], s[1]
        );
        assert!(
            s[0] >= measured - QUANT_TOL,
            "{avg}-bit budget AP {} (measured {measured})",
            s[0]
        );
    }
}
