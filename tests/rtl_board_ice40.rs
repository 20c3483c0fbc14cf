//! The folded YOLOv8n at 128x128 through `synth --board ice40` as a user runs it (~3 minutes:
//! Yosys, nextpnr, icetime, icepack; results recorded in docs/hardware.md). It must place and
//! route on the UP5K within every resource, icetime must sign off at least the board's PLL
//! clock, and `yoloq.bin` must exist.
mod common;

use std::path::Path;

use common::yoloq_ok as yoloq;

#[test]
fn yolov8n_128_folded_places_on_the_up5k_at_the_board_clock() {
    let (Some(models), Some(bus)) = (
        common::shared("models"),
        common::shared("data/samples/bus.jpg"),
    ) else {
        return;
    };
    for t in ["yosys", "nextpnr-ice40", "icetime", "icepack"] {
        if common::tool(t).is_none() {
            return;
        }
    }
    let data_dir = models.parent().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (q, d, json) = (
        s(&tmp.path().join("q")),
        s(&tmp.path().join("y")),
        tmp.path().join("synth.json"),
    );
    let pt = s(&models.join("yolov8n-coco-synthbn.pt"));
    yoloq(
        &[
            "quantize",
            "--model",
            &pt,
            "--bits",
            "8",
            "--qnms",
            "--imgsz",
            "160",
            "--calib-images",
            "16",
            "--out",
            &q,
        ],
        data_dir,
    );
    yoloq(
        &[
            "emit",
            "--quant",
            &q,
            "--imgsz",
            "128",
            "--arch",
            "folded",
            "--image",
            &s(&bus),
            "--out",
            &d,
        ],
        data_dir,
    );
    yoloq(
        &["synth", &d, "--board", "ice40", "--json", &s(&json)],
        data_dir,
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let pnr = &r["pnr"]["Ok"];
    assert!(pnr.is_object(), "place and route failed: {}", r["pnr"]);
    let used = |res: &str| -> (u64, u64) {
        let u = pnr["utilisation"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u[0] == res)
            .unwrap_or_else(|| panic!("no {res} in {pnr}"));
        (u[1].as_u64().unwrap(), u[2].as_u64().unwrap())
    };
    for (res, cap) in [
        ("ICESTORM_LC", 5280),
        ("ICESTORM_DSP", 8),
        ("ICESTORM_RAM", 30),
        ("ICESTORM_SPRAM", 4),
    ] {
        let (u, a) = used(res);
        assert_eq!(a, cap, "{res}: the UP5K has {cap}");
        assert!(u <= a, "{res}: {u} of {a}");
        println!("{res}: {u} / {a}");
    }
    let clock = yoloq_gen::rtl::folded::emit::BOARD_HZ as f64 / 1e6;
    let icetime = pnr["icetime_mhz"].as_f64().expect("icetime figure");
    println!("icetime {icetime} MHz against the {clock} MHz clock");
    assert!(icetime >= clock, "icetime {icetime} MHz < {clock} MHz");
    let bin = Path::new(&d).join("synth/ice40/yoloq.bin");
    let n = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
    // the UP5K bitstream is 104,090 bytes (uncompressed, fixed by the device)
    assert_eq!(n, 104_090, "{}", bin.display());
}
