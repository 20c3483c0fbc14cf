//! Rendering of the layer-sequential design: [`HwDesign`] + golden vectors → `rtl/`, `mem/`, `tb/`, `Makefile`, a FuseSoC
//! core file and `manifest.json` in one output directory.
//!
//! Guarantees: the output is a pure function of the design and golden data (byte-identical
//! on every run: sorted, no timestamps or absolute paths); primitives are copied verbatim
//! from `templates/common/` and `templates/layerseq/prims/`; per-layer modules, the top
//! level and the testbench come from the Tera templates in `templates/layerseq/` (and the
//! shared ones in `templates/common/`), which only place values computed in Rust.

use super::super::golden::Golden;
use super::super::manifest::{Manifest, ManifestLayer};
use super::super::plan::LayerKind;
use super::super::{hex, prims, Arch, COMMON_TEMPLATES, CW};
use super::{HwDesign, LayerParams};
use crate::error::{Error, Result};
use std::path::Path;
use tera::{Context, Tera};

/// Hand-written primitives, copied verbatim into `rtl/` in this order: the common ones
/// (`templates/common/`) and this architecture's engines (`templates/layerseq/prims/`).
pub const PRIMS: [(&str, &str); 9] = [
    prims::MEM,
    prims::ROM,
    prims::REQUANT,
    (
        "yq_conv_engine.v",
        include_str!("../../../templates/layerseq/prims/yq_conv_engine.v"),
    ),
    (
        "yq_pool_engine.v",
        include_str!("../../../templates/layerseq/prims/yq_pool_engine.v"),
    ),
    (
        "yq_upsample_engine.v",
        include_str!("../../../templates/layerseq/prims/yq_upsample_engine.v"),
    ),
    (
        "yq_add_engine.v",
        include_str!("../../../templates/layerseq/prims/yq_add_engine.v"),
    ),
    (
        "yq_input_loader.v",
        include_str!("../../../templates/layerseq/prims/yq_input_loader.v"),
    ),
    prims::QNMS_ENGINE,
];
const SEQ: (&str, &str) = (
    "yq_seq.v",
    include_str!("../../../templates/layerseq/prims/yq_seq.v"),
);

const TEMPLATES: [(&str, &str); 8] = [
    (
        "conv.v",
        include_str!("../../../templates/layerseq/conv.v.tera"),
    ),
    (
        "pool.v",
        include_str!("../../../templates/layerseq/pool.v.tera"),
    ),
    (
        "upsample.v",
        include_str!("../../../templates/layerseq/upsample.v.tera"),
    ),
    (
        "add.v",
        include_str!("../../../templates/layerseq/add.v.tera"),
    ),
    (
        "input.v",
        include_str!("../../../templates/layerseq/input.v.tera"),
    ),
    (
        "top.v",
        include_str!("../../../templates/layerseq/top.v.tera"),
    ),
    (
        "tb_top.v",
        include_str!("../../../templates/layerseq/tb_top.v.tera"),
    ),
    (
        "tb_layer.v",
        include_str!("../../../templates/layerseq/tb_layer.v.tera"),
    ),
];
const CORE: (&str, &str) = (
    "core",
    include_str!("../../../templates/layerseq/core.tera"),
);

fn tera() -> Result<Tera> {
    let mut t = Tera::default();
    t.add_raw_templates(
        COMMON_TEMPLATES
            .iter()
            .chain(&TEMPLATES)
            .copied()
            .chain([CORE]),
    )
    .map_err(|e| Error::Other(format!("internal template error: {e}")))?;
    Ok(t)
}

fn render(t: &Tera, name: &str, ctx: &Context) -> Result<String> {
    crate::rtl::render_template(t, name, ctx)
}

