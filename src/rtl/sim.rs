//! Running the generated testbench in Icarus Verilog or Verilator and reading its verdict.
//!
//! Guarantees: tools are found with `which` (a missing tool is an [`Error::Tool`] naming the
//! package to install); builds happen in a fresh temporary directory; the simulation runs
//! with the design directory as working directory (the `$readmemh` paths are relative to
//! it); the report lists, per layer, the elements written, mismatches and simulated vs
//! predicted cycles, and the first mismatch with layer name, coordinates and both values.

use super::manifest::{read_manifest, Manifest};
use super::plan::LayerKind;
use crate::error::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// A supported simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Simulator {
    Icarus,
    Verilator,
}

impl Simulator {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "icarus" | "iverilog" => Ok(Simulator::Icarus),
            "verilator" => Ok(Simulator::Verilator),
            _ => Err(Error::arg(
                "--simulator",
                format!("unknown simulator `{s}`; use icarus or verilator"),
            )),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Simulator::Icarus => "icarus",
            Simulator::Verilator => "verilator",
        }
    }
    /// Compile the testbench into `work` (the whole network, or one layer with `tb_layer`);
    /// returns the command that runs it.
    fn build(self, dir: &Path, m: &Manifest, work: &Path, layer: Option<usize>) -> Result<Command> {
        let mut srcs: Vec<&str> = m
            .rtl
            .iter()
            .chain(&m.sim_models)
            .map(|s| s.as_str())
            .collect();
        // The top module is the testbench file's stem (tb_top, tb_board, tb_layer).
        let stem = Path::new(&m.testbench)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("tb_top")
            .to_string();
        let top = if layer.is_some() {
            "tb_layer"
        } else {
            stem.as_str()
        };
        srcs.push(if layer.is_some() {
            "tb/tb_layer.v"
        } else {
            &m.testbench
        });
        match self {
            Simulator::Icarus => {
                let iverilog = tool("iverilog", "iverilog")?;
                let vvp = tool("vvp", "iverilog")?;
                let out = work.join("tb.vvp");
                let mut c = Command::new(iverilog);
                c.current_dir(dir)
                    .args(["-g2005", "-s", top, "-o"])
                    .arg(&out)
                    .args(&srcs);
                if let Some(l) = layer {
                    c.arg(format!("-Ptb_layer.LAYER={l}"));
                }
                run_checked(c, "iverilog")?;
                let mut r = Command::new(vvp);
                r.current_dir(dir).arg("-n").arg(out);
                Ok(r)
            }
            Simulator::Verilator => {
                let mdir = work.join("obj");
                // C++ compile time dominates for short runs; optimise only long simulations.
                let opt = if m.frame_cycles > 2_000_000 {
                    "-O1"
                } else {
                    "-O0"
                };
                let mk = format!("OPT_FAST={opt} OPT_SLOW={opt} OPT_GLOBAL={opt}");
                let mut c = verilator_binary(dir, top, &mdir)?;
                c.args(["-MAKEFLAGS", &mk, "-j", "2"]).args(&srcs);
                if let Some(l) = layer {
                    c.arg(format!("-GLAYER={l}"));
                }
                run_checked(c, "verilator")?;
                let mut r = Command::new(mdir.join(format!("V{top}")));
                r.current_dir(dir);
                Ok(r)
            }
        }
    }
}

/// A Verilator build of the testbench `top` as an executable in `mdir` (run from `dir`,
/// lint warnings off: the RTL has its own lint test); the caller adds the sources.
pub fn verilator_binary(dir: &Path, top: &str, mdir: &Path) -> Result<Command> {
    let mut c = Command::new(tool("verilator", "verilator")?);
    c.current_dir(dir)
        .args([
            "--binary",
            "--timing",
            "-O2",
            "-Wno-fatal",
            "-Wno-lint",
            "-Wno-style",
        ])
        .args(["--top-module", top, "--Mdir"])
        .arg(mdir);
    Ok(c)
}

