//! The folded engine's copy unit between DRAM and the tile memory
//! (`templates/folded/prims/yq_fold_dma.v`) against its testbench
//! (`rtl_tb/folded/tb_yq_fold_dma.v`): the real SDRAM controller and the checking SDRAM model
//! (every command against the datasheet's timing), seeded strided loads and stores compared
//! word for word with the testbench's own copies of the tile and of DRAM, in Icarus and
//! Verilator; one flipped DRAM word must fail the run; the sustained rate of a contiguous
//! copy must stay near one word per cycle.
mod common;
#[path = "common/hdl.rs"]
mod hdl;

use hdl::Param;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    vec![
        hdl::tb("tb_yq_fold_dma.v"),
        hdl::prim("yq_fold_dma.v"),
        hdl::prim("yq_fold_dma_walk.v"),
        root.join("templates/ecp5/prims/yq_sdram_ctrl.v"),
        root.join("templates/ecp5/sim/yq_sdram_model.v"),
    ]
}

fn line<'a>(out: &'a str, tag: &str) -> BTreeMap<&'a str, u64> {
    let l = out
        .lines()
        .find(|l| l.starts_with(tag))
        .unwrap_or_else(|| panic!("no {tag} line in:\n{out}"));
    l.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k, v.parse().unwrap()))
        .collect()
}

/// Every copy compared, none wrong, and a contiguous copy of 4096 words within 3 % of one word
/// per cycle (row changes every 512 words and refreshes cost the rest).
fn check(out: &str, what: &str) {
    hdl::assert_pass(out, what);
    let d = line(out, "DMA ");
    assert_eq!(d["mismatches"], 0, "{what}");
    assert!(d["loads"] > 50 && d["stores"] > 50, "{what}: {d:?}");
    let s = line(out, "STREAM ");
    for k in ["store_cycles", "load_cycles"] {
        let rate = s["words"] as f64 / s[k] as f64;
        assert!(rate > 0.97, "{what}: {k}: {rate:.3} words per cycle");
    }
    eprintln!(
        "{what}: {}",
        out.lines()
            .filter(|l| l.starts_with("DMA") || l.starts_with("STREAM"))
            .collect::<Vec<_>>()
            .join("; ")
    );
}

#[test]
fn dma_lint_clean() {
    for (ca, da, nw) in [(16, 24, 16), (17, 24, 12), (14, 25, 16)] {
        hdl::lint(
            &[hdl::prim("yq_fold_dma.v"), hdl::prim("yq_fold_dma_walk.v")],
            "yq_fold_dma",
            &[
                ("CA", Param::Int(ca)),
                ("DA", Param::Int(da)),
                ("NW", Param::Int(nw)),
            ],
            &[],
        );
    }
}

#[test]
fn dma_against_sdram_model_in_icarus() {
    let work = tempfile::tempdir().unwrap();
    for clk in [50_000_000, 80_000_000] {
        let Some(out) = hdl::icarus(
            work.path(),
            "tb_yq_fold_dma",
            &files(),
            &[("CLK_HZ", Param::Int(clk))],
            &[],
        ) else {
            return;
        };
        check(&out, &format!("icarus {clk} Hz"));
    }
    // A flipped bit in one word read from DRAM must be caught.
    let out = hdl::icarus(
        work.path(),
        "tb_yq_fold_dma",
        &files(),
        &[("CORRUPT", Param::Int(1))],
        &[],
    )
    .unwrap();
    assert!(
        out.contains("RESULT FAIL") && out.contains("MISMATCH"),
        "a corrupted DRAM word went unnoticed:\n{out}"
    );
}

#[test]
fn dma_against_sdram_model_in_verilator() {
    let work = tempfile::tempdir().unwrap();
    let Some(out) = hdl::verilator(
        work.path(),
        "tb_yq_fold_dma",
        &files(),
        &[
            ("N_OPS", Param::Int(400)),
            ("SEED", Param::Int(0x1357_9bdf)),
        ],
        &["-Wno-fatal", "-Wno-lint", "-Wno-style"],
    ) else {
        return;
    };
    check(&out, "verilator");
}
