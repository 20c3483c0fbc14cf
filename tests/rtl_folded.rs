//! The folded architecture in simulation: the committed synthetic design
//! (`generated/synthetic-32-folded`) runs whole in Icarus and Verilator with every weight
//! streamed from its flash image, every element of every layer bit-exact against the integer
//! reference and every layer's cycles equal to the cycle model; a variant with small weight
//! slots exercises the partial-sum path (reductions split into chunks); a corrupted weight
//! byte in the flash image is caught in the layer that reads it.
mod common;

use std::path::{Path, PathBuf};
use yoloq_gen::quant::QuantConfig;
use yoloq_gen::rtl::folded::{self, FoldHw};
use yoloq_gen::rtl::manifest::read_manifest;
use yoloq_gen::rtl::plan::LayerKind;
use yoloq_gen::rtl::sim::{simulate, simulate_board, SimReport, Simulator};
use yoloq_gen::synthetic;

fn design() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("generated/synthetic-32-folded")
}

/// Every layer complete and exact, cycles equal to the model, frame equal to the model.
fn check_pass(dir: &Path, r: &SimReport) {
    print!("{}", r.table());
    assert!(r.pass, "{:?}", r.first_mismatch);
    let m = read_manifest(dir).unwrap();
    assert_eq!(r.rows.len(), m.layers.len());
    for (row, l) in r.rows.iter().zip(&m.layers) {
        let n: usize = l.shape.iter().product();
        assert_eq!(
            (row.writes, row.mismatches),
            (n, 0),
            "layer {} {}",
            l.index,
            l.name
        );
        assert_eq!(
            row.cycles_sim, row.cycles_pred,
            "layer {} {} cycles",
            l.index, l.name
        );
    }
    assert_eq!(r.frame_sim, r.frame_pred, "frame cycles");
}

#[test]
fn synthetic_network_bit_exact_in_icarus() {
    if common::tool("iverilog").is_none() {
        return;
    }
    check_pass(&design(), &simulate(&design(), Simulator::Icarus).unwrap());
}

#[test]
fn synthetic_network_bit_exact_in_verilator() {
    if common::tool("verilator").is_none() {
        return;
    }
    check_pass(
        &design(),
        &simulate(&design(), Simulator::Verilator).unwrap(),
    );
}

/// The simulated board: weights through the flash reader from the W25Q128JV model (which
/// starts powered down), pixels and results over the UART with the host protocol. Exact in
/// every element; every layer but the UART-bound input within 1 % of the cycle model.
#[test]
fn synthetic_board_with_flash_model_and_uart() {
    if common::tool("iverilog").is_none() {
        return;
    }
    let r = simulate_board(&design(), Simulator::Icarus).unwrap();
    print!("{}", r.table());
    assert!(r.pass, "{:?}", r.first_mismatch);
    let m = read_manifest(&design()).unwrap();
    for (row, l) in r.rows.iter().zip(&m.layers) {
        let n: usize = l.shape.iter().product();
        assert_eq!(
            (row.writes, row.mismatches),
            (n, 0),
            "layer {} {}",
            l.index,
            l.name
        );
        if l.kind != LayerKind::Input {
            let d = (row.cycles_sim as f64 - row.cycles_pred as f64).abs() / row.cycles_pred as f64;
            assert!(
                d <= 0.01,
                "layer {}: {} simulated, {} predicted",
                l.name,
                row.cycles_sim,
                row.cycles_pred
            );
        }
    }
}

