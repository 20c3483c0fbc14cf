//! `yoloq-gen synth`: Yosys synthesis (and nextpnr for ice40) of an emitted design; when the
//! whole design cannot be placed, one layer engine is placed and routed alone in a harness.

use super::args::{self, defaults, Board};
use clap::Args;
use std::path::PathBuf;
use yoloq_gen::rtl::synth::{board, synthesize, PnrReport};

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Emitted design directory (from `yoloq-gen emit`).
    pub dir: PathBuf,
    #[arg(long, default_value = defaults::BOARD, value_parser = args::board, help = args::board_help())]
    pub board: Board,
    /// Skip place-and-route even where the board has it.
    #[arg(long)]
    pub no_pnr: bool,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn run(a: SynthArgs) -> anyhow::Result<()> {
    let b = board(&a.board.0)?;
    let r = synthesize(&a.dir, &b, !a.no_pnr)?;
    if let Some(j) = &a.json {
        yoloq_gen::util::write_atomic_str(j, &serde_json::to_string_pretty(&r)?)?;
    }
    println!(
        "{:<34} {:>8} {:>8} {:>8} {:>5} {:>5}",
        "module", "cells", "LUT", "FF", "DSP", "BRAM"
    );
    for (m, u) in &r.modules {
        println!(
            "{m:<34} {:>8} {:>8} {:>8} {:>5} {:>5}",
            u.cells, u.lut, u.ff, u.dsp, u.bram
        );
    }
    let cap = &b.resources;
    let of = |v: u64, c: Option<u64>| {
        c.map_or(String::new(), |c| {
            format!(" of {c} ({:.0}%)", 100.0 * v as f64 / c as f64)
        })
    };
    let spram = if r.total.spram > 0 || cap.spram.is_some() {
        format!(", {} SPRAM{}", r.total.spram, of(r.total.spram, cap.spram))
    } else {
        String::new()
    };
    println!(
        "{}: {} LUT{}, {} FF{}, {} DSP{}, {} BRAM{}{spram} (yosys {:.0} s)",
        b.name,
        r.total.lut,
        of(r.total.lut, cap.lut),
        r.total.ff,
        of(r.total.ff, cap.ff),
        r.total.dsp,
        of(r.total.dsp, cap.dsp),
        r.total.bram,
        of(r.total.bram, cap.bram),
        r.secs
    );
    let fmax = |p: &PnrReport| {
        let f = p.fmax_mhz.map_or("n/a".into(), |f| format!("{f:.1} MHz"));
        p.target_mhz
            .or(b.clock_mhz)
            .map_or(f.clone(), |t| format!("{f} (target {t} MHz)"))
    };
    match &r.pnr {
        Some(Ok(p)) => {
            println!("whole design placed and routed:");
            for (k, used, avail) in &p.utilisation {
                println!("  {k:<16} {used:>6} / {avail}");
            }
            println!("  Fmax {} (nextpnr)", fmax(p));
            if let Some(t) = p.icetime_mhz {
                println!("  Fmax {t:.2} MHz (icetime sign-off)");
            }
        }
        Some(Err(e)) => println!("whole design not placed: {e}"),
        None => {}
    }
    if let Some(l) = &r.layer_pnr {
        println!("layer {} chosen: {}", l.module, l.why);
        match &l.pnr {
            Ok(p) => {
                let res = ["ICESTORM_LC", "ICESTORM_DSP", "ICESTORM_RAM"]
                    .iter()
                    .filter_map(|k| p.get(k).map(|(u, a)| format!("{k} {u}/{a}")))
                    .collect::<Vec<_>>();
                let res = if res.is_empty() {
                    p.utilisation
                        .iter()
                        .map(|(k, u, a)| format!("{k} {u}/{a}"))
                        .collect()
                } else {
                    res
                };
                println!(
                    "layer {} in harness: {}, Fmax {} ({:.0} s)",
                    l.module,
                    res.join(", "),
                    fmax(p),
                    l.secs
                );
            }
            Err(e) => println!("layer {} in harness not placed: {e}", l.module),
        }
    }
    match (&r.bitstream, b.kit) {
        (Some(Ok(bit)), Some(kit)) => {
            let d = a.dir.display();
            println!("bitstream {d}/{bit}; program the {} with:", kit.title());
            for c in kit.program_commands(&format!("{d}/{bit}"), &format!("{d}/board/flash.bin")) {
                println!("  {c}");
            }
            Ok(())
        }
        (Some(Err(e)), _) => anyhow::bail!("{e}"),
        _ => Ok(()),
    }
}
