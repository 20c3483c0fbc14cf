//! Running the hand-written primitives' testbenches: Icarus, Verilator and Yosys from a
//! temporary work directory. A missing tool goes through `common::tool` (a loud skip on a
//! user's machine, a failure under CI=true), so every function here returns `None` then.
//! Testbenches print `RESULT PASS ...` or `RESULT FAIL ...`; `assert_pass` checks that.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;

/// `templates/folded/prims/<name>`.
pub fn prim(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("templates/folded/prims")
        .join(name)
}

/// `rtl_tb/folded/<name>`.
pub fn tb(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("rtl_tb/folded")
        .join(name)
}

/// Yosys' iCE40 simulation library: `<prefix>/share/yosys/ice40/cells_sim.v` beside the
/// `yosys` binary on PATH (`<prefix>/bin/yosys`).
pub fn cells_sim() -> Option<PathBuf> {
    let yosys = common::tool("yosys")?;
    let prefix = yosys.canonicalize().ok()?.parent()?.parent()?.to_path_buf();
    let p = prefix.join("share/yosys/ice40/cells_sim.v");
    if p.exists() {
        Some(p)
    } else {
        common::missing(&p.display().to_string());
        None
    }
}

/// A Verilog parameter value: a number or a string (quoted for the tools).
pub enum Param {
    Int(i64),
    Str(&'static str),
}

/// Run `cmd`, panic with its output unless it exits 0; return stdout.
pub fn run(mut cmd: Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

/// Compile with `iverilog -g2005 -Wall` (top `top`, parameters of the top) and run with vvp.
pub fn icarus(
    work: &Path,
    top: &str,
    files: &[PathBuf],
    params: &[(&str, Param)],
    defines: &[&str],
) -> Option<String> {
    let iverilog = common::tool("iverilog")?;
    let vvp = common::tool("vvp")?;
    let exe = work.join(format!("{top}.vvp"));
    let mut c = Command::new(iverilog);
    c.args(["-g2005", "-Wall", "-Wno-timescale", "-s", top, "-o"])
        .arg(&exe);
    for (k, v) in params {
        match v {
            Param::Int(n) => c.arg(format!("-P{top}.{k}={n}")),
            Param::Str(s) => c.arg(format!("-P{top}.{k}=\"{s}\"")),
        };
    }
    for d in defines {
        c.arg(format!("-D{d}"));
    }
    c.args(files);
    run(c, &format!("iverilog {top}"));
    let mut r = Command::new(vvp);
    r.arg("-n").arg(&exe).current_dir(work);
    Some(run(r, &format!("vvp {top}")))
}

/// Build with `verilator --binary --timing -Wall` (testbench style: blocking assignments in
/// clocked processes allowed) and run.
pub fn verilator(
    work: &Path,
    top: &str,
    files: &[PathBuf],
    params: &[(&str, Param)],
    extra: &[&str],
) -> Option<String> {
    let verilator = common::tool("verilator")?;
    let mdir = work.join(format!("obj_{top}"));
    let mut c = Command::new(verilator);
    c.args([
        "--binary",
        "--timing",
        "-Wall",
        "-Wno-BLKSEQ",
        "--top-module",
        top,
    ])
    .arg("-Mdir")
    .arg(&mdir)
    .args(extra);
    for (k, v) in params {
        match v {
            Param::Int(n) => c.arg(format!("-G{k}={n}")),
            Param::Str(s) => c.arg(format!("-G{k}=\"{s}\"")),
        };
    }
    c.args(files);
    run(c, &format!("verilator {top}"));
    Some(run(
        Command::new(mdir.join(format!("V{top}"))),
        &format!("verilator model {top}"),
    ))
}

/// Lint one primitive with `verilator --lint-only -Wall` (the primitives' own standard);
/// `extra` goes before the files (defines, a `.vlt` configuration).
pub fn lint(files: &[PathBuf], top: &str, params: &[(&str, Param)], extra: &[&str]) -> Option<()> {
    let verilator = common::tool("verilator")?;
    let mut c = Command::new(verilator);
    c.args(["--lint-only", "-Wall", "--top-module", top])
        .args(extra);
    for (k, v) in params {
        match v {
            Param::Int(n) => c.arg(format!("-G{k}={n}")),
            Param::Str(s) => c.arg(format!("-G{k}=\"{s}\"")),
        };
    }
    c.args(files);
    run(c, &format!("verilator --lint-only {top}"));
    Some(())
}

/// Run a Yosys script (`yosys -q -p SCRIPT`) in `work`; return its stdout.
pub fn yosys(work: &Path, script: &str) -> Option<String> {
    let yosys = common::tool("yosys")?;
    let mut c = Command::new(yosys);
    c.args(["-q", "-p", script]).current_dir(work);
    Some(run(c, "yosys"))
}

/// Panic unless the testbench output says `RESULT PASS` and never `RESULT FAIL`.
pub fn assert_pass(out: &str, what: &str) {
    assert!(
        out.lines().any(|l| l.starts_with("RESULT PASS")) && !out.contains("RESULT FAIL"),
        "{what}: testbench did not pass:\n{out}"
    );
}

/// Lint a primitive that instantiates iCE40 cells: Yosys' `cells_sim.v` is read for the
/// cell definitions, its own warnings are switched off by a Verilator configuration file.
pub fn lint_ice40(
    work: &Path,
    files: &[PathBuf],
    top: &str,
    params: &[(&str, Param)],
) -> Option<()> {
    let cells = cells_sim()?;
    let vlt = work.join("cells_sim.vlt");
    std::fs::write(
        &vlt,
        format!(
            "`verilator_config\nlint_off -file \"{}\"\n",
            cells.display()
        ),
    )
    .unwrap();
    let mut all = vec![vlt];
    all.extend_from_slice(files);
    all.push(cells);
    lint(
        &all,
        top,
        params,
        &["-DNO_ICE40_DEFAULT_ASSIGNMENTS", "--timescale", "1ps/1ps"],
    )
}

/// The cell counts of a Yosys `stat` report (`  SB_LUT4   515` lines).
pub fn stat_cells(stat: &str) -> std::collections::BTreeMap<String, u64> {
    stat.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (name, n) = (it.next()?, it.next()?);
            if it.next().is_some() || !name.starts_with("SB_") {
                return None;
            }
            Some((name.to_string(), n.parse().ok()?))
        })
        .collect()
}

