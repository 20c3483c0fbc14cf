//! Place-and-route of one layer engine on its own, inside a small generated harness
//! (`templates/layerseq/pnr_harness.v.tera`), for boards that cannot hold the whole layer-sequential
//! design (iCE40 UP5K: 8 DSPs against one engine of P multipliers per convolution).
//!
//! Guarantees: the layer is the convolution module with the most LUTs (in the whole-design
//! `stat -json`) among those that fit the board's DSP, BRAM, LUT and FF capacity by
//! themselves; the harness has five pins and keeps every layer output observable (their
//! registered XOR drives a pin), so Yosys removes nothing of the engine; the module is
//! synthesized with the board's own script (the same netlist as inside the whole design),
//! and utilisation and Fmax come from nextpnr's report. Work files go to
//! `<design>/synth/<board>/harness/`; the emitted design itself is never modified.

use super::pnr::{place_route, PnrReport};
use super::{Board, Resources, Usage};
use crate::error::{Error, Result};
use crate::rtl::manifest::Manifest;
use crate::rtl::plan::LayerKind;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// Top module of the harness.
pub const HARNESS_TOP: &str = "yq_pnr_harness";
const TEMPLATE: &str = include_str!("../../../templates/layerseq/pnr_harness.v.tera");

/// What the harness template places.
#[derive(Clone, Debug, Serialize)]
pub struct Harness {
    pub top: String,
    /// The wrapped layer module and the design it belongs to.
    pub module: String,
    pub design_top: String,
    /// Activation address and data widths of the layer ports.
    pub aw: u32,
    pub dw: u32,
    /// Width of the registered observation bus: done, rd_en, rd_addr, wr_en, wr_addr, wr_data.
    pub obs_w: u32,
}

/// The harness for `module` of the design described by `m`.
pub fn harness(m: &Manifest, module: &str) -> Result<Harness> {
    if !m
        .layers
        .iter()
        .any(|l| l.module == module && l.kind != LayerKind::Input)
    {
        return Err(Error::arg(
            "layer",
            format!("`{module}` is not a computing layer of {}", m.top),
        ));
    }
    if m.abits < 2 {
        return Err(Error::data(
            "manifest.json",
            format!(
                "abits {} is too narrow for the harness shift register",
                m.abits
            ),
        ));
    }
    let aw = crate::rtl::ubits(m.mem_depth.saturating_sub(1) as u64);
    Ok(Harness {
        top: HARNESS_TOP.into(),
        module: module.into(),
        design_top: m.top.clone(),
        aw,
        dw: m.abits,
        obs_w: 2 * aw + m.abits + 3,
    })
}

/// The harness Verilog.
pub fn render(h: &Harness) -> Result<String> {
    let mut ctx = tera::Context::new();
    ctx.insert("h", h);
    tera::Tera::one_off(TEMPLATE, &ctx, false).map_err(|e| {
        Error::Other(format!(
            "rendering templates/layerseq/pnr_harness.v.tera: {e:?}"
        ))
    })
}

/// The layer placed and routed on its own, and why it was chosen.
#[derive(Clone, Debug, Serialize)]
pub struct LayerPnr {
    pub module: String,
    pub why: String,
    /// Its Yosys figures inside the whole design.
    pub usage: Usage,
    pub pnr: std::result::Result<PnrReport, String>,
    /// Yosys plus nextpnr wall time.
    pub secs: f64,
}

/// The conv module with the most LUTs among those that fit `cap` alone (the first on ties),
/// with its usage and the reason in words; `None` when no conv fits.
pub fn pick_layer(
    m: &Manifest,
    modules: &[(String, Usage)],
    cap: &Resources,
    board: &str,
) -> Option<(String, Usage, String)> {
    let fits = |u: &Usage| {
        [
            (u.dsp, cap.dsp),
            (u.bram, cap.bram),
            (u.lut, cap.lut),
            (u.ff, cap.ff),
        ]
        .iter()
        .all(|&(v, c)| c.is_none_or(|c| v <= c))
    };
    let convs: Vec<&(String, Usage)> = modules
        .iter()
        .filter(|(name, _)| {
            m.layers
                .iter()
                .any(|l| &l.module == name && l.kind == LayerKind::Conv)
        })
        .collect();
    let fitting: Vec<&&(String, Usage)> = convs.iter().filter(|x| fits(&x.1)).collect();
    let best = fitting
        .iter()
        .fold(None::<&&(String, Usage)>, |b, x| match b {
            Some(b) if b.1.lut >= x.1.lut => Some(b),
            _ => Some(x),
        })?;
    let why = format!(
        "most LUTs ({}) of the {} of {} conv modules that fit {board} alone ({} DSP, {} BRAM)",
        best.1.lut,
        fitting.len(),
        convs.len(),
        best.1.dsp,
        best.1.bram
    );
    Some((best.0.clone(), best.1.clone(), why))
}

/// Write the harness for `module` and run Yosys (the board's script) and nextpnr on it.
pub fn place_layer(dir: &Path, b: &Board, m: &Manifest, module: &str) -> Result<PnrReport> {
    let p = b.nextpnr.as_ref().ok_or_else(|| {
        Error::arg(
            "--board",
            format!("board {} has no nextpnr section", b.name),
        )
    })?;
    let h = harness(m, module)?;
    let rel = format!("synth/{}/harness", b.name);
    let work = dir.join(&rel);
    std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    let v = format!("{rel}/{HARNESS_TOP}.v");
    crate::util::write_atomic_str(&dir.join(&v), &render(&h)?)?;
    let mut ys = format!(
        "read_verilog -defer {} {v}\nhierarchy -check -top {HARNESS_TOP}\n",
        m.rtl.join(" ")
    );
    for c in b.synth.split(';') {
        ys.push_str(&c.trim().replace("{top}", HARNESS_TOP));
        ys.push('\n');
    }
    ys.push_str(&format!(
        "tee -q -o {rel}/stat.json stat -json\nflatten\nwrite_json {rel}/netlist.json\n"
    ));
    crate::util::write_atomic_str(&work.join("synth.ys"), &ys)?;
    let t = super::tools::find(b, true)?;
    super::run_yosys(dir, &rel, &t.yosys)?;
    let exe = t.nextpnr.ok_or_else(|| {
        Error::arg(
            "--board",
            format!("board {} has no nextpnr section", b.name),
        )
    })?;
    place_route(dir, &rel, p, &exe, b.family)
}

/// [`pick_layer`] then [`place_layer`], timed; `None` when no conv module fits the board.
pub fn layer_pnr(
    dir: &Path,
    b: &Board,
    m: &Manifest,
    modules: &[(String, Usage)],
) -> Option<LayerPnr> {
    let (module, usage, why) = pick_layer(m, modules, &b.resources, &b.name)?;
    let t0 = Instant::now();
    let pnr = place_layer(dir, b, m, &module).map_err(|e| e.to_string());
    Some(LayerPnr {
        module,
        why,
        usage,
        pnr,
        secs: t0.elapsed().as_secs_f64(),
    })
}