/// Render every file of the design into memory: `(relative path, contents)`, sorted.
pub fn render_all(d: &HwDesign, g: &Golden) -> Result<(Vec<(String, String)>, Manifest)> {
    let t = tera()?;
    let lw = super::super::ubits(d.layers.len().saturating_sub(1) as u64);
    let mut files: Vec<(String, String)> = Vec::new();
    let mut rtl: Vec<String> = Vec::new();
    for (name, src) in PRIMS.iter().chain([&SEQ]) {
        files.push((format!("rtl/{name}"), src.to_string()));
        rtl.push(format!("rtl/{name}"));
    }
    for l in &d.layers {
        let mut ctx = Context::new();
        ctx.insert("d", d);
        ctx.insert("l", l);
        ctx.insert("cw", &CW);
        let (tpl, mem): (&str, Vec<(&str, &str)>) = match &l.params {
            LayerParams::Input(p) => {
                ctx.insert("p", p);
                ("input.v", vec![])
            }
            LayerParams::Conv(p) => {
                ctx.insert("p", p.as_ref());
                let mut m = vec![("w", p.rom_weights.as_str()), ("p", p.rom_params.as_str())];
                if let Some(lut) = &p.rom_lut {
                    m.push(("lut", lut.as_str()));
                }
                ("conv.v", m)
            }
            LayerParams::Pool(p) => {
                ctx.insert("p", p);
                ("pool.v", vec![])
            }
            LayerParams::Upsample(p) => {
                ctx.insert("p", p);
                ("upsample.v", vec![])
            }
            LayerParams::Add(p) => {
                ctx.insert("p", p);
                ("add.v", vec![])
            }
            LayerParams::Qnms(p) => {
                ctx.insert("p", p.as_ref());
                let m = vec![("exp", p.rom_exp.as_str()), ("sig", p.rom_sig.as_str())];
                ("qnms.v", m)
            }
        };
        let path = format!("rtl/{}.v", l.module);
        files.push((path.clone(), render(&t, tpl, &ctx)?));
        rtl.push(path);
        for (suffix, img) in mem {
            files.push((format!("mem/{}_{suffix}.hex", l.module), img.to_string()));
        }
    }
    let readers: Vec<usize> = d
        .layers
        .iter()
        .filter(|l| l.kind != LayerKind::Input)
        .map(|l| l.index)
        .collect();
    let layer_of_node = |n: usize| d.layers.iter().find(|l| l.node == n).map(|l| l.index);
    let mut out_layers: Vec<usize> = d.outputs.iter().filter_map(|&n| layer_of_node(n)).collect();
    out_layers.extend(
        d.layers
            .iter()
            .filter(|l| l.kind == LayerKind::Qnms)
            .map(|l| l.index),
    );
    let mut ctx = Context::new();
    ctx.insert("d", d);
    ctx.insert("lw", &lw);
    ctx.insert("readers", &readers);
    ctx.insert("out_layers", &out_layers);
    ctx.insert("offsets", &g.offsets);
    ctx.insert("ngold", &g.codes.len());
    ctx.insert("nin", &g.pixels.len());
    ctx.insert("max_cycles", &(2 * d.frame_cycles + 10_000));
    let top = format!("rtl/{}.v", d.top);
    files.push((top.clone(), render(&t, "top.v", &ctx)?));
    rtl.push(top);
    files.push(("tb/tb_top.v".into(), render(&t, "tb_top.v", &ctx)?));
    files.push(("tb/tb_layer.v".into(), render(&t, "tb_layer.v", &ctx)?));
    for (l, img) in d.layers.iter().zip(&g.layer_inputs) {
        if !img.is_empty() {
            files.push((format!("tb/layer_{}_in.hex", l.index), img.clone()));
        }
    }
    files.push((
        "tb/input.hex".into(),
        hex::values(g.pixels.iter().map(|&p| p as i64), 8),
    ));
    files.push((
        "tb/golden.hex".into(),
        hex::values(g.codes.iter().map(|&c| c as i64), d.abits),
    ));
    let mems: Vec<&String> = files
        .iter()
        .map(|f| &f.0)
        .filter(|f| f.starts_with("mem/"))
        .collect();
    ctx.insert("mems", &mems);
    ctx.insert("rtl", &rtl);
    files.push(("Makefile".into(), render(&t, "Makefile", &ctx)?));
    files.push((format!("{}.core", d.top), render(&t, "core", &ctx)?));
    let manifest = manifest(d, rtl)?;
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| Error::Other(e.to_string()))?;
    files.push(("manifest.json".into(), json + "\n"));
    files.sort();
    Ok((files, manifest))
}

fn manifest(d: &HwDesign, rtl: Vec<String>) -> Result<Manifest> {
    Ok(Manifest {
        host: None,
        top: d.top.clone(),
        arch: Arch::Layerseq,
        imgsz: d.imgsz,
        parallel: d.parallel,
        abits: d.abits,
        wbits: d.wbits,
        mem_depth: d.mem_depth,
        frame_cycles: d.frame_cycles,
        total_macs: d.total_macs,
        mac_utilisation: d.total_macs as f64 / (d.parallel as u64 * d.frame_cycles) as f64,
        layers: d
            .layers
            .iter()
            .map(|l| ManifestLayer {
                index: l.index,
                name: l.name.clone(),
                module: l.module.clone(),
                kind: l.kind,
                shape: l.shape,
                macs: l.macs,
                cycles: l.cycles,
            })
            .collect(),
        rtl,
        testbench: "tb/tb_top.v".into(),
        sim_models: Vec::new(),
        design: serde_json::to_value(&d.layers).map_err(|e| Error::Other(e.to_string()))?,
    })
}

/// Write the design to `out`. Previously generated `rtl/`, `mem/` and `tb/` directories are
/// replaced (only when `out/manifest.json` marks the directory as ours).
pub fn emit(d: &HwDesign, g: &Golden, out: &Path) -> Result<Manifest> {
    let (files, manifest) = render_all(d, g)?;
    crate::rtl::write_design(out, &["rtl", "mem", "tb"], &files)?;
    Ok(manifest)
}

/// Plan, lower, compute golden vectors on `image` and write everything to `out`.
pub fn generate(
    q: &crate::quant::QuantGraph,
    size: usize,
    parallel: usize,
    image: &ndarray::Array3<f32>,
    out: &Path,
) -> Result<Manifest> {
    let plan = super::super::plan::plan(q, size, size)?;
    let mut d = super::lower(&plan, parallel)?;
    if image.dim() != (3, size, size) {
        return Err(Error::arg(
            "--image",
            format!(
                "golden image is {:?}, expected [3, {size}, {size}]",
                image.shape()
            ),
        ));
    }
    let g = super::super::golden::golden(q, &plan, image);
    if let Some(run) = &g.qnms {
        d.set_qnms_run(run);
    }
    emit(&d, &g, out)
}