fn tool(name: &str, package: &str) -> Result<PathBuf> {
    which::which(name).map_err(|_| Error::Tool {
        tool: name.into(),
        msg: format!("not found on PATH; install it (Debian: apt-get install {package})"),
    })
}

/// Run a command; on failure return its stderr tail as the error.
pub fn run_checked(mut c: Command, what: &str) -> Result<String> {
    let out = c.output().map_err(|e| Error::Tool {
        tool: what.into(),
        msg: e.to_string(),
    })?;
    let so = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        let se = String::from_utf8_lossy(&out.stderr);
        return Err(failure(what, out.status, &se, &so));
    }
    Ok(so)
}

/// A failed tool run as one error: the lines that mention an error if there are any,
/// else the last lines it printed.
fn failure(what: &str, status: std::process::ExitStatus, stderr: &str, stdout: &str) -> Error {
    let lines: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines())
        .filter(|l| !l.trim().is_empty())
        .collect();
    let errors: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.to_lowercase().contains("error"))
        .take(4)
        .collect();
    let tail: Vec<&str> = if errors.is_empty() {
        lines[lines.len().saturating_sub(4)..].to_vec()
    } else {
        errors
    };
    Error::Tool {
        tool: what.into(),
        msg: format!("failed ({status}): {}", tail.join(" | ")),
    }
}

/// One row of the simulation table.
#[derive(Clone, Debug, Serialize)]
pub struct SimRow {
    pub index: usize,
    pub name: String,
    pub kind: LayerKind,
    pub elements: usize,
    pub writes: usize,
    pub mismatches: usize,
    pub cycles_pred: u64,
    pub cycles_sim: u64,
    pub macs: u64,
}

/// Result of one simulation run.
#[derive(Clone, Debug, Serialize)]
pub struct SimReport {
    pub simulator: Simulator,
    pub rows: Vec<SimRow>,
    pub frame_pred: u64,
    pub frame_sim: u64,
    pub parallel: usize,
    /// First mismatch, e.g. `layer 12 model.4.cv1: c 3 y 0 x 5 got 17 want 18`.
    pub first_mismatch: Option<String>,
    pub build_secs: f64,
    pub run_secs: f64,
    pub pass: bool,
}

/// Build and run the whole-network testbench of the design in `dir`.
pub fn simulate(dir: &Path, sim: Simulator) -> Result<SimReport> {
    run(dir, sim, None)
}

/// Build and run the single-layer testbench for layer `layer` (inputs preloaded from the
/// integer reference); the report holds that layer's row only.
pub fn simulate_layer(dir: &Path, sim: Simulator, layer: usize) -> Result<SimReport> {
    let m = read_manifest(dir)?;
    match m.layers.get(layer) {
        None => Err(Error::arg(
            "--layer",
            format!(
                "{layer} is out of range; the design has {} layers",
                m.layers.len()
            ),
        )),
        Some(l) if l.kind == LayerKind::Input => Err(Error::arg(
            "--layer",
            format!(
                "layer {layer} is the input loader; it is checked by the whole-network run (--all)"
            ),
        )),
        Some(_) => {
            let mut r = run(dir, sim, Some(layer))?;
            r.rows.retain(|x| x.index == layer);
            r.frame_pred = r.rows[0].cycles_pred;
            r.frame_sim = r.rows[0].cycles_sim;
            Ok(r)
        }
    }
}

/// Build and run the board testbench of a folded design (`tb/tb_board.v`): the weights come
/// through the flash reader from the W25Q128JV model, the pixels and the results go over the
/// UART with the board's host protocol.
pub fn simulate_board(dir: &Path, sim: Simulator) -> Result<SimReport> {
    let mut m = read_manifest(dir)?;
    if m.arch != super::Arch::Folded || !dir.join("tb/tb_board.v").is_file() {
        return Err(Error::arg(
            "--board-tb",
            format!(
                "{} is not a folded design with a board testbench; emit it with --arch folded",
                dir.display()
            ),
        ));
    }
    for f in super::folded::emit::BOARD_PRIMS
        .iter()
        .map(|p| format!("board/{}", p.0))
    {
        m.rtl.push(f);
    }
    m.rtl
        .push(format!("tb/{}", super::folded::emit::FLASH_MODEL.0));
    m.testbench = "tb/tb_board.v".into();
    run_with(dir, sim, None, m)
}

