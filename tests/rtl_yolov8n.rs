//! The real YOLOv8n in RTL, through the binary as a user runs it: `quantize` the official
//! checkpoint (W8A8 with the NMS stage), `emit` the layer-sequential design at 64x64 with 8
//! lanes, and the folded design at 128x128 (the one placed on the UP5K), and `sim` each whole in
//! Verilator. Every element of every layer must be bit-exact against the integer reference and
//! every layer's cycles equal to the analytic model. The folded design then runs as a board
//! (flash model, UART) under the host program, which must print what `predict --quant` prints.
mod common;

use std::path::{Path, PathBuf};

use common::yoloq_ok as yoloq;

/// Quantize, emit with `emit_args` and simulate whole in Verilator; returns the quantized
/// model's folder, the design's folder, the sample image and the simulation report (None:
/// skipped).
fn simulate(
    tmp: &Path,
    emit_args: &[&str],
) -> Option<(PathBuf, PathBuf, PathBuf, serde_json::Value)> {
    let (Some(models), Some(bus)) = (
        common::shared("models"),
        common::shared("data/samples/bus.jpg"),
    ) else {
        return None;
    };
    common::tool("verilator")?;
    let data_dir = models.parent().unwrap();
    let (q, d, json) = (tmp.join("q"), tmp.join("rtl"), tmp.join("sim.json"));
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let pt = s(&models.join("yolov8n-coco-synthbn.pt"));
    // Eight calibration images: the RTL is checked against the integer model of whatever
    // scales calibration chose, so fewer images only save time.
    yoloq(
        &[
            "quantize",
            "--model",
            &pt,
            "--calib-images",
            "8",
            "--out",
            &s(&q),
        ],
        data_dir,
    );
    let (qs, ds, bs) = (s(&q), s(&d), s(&bus));
    let mut args = vec!["emit", "--quant", &qs];
    args.extend_from_slice(emit_args);
    args.extend_from_slice(&["--image", &bs, "--out", &ds]);
    yoloq(&args, data_dir);
    yoloq(
        &[
            "sim",
            &s(&d),
            "--simulator",
            "verilator",
            "--json",
            &s(&json),
        ],
        data_dir,
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["pass"], true, "{}", r["first_mismatch"]);
    Some((q, d, bus, r))
}

/// [`simulate`], then every layer complete and exact, its cycles equal to the model.
fn whole_network(
    tmp: &Path,
    emit_args: &[&str],
    label: &str,
) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let (q, d, bus, r) = simulate(tmp, emit_args)?;
    let rows = r["rows"].as_array().unwrap();
    let m = yoloq_gen::rtl::manifest::read_manifest(&d).unwrap();
    assert_eq!(rows.len(), m.layers.len());
    // The whole network: every conv, pool, upsample, add and the NMS stage.
    assert!(m.layers.len() > 60, "{} layers", m.layers.len());
    assert!(
        m.layers.iter().any(|l| l.kind == "qnms"),
        "no NMS stage in the design"
    );
    println!(
        "YOLOv8n {label}: {} layers, {} cycles simulated, {} predicted",
        m.layers.len(),
        r["frame_sim"],
        r["frame_pred"]
    );
    for (row, l) in rows.iter().zip(&m.layers) {
        let n: u64 = l.shape.iter().product::<usize>() as u64;
        assert_eq!(
            (row["writes"].as_u64(), row["mismatches"].as_u64()),
            (Some(n), Some(0)),
            "layer {} {}",
            l.index,
            l.name
        );
        assert_eq!(
            row["cycles_sim"], row["cycles_pred"],
            "layer {} {} cycles",
            l.index, l.name
        );
    }
    assert_eq!(r["frame_sim"], r["frame_pred"], "frame cycles");
    Some((q, d, bus))
}

#[test]
fn yolov8n_64_whole_network_bit_exact_in_verilator() {
    let tmp = tempfile::tempdir().unwrap();
    let args = ["--imgsz", "64", "--arch", "layerseq", "--parallel", "8"];
    whole_network(tmp.path(), &args, "layer-sequential 64x64");
}

