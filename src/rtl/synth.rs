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
pub mod tools;

pub use board::{board, Board, Family, Kit, Memory, MemoryKind, Pnr, Resources, BOARDS};
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
    /// A board design's bitstream, relative to the design folder (`None` when no board top
    /// was placed), or why none was written (timing not met, packer missing): one line.
    pub bitstream: Option<Result<String, String>>,
    /// Wall time of the whole-design Yosys run.
    pub secs: f64,
}

/// Run Yosys (`yosys`, the path found by [`tools::find`]) on the script `dir/rel/synth.ys`
/// (from `dir`), logging to `rel/yosys.log`.
pub fn run_yosys(dir: &Path, rel: &str, yosys: &Path) -> Result<()> {
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
const STALE: [&str; 7] = [
    "netlist.json",
    "pnr.json",
    "design.asc",
    "design.config",
    "icetime.txt",
    "yoloq.bin",
    "yoloq.bit",
];

/// Write and run the Yosys script for `board` on the design in `dir`.
/// Refuse, before any tool runs, a board design whose flash image (`board/flash.bin`) does
/// not fit in the board's flash after its bitstream (`user_offset`).
fn flash_fits(dir: &Path, b: &Board) -> Result<()> {
    let img = dir.join("board/flash.bin");
    let Ok(meta) = std::fs::metadata(&img) else {
        return Ok(());
    };
    let Some(room) = b
        .memories_of(board::MemoryKind::Flash)
        .find_map(|f| f.user_bytes())
    else {
        return Ok(());
    };
    if meta.len() > room {
        return Err(Error::data(
            &img,
            format!(
                "the weight image is {} bytes; the {} board's flash holds {room} after the bitstream; \
                 emit at a smaller --imgsz (fewer row bands, each of which reads its layer's weights again)",
                meta.len(),
                b.name
            ),
        ));
    }
    Ok(())
}

pub fn synthesize(dir: &Path, b: &Board, pnr: bool) -> Result<SynthReport> {
    let mut m = read_manifest(dir)?;
    if b.kit.is_some() && m.arch == super::Arch::Folded {
        flash_fits(dir, b)?;
    }
    let tools = tools::find(b, pnr)?;
    let rel = format!("synth/{}", b.name);
    let work = dir.join(&rel);
    std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    // A previous run's placement, timing report and bitstream must not outlive a run that
    // fails before writing its own (a stale bitstream would be flashed by mistake).
    for f in STALE {
        let p = work.join(f);
        if p.is_file() {
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    // A folded design on a development board is built as the board: its top level with the
    // PLL, pads, flash reader and UART, placed on the board's pins at the PLL's clock.
    let kit = b
        .kit
        .filter(|k| m.arch == super::Arch::Folded && dir.join(k.top_file()).is_file());
    let mut nextpnr = b.nextpnr.clone();
    if let Some(k) = kit {
        for f in super::folded::emit::BOARD_PRIMS.iter() {
            m.rtl.push(format!("board/{}", f.0));
        }
        m.rtl.push(k.top_file().into());
        m.top = "yq_board".into();
        if let Some(p) = &mut nextpnr {
            if let Some(i) = p.args.iter().position(|a| a == "--freq") {
                p.args.drain(i..i + 2);
            }
            let mhz = k.clock_hz() as f64 / 1e6;
            // A timing miss is reported (nextpnr's Fmax; icetime's sign-off on iCE40), not
            // fatal; the bitstream is written only for a design that closes.
            p.args.extend([
                "--timing-allow-fail".into(),
                "--freq".into(),
                mhz.to_string(),
            ]);
            p.args.extend(k.constraints().map(String::from));
        }
    }
    // Vendor cells (PLL, pads) are known only inside the family's synth pass.
    let check = if kit.is_some() {
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
    let run_pnr = tools.nextpnr.is_some();
    if run_pnr {
        ys.push_str(&format!("flatten\nwrite_json {rel}/netlist.json\n"));
    }
    crate::util::write_atomic_str(&work.join("synth.ys"), &ys)?;
    let t0 = Instant::now();
    run_yosys(dir, &rel, &tools.yosys)?;
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
    let pnr = match (&nextpnr, &tools.nextpnr) {
        (Some(p), Some(exe)) => Some(
            pnr::place_route(dir, &rel, p, exe, b.family)
                .map_err(|e| pnr::failure(&e.to_string(), &total, &b.resources, &b.name)),
        ),
        _ => None,
    };
    let mut pnr = pnr;
    let mut bitstream = None;
    if let (Some(k), Some(Ok(p))) = (kit, &mut pnr) {
        let clock = k.clock_hz() as f64 / 1e6;
        let written = match b.family {
            Family::Ice40 => pnr::bitstream(dir, &rel, clock).map(|mhz| {
                p.icetime_mhz = Some(mhz);
                format!("{rel}/yoloq.bin")
            }),
            _ => tools
                .pack
                .as_deref()
                .ok_or_else(|| Error::Tool {
                    tool: "ecppack".into(),
                    msg: "not found on PATH".into(),
                })
                .and_then(|pack| pnr::ecp5_bitstream(dir, &rel, p, clock, pack))
                .map(|_| format!("{rel}/yoloq.bit")),
        };
        bitstream = Some(written.map_err(|e| e.to_string()));
    }
    let layer_pnr = match &pnr {
        Some(Err(_)) if kit.is_none() => layer_pnr(dir, b, &m, &modules),
        _ => None,
    };
    Ok(SynthReport {
        board: b.name.clone(),
        modules,
        total,
        pnr,
        layer_pnr,
        bitstream,
        secs,
    })
}
