//! `synth` refuses a design the resource estimate says cannot fit the board, in seconds and in
//! one line, before Yosys starts (`src/rtl/synth/estimate.rs`); the main job refuses
//! `--synth` on a board with too few DSPs for its layer-sequential design before any stage.
mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn yoloq(args: &[&str]) -> (Output, Duration) {
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_yoloq-gen"))
        .args(args)
        .output()
        .unwrap();
    (o, t.elapsed())
}

fn one_error_line(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

/// The committed layer-sequential synthetic design (244 multipliers, 325 EBR measured) on the
/// UP5K: refused from its manifest alone, nothing written, well under a second of work
/// (the bound allows for a loaded machine; Yosys takes 756 s on this design).
#[test]
fn synth_refuses_a_design_too_large_for_ice40_in_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("generated/synthetic-32-p4");
    std::fs::copy(
        committed.join("manifest.json"),
        dir.path().join("manifest.json"),
    )
    .unwrap();
    let d = dir.path().to_str().unwrap();
    let (o, took) = yoloq(&["synth", d, "--board", "ice40"]);
    let err = one_error_line(&o);
    assert!(
        err.contains("does not fit the ice40 board")
            && err.contains("~244 DSP (estimate) of 8")
            && err.contains("EBR (estimate) of 30")
            && err.contains("--arch folded")
            && err.contains("--no-estimate"),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(!dir.path().join("synth").exists());
    // ECP5 (156 DSP) refuses it too and names the lane count that fits.
    let (o, _) = yoloq(&["synth", d, "--board", "ecp5"]);
    let err = one_error_line(&o);
    assert!(
        err.contains("the ecp5 board") && err.contains("--parallel 2"),
        "{err}"
    );
}

/// `yoloq-gen --board ecp5 --synth`: YOLOv8n's convolutions at 8 lanes need hundreds of DSPs,
/// the ECP5-85F has 156; refused before import, with the lane count that fits. Nothing is
/// written.
#[test]
fn main_job_refuses_synth_on_a_board_without_enough_dsps_before_any_stage() {
    let Some(model) = common::shared("models/yolov8n-coco-synthbn.pt") else {
        return;
    };
    if common::shared("data/coco128/images").is_none() || common::tool("yosys").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let (o, took) = yoloq(&[
        "--model",
        model.to_str().unwrap(),
        "--board",
        "ecp5",
        "--synth",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = one_error_line(&o);
    assert!(
        err.contains("--synth: a layer-sequential design of")
            && err.contains("the ecp5 board has 156")
            && err.contains("--parallel"),
        "{err}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert!(!out.exists());
    // At 2 lanes the DSPs would do, but 25 Mbit of weights cannot stay on an XC7A100T.
    let (o, _) = yoloq(&[
        "--model",
        model.to_str().unwrap(),
        "--board",
        "xc7",
        "--parallel",
        "2",
        "--synth",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = one_error_line(&o);
    assert!(
        err.contains("bits of weights on chip") && err.contains("the xc7 board holds at most"),
        "{err}"
    );
    assert!(!out.exists());
}

/// A folded board design whose flash image does not fit in the board's flash after the
/// bitstream is refused in one line naming the image, before Yosys, with nothing written.
#[test]
fn synth_refuses_a_flash_image_larger_than_the_board_flash() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("design");
    let ds = d.to_str().unwrap();
    let (o, _) = yoloq(&[
        "emit",
        "--synthetic",
        "--arch",
        "folded",
        "--tensors",
        "dram",
        "--imgsz",
        "64",
        "--out",
        ds,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // the ULX3S's 16 MiB flash holds 13 MiB after the bitstream (user_offset 3 MiB)
    let img = std::fs::OpenOptions::new()
        .write(true)
        .open(d.join("board/flash.bin"))
        .unwrap();
    img.set_len((13 << 20) + 1).unwrap();
    drop(img);
    let (o, took) = yoloq(&["synth", ds, "--board", "ulx3s-85f"]);
    let err = one_error_line(&o);
    assert!(
        err.contains("board/flash.bin")
            && err.contains("13631489 bytes")
            && err.contains("holds 13631488"),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(!d.join("synth").exists());
}
