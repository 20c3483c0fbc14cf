//! Synthesis with Yosys (and place-and-route with nextpnr-ice40 where available) for the
//! boards described in `boards/*.yaml`.
//!
//! Guarantees: the Yosys script is written to `<design>/synth/<board>/synth.ys` and runs
//! from the design directory (ROM paths are relative); resource figures come from
//! `stat -json` (per module, totals computed through the hierarchy) and nextpnr's
//! `--report` JSON, never from log text.

use super::emit::read_manifest;
use super::sim::run_checked;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Board files shipped with the tool (`boards/`).
pub const BOARDS: [(&str, &str); 4] = [
    ("generic", include_str!("../../boards/generic.yaml")),
    ("ice40", include_str!("../../boards/ice40.yaml")),
    ("ecp5", include_str!("../../boards/ecp5.yaml")),
    ("xc7", include_str!("../../boards/xc7.yaml")),
];

/// Device capacity (absent = unlimited / unknown).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Resources {
    pub lut: Option<u64>,
    pub ff: Option<u64>,
    pub dsp: Option<u64>,
    pub bram: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pnr {
    pub tool: String,
    pub args: Vec<String>,
}

/// A board description.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Board {
    pub name: String,
    pub family: String,
    /// Yosys commands (`;`-separated), `{top}` replaced by the top module.
    pub synth: String,
    #[serde(default)]
    pub resources: Resources,
    pub nextpnr: Option<Pnr>,
}

/// A built-in board by name, or a board YAML file by path.
pub fn board(name: &str) -> Result<Board> {
    let text = match BOARDS.iter().find(|b| b.0 == name) {
        Some(b) => b.1.to_string(),
        None if Path::new(name).is_file() => {
            std::fs::read_to_string(name).map_err(|e| Error::io(name, e))?
        }
        None => {
            return Err(Error::arg(
                "--board",
                format!(
                    "unknown board `{name}`; use generic, ice40, ecp5, xc7 or a board .yaml file"
                ),
            ))
        }
    };
    serde_norway::from_str(&text)
        .map_err(|e| Error::data(name, format!("bad board description: {e}")))
}

/// Resource counts of one module (own cells plus everything instantiated below it).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Usage {
    pub cells: u64,
    pub lut: u64,
    pub ff: u64,
    pub dsp: u64,
    pub bram: u64,
}

impl Usage {
    fn add(&mut self, o: &Usage, n: u64) {
        self.cells += o.cells * n;
        self.lut += o.lut * n;
        self.ff += o.ff * n;
        self.dsp += o.dsp * n;
        self.bram += o.bram * n;
    }
}

/// Classify a primitive cell type of `family`.
fn classify(family: &str, t: &str, n: u64, u: &mut Usage) {
    u.cells += n;
    let is = |p: &[&str]| p.iter().any(|x| t.starts_with(x));
    match family {
        "ice40" if is(&["SB_LUT4"]) => u.lut += n,
        "ice40" if is(&["SB_DFF"]) => u.ff += n,
        "ice40" if is(&["SB_MAC16"]) => u.dsp += n,
        "ice40" if is(&["SB_RAM40", "SB_SPRAM"]) => u.bram += n,
        "ecp5" if is(&["LUT4"]) => u.lut += n,
        "ecp5" if is(&["TRELLIS_FF"]) => u.ff += n,
        "ecp5" if is(&["MULT18X18", "ALU54"]) => u.dsp += n,
        "ecp5" if is(&["DP16KD", "PDPW16KD"]) => u.bram += n,
        "xc7" if is(&["LUT"]) => u.lut += n,
        "xc7" if is(&["FD"]) => u.ff += n,
        "xc7" if is(&["DSP48"]) => u.dsp += n,
        "xc7" if is(&["RAMB"]) => u.bram += n,
        "generic" if is(&["$lut"]) => u.lut += n,
        "generic" if is(&["$_DFF", "$_SDFF", "$_DFFE", "$_SDFFE", "$dff"]) => u.ff += n,
        "generic" if is(&["$mul"]) => u.dsp += n,
        "generic" if is(&["$mem"]) => u.bram += n,
        _ => {}
    }
}

#[derive(Deserialize)]
struct StatModule {
    num_cells_by_type: BTreeMap<String, u64>,
}
#[derive(Deserialize)]
struct Stat {
    modules: BTreeMap<String, StatModule>,
}

