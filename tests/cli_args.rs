//! Arguments are checked before any work, through the binary: out-of-range numbers, unknown
//! boards and simulators, missing data folders — each refused within seconds with a message
//! naming the flag, a non-zero exit and no panic; the main job never exits 0 without its data.
mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn run_env(args: &[&str], data_dir: Option<&Path>) -> (Output, Duration) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_yoloq-gen"));
    c.args(args).env_remove("YOLOQ_DATA_DIR");
    if let Some(d) = data_dir {
        c.env("YOLOQ_DATA_DIR", d);
    }
    let t = Instant::now();
    let o = c.output().unwrap();
    (o, t.elapsed())
}

/// Refused quickly, with `flag` named in the first error line and no panic.
fn refused(args: &[&str], data_dir: Option<&Path>, flag: &str) {
    let (o, dt) = run_env(args, data_dir);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{args:?} was accepted");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(
        first.contains(flag),
        "{args:?}: the error should name {flag}: {err}"
    );
    // Model loading or calibration would take longer; the checks come first.
    assert!(
        dt < Duration::from_secs(5),
        "{args:?}: refused after {dt:?}"
    );
}

#[test]
fn bad_numbers_boards_and_simulators_are_refused_while_parsing() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("calib/a.png");
    yoloq_gen::image_io::save_png(&img, &image::RgbImage::new(40, 30)).unwrap();
    let calib = tmp.path().join("calib");
    let (c, m) = (calib.to_str().unwrap(), "missing-model.pt");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--model", m, "--calib", c, "--parallel", "0"],
            "--parallel",
        ),
        (
            &["--model", m, "--calib", c, "--calib-images", "0"],
            "--calib-images",
        ),
        (&["--model", m, "--board", "ice41"], "--board"),
        (
            &[
                "quantize",
                "--model",
                m,
                "--calib",
                c,
                "--out",
                "q",
                "--rounding",
                "gptq4",
            ],
            "--rounding",
        ),
        (&["--model", m, "--simulator", "modelsim"], "--simulator"),
        (
            &["sim", "generated/x", "--simulator", "modelsim"],
            "--simulator",
        ),
        (&["synth", "generated/x", "--board", "ice41"], "--board"),
        (
            &[
                "quantize",
                "--model",
                m,
                "--calib",
                c,
                "--out",
                "q",
                "--calib-images",
                "0",
            ],
            "--calib-images",
        ),
        (&["predict", "--model", m, "--conf", "2", "x.jpg"], "--conf"),
        (&["predict", "--model", m, "--conf=-0.1", "x.jpg"], "--conf"),
        (&["predict", "--model", m, "--iou", "nan", "x.jpg"], "--iou"),
        (&["predict", "--model", m, "--iou", "0", "x.jpg"], "--iou"),
        (
            &["predict", "--model", m, "--max-det", "0", "x.jpg"],
            "--max-det",
        ),
        (
            &["val", "--model", m, "--data", c, "--conf", "inf"],
            "--conf",
        ),
        (&["val", "--model", m, "--data", c, "--iou", "1.5"], "--iou"),
        (
            &[
                "sweep",
                "--model",
                m,
                "--calib",
                c,
                "--data",
                c,
                "--calib-images",
                "0",
            ],
            "--calib-images",
        ),
        (&["bench", "--model", m, "--runs", "0"], "--runs"),
        (
            &["emit", "--synthetic", "--parallel", "0", "--out", "e"],
            "--parallel",
        ),
        // Widths the hardware cannot take are refused before import and calibration: the
        // iCE40 board's folded engine stores 8-bit codes, the NMS stage reads 8-bit records.
        (&["--model", m, "--calib", c, "--bits", "10"], "--abits"),
        (&["--model", m, "--calib", c, "--head", "float"], "--head"),
        (
            &[
                "--model",
                m,
                "--calib",
                c,
                "--board",
                "generic",
                "--parallel",
                "65",
            ],
            "--parallel",
        ),
        (
            &["--model", m, "--calib", c, "--head-bits", "12"],
            "--head-bits",
        ),
        (
            &[
                "--model",
                m,
                "--calib",
                c,
                "--bits",
                "6",
                "--head-bits",
                "6",
            ],
            "--head-bits",
        ),
        (
            &[
                "quantize", "--model", m, "--calib", c, "--out", "q", "--wbits", "1",
            ],
            "--wbits",
        ),
        // A budget outside what 2..8-bit layers can make, and a malformed one.
        (
            &[
                "quantize", "--model", m, "--calib", c, "--out", "q", "--wbits", "9.5",
            ],
            "--wbits",
        ),
        (
            &[
                "quantize", "--model", m, "--calib", c, "--out", "q", "--wbits", "4.5x",
            ],
            "--wbits",
        ),
        (
            &[
                "quantize",
                "--model",
                m,
                "--calib",
                c,
                "--out",
                "q",
                "--head-bits",
                "17",
            ],
            "--head-bits",
        ),
    ];
    for (args, flag) in cases {
        refused(args, None, flag);
    }
    // The board list is the boards/ folder: every built-in name is accepted by the parser.
    for name in ["generic", "ice40", "ecp5", "xc7"] {
        let (o, _) = run_env(&["--board", name, "--calib", "/nonexistent"], None);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("--board"), "{name} refused: {err}");
    }
}

