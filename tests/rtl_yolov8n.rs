//! The real YOLOv8n in RTL, through the binary as a user runs it: `quantize` the official
//! checkpoint (W8A8 with the NMS stage), `emit` the layer-sequential design at 64x64 with 8 lanes and
//! `sim` it whole in Verilator. Every element of every layer must be bit-exact against the
//! integer reference and every layer's cycles equal to the analytic model.
mod common;

use std::path::Path;
use std::process::Command;

fn yoloq(args: &[&str], data_dir: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_yoloq-gen"))
        .args(args)
        .env("YOLOQ_DATA_DIR", data_dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn yolov8n_64_whole_network_bit_exact_in_verilator() {
    let (Some(models), Some(bus)) = (
        common::shared("models"),
        common::shared("data/samples/bus.jpg"),
    ) else {
        return;
    };
    if common::tool("verilator").is_none() {
        return;
    }
    let data_dir = models.parent().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (q, d, json) = (
        tmp.path().join("q"),
        tmp.path().join("rtl"),
        tmp.path().join("sim.json"),
    );
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
    yoloq(
        &[
            "emit",
            "--quant",
            &s(&q),
            "--imgsz",
            "64",
            "--arch",
            "layerseq",
            "--parallel",
            "8",
            "--image",
            &s(&bus),
            "--out",
            &s(&d),
        ],
        data_dir,
    );
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
        "YOLOv8n 64x64: {} layers, {} cycles simulated, {} predicted",
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
}
