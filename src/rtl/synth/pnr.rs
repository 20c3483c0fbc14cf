//! Place-and-route with nextpnr: running it on a Yosys JSON netlist, reading its `--report`
//! JSON, and explaining in one line why a design cannot be placed.
//!
//! Guarantees: utilisation and Fmax come from the report JSON, never from log text; the
//! work files (`pnr.json`, `design.asc`) go next to the netlist in the given work directory.

use super::{Family, Pnr, Resources, Usage};
use crate::error::{Error, Result};
use serde::Serialize;
use std::path::Path;
use std::process::Command;

/// nextpnr results.
#[derive(Clone, Debug, Serialize)]
pub struct PnrReport {
    /// `(resource, used, available)` from the report's utilization section.
    pub utilisation: Vec<(String, u64, u64)>,
    pub fmax_mhz: Option<f64>,
    /// The clock constraint nextpnr placed for (the slowest clock's, as `fmax_mhz`).
    pub target_mhz: Option<f64>,
    /// icetime's sign-off of the placed board design (iCEBreaker flow only).
    pub icetime_mhz: Option<f64>,
}

impl PnrReport {
    /// `(used, available)` of one resource (e.g. `ICESTORM_DSP`).
    pub fn get(&self, resource: &str) -> Option<(u64, u64)> {
        self.utilisation
            .iter()
            .find(|u| u.0 == resource)
            .map(|u| (u.1, u.2))
    }
}

/// Run nextpnr (`exe`, for a board of `family`) on `<dir>/<rel>/netlist.json` (from `dir`,
/// relative paths only) and parse its report. The placed design goes to `rel/design.asc`
/// (iCE40) or `rel/design.config` (ECP5).
pub fn place_route(
    dir: &Path,
    rel: &str,
    p: &Pnr,
    exe: &Path,
    family: Family,
) -> Result<PnrReport> {
    let mut c = Command::new(exe);
    c.current_dir(dir)
        .args(&p.args)
        .arg("--json")
        .arg(format!("{rel}/netlist.json"))
        .arg("--report")
        .arg(format!("{rel}/pnr.json"))
        .arg("-l")
        .arg(format!("{rel}/nextpnr.log"));
    match family {
        Family::Ecp5 => c.arg("--textcfg").arg(format!("{rel}/design.config")),
        _ => c.arg("--asc").arg(format!("{rel}/design.asc")),
    };
    let spin = crate::progress::spinner(&format!("{}: {rel}", p.tool));
    let r = super::super::sim::run_checked(c, &p.tool);
    spin.finish_and_clear();
    r?;
    let path = dir.join(rel).join("pnr.json");
    let s = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    parse_pnr(&s).map_err(|e| Error::data(&path, e))
}

/// After a placed iCEBreaker design: icetime's timing sign-off (nextpnr-ice40 has only
/// placeholder DSP delays) into `icetime.txt`, and, when the design closes at its clock of
/// `clock_mhz`, the bitstream `yoloq.bin` by icepack. Returns icetime's frequency; a design
/// that does not close gets no bitstream (one line saying so).
pub fn bitstream(dir: &Path, rel: &str, clock_mhz: f64) -> Result<f64> {
    let tool = |n: &str| {
        which::which(n).map_err(|_| Error::Tool {
            tool: n.into(),
            msg: "not found on PATH; install it (Debian: apt-get install fpga-icestorm fpga-icestorm-chipdb)".into(),
        })
    };
    let mut t = Command::new(tool("icetime")?);
    t.current_dir(dir)
        .args([
            "-d",
            "up5k",
            "-P",
            "sg48",
            "-p",
            "board/icebreaker.pcf",
            "-t",
        ])
        .arg(format!("{rel}/design.asc"));
    let out = super::super::sim::run_checked(t, "icetime")?;
    crate::util::write_atomic_str(&dir.join(rel).join("icetime.txt"), &out)?;
    let mhz = icetime_mhz(&out).ok_or_else(|| Error::Tool {
        tool: "icetime".into(),
        msg: format!("no \"Total path delay\" line in {rel}/icetime.txt"),
    })?;
    let bin = dir.join(rel).join("yoloq.bin");
    if mhz < clock_mhz {
        // A bitstream of an earlier run must not look like this run's.
        let _ = std::fs::remove_file(&bin);
        return Err(Error::Other(format!(
            "icetime: the placed design closes {mhz:.2} MHz, below its {clock_mhz} MHz clock; no yoloq.bin written (see {rel}/icetime.txt)"
        )));
    }
    let mut p = Command::new(tool("icepack")?);
    p.current_dir(dir)
        .arg(format!("{rel}/design.asc"))
        .arg(format!("{rel}/yoloq.bin"));
    super::super::sim::run_checked(p, "icepack")?;
    Ok(mhz)
}