#[test]
fn missing_data_is_found_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    yoloq_gen::image_io::save_png(
        &tmp.path().join("calib/a.png"),
        &image::RgbImage::new(40, 30),
    )
    .unwrap();
    let c = tmp.path().join("calib");
    let c = c.to_str().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = empty.to_str().unwrap();
    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();
    // An existing file as the model: its contents are never read before the data checks.
    let model = tmp.path().join("model.pt");
    std::fs::write(&model, b"not read").unwrap();
    let m = model.to_str().unwrap();
    // No YOLOQ_DATA_DIR and no --calib / --data: each command says where to get them.
    refused(&["--model", m, "--out", o], None, "--calib");
    refused(&["--model", m, "--calib", c, "--out", o], None, "--data");
    refused(&["quantize", "--model", m, "--out", o], None, "--calib");
    refused(&["val", "--model", m], None, "--data");
    refused(&["sweep", "--model", m, "--calib", c], None, "--data");
    // A missing checkpoint is named with its flag before calibration or any output folder.
    for cmd in ["quantize", "sweep"] {
        refused(
            &[cmd, "--model", "/nonexistent.pt", "--calib", c, "--out", o],
            None,
            "--model",
        );
    }
    refused(&["bench", "--model", "/nonexistent.pt"], None, "--model");
    // Given but wrong: a missing dataset, a calibration folder without images.
    refused(
        &[
            "--model",
            m,
            "--calib",
            c,
            "--data",
            "/nonexistent/val",
            "--out",
            o,
        ],
        None,
        "--data",
    );
    let (r, _) = run_env(&["--model", m, "--calib", e, "--out", o], None);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains(e));
    // A YOLOQ_DATA_DIR without the data is no better than none.
    refused(
        &["--model", m, "--calib", c, "--out", o],
        Some(tmp.path()),
        "--data",
    );
    assert!(!out.exists(), "a refused main job wrote {}", out.display());
}

/// With real data but a missing simulator, `--sim` is refused before import and calibration.
#[test]
fn requested_stage_without_its_tool_is_refused_up_front() {
    let Some(shared) = common::shared("models") else {
        return;
    };
    let data_dir = shared.parent().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_yoloq-gen"))
        .args([
            "--model",
            data_dir
                .join("models/yolov8n-coco-synthbn.pt")
                .to_str()
                .unwrap(),
            "--sim",
            "--out",
            out.to_str().unwrap(),
        ])
        .env("YOLOQ_DATA_DIR", data_dir)
        .env("PATH", tmp.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--sim") && err.contains("verilator"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(!out.exists());
}
