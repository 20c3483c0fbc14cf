//! Synthesis with Yosys (and place-and-route with nextpnr-ice40 where available) for the
//! boards described in `boards/*.yaml` ([`board`]).
//!
//! Guarantees: the Yosys script is written to `<design>/synth/<board>/synth.ys` and runs
//! from the design directory (ROM paths are relative); resource figures come from
//! `stat -json` (per module, totals computed through the hierarchy, [`stat`]) and nextpnr's
//! `--report` JSON ([`pnr`]), never from log text. When the whole design cannot be placed,
//! the largest convolution engine that fits the board is placed and routed alone inside a
//! harness ([`harness`]), so that a real utilisation and Fmax of one engine are reported.

pub mod board;
pub mod estimate;
pub mod harness;
pub mod pnr;
pub mod stat;

pub use board::{board, Board, Family, Memory, MemoryKind, Pnr, Resources, BOARDS};
pub use harness::{layer_pnr, LayerPnr};
pub use pnr::{parse_pnr, PnrReport};
pub use stat::{parse_stat, Usage};

use super::manifest::read_manifest;
use super::sim::run_checked;
use crate::error::{Error, Result};
use serde::Serialize;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Synthesis results of one design for one board.
#[derive(Clone, Debug, Serialize)]
pub struct SynthReport {
    pub board: String,
    /// Per generated layer module and the top.
    pub modules: Vec<(String, Usage)>,
    pub total: Usage,
    /// Whole-design place-and-route (`None` when not run); an error is one line.
    pub pnr: Option<Result<PnrReport, String>>,
    /// One engine placed and routed alone, when the whole design could not be placed.
    pub layer_pnr: Option<LayerPnr>,
    /// Wall time of the whole-design Yosys run.
    pub secs: f64,
}

/// Run Yosys on the script `dir/rel/synth.ys` (from `dir`), logging to `rel/yosys.log`.
pub fn run_yosys(dir: &Path, rel: &str) -> Result<()> {
    let yosys = which::which("yosys").map_err(|_| Error::Tool {
        tool: "yosys".into(),
        msg: "not found on PATH; install it (Debian: apt-get install yosys)".into(),
    })?;
    let mut c = Command::new(yosys);
    c.current_dir(dir)
        .args(["-q", "-l"])
        .arg(format!("{rel}/yosys.log"))
        .arg("-s")
        .arg(format!("{rel}/synth.ys"));
    let spin = crate::progress::spinner(&format!("yosys: {rel}"));
    let r = run_checked(c, "yosys").map(|_| ());
    spin.finish_and_clear();
    r
}

/// The files one synthesis run writes into `synth/<board>/` after Yosys: a run removes the
/// previous run's before it starts.
const STALE: [&str; 5] = [
    "netlist.json",
    "pnr.json",
    "design.asc",
    "icetime.txt",
    "yoloq.bin",
];

/// Write and run the Yosys script for `board` on the design in `dir`.
pub fn synthesize(dir: &Path, b: &Board, pnr: bool) -> Result<SynthReport> {
    let mut m = read_manifest(dir)?;
    let rel = format!("synth/{}", b.name);
    let work = dir.join(&rel);
    std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    // A previous run's placement, timing report and bitstream must not outlive a run that
    // fails before writing its own (a stale yoloq.bin would be flashed by mistake).
    for f in STALE {
        let p = work.join(f);
        if p.is_file() {
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    // A folded design on iCE40 is built as the board: its top level with the PLL, pads, flash
    // reader and UART, placed on the iCEBreaker's pins at the PLL's clock.
    let board_top = m.arch == super::Arch::Folded
        && b.family == Family::Ice40
        && dir.join("board/yq_board.v").is_file();
    let mut nextpnr = b.nextpnr.clone();
    if board_top {
        for f in super::folded::emit::BOARD_PRIMS.iter() {
            m.rtl.push(format!("board/{}", f.0));
        }
        m.rtl.push("board/yq_board.v".into());
        m.top = "yq_board".into();
        if let Some(p) = &mut nextpnr {
            if let Some(i) = p.args.iter().position(|a| a == "--freq") {
                p.args.drain(i..i + 2);
            }
            let mhz = super::folded::emit::BOARD_HZ as f64 / 1e6;
            // A timing miss is reported (nextpnr's Fmax, then icetime's sign-off), not fatal.
            p.args.extend([
                "--timing-allow-fail".into(),
                "--freq".into(),
                mhz.to_string(),
                "--pcf".into(),
                "board/icebreaker.pcf".into(),
            ]);
        }
    }
    // Vendor cells (SB_IO, SB_PLL40_PAD) are known only inside synth_ice40.
    let check = if board_top {
        String::new()
    } else {
        format!("hierarchy -check -top {}\n", m.top)
    };
    let mut ys = format!("read_verilog -defer {}\n{check}", m.rtl.join(" "));
    for c in b.synth_for(m.arch).split(';') {
        ys.push_str(&c.trim().replace("{top}", &m.top));
        ys.push('\n');
    }
    ys.push_str(&format!("tee -q -o {rel}/stat.json stat -json\n"));
    let run_pnr = pnr && b.nextpnr.is_some();
    if run_pnr {
        ys.push_str(&format!("flatten\nwrite_json {rel}/netlist.json\n"));
    }
    crate::util::write_atomic_str(&work.join("synth.ys"), &ys)?;
    let t0 = Instant::now();
    run_yosys(dir, &rel)?;
    let secs = t0.elapsed().as_secs_f64();
    let stat_path = work.join("stat.json");
    let stat = std::fs::read_to_string(&stat_path).map_err(|e| Error::io(&stat_path, e))?;
    let per = parse_stat(&stat, b.family.as_str())?;
    let total = per.get(&m.top).cloned().unwrap_or_default();
    let mut modules: Vec<(String, Usage)> = m
        .layers
        .iter()
        .filter_map(|l| per.get(&l.module).map(|u| (l.module.clone(), u.clone())))
        .collect();
    modules.push((m.top.clone(), total.clone()));
    let pnr = match &nextpnr {
        Some(p) if run_pnr => Some(
            pnr::place_route(dir, &rel, p)
                .map_err(|e| pnr::failure(&e.to_string(), &total, &b.resources, &b.name)),
        ),
        _ => None,
    };
    let mut pnr = pnr;
    if board_top {
        if let Some(Ok(p)) = &mut pnr {
            let clock = super::folded::emit::BOARD_HZ as f64 / 1e6;
            p.icetime_mhz = Some(pnr::bitstream(dir, &rel, clock)?);
        }
    }
    let layer_pnr = match &pnr {
        Some(Err(_)) if !board_top => layer_pnr(dir, b, &m, &modules),
        _ => None,
    };
    Ok(SynthReport {
        board: b.name.clone(),
        modules,
        total,
        pnr,
        layer_pnr,
        secs,
    })
}