/// After a placed ECP5 board design: when nextpnr's Fmax (its timing analysis is the
/// sign-off on ECP5) reaches the clock of `clock_mhz`, the bitstream `yoloq.bit` by `pack`
/// (ecppack); a design that does not close gets no bitstream (one line saying so).
pub fn ecp5_bitstream(
    dir: &Path,
    rel: &str,
    p: &PnrReport,
    clock_mhz: f64,
    pack: &Path,
) -> Result<()> {
    let bit = dir.join(rel).join("yoloq.bit");
    let fmax = p.fmax_mhz.unwrap_or(0.0);
    if fmax < clock_mhz {
        let _ = std::fs::remove_file(&bit);
        return Err(Error::Other(format!(
            "nextpnr-ecp5: the placed design closes {fmax:.2} MHz, below its {clock_mhz} MHz clock; no yoloq.bit written (see {rel}/nextpnr.log)"
        )));
    }
    let mut c = Command::new(pack);
    c.current_dir(dir)
        .arg(format!("{rel}/design.config"))
        .arg(format!("{rel}/yoloq.bit"));
    let spin = crate::progress::spinner(&format!("ecppack: {rel}"));
    let r = super::super::sim::run_checked(c, "ecppack");
    spin.finish_and_clear();
    r.map(|_| ())
}

/// The frequency of icetime's critical path: `Total path delay: 46.53 ns (21.49 MHz)`.
pub fn icetime_mhz(out: &str) -> Option<f64> {
    out.lines()
        .find(|l| l.contains("Total path delay"))
        .and_then(|l| l.split('(').nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Parse nextpnr's `--report` JSON.
pub fn parse_pnr(s: &str) -> std::result::Result<PnrReport, String> {
    let v: serde_json::Value = serde_json::from_str(s).map_err(|e| format!("not JSON: {e}"))?;
    let mut utilisation = Vec::new();
    if let Some(u) = v.get("utilization").and_then(|u| u.as_object()) {
        for (k, x) in u {
            let used = x.get("used").and_then(|n| n.as_u64()).unwrap_or(0);
            let avail = x.get("available").and_then(|n| n.as_u64()).unwrap_or(0);
            utilisation.push((k.clone(), used, avail));
        }
    }
    let clocks: Vec<(f64, Option<f64>)> = v
        .get("fmax")
        .and_then(|f| f.as_object())
        .map(|f| {
            f.values()
                .filter_map(|c| {
                    let a = c.get("achieved").and_then(|a| a.as_f64())?;
                    Some((a, c.get("constraint").and_then(|t| t.as_f64())))
                })
                .collect()
        })
        .unwrap_or_default();
    let slowest = clocks
        .iter()
        .copied()
        .reduce(|a, b| if b.0 < a.0 { b } else { a });
    Ok(PnrReport {
        utilisation,
        fmax_mhz: slowest.map(|c| c.0),
        target_mhz: slowest.and_then(|c| c.1),
        icetime_mhz: None,
    })
}

/// The resources of `u` that exceed the board's capacity, as `"236 DSP needed, 8 on ice40"`
/// phrases (empty when the synthesized design fits).
pub fn overflows(u: &Usage, cap: &Resources, board: &str) -> Vec<String> {
    [
        ("DSP", u.dsp, cap.dsp),
        ("BRAM", u.bram, cap.bram),
        ("SPRAM", u.spram, cap.spram),
        ("LUT", u.lut, cap.lut),
        ("FF", u.ff, cap.ff),
    ]
    .iter()
    .filter_map(|&(what, used, c)| {
        c.filter(|&c| used > c)
            .map(|c| format!("{used} {what} needed, {c} on {board}"))
    })
    .collect()
}

/// One line saying why the whole design was not placed: the resources it lacks (from the
/// Yosys figures) and nextpnr's first error line, or nextpnr's error alone.
pub fn failure(err: &str, u: &Usage, cap: &Resources, board: &str) -> String {
    let first = err
        .split(" | ")
        .find_map(|l| l.find("ERROR").map(|i| &l[i..]))
        .unwrap_or(err)
        .trim();
    let over = overflows(u, cap, board);
    if over.is_empty() {
        first.to_string()
    } else {
        format!("{} (nextpnr: {first})", over.join("; "))
    }
}
