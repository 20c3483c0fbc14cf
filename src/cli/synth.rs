//! `yoloq-gen synth`: Yosys synthesis (and nextpnr for ice40 and ulx3s-85f) of an emitted design; when the
//! whole design cannot be placed, one layer engine is placed and routed alone in a harness.

use super::args::BoardOpt;
use clap::Args;
use std::path::{Path, PathBuf};
use yoloq_gen::rtl::synth::{board, estimate, synthesize, PnrReport};

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Emitted design directory (from `yoloq-gen emit`).
    pub dir: PathBuf,
    #[command(flatten)]
    pub opts: SynthOpts,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// How a design is synthesized: the options of `synth` and of the main job's `--synth`, with
/// their defaults defined once (the flags' defaults; [`Default`] parses them).
#[derive(Args, Debug, Clone, PartialEq)]
pub struct SynthOpts {
    #[command(flatten)]
    pub board: BoardOpt,
    /// Skip place-and-route even where the board has it.
    #[arg(long)]
    pub no_pnr: bool,
    /// Run Yosys even when the resource estimate says the design cannot fit the board (to
    /// measure it, or to place one layer engine alone).
    #[arg(long)]
    pub no_estimate: bool,
}

impl Default for SynthOpts {
    fn default() -> Self {
        super::args::clap_defaults()
    }
}

impl SynthOpts {
    /// The flags that give these options to `yoloq-gen synth`.
    pub fn flags(&self) -> Vec<String> {
        let mut v = vec![format!("--board={}", self.board.board.0)];
        v.extend(self.no_pnr.then(|| "--no-pnr".to_string()));
        v.extend(self.no_estimate.then(|| "--no-estimate".to_string()));
        v
    }
}

pub fn run(a: SynthArgs) -> anyhow::Result<()> {
    synthesize_design(&a.dir, &a.opts, a.json.as_deref())
}

/// The synthesis stage: Yosys (and place-and-route where the board has it) of the design in
/// `dir`, the report printed and, with `json`, written as JSON. The library call behind
/// `synth` and the main job's `--synth`.
pub fn synthesize_design(dir: &Path, o: &SynthOpts, json: Option<&Path>) -> anyhow::Result<()> {
    let b = board(&o.board.board.0)?;
    if !o.no_estimate {
        // A design that cannot fit is refused in seconds, before Yosys starts.
        estimate::check(dir, &b)?;
    }
    let r = synthesize(dir, &b, !o.no_pnr)?;
    if let Some(j) = json {
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
            let d = dir.display();
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