fn run(dir: &Path, sim: Simulator, layer: Option<usize>) -> Result<SimReport> {
    let m = read_manifest(dir)?;
    run_with(dir, sim, layer, m)
}

fn run_with(dir: &Path, sim: Simulator, layer: Option<usize>, m: Manifest) -> Result<SimReport> {
    let work = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let t0 = Instant::now();
    let spin = crate::progress::spinner(&format!("building the testbench ({})", sim.name()));
    let cmd = sim.build(dir, &m, work.path(), layer);
    spin.finish_and_clear();
    let cmd = cmd?;
    let build_secs = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let out = match layer {
        Some(_) => run_checked(cmd, sim.name())?,
        None => run_with_progress(cmd, sim.name(), &m)?,
    };
    let run_secs = t1.elapsed().as_secs_f64();
    parse(&m, sim, &out, build_secs, run_secs)
}

/// Run the whole-network testbench, advancing a bar (in predicted cycles, so the ETA is
/// meaningful) on each `DONE <layer>` line it prints; returns its whole output.
fn run_with_progress(mut c: Command, what: &str, m: &Manifest) -> Result<String> {
    use std::io::{BufRead, Read};
    use std::process::Stdio;
    let tool_err = |e: std::io::Error| Error::Tool {
        tool: what.into(),
        msg: e.to_string(),
    };
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(tool_err)?;
    let mut stderr = child.stderr.take().expect("piped");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let bar = crate::progress::bar(m.frame_cycles, "cycles");
    let mut out = String::new();
    let reader = std::io::BufReader::new(child.stdout.take().expect("piped"));
    for line in reader.lines() {
        let line = line.map_err(tool_err)?;
        if let Some(l) = line
            .strip_prefix("DONE ")
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            let done: u64 = m.layers.iter().take(l + 1).map(|x| x.cycles).sum();
            bar.set_position(done.min(m.frame_cycles));
            continue;
        }
        out.push_str(&line);
        out.push('\n');
    }
    bar.finish_and_clear();
    let status = child.wait().map_err(tool_err)?;
    let se = err_thread.join().unwrap_or_default();
    if !status.success() {
        return Err(failure(what, status, &se, &out));
    }
    Ok(out)
}

fn num(tok: &[&str], key: &str) -> Option<i64> {
    tok.iter()
        .position(|t| *t == key)
        .and_then(|i| tok.get(i + 1))
        .and_then(|v| v.parse().ok())
}

/// Name a byte of the NMS stage's output (count, then 11-byte records).
fn qnms_byte(i: usize) -> String {
    const FIELDS: [&str; 6] = ["x1", "y1", "x2", "y2", "score", "class"];
    if i < 2 {
        return format!("count byte {i}");
    }
    let (det, b) = ((i - 2) / super::qnms::RECORD, (i - 2) % super::qnms::RECORD);
    format!("detection {det} {} byte {}", FIELDS[b / 2], b % 2)
}