/// Yosys 0.23 prints a hierarchy listing into `stat -json` output: keep only JSON lines.
fn clean_stat(s: &str) -> String {
    s.lines()
        .filter(|l| {
            let t = l.trim_start();
            t.is_empty() || t.starts_with(['"', '{', '}', '[', ']'])
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Per-module totals through the hierarchy. Keys are the plain module names (parameterised
/// instances keep Yosys' `$paramod$hash\name`).
pub fn parse_stat(json: &str, family: &str) -> Result<BTreeMap<String, Usage>> {
    let st: Stat = serde_json::from_str(&clean_stat(json)).map_err(|e| Error::Tool {
        tool: "yosys".into(),
        msg: format!("unreadable stat -json output: {e}"),
    })?;
    let names: Vec<String> = st.modules.keys().cloned().collect();
    let strip = |s: &str| s.trim_start_matches('\\').to_string();
    let mut memo: BTreeMap<String, Usage> = BTreeMap::new();
    fn total(m: &str, st: &Stat, fam: &str, memo: &mut BTreeMap<String, Usage>) -> Usage {
        if let Some(u) = memo.get(m) {
            return u.clone();
        }
        let mut u = Usage::default();
        for (t, &n) in &st.modules[m].num_cells_by_type {
            let sub = st
                .modules
                .keys()
                .find(|k| k.trim_start_matches('\\') == t.trim_start_matches('\\'))
                .cloned();
            match sub {
                Some(s) => {
                    let su = total(&s, st, fam, memo);
                    u.add(&su, n);
                }
                None => classify(fam, t, n, &mut u),
            }
        }
        memo.insert(m.to_string(), u.clone());
        u
    }
    Ok(names
        .iter()
        .map(|n| (strip(n), total(n, &st, family, &mut memo)))
        .collect())
}

/// nextpnr results.
#[derive(Clone, Debug, Serialize)]
pub struct PnrReport {
    /// `(resource, used, available)` from the report's utilization section.
    pub utilisation: Vec<(String, u64, u64)>,
    pub fmax_mhz: Option<f64>,
}

/// Synthesis results of one design for one board.
#[derive(Clone, Debug, Serialize)]
pub struct SynthReport {
    pub board: String,
    /// Per generated layer module and the top.
    pub modules: Vec<(String, Usage)>,
    pub total: Usage,
    pub pnr: Option<Result<PnrReport, String>>,
    pub secs: f64,
}

/// Write and run the Yosys script for `board` on the design in `dir`.
pub fn synthesize(dir: &Path, b: &Board, pnr: bool) -> Result<SynthReport> {
    let m = read_manifest(dir)?;
    let yosys = which::which("yosys").map_err(|_| Error::Tool {
        tool: "yosys".into(),
        msg: "not found on PATH; install it (Debian: apt-get install yosys)".into(),
    })?;
    let rel = format!("synth/{}", b.name);
    let work = dir.join(&rel);
    std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    let mut ys = format!(
        "read_verilog -defer {}\nhierarchy -check -top {}\n",
        m.rtl.join(" "),
        m.top
    );
    for c in b.synth.split(';') {
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
    let mut c = Command::new(yosys);
    c.current_dir(dir)
        .args(["-q", "-l"])
        .arg(format!("{rel}/yosys.log"))
        .arg("-s")
        .arg(format!("{rel}/synth.ys"));
    run_checked(c, "yosys")?;
    let stat_path = work.join("stat.json");
    let stat = std::fs::read_to_string(&stat_path).map_err(|e| Error::io(&stat_path, e))?;
    let per = parse_stat(&stat, &b.family)?;
    let total = per.get(&m.top).cloned().unwrap_or_default();
    let mut modules: Vec<(String, Usage)> = m
        .layers
        .iter()
        .filter_map(|l| per.get(&l.module).map(|u| (l.module.clone(), u.clone())))
        .collect();
    modules.push((m.top.clone(), total.clone()));
    let pnr = run_pnr.then(|| {
        place_route(dir, &rel, b.nextpnr.as_ref().expect("checked")).map_err(|e| e.to_string())
    });
    Ok(SynthReport {
        board: b.name.clone(),
        modules,
        total,
        pnr,
        secs: t0.elapsed().as_secs_f64(),
    })
}

fn place_route(dir: &Path, rel: &str, p: &Pnr) -> Result<PnrReport> {
    let tool = which::which(&p.tool).map_err(|_| Error::Tool {
        tool: p.tool.clone(),
        msg: "not found on PATH; install it (Debian: apt-get install nextpnr-ice40)".into(),
    })?;
    let mut c = Command::new(tool);
    c.current_dir(dir)
        .args(&p.args)
        .arg("--json")
        .arg(format!("{rel}/netlist.json"))
        .arg("--report")
        .arg(format!("{rel}/pnr.json"))
        .arg("--asc")
        .arg(format!("{rel}/design.asc"));
    run_checked(c, &p.tool)?;
    let path = dir.join(rel).join("pnr.json");
    let s = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    parse_pnr(&s).map_err(|e| Error::data(&path, e))
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
    let fmax_mhz = v.get("fmax").and_then(|f| f.as_object()).and_then(|f| {
        f.values()
            .filter_map(|c| c.get("achieved").and_then(|a| a.as_f64()))
            .reduce(f64::min)
    });
    Ok(PnrReport {
        utilisation,
        fmax_mhz,
    })
}
