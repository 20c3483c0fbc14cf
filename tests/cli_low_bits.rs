//! `yoloq-gen --bits 6` and `--bits 4`, as a user types them: the main job quantizes the
//! body at the chosen width, keeps the 8-bit head records the hardware NMS stage reads, emits
//! the design, and warns loudly when the width collapses accuracy (W3A3), not when it does not
//! (W6A6).
mod common;

use std::path::Path;
use std::process::{Command, Output};

fn main_job(data_dir: &Path, out: &Path, bits: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yoloq-gen"))
        .args([
            "--model",
            data_dir
                .join("models/yolov8n-coco-synthbn.pt")
                .to_str()
                .unwrap(),
            "--bits",
            bits,
            // Fewer calibration images than the default 64 keep the test near 55 s per width (GPTQ
            // rounding, the default below 8 bits, included);
            // W3A3 collapses and W6A6 does not with either count.
            "--calib-images",
            "8",
            "--out",
            out.to_str().unwrap(),
        ])
        .env("YOLOQ_DATA_DIR", data_dir)
        .output()
        .unwrap()
}

/// The main job at `bits` succeeds, writes an 8-bit head under the lower-bit body and a design.
fn builds(data_dir: &Path, bits: u32) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = main_job(data_dir, &out, &bits.to_string());
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "--bits {bits} failed:\n{text}\n{err}");
    let scales =
        std::fs::read_to_string(out.join(format!("quant_w{bits}a{bits}/scales.yaml"))).unwrap();
    for line in [
        format!("wbits: {bits}"),
        format!("abits: {bits}"),
        "head_bits: 8".into(),
        "qnms: true".into(),
    ] {
        assert!(scales.contains(&line), "scales.yaml lacks `{line}`");
    }
    assert!(
        out.join("rtl_128x128_folded/manifest.json").is_file(),
        "--bits {bits}: no design emitted:\n{text}"
    );
    err
}

#[test]
fn main_job_below_8_bits_builds_and_warns_on_collapse() {
    let Some(models) = common::shared("models") else {
        return;
    };
    let data_dir = models.parent().unwrap();
    // W4A4 kept 4 % of the float AP with 4-bit SiLU tables and input; with the 8-bit table
    // index and input (the defaults now) it keeps about 58 % with 64 calibration images
    // (docs/RESULTS.md), near the warning's 50 %, so the collapse is checked at W3A3.
    let err = builds(data_dir, 3);
    assert!(
        err.contains("WARNING: W3A3 collapses accuracy"),
        "no collapse warning at W3A3:\n{err}"
    );
    // W6A6 keeps AP 0.3620 of 0.4207 (86 %) with nearest rounding: no warning (the test passes
    // with GPTQ, the default, too).
    let err = builds(data_dir, 6);
    assert!(
        !err.contains("collapses accuracy"),
        "W6A6 warned of a collapse:\n{err}"
    );
}
