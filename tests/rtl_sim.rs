//! Whole-network RTL simulation of the committed synthetic design in Icarus and Verilator:
//! every element of every layer bit-exact against the integer reference, simulated cycles
//! equal to the analytic model, and a corrupted golden vector caught and named.
mod common;

use std::path::{Path, PathBuf};
use yoloq_gen::rtl::manifest::read_manifest;
use yoloq_gen::rtl::sim::{simulate, SimReport, Simulator};

fn design() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("generated/synthetic-32-p4")
}

fn check_pass(r: &SimReport) {
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
        // The analytic model is the RTL schedule, so every layer's cycles are exact: measured
        // equal on all 70 layers in Verilator and Icarus (the RTL is deterministic, no noise).
        assert_eq!(
            row.cycles_sim, row.cycles_pred,
            "layer {}: cycles simulated vs predicted",
            l.name
        );
    }
    assert_eq!(r.frame_sim, r.frame_pred, "frame cycles");
}

#[test]
fn synthetic_network_bit_exact_in_icarus() {
    if common::tool("iverilog").is_none() {
        return;
    }
    check_pass(&simulate(&design(), Simulator::Icarus).unwrap());
}

#[test]
fn synthetic_network_bit_exact_in_verilator() {
    if common::tool("verilator").is_none() {
        return;
    }
    check_pass(&simulate(&design(), Simulator::Verilator).unwrap());
}

/// Change one golden code; the simulation must fail and name that element.
#[test]
fn corrupted_golden_vector_is_named() {
    if common::tool("verilator").is_none() {
        return;
    }
    let m = read_manifest(&design()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&design(), tmp.path());
    // Layer 8 (model.3, a strided conv): element c=5, y=2, x=3.
    let l = &m.layers[8];
    let [_, h, w] = l.shape;
    let offset: usize = m.layers[..8]
        .iter()
        .map(|x| x.shape.iter().product::<usize>())
        .sum();
    let idx = offset + (5 * h + 2) * w + 3;
    let path = tmp.path().join("tb/golden.hex");
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let want = u32::from_str_radix(&lines[idx], 16).unwrap();
    let bad = want ^ 1;
    lines[idx] = format!("{bad:02x}");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let r = simulate(tmp.path(), Simulator::Verilator).unwrap();
    assert!(!r.pass);
    let msg = r.first_mismatch.unwrap();
    assert_eq!(
        msg,
        format!("layer 8 {}: c 5 y 2 x 3 got {want} want {bad}", l.name)
    );
    let bad_rows: Vec<usize> = r
        .rows
        .iter()
        .filter(|x| x.mismatches > 0)
        .map(|x| x.index)
        .collect();
    assert_eq!(bad_rows, vec![8]);
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dst = to.join(p.file_name().unwrap());
        if p.is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_dir(&p, &dst);
        } else {
            std::fs::copy(&p, &dst).unwrap();
        }
    }
}

/// Every layer kind alone in Icarus, inputs preloaded from the reference (`sim --layer N`).
#[test]
fn one_layer_of_each_kind_in_icarus() {
    if common::tool("iverilog").is_none() {
        return;
    }
    let m = read_manifest(&design()).unwrap();
    let d: serde_json::Value = m.design.clone();
    let mut seen = std::collections::BTreeSet::new();
    for (l, p) in m.layers.iter().zip(d.as_array().unwrap()) {
        let params = &p["params"];
        // Distinguish convs by kernel, stride and whether the last lane group is partial.
        let key = match l.kind.as_str() {
            "input" => continue,
            "conv" => format!(
                "conv k{} s{} partial{}",
                params["k"],
                params["stride"],
                params["co"].as_u64().unwrap() % params["p"].as_u64().unwrap() != 0
            ),
            k => k.to_string(),
        };
        if !seen.insert(key.clone()) {
            continue;
        }
        let r = yoloq_gen::rtl::sim::simulate_layer(&design(), Simulator::Icarus, l.index).unwrap();
        assert!(r.pass, "{key} ({}): {:?}", l.name, r.first_mismatch);
        assert_eq!(r.rows.len(), 1);
        assert_eq!(
            r.rows[0].writes,
            l.shape.iter().product::<usize>(),
            "{}",
            l.name
        );
        assert_eq!(r.rows[0].cycles_sim, l.cycles, "{}", l.name);
    }
    let kinds: Vec<&String> = seen.iter().collect();
    assert!(kinds.len() >= 7, "{kinds:?}");
}

/// The generated RTL is Verilator `-Wall` clean and Icarus `-g2005 -Wall` clean.
#[test]
fn generated_rtl_is_lint_clean() {
    let (Some(v), Some(iv)) = (common::tool("verilator"), common::tool("iverilog")) else {
        return;
    };
    let m = read_manifest(&design()).unwrap();
    let out = std::process::Command::new(v)
        .current_dir(design())
        .args(["--lint-only", "-Wall", "--top-module", &m.top])
        .args(&m.rtl)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("%Warning"), "{err}");
    let out = std::process::Command::new(iv)
        .current_dir(design())
        .args(["-g2005", "-Wall", "-o", "/dev/null", "-s", &m.top])
        .args(&m.rtl)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "{err}");
}

/// Other integer configurations through the same RTL: multiplier requantization
/// (`--scale mult`), 6-bit activations with 7-bit SiLU tables (input shift, narrow words), and
/// 6-bit activations with the 8-bit input, 8-bit tables and 8-bit head of the defaults.
#[test]
fn mult_scales_and_narrow_activations_bit_exact_in_verilator() {
    use yoloq_gen::quant::{QuantConfig, ScaleMode};
    use yoloq_gen::synthetic;
    if common::tool("verilator").is_none() {
        return;
    }
    let configs = [
        (
            "mult",
            QuantConfig {
                scale: ScaleMode::Mult,
                qnms: false,
                ..QuantConfig::default()
            },
        ),
        (
            "a6",
            QuantConfig {
                wbits: 6,
                abits: 6,
                lut_bits: 7,
                qnms: false,
                ..QuantConfig::default()
            },
        ),
        (
            // The defaults below 8 bits: 8-bit image input, table index and head.
            "a6-in8-lut8",
            QuantConfig {
                wbits: 6,
                abits: 6,
                lut_bits: 8,
                input_bits: Some(8),
                ..QuantConfig::default()
            },
        ),
    ];
    for (name, cfg) in configs {
        let q = synthetic::quant_graph(synthetic::SEED, 32, synthetic::CALIB_IMAGES, &cfg).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let img = synthetic::image(synthetic::GOLDEN_IMAGE_SEED, 32);
        let m = yoloq_gen::rtl::layerseq::emit::generate(&q, 32, 3, &img, dir.path()).unwrap();
        let r = simulate(dir.path(), Simulator::Verilator).unwrap();
        print!("{name}:\n{}", r.table());
        assert!(r.pass, "{name}: {:?}", r.first_mismatch);
        assert_eq!(r.frame_sim, m.frame_cycles, "{name}");
    }
}