/// Place and route a synthesized JSON on the UP5K (sg48) with nextpnr-ice40, then time it
/// with icetime (which, unlike nextpnr 0.4, has real SB_MAC16/SPRAM delays). Returns
/// (nextpnr Fmax MHz, icetime Fmax MHz, nextpnr log).
pub fn pnr_up5k(work: &Path, json: &str, pcf: &Path, freq_mhz: u32) -> Option<(f64, f64, String)> {
    let nextpnr = common::tool("nextpnr-ice40")?;
    let icetime = common::tool("icetime")?;
    let mut c = Command::new(nextpnr);
    c.args([
        "--up5k",
        "--package",
        "sg48",
        "--seed",
        "1",
        "--json",
        json,
        "--asc",
        "pnr.asc",
    ])
    .arg("--pcf")
    .arg(pcf)
    .args(["--freq", &freq_mhz.to_string()])
    .current_dir(work);
    let out = c.output().expect("nextpnr-ice40: cannot start");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "nextpnr-ice40 failed:\n{log}");
    let nextpnr_mhz = log
        .lines()
        .rev()
        .filter(|l| l.contains("Max frequency for clock"))
        .filter_map(|l| {
            l.rsplit(": ")
                .next()?
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
        .next()
        .expect("nextpnr-ice40 printed no Fmax");
    let mut t = Command::new(icetime);
    t.args(["-d", "up5k", "-P", "sg48", "-p"])
        .arg(pcf)
        .args(["-t", "pnr.asc"])
        .current_dir(work);
    let report = run(t, "icetime");
    // "Total path delay: 19.45 ns (51.41 MHz)"
    let icetime_mhz = report
        .lines()
        .find(|l| l.starts_with("Total path delay"))
        .and_then(|l| {
            l.split('(')
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or_else(|| panic!("icetime printed no path delay:\n{report}"));
    Some((nextpnr_mhz, icetime_mhz, log))
}