/// The design `synth --board ice40` places on the UP5K: bit-exact and cycle-exact as a whole
/// network, then as a board: the host program letterboxes the image, sends it over the UART
/// of the simulated board (weights from the flash model) and prints the detections the
/// board's NMS stage wrote, which must be `predict --quant`'s lines for the same image.
#[test]
fn yolov8n_128_folded_bit_exact_and_board_prints_what_predict_prints() {
    let tmp = tempfile::tempdir().unwrap();
    let args = ["--imgsz", "128", "--arch", "folded"];
    let Some((q, d, bus)) = whole_network(tmp.path(), &args, "folded 128x128") else {
        return;
    };
    let data_dir = common::shared("models").unwrap();
    let data_dir = data_dir.parent().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    // A square centre crop: `predict` letterboxes like the board only when no padding is needed.
    let img = yoloq_gen::image_io::load_rgb(&bus).unwrap();
    let (w, h) = (img.width(), img.height());
    let side = w.min(h);
    let sq = image::imageops::crop_imm(&img, (w - side) / 2, (h - side) / 2, side, side).to_image();
    let bus = tmp.path().join("bus_square.png");
    yoloq_gen::image_io::save_png(&bus, &sq).unwrap();
    let board = yoloq(
        &[
            "board",
            "run",
            "--design",
            &s(&d),
            "--port",
            "sim",
            &s(&bus),
        ],
        data_dir,
    );
    let pred = yoloq(
        &["predict", "--quant", &s(&q), "--imgsz", "128", &s(&bus)],
        data_dir,
    );
    // the detection lines (the header and the boxes; the board adds its cycle count after)
    let dets = |out: &str| -> Vec<String> {
        let mut l = out.lines();
        let head = l.next().unwrap_or_default().to_string();
        std::iter::once(head)
            .chain(l.take_while(|x| x.starts_with("  ")).map(String::from))
            .collect()
    };
    let (b, p) = (dets(&board), dets(&pred));
    assert!(p.len() > 1, "predict found nothing on bus.jpg:\n{pred}");
    assert_eq!(b, p, "board:\n{board}\npredict:\n{pred}");
}

/// YOLOv8n at its native 640x640 on the ULX3S engine (full tier: ~12 minutes of Verilator at
/// idle): tensors in the SDRAM through row bands (1,847 steps), the design's SDRAM controller
/// against the checking model, weights from the flash stream restarted at every step. Every
/// code of every band's tile, every word stored to DRAM and the detection records bit-exact;
/// every compute step's cycles equal to the model, the frame within 1 %.
#[test]
fn yolov8n_640_in_dram_bands_bit_exact_in_verilator() {
    if !common::full_tier("yolov8n_640_in_dram_bands_bit_exact_in_verilator") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let args = ["--imgsz", "640", "--arch", "folded", "--tensors", "dram"];
    let Some((_, d, _, r)) = simulate(tmp.path(), &args) else {
        return;
    };
    let m = yoloq_gen::rtl::manifest::read_manifest(&d).unwrap();
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), m.layers.len());
    let design = m.design.as_array().unwrap();
    let mut compute = 0;
    for ((row, l), st) in rows.iter().zip(&m.layers).zip(design) {
        assert_eq!(row["mismatches"], 0, "step {}", l.name);
        if st["step"].get("band").is_some() {
            compute += 1;
            assert_eq!(
                row["cycles_sim"], row["cycles_pred"],
                "step {} cycles",
                l.name
            );
        }
    }
    assert!(compute > 500, "{compute} compute steps");
    assert!(m.layers.iter().any(|l| l.kind == "qnms"), "no NMS stage");
    let (sim, pred) = (
        r["frame_sim"].as_f64().unwrap(),
        r["frame_pred"].as_f64().unwrap(),
    );
    println!(
        "YOLOv8n 640 in bands: {} steps, {sim} cycles simulated, {pred} predicted",
        rows.len()
    );
    assert!(
        (sim - pred).abs() / pred < 0.01,
        "frame {sim} against {pred}"
    );
}
