//! Yosys synthesis of the committed synthetic design for every built-in board; resource
//! figures come from `stat -json` and (ice40) nextpnr's report.
mod common;

use std::path::Path;
use yoloq_gen::rtl::emit::read_manifest;
use yoloq_gen::rtl::synth::{board, parse_stat, synthesize, Usage};

fn run(name: &str) {
    if common::tool("yosys").is_none() {
        return;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("generated/synthetic-32-p4");
    let tmp = tempfile::tempdir().unwrap();
    for sub in ["rtl", "mem"] {
        std::fs::create_dir_all(tmp.path().join(sub)).unwrap();
        for e in std::fs::read_dir(src.join(sub)).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, tmp.path().join(sub).join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::copy(src.join("manifest.json"), tmp.path().join("manifest.json")).unwrap();
    let b = board(name).unwrap();
    let pnr = name == "ice40" && common::tool("nextpnr-ice40").is_some();
    let r = synthesize(tmp.path(), &b, pnr).unwrap();
    println!("{name}: {:?} in {:.0}s; pnr {:?}", r.total, r.secs, r.pnr);
    let m = read_manifest(tmp.path()).unwrap();
    // One row per layer module plus the top, and the top's total is the sum over the
    // hierarchy (the layers, the memory and the controller).
    assert_eq!(r.modules.len(), m.layers.len() + 1);
    let layers: u64 = r.modules[..m.layers.len()].iter().map(|x| x.1.cells).sum();
    assert!(
        r.total.cells > layers,
        "top {} vs layers {layers}",
        r.total.cells
    );
    assert!(r.total.lut > 0 && r.total.ff > 0, "{:?}", r.total);
    if name != "generic" {
        // Every conv has a weight ROM: block RAM or LUTs, and the multipliers map to DSPs
        // (ice40 -dsp, ecp5, xc7) unless too narrow.
        assert!(r.total.dsp > 0, "{name}: no DSP inferred");
    }
    if let Some(Ok(p)) = &r.pnr {
        assert!(!p.utilisation.is_empty());
    }
}

#[test]
fn synth_generic() {
    run("generic");
}
#[test]
fn synth_ice40() {
    run("ice40");
}
#[test]
fn synth_ecp5() {
    run("ecp5");
}
#[test]
fn synth_xc7() {
    run("xc7");
}

/// The stat parser walks the hierarchy and skips Yosys 0.23's stray hierarchy lines.
#[test]
fn stat_totals_follow_the_hierarchy() {
    let json = r#"{
   "creator": "Yosys 0.23",
   "modules": {
      "\\top": { "num_cells": 3, "num_cells_by_type": { "SB_LUT4": 2, "$paramod$abc\\sub": 2, "SB_DFF": 1 } },
      "$paramod$abc\\sub": { "num_cells": 4, "num_cells_by_type": { "SB_MAC16": 1, "SB_RAM40_4K": 1, "SB_DFFE": 2 } }
   },
       $paramod$abc\sub      2
   "design": { "num_cells": 11 }
}"#;
    let u = parse_stat(json, "ice40").unwrap();
    assert_eq!(
        u["top"],
        Usage {
            cells: 11,
            lut: 2,
            ff: 5,
            dsp: 2,
            bram: 2
        }
    );
}