/// Parse the testbench's output.
pub fn parse(
    m: &Manifest,
    sim: Simulator,
    out: &str,
    build_secs: f64,
    run_secs: f64,
) -> Result<SimReport> {
    let mut rows: Vec<SimRow> = m
        .layers
        .iter()
        .map(|l| SimRow {
            index: l.index,
            name: l.name.clone(),
            kind: l.kind,
            elements: l.shape.iter().product(),
            writes: 0,
            mismatches: 0,
            cycles_pred: l.cycles,
            cycles_sim: 0,
            macs: l.macs,
        })
        .collect();
    let (mut first, mut frame, mut verdict, mut timeout) = (None, 0u64, None, None);
    for line in out.lines() {
        let tok: Vec<&str> = line.split_whitespace().collect();
        match tok.first().copied() {
            Some("MISMATCH") if first.is_none() => {
                let l = num(&tok, "layer").unwrap_or(-1);
                let name = m.layers.get(l as usize).map_or("?", |x| x.name.as_str());
                let mut rest = tok.get(3..).map(|r| r.join(" ")).unwrap_or_default();
                if m.layers
                    .get(l as usize)
                    .is_some_and(|x| x.kind == LayerKind::Qnms)
                {
                    if let (Some(i), Some(g), Some(w)) =
                        (num(&tok, "x"), num(&tok, "got"), num(&tok, "want"))
                    {
                        rest = format!("{} got {g} want {w}", qnms_byte(i as usize));
                    }
                }
                first = Some(format!("layer {l} {name}: {rest}"));
            }
            Some("LAYER") => {
                let i = num(&tok, "LAYER").unwrap_or(-1) as usize;
                if let Some(r) = rows.get_mut(i) {
                    r.writes = num(&tok, "writes").unwrap_or(0) as usize;
                    r.mismatches = num(&tok, "mismatches").unwrap_or(0) as usize;
                    r.cycles_sim = num(&tok, "cycles").unwrap_or(0).max(0) as u64;
                }
            }
            Some("FRAME") => frame = num(&tok, "cycles").unwrap_or(0).max(0) as u64,
            Some("RESULT") => verdict = tok.get(1).map(|v| *v == "PASS"),
            Some("TIMEOUT") => timeout = Some(line.to_string()),
            _ => {}
        }
    }
    let Some(pass) = verdict else {
        let tail: Vec<&str> = out.lines().rev().take(5).collect();
        return Err(Error::Tool {
            tool: sim.name().into(),
            msg: format!(
                "the testbench ended without a RESULT line ({})",
                tail.join(" | ")
            ),
        });
    };
    if first.is_none() {
        first = timeout;
    }
    Ok(SimReport {
        simulator: sim,
        rows,
        frame_pred: m.frame_cycles,
        frame_sim: frame,
        parallel: m.parallel,
        first_mismatch: first,
        build_secs,
        run_secs,
        pass,
    })
}

impl SimReport {
    /// The table printed by `yoloq-gen sim`.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:>4} {:<26} {:<8} {:>8} {:>6} {:>10} {:>10} {:>7} {:>6}\n",
            "#", "layer", "kind", "elements", "mism", "cyc pred", "cyc sim", "diff%", "util"
        );
        for r in &self.rows {
            let diff =
                100.0 * (r.cycles_sim as f64 - r.cycles_pred as f64) / r.cycles_pred.max(1) as f64;
            let util = r.macs as f64 / (self.parallel as f64 * r.cycles_sim.max(1) as f64);
            s.push_str(&format!(
                "{:>4} {:<26} {:<8} {:>8} {:>6} {:>10} {:>10} {:>7.2} {:>6.3}\n",
                r.index,
                r.name,
                r.kind,
                r.elements,
                r.mismatches,
                r.cycles_pred,
                r.cycles_sim,
                diff,
                util
            ));
        }
        let macs: u64 = self.rows.iter().map(|r| r.macs).sum();
        s.push_str(&format!(
            "frame: {} cycles simulated, {} predicted; MAC utilisation {:.3}; {}: build {:.1}s, run {:.1}s; {}\n",
            self.frame_sim,
            self.frame_pred,
            macs as f64 / (self.parallel as f64 * self.frame_sim.max(1) as f64),
            self.simulator.name(),
            self.build_secs,
            self.run_secs,
            if self.pass { "PASS".to_string() } else { format!("FAIL: {}", self.first_mismatch.as_deref().unwrap_or("incomplete writes")) }
        ));
        s
    }
}