/// Gate level: the Yosys `synth_ice40` netlist of the design for the UP5K (SB_MAC16 in
/// dual 8x8 mode, SB_SPRAM256KA, SB_RAM40_4K; without `-dsp`, as `synth_folded` in
/// boards/ice40.yaml) simulated with Yosys' cell models in Verilator
/// against the same golden codes and cycle model.
#[test]
fn ice40_gate_level_netlist_bit_exact() {
    let (Some(yosys), Some(verilator)) = (common::tool("yosys"), common::tool("verilator")) else {
        return;
    };
    let cells = Path::new("/usr/share/yosys/ice40/cells_sim.v");
    if !cells.is_file() {
        common::missing("/usr/share/yosys/ice40/cells_sim.v (Debian package yosys)");
        return;
    }
    let dir = design();
    let m = read_manifest(&dir).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let net = tmp.path().join("net.v");
    let script = format!(
        "read_verilog -defer {}; chparam -set IMPL \"ice40\" yq_top; synth_ice40 -top yq_top; write_verilog -noattr {}",
        m.rtl.join(" "),
        net.display()
    );
    let out = std::process::Command::new(yosys)
        .current_dir(&dir)
        .args(["-q", "-p", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "yosys: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let netlist = std::fs::read_to_string(&net).unwrap();
    assert!(
        netlist.contains("SB_MAC16") && netlist.contains("SB_SPRAM256KA"),
        "the netlist lacks the UP5K primitives"
    );
    let obj = tmp.path().join("obj");
    let out = std::process::Command::new(verilator)
        .current_dir(&dir)
        .args([
            "--binary",
            "--timing",
            "-O1",
            "-Wno-fatal",
            "-Wno-lint",
            "-Wno-style",
            "-DNO_ICE40_DEFAULT_ASSIGNMENTS",
        ])
        .args(["--top-module", "tb_top", "-j", "2", "--Mdir"])
        .arg(&obj)
        .arg(cells)
        .arg(&net)
        .arg("tb/tb_top.v")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "verilator: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = std::process::Command::new(obj.join("Vtb_top"))
        .current_dir(&dir)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&run.stdout);
    assert!(
        log.contains("RESULT PASS"),
        "{}",
        log.lines()
            .filter(|l| !l.starts_with("DONE"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let frame = log
        .lines()
        .find_map(|l| l.strip_prefix("FRAME cycles "))
        .unwrap();
    assert_eq!(frame.trim().parse::<u64>().unwrap(), m.frame_cycles);
}

/// The folded design is Verilator `-Wall` and Icarus `-g2005 -Wall` clean.
#[test]
fn folded_rtl_is_lint_clean() {
    common::assert_lint_clean(&design());
}

/// Weight slots of 32 taps split most reductions into chunks (first / middle / last psum
/// passes); the result must still be exact and on schedule.
#[test]
fn partial_sum_path_is_exact() {
    if common::tool("verilator").is_none() {
        return;
    }
    let cfg = QuantConfig::default();
    let q = synthetic::quant_graph(synthetic::SEED, 32, synthetic::CALIB_IMAGES, &cfg).unwrap();
    let image = synthetic::image(synthetic::GOLDEN_IMAGE_SEED, 32);
    let hw = FoldHw {
        wtaps: 32,
        ..FoldHw::up5k()
    };
    let tmp = tempfile::tempdir().unwrap();
    folded::emit::generate(&q, 32, hw, &image, tmp.path()).unwrap();
    let m = read_manifest(tmp.path()).unwrap();
    let chunked = m
        .design
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["chunks"].as_u64().unwrap_or(0) > 2)
        .count();
    assert!(
        chunked >= 3,
        "only {chunked} layers use three or more chunks"
    );
    check_pass(
        tmp.path(),
        &simulate(tmp.path(), Simulator::Verilator).unwrap(),
    );
}

/// 6-bit activations between layers with the 8-bit image input, 8-bit SiLU table indices and
/// the 8-bit head (the `quantize` defaults below 8 bits): the formats differ in width from
/// tensor to tensor, and the folded engine must still be exact and on schedule.
#[test]
fn narrow_activations_with_8_bit_input_and_tables_are_exact() {
    if common::tool("verilator").is_none() {
        return;
    }
    let cfg = QuantConfig {
        wbits: 6,
        abits: 6,
        lut_bits: 8,
        input_bits: Some(8),
        ..QuantConfig::default()
    };
    let q = synthetic::quant_graph(synthetic::SEED, 32, synthetic::CALIB_IMAGES, &cfg).unwrap();
    let widths: std::collections::BTreeSet<u32> = q
        .nodes
        .iter()
        .filter_map(|n| n.fmt.map(|f| f.bits))
        .collect();
    assert_eq!(widths.into_iter().collect::<Vec<_>>(), vec![6, 8]);
    let image = synthetic::image(synthetic::GOLDEN_IMAGE_SEED, 32);
    let tmp = tempfile::tempdir().unwrap();
    folded::emit::generate(&q, 32, FoldHw::up5k(), &image, tmp.path()).unwrap();
    check_pass(
        tmp.path(),
        &simulate(tmp.path(), Simulator::Verilator).unwrap(),
    );
}

/// Flip one weight byte of a convolution in the flash image: that layer must mismatch.
#[test]
fn corrupted_flash_weight_is_caught() {
    if common::tool("verilator").is_none() {
        return;
    }
    let m = read_manifest(&design()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&design(), tmp.path());
    // Layer 2 (a strided 3x3 conv): lane 0's weight of the first tap, after the
    // descriptor, the SiLU table and the group's parameter words.
    let layers = m.design.as_array().unwrap();
    // the input layer's record is its descriptor alone
    let l0 = &layers[0];
    let desc_bytes = (l0["flash"][1].as_u64().unwrap() - l0["flash"][0].as_u64().unwrap()) as usize;
    let l2 = &layers[2];
    let start = l2["flash"][0].as_u64().unwrap() as usize;
    let lut = l2["desc"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f[0] == "lut_len")
        .map(|f| f[1].as_u64().unwrap() as usize)
        .unwrap_or(0);
    let hw = FoldHw::up5k();
    let end = start + desc_bytes + lut + hw.lanes * folded::PARAM_BYTES + 1;
    let path = tmp.path().join("tb/flash.hex");
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let v = u8::from_str_radix(&lines[end - 1], 16).unwrap();
    lines[end - 1] = format!("{:02x}", v ^ 0x40);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let r = simulate(tmp.path(), Simulator::Verilator).unwrap();
    assert!(!r.pass);
    let msg = r.first_mismatch.unwrap_or_default();
    assert!(msg.contains("layer 2 "), "{msg}");
}

fn copy_dir(from: &Path, to: &Path) {
    for e in walk(from) {
        let rel = e.strip_prefix(from).unwrap();
        let dst = to.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&e, &dst).unwrap();
    }
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The host program against the simulated board: `board run --port sim` letterboxes the image,
/// sends it over the board's UART (the Verilator model's stdin/stdout), and prints exactly the
/// detections `predict --quant` prints for the same image and model (a square image, so both
/// letterboxes agree); a second, non-square image in the same session exercises the
/// letterbox and the board's second frame.
#[test]
fn board_run_on_the_simulated_board_prints_what_predict_prints() {
    if common::tool("verilator").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("design");
    std::fs::create_dir_all(&dir).unwrap();
    copy_dir(&design(), &dir);
    // the golden image of the committed design, as a PNG
    let sq = tmp.path().join("square.png");
    common::synthetic_golden_png(32, &sq);
    let img = yoloq_gen::image_io::load_rgb(&sq).unwrap();
    let wide = tmp.path().join("wide.png");
    let w = image::imageops::resize(&img, 48, 32, image::imageops::FilterType::Triangle);
    yoloq_gen::image_io::save_png(&wide, &w).unwrap();
    // the same model as the committed design, for predict
    let qdir = tmp.path().join("quant");
    common::synthetic_quant_dir(32, &qdir);
    // from the temporary folder: the design is given by a relative path, as users do
    let board = common::board_run_sim(tmp.path(), "design", &[&sq, &wide]);
    let pred = common::predict_quant(tmp.path(), &qdir, 32, &sq);
    let first = |s: &str| -> String {
        let mut lines = s.lines();
        let head = lines.next().unwrap().to_string();
        let rest: Vec<&str> = lines.take_while(|l| l.starts_with("  ")).collect();
        format!("{head}\n{}", rest.join("\n"))
    };
    let n: usize = pred
        .lines()
        .next()
        .and_then(|l| l.split(": ").nth(1))
        .and_then(|t| t.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(n > 0, "the synthetic model detects nothing:\n{pred}");
    assert_eq!(
        first(&board),
        first(&pred),
        "board run and predict --quant differ"
    );
    assert!(
        board.contains(&format!("{}: ", wide.display())),
        "no second frame:\n{board}"
    );
}
