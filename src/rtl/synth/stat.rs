//! Resource counts from Yosys' `stat -json`: primitive cells classified per FPGA family and
//! summed through the module hierarchy.
//!
//! Guarantees: a module's [`Usage`] is its own cells plus, for every instantiated module,
//! that module's total times the instance count; figures never come from log text.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Resource counts of one module (own cells plus everything instantiated below it).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Usage {
    pub cells: u64,
    pub lut: u64,
    pub ff: u64,
    pub dsp: u64,
    /// Block RAMs (iCE40: SB_RAM40_4K).
    pub bram: u64,
    /// Large single-port RAMs (iCE40 UltraPlus: SB_SPRAM256KA), a separate resource.
    #[serde(default)]
    pub spram: u64,
}

impl Usage {
    fn add(&mut self, o: &Usage, n: u64) {
        self.cells += o.cells * n;
        self.lut += o.lut * n;
        self.ff += o.ff * n;
        self.dsp += o.dsp * n;
        self.bram += o.bram * n;
        self.spram += o.spram * n;
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
        "ice40" if is(&["SB_RAM40"]) => u.bram += n,
        "ice40" if is(&["SB_SPRAM"]) => u.spram += n,
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
