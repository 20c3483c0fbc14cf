//! The folded engine with its tensors in DRAM (row bands, `rtl::folded::banded`), whole in
//! simulation: the design's own SDRAM controller against the checking SDRAM model (every
//! command against the datasheet timing; a violation ends the run), every band's tile codes
//! and every word stored to DRAM bit-exact against the integer reference, the compute steps'
//! cycles equal to the cycle model and the frame within 1 % of it (copies are modelled at
//! the copy unit's measured rate).
mod common;

use std::path::Path;
use yoloq_gen::quant::QuantConfig;
use yoloq_gen::rtl::folded::emit::{generate_with, Tensors};
use yoloq_gen::rtl::folded::FoldHw;
use yoloq_gen::rtl::manifest::read_manifest;
use yoloq_gen::rtl::sim::{simulate, SimReport, Simulator};
use yoloq_gen::synthetic;

/// Every step exact and complete; compute steps on schedule, copies close to the model, the
/// frame within 1 %.
fn check_pass(dir: &Path, r: &SimReport) {
    print!("{}", r.table());
    assert!(r.pass, "{:?}", r.first_mismatch);
    let m = read_manifest(dir).unwrap();
    assert_eq!(r.rows.len(), m.layers.len());
    let design = m.design.as_array().unwrap();
    let (mut copy_sim, mut copy_pred) = (0u64, 0u64);
    let mut posts = 0;
    for ((row, l), s) in r.rows.iter().zip(&m.layers).zip(design) {
        assert_eq!(row.mismatches, 0, "step {} {}", l.index, l.name);
        if s["step"].get("copy").is_some() {
            copy_sim += row.cycles_sim;
            copy_pred += row.cycles_pred;
        } else if s["step"] == "post" {
            // every DRAM access of the stage at the modelled wait (refreshes not modelled)
            posts += 1;
            eprintln!(
                "post-processing on DRAM: {} cycles simulated, {} predicted",
                row.cycles_sim, row.cycles_pred
            );
            let err =
                (row.cycles_sim as f64 - row.cycles_pred as f64).abs() / row.cycles_pred as f64;
            assert!(
                err < 0.05,
                "post-processing: {} simulated, {} predicted",
                row.cycles_sim,
                row.cycles_pred
            );
        } else {
            assert_eq!(row.cycles_sim, row.cycles_pred, "step {} cycles", l.name);
        }
    }
    eprintln!(
        "copies: {copy_sim} cycles simulated, {copy_pred} predicted; frame {} simulated, {} predicted",
        r.frame_sim, r.frame_pred
    );
    assert_eq!(posts, 1, "the design has no post-processing stage on DRAM");
    let err = (r.frame_sim as f64 - r.frame_pred as f64).abs() / r.frame_pred as f64;
    assert!(
        err < 0.01,
        "frame: {} simulated, {} predicted",
        r.frame_sim,
        r.frame_pred
    );
}

fn synthetic_banded(tile: usize, dir: &Path) {
    let cfg = QuantConfig::default();
    let q = synthetic::quant_graph(synthetic::SEED, 64, synthetic::CALIB_IMAGES, &cfg).unwrap();
    let image = synthetic::image(synthetic::GOLDEN_IMAGE_SEED, 64);
    let hw = FoldHw {
        wtaps: 32,
        mem_bytes: tile,
        ..FoldHw::up5k()
    };
    generate_with(&q, 64, hw, Tensors::Dram, &image, dir).unwrap();
}

/// The synthetic model at 64x64 in 12 KiB of tiles with 32-tap weight slots: many bands,
/// halos, padding at band edges and partial sums inside bands.
#[test]
fn synthetic_model_in_bands_with_sdram_bit_exact_in_verilator() {
    if common::tool("verilator").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    synthetic_banded(12 << 10, tmp.path());
    check_pass(
        tmp.path(),
        &simulate(tmp.path(), Simulator::Verilator).unwrap(),
    );
}

/// The input itself in row bands (8 KiB of tiles for a 12 KiB image): the testbench holds
/// each pixel until the engine takes it, the engine takes the rows of one band between the
/// previous band's store and the next, and the whole network stays bit-exact; then the host
/// program against the simulated ULX3S board (UART, flash reader on the flash model in dual
/// I/O, SDRAM controller on the checking model) sends the input band by band, one 'R' each,
/// and prints exactly what `predict --quant` prints for the same image.
#[test]
fn input_in_bands_bit_exact_and_over_the_board_uart() {
    if common::tool("verilator").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("design");
    synthetic_banded(8 << 10, &dir);
    let m = read_manifest(&dir).unwrap();
    let bands = &m.host.as_ref().unwrap().input_bands;
    assert!(bands.len() >= 2, "the input is not in bands: {bands:?}");
    check_pass(&dir, &simulate(&dir, Simulator::Verilator).unwrap());

    // the golden image as a PNG, and the same model for predict
    let sq = tmp.path().join("square.png");
    common::synthetic_golden_png(64, &sq);
    let qdir = tmp.path().join("quant");
    common::synthetic_quant_dir(64, &qdir);
    let board = common::board_run_sim(tmp.path(), "design", &[&sq]);
    let pred = common::predict_quant(tmp.path(), &qdir, 64, &sq);
    eprintln!("{board}");
    assert!(
        pred.lines().count() > 1,
        "the synthetic model detects nothing:\n{pred}"
    );
    assert_eq!(board, pred, "board run and predict --quant differ");
}

/// A word corrupted on the SDRAM data bus during a load (one flipped high bit in each byte,
/// while the model's 400th READ is the latest) must fail the run: the checks see the DRAM
/// path, not only the tiles.
#[test]
fn corrupted_dram_read_is_caught() {
    if common::tool("verilator").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    synthetic_banded(12 << 10, tmp.path());
    let tb = tmp.path().join("tb/tb_top.v");
    let src = std::fs::read_to_string(&tb).unwrap();
    let bus = "wire [15:0] sd_dq_i = m_oe ? m_dq : 16'hxxxx;";
    assert!(src.contains(bus), "the testbench's SDRAM data bus changed");
    let src = src.replace(
        bus,
        "wire [15:0] sd_dq_i = m_oe ? (m_dq ^ (u_sdram.n_rd == 400 ? 16'h8080 : 16'h0000)) : 16'hxxxx;",
    );
    std::fs::write(&tb, src).unwrap();
    let r = simulate(tmp.path(), Simulator::Verilator).unwrap();
    assert!(!r.pass, "a corrupted DRAM read went unnoticed");
    let first = r.first_mismatch.unwrap_or_default();
    eprintln!("caught: {first}");
    assert!(!first.is_empty());
}

/// The banded design (engine, copy unit, SDRAM controller) is Verilator `-Wall` and Icarus
/// `-g2005 -Wall` clean.
#[test]
fn banded_rtl_is_lint_clean() {
    let tmp = tempfile::tempdir().unwrap();
    synthetic_banded(12 << 10, tmp.path());
    common::assert_lint_clean(tmp.path());
}
