//! Rendering of the folded design: [`FoldedDesign`] + golden vectors → `rtl/` (hand-written
//! engine primitives copied verbatim, the generated descriptor decoder, the NMS stage and the
//! top level), `tb/` (testbench, flash image, input pixels, golden codes), `mem/`,
//! `Makefile` and `manifest.json`.
//!
//! Guarantees: the output is a pure function of the design and the golden data (sorted, no
//! timestamps or absolute paths); the templates only place values computed in Rust.

use super::band::Dir;
use super::{FoldedDesign, Step, OFFSET};
use crate::error::{Error, Result};
use crate::rtl::golden::Golden;
use crate::rtl::manifest::{HostInfo, Manifest, ManifestLayer};
use crate::rtl::plan::{LayerKind, LayerPlan, Plan};
pub use crate::rtl::Tensors;
use crate::rtl::{hex, prims, ubits, COMMON_TEMPLATES};
use std::path::Path;
use tera::{Context, Tera};

/// The engine's hand-written primitives, copied verbatim into `rtl/`.
pub const PRIMS: [(&str, &str); 10] = [
    (
        "yq_spram.v",
        include_str!("../../../templates/folded/prims/yq_spram.v"),
    ),
    (
        "yq_mac_array.v",
        include_str!("../../../templates/folded/prims/yq_mac_array.v"),
    ),
    (
        "yq_fold_loader.v",
        include_str!("../../../templates/folded/prims/yq_fold_loader.v"),
    ),
    (
        "yq_fold_conv.v",
        include_str!("../../../templates/folded/prims/yq_fold_conv.v"),
    ),
    (
        "yq_fold_pool.v",
        include_str!("../../../templates/folded/prims/yq_fold_pool.v"),
    ),
    (
        "yq_fold_add.v",
        include_str!("../../../templates/folded/prims/yq_fold_add.v"),
    ),
    (
        "yq_fold_input.v",
        include_str!("../../../templates/folded/prims/yq_fold_input.v"),
    ),
    (
        "yq_fold_dma_walk.v",
        include_str!("../../../templates/folded/prims/yq_fold_dma_walk.v"),
    ),
    (
        "yq_fold_dma.v",
        include_str!("../../../templates/folded/prims/yq_fold_dma.v"),
    ),
    (
        "yq_fold_core.v",
        include_str!("../../../templates/folded/prims/yq_fold_core.v"),
    ),
];

/// The SDRAM controller of a design with DRAM (part of the design), and the checking SDRAM
/// model its testbench runs it against.
pub const SDRAM_CTRL: (&str, &str) = (
    "yq_sdram_ctrl.v",
    include_str!("../../../templates/ecp5/prims/yq_sdram_ctrl.v"),
);
pub const SDRAM_MODEL: (&str, &str) = (
    "yq_sdram_model.v",
    include_str!("../../../templates/ecp5/sim/yq_sdram_model.v"),
);

/// Board-only primitives (not part of the simulated design), copied into `board/`.
pub const BOARD_PRIMS: [(&str, &str); 4] = [
    (
        "yq_flash_reader.v",
        include_str!("../../../templates/folded/prims/yq_flash_reader.v"),
    ),
    (
        "yq_uart_rx.v",
        include_str!("../../../templates/folded/prims/yq_uart_rx.v"),
    ),
    (
        "yq_uart_tx.v",
        include_str!("../../../templates/folded/prims/yq_uart_tx.v"),
    ),
    (
        "yq_board_ctrl.v",
        include_str!("../../../templates/folded/prims/yq_board_ctrl.v"),
    ),
];

/// The board clock the design is built for: 24 MHz from the PLL (12 MHz x 64 / 32), the
/// clock the budget assumes; `synth` refuses a bitstream when icetime closes less. The
/// UART divider is 24 clocks per bit (1 Mbaud exactly).
pub const BOARD_HZ: u64 = 24_000_000;

/// The ULX3S board top level and its pin constraints, inside a design.
pub const ULX3S_TOP: &str = "board/ulx3s/yq_board.v";
pub const ULX3S_LPF: &str = "board/ulx3s/ulx3s.lpf";

/// The flash model, for the board testbench.
pub const FLASH_MODEL: (&str, &str) = (
    "yq_flash_model.v",
    include_str!("../../../templates/folded/sim/yq_flash_model.v"),
);

/// The host side of the simulated board's UART (Verilator DPI: stdin and stdout).
pub const HOST_DPI: (&str, &str) = (
    "host_dpi.c",
    include_str!("../../../templates/folded/sim/host_dpi.c"),
);

const TEMPLATES: [(&str, &str); 10] = [
    (
        "folded/board_core.v",
        include_str!("../../../templates/folded/board_core.v.tera"),
    ),
    (
        "folded/board_ulx3s.v",
        include_str!("../../../templates/folded/board_ulx3s.v.tera"),
    ),
    (
        "folded/board_harness.v",
        include_str!("../../../templates/folded/board_harness.v.tera"),
    ),
    (
        "folded/tb_board.v",
        include_str!("../../../templates/folded/tb_board.v.tera"),
    ),
    (
        "folded/tb_host.v",
        include_str!("../../../templates/folded/tb_host.v.tera"),
    ),
    (
        "folded/board.v",
        include_str!("../../../templates/folded/board_icebreaker.v.tera"),
    ),
    (
        "folded/desc.v",
        include_str!("../../../templates/folded/desc.v.tera"),
    ),
    (
        "folded/top.v",
        include_str!("../../../templates/folded/top.v.tera"),
    ),
    (
        "folded/tb_top.v",
        include_str!("../../../templates/folded/tb_top.v.tera"),
    ),
    (
        "folded/nms.v",
        include_str!("../../../templates/folded/nms.v.tera"),
    ),
];

/// The post-processing unit (`--qnms`).
pub const NMS_PRIM: (&str, &str) = (
    "yq_fold_post.v",
    include_str!("../../../templates/folded/prims/yq_fold_post.v"),
);

/// Module name of the NMS stage in a folded design.
const POST: &str = "yq_post";

fn tera() -> Result<Tera> {
    let mut t = Tera::default();
    t.add_raw_templates(TEMPLATES.iter().copied().chain(COMMON_TEMPLATES))
        .map_err(|e| Error::Other(format!("internal template error: {e}")))?;
    Ok(t)
}

fn render(t: &Tera, name: &str, ctx: &Context) -> Result<String> {
    crate::rtl::render_template(t, name, ctx)
}

/// Byte-address bits of the post-processing stage: the activation memory's, or DRAM's (and at
/// least the activation memory's) in a design with DRAM.
fn post_aw(d: &FoldedDesign) -> u32 {
    if d.da > 0 {
        (d.da + 1).max(d.ab)
    } else {
        d.ab
    }
}

/// One step of the schedule as the whole-network testbench checks it.
#[derive(serde::Serialize)]
struct TbStep {
    /// What the testbench checks: [`CHECK_CODES`], [`CHECK_STORE`], [`CHECK_POST`] or nothing
    /// (a load).
    check: u8,
    /// Codes: the `size` codes written from byte `base` of the activation memory are the
    /// layer's rows `[y0, y0 + rows)` of every channel. Store: `size` bytes written to DRAM,
    /// each in the layer's tensor at DRAM byte `base`.
    base: usize,
    size: usize,
    y0: usize,
    rows: usize,
    /// The layer's tensor: height, width, bytes, and its first code in the golden vectors.
    h: usize,
    w: usize,
    n: usize,
    goff: usize,
}

const CHECK_NONE: u8 = 0;
const CHECK_CODES: u8 = 1;
const CHECK_STORE: u8 = 2;
/// The post-processing stage on DRAM: its byte writes are the records (`size` bytes from DRAM
/// byte `base`); its word writes are its working region.
const CHECK_POST: u8 = 3;

fn tb_steps(d: &FoldedDesign, g: &Golden) -> Vec<TbStep> {
    d.layers
        .iter()
        .map(|l| {
            let [c, h, w] = l.shape;
            let n = c * h * w;
            let goff = g.offsets[l.index];
            let codes = |base, y0, rows| TbStep {
                check: CHECK_CODES,
                base,
                size: c * rows * w,
                y0,
                rows,
                h,
                w,
                n,
                goff,
            };
            match &l.step {
                None => codes(l.out_base, 0, h),
                Some(Step::Band { y0, y1, tile }) => codes(*tile, *y0, y1 - y0),
                Some(Step::Post) => TbStep {
                    check: CHECK_POST,
                    ..codes(l.out_base, 0, h)
                },
                Some(Step::Copy(dma)) => TbStep {
                    check: if dma.dir == Dir::Store {
                        CHECK_STORE
                    } else {
                        CHECK_NONE
                    },
                    // a store: the DRAM tensor; the records' copy: where the host reads them
                    base: if dma.dir == Dir::Store {
                        l.out_base
                    } else if l.kind == LayerKind::Qnms {
                        l.out_base - dma.dram + dma.chip
                    } else {
                        0
                    },
                    size: if dma.dir == Dir::Store {
                        dma.bytes()
                    } else if l.kind == LayerKind::Qnms {
                        n
                    } else {
                        0
                    },
                    y0: 0,
                    rows: h,
                    h,
                    w,
                    n,
                    goff,
                },
            }
        })
        .collect()
}

/// The input layer's row bands `[y0, y1)`, in schedule order (none: the input is one step).
fn input_bands(d: &FoldedDesign) -> Vec<[usize; 2]> {
    d.layers
        .iter()
        .filter(|l| l.kind == LayerKind::Input)
        .filter_map(|l| match l.step {
            Some(Step::Band { y0, y1, .. }) => Some([y0, y1]),
            _ => None,
        })
        .collect()
}

/// The order in which the pixels reach the engine: planar, or band by band when the input
/// layer runs in row bands.
fn pixel_order(d: &FoldedDesign) -> Option<Vec<usize>> {
    let bands = input_bands(d);
    let input = d.layers.iter().find(|l| l.kind == LayerKind::Input)?;
    (!bands.is_empty())
        .then(|| super::band::rows_order(input.shape, bands.iter().map(|b| (b[0], b[1]))))
}

/// Render every file of the design: `(relative path, contents)`, sorted, and the manifest.
pub fn render_all(
    d: &FoldedDesign,
    plan: &Plan,
    g: &Golden,
) -> Result<(Vec<(String, String)>, Manifest)> {
    let t = tera()?;
    let mut files: Vec<(String, String)> = Vec::new();
    let mut rtl: Vec<String> = Vec::new();
    let mut push_rtl = |files: &mut Vec<(String, String)>, name: String, body: String| {
        rtl.push(name.clone());
        files.push((name, body));
    };
    let mut ctx = Context::new();
    ctx.insert("lay", &d.desc_layout);
    ctx.insert("ab", &d.ab);
    ctx.insert("dw", &d.dw);
    push_rtl(
        &mut files,
        "rtl/yq_fold_desc.v".into(),
        render(&t, "folded/desc.v", &ctx)?,
    );
    for (name, src) in PRIMS {
        push_rtl(&mut files, format!("rtl/{name}"), src.to_string());
    }
    let dram = d.da > 0;
    if dram {
        push_rtl(
            &mut files,
            format!("rtl/{}", SDRAM_CTRL.0),
            SDRAM_CTRL.1.to_string(),
        );
    }
    let post = plan
        .layers
        .iter()
        .enumerate()
        .find_map(|(i, l)| match &l.params {
            LayerPlan::Qnms(p) => Some((i, p.as_ref())),
            _ => None,
        })
        .filter(|_| d.nms.is_some());
    if let (Some((index, p)), Some(u)) = (post, &d.nms) {
        for (name, src) in [prims::ROM, NMS_PRIM] {
            push_rtl(&mut files, format!("rtl/{name}"), src.to_string());
        }
        let mut ctx = Context::new();
        ctx.insert("aw", &post_aw(d));
        ctx.insert("index", &index);
        ctx.insert("module", POST);
        ctx.insert("p", p);
        ctx.insert("u", u);
        ctx.insert("paw", &u.program.paw());
        ctx.insert("kw", &u.program.kw);
        ctx.insert("pdepth", &u.program.code_depth());
        ctx.insert("taw", &u.program.taw());
        ctx.insert("tdepth", &u.program.table_depth());
        push_rtl(
            &mut files,
            format!("rtl/{POST}.v"),
            render(&t, "folded/nms.v", &ctx)?,
        );
        let prog = &u.program;
        files.push((format!("mem/{POST}_prog.hex"), prog.hex_code()));
        files.push((format!("mem/{POST}_rhi.hex"), prog.hex_regs(true)));
        files.push((format!("mem/{POST}_rlo.hex"), prog.hex_regs(false)));
        files.push((format!("mem/{POST}_tab.hex"), prog.hex_table()));
    }
    let lyw = ubits(d.layers.len().saturating_sub(1) as u64);
    let mut ctx = Context::new();
    ctx.insert("d", d);
    ctx.insert("lyw", &lyw);
    ctx.insert("lw", &d.hw.lane_bits());
    ctx.insert("wtw", &d.hw.tap_bits());

    ctx.insert("offset", &OFFSET);
    ctx.insert("desc_bytes", &d.desc_layout.bytes);
    ctx.insert("post", &post.map(|_| POST));
    ctx.insert("clk_hz", &super::ulx3s::CLOCK_HZ);
    ctx.insert("qaw", &post_aw(d));
    let top = format!("rtl/{}.v", d.top);
    push_rtl(&mut files, top, render(&t, "folded/top.v", &ctx)?);
    // Outputs read back through the host port: the head tensors and the NMS records.
    let layer_of_node = |n: usize| d.layers.iter().find(|l| l.node == n).map(|l| l.index);
    let mut out_layers: Vec<usize> = plan
        .outputs
        .iter()
        .filter_map(|&n| layer_of_node(n))
        .collect();
    out_layers.extend(
        d.layers
            .iter()
            .filter(|l| l.kind == LayerKind::Qnms)
            .map(|l| l.index),
    );
    if dram {
        // The tensors are in DRAM: every store is checked as it is written; the host reads
        // the records' copy in the tile memory.
        out_layers = d
            .layers
            .iter()
            .enumerate()
            .filter(|(_, l)| l.kind == LayerKind::Qnms && matches!(l.step, Some(Step::Copy(_))))
            .map(|(i, _)| i)
            .collect();
    }
    ctx.insert("out_layers", &out_layers);
    ctx.insert("steps", &tb_steps(d, g));
    ctx.insert("dram", &dram);
    // The testbench clock: the SDRAM model checks real time, so a design with DRAM runs at
    // the board's clock.
    ctx.insert(
        "tb_half_ns",
        &if dram {
            format!("{:.3}", 5e8 / super::ulx3s::CLOCK_HZ as f64)
        } else {
            "5".into()
        },
    );
    let dram_words = d.tensor_bytes.div_ceil(2);
    // rows of 512 words in 4 banks: {row, bank, column}
    ctx.insert(
        "sdram_row_bits",
        &ubits(dram_words.div_ceil(2048).max(2) as u64 - 1),
    );
    ctx.insert("offsets", &g.offsets);
    ctx.insert("ngold", &g.codes.len());
    ctx.insert("nin", &g.pixels.len());
    ctx.insert("nflash", &d.flash.len());
    ctx.insert("max_cycles", &(2 * d.frame_cycles + 10_000));
    files.push(("tb/tb_top.v".into(), render(&t, "folded/tb_top.v", &ctx)?));
    files.push(("tb/flash.hex".into(), super::flash::hex(&d.flash)));
    let pixels: Vec<u8> = match pixel_order(d) {
        Some(order) => order.iter().map(|&i| g.pixels[i]).collect(),
        None => g.pixels.clone(),
    };
    files.push((
        "tb/input.hex".into(),
        hex::image(pixels.iter().map(|&p| hex::word(&[(p as i64, 8)]))),
    ));
    if dram {
        files.push((format!("tb/{}", SDRAM_MODEL.0), SDRAM_MODEL.1.to_string()));
    }
    files.push((
        "tb/golden.hex".into(),
        hex::image(g.codes.iter().map(|&c| hex::word(&[(c as i64, 8)]))),
    ));
    let mems: Vec<&String> = files
        .iter()
        .map(|f| &f.0)
        .filter(|f| f.starts_with("mem/"))
        .collect();
    let mut mk = Context::new();
    mk.insert("d", d);
    mk.insert("mems", &mems);
    mk.insert("rtl", &rtl);
    files.push(("Makefile".into(), render(&t, "Makefile", &mk)?));
    let mut manifest = manifest(d, rtl)?;
    if dram {
        manifest.sim_models = vec![format!("tb/{}", SDRAM_MODEL.0)];
    }
    board_files(&t, d, g, &mut ctx, &mut files)?;
    manifest.host = Some(HostInfo {
        input_bytes: g.pixels.len(),
        det_base: d
            .layers
            .iter()
            .filter(|l| l.kind == LayerKind::Qnms)
            .map(|l| match l.step {
                // with DRAM, the records' copy in the tile memory
                Some(Step::Copy(c)) => l.out_base - c.dram + c.chip,
                _ => l.out_base,
            })
            .next_back(),
        max_det: post.map_or(0, |(_, p)| p.max_det),
        class_names: d.class_names.clone(),
        baud: super::board::BAUD,
        input_bands: input_bands(d),
    });
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| Error::Other(e.to_string()))?;
    files.push(("manifest.json".into(), json + "\n"));
    files.sort();
    Ok((files, manifest))
}

/// The board top levels, pins and board primitives, and the simulated board: the iCEBreaker
/// and the ULX3S for a design without DRAM, the ULX3S (with its SDRAM) for one with.
fn board_files(
    t: &Tera,
    d: &FoldedDesign,
    g: &Golden,
    ctx: &mut Context,
    files: &mut Vec<(String, String)>,
) -> Result<()> {
    let dram = d.da > 0;
    // The iCEBreaker top level, pins and flash image.
    let pll = super::board::pll(BOARD_HZ)?;
    ctx.insert("pll", &pll);
    ctx.insert("baud", &super::board::BAUD);
    ctx.insert("clks_per_bit", &super::board::clks_per_bit(BOARD_HZ)?);
    ctx.insert("flash_base", &super::board::FLASH_BASE);
    ctx.insert("flash_mode", &super::board::FLASH_MODE);
    ctx.insert("flash_len", &d.flash.len());
    if !dram {
        files.push(("board/yq_board.v".into(), render(t, "folded/board.v", ctx)?));
        files.push((
            "board/icebreaker.pcf".into(),
            include_str!("../../../templates/folded/icebreaker.pcf").into(),
        ));
    }
    for (name, src) in BOARD_PRIMS {
        files.push((format!("board/{name}"), src.to_string()));
    }
    // The ULX3S top level and pins: the same engine and board primitives, the ECP5's PLL,
    // pads and configuration-clock access (`synth --board ulx3s-85f`).
    let mut ux = ctx.clone();
    let hz = super::ulx3s::CLOCK_HZ;
    ux.insert("pll", &super::ulx3s::pll(super::ulx3s::OSC_HZ, hz)?);
    ux.insert("clks_per_bit", &super::board::clks_per_bit(hz)?);
    ux.insert("flash_base", &super::ulx3s::FLASH_BASE);
    ux.insert("flash_mode", &super::ulx3s::FLASH_MODE);
    files.push((ULX3S_TOP.into(), render(t, "folded/board_ulx3s.v", &ux)?));
    let mut lpf = include_str!("../../../templates/folded/ulx3s.lpf").to_string();
    if dram {
        lpf.push_str(include_str!("../../../templates/folded/ulx3s_sdram.lpf"));
    }
    files.push((ULX3S_LPF.into(), lpf));
    // The simulated board: the same host protocol over the UART, weights through the flash
    // reader from the flash model; with DRAM, the ULX3S (its clock, flash mode and layout)
    // with the checking SDRAM model.
    let (sim, hz) = if dram {
        (&mut ux, hz)
    } else {
        (&mut *ctx, BOARD_HZ)
    };
    sim.insert("half_period_ns", &format!("{:.3}", 5e8 / hz as f64));
    sim.insert("board_name", if dram { "ULX3S" } else { "iCEBreaker" });
    sim.insert(
        "max_cycles_board",
        &(4 * d.frame_cycles
            + 40 * (g.pixels.len() as u64 + 4 * g.codes.len() as u64)
                * super::board::clks_per_bit(hz)?
            + 100_000),
    );
    if !dram {
        // its checks follow the codes of unbanded layers
        files.push(("tb/tb_board.v".into(), render(t, "folded/tb_board.v", sim)?));
    }
    files.push((format!("tb/{}", FLASH_MODEL.0), FLASH_MODEL.1.to_string()));
    files.push(("tb/tb_host.v".into(), render(t, "folded/tb_host.v", sim)?));
    files.push((format!("tb/{}", HOST_DPI.0), HOST_DPI.1.to_string()));
    Ok(())
}

fn manifest(d: &FoldedDesign, rtl: Vec<String>) -> Result<Manifest> {
    Ok(Manifest {
        arch: crate::rtl::Arch::Folded,
        top: d.top.clone(),
        imgsz: d.imgsz,
        parallel: d.hw.lanes,
        abits: d.abits,
        wbits: d.wbits,
        mem_depth: d.mem_used,
        frame_cycles: d.frame_cycles,
        total_macs: d.total_macs,
        mac_utilisation: d.total_macs as f64 / (d.hw.lanes as u64 * d.frame_cycles.max(1)) as f64,
        layers: d
            .layers
            .iter()
            .map(|l| ManifestLayer {
                index: l.index,
                name: l.name.clone(),
                module: "yq_fold_core".into(),
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
        host: None,
    })
}

/// Run the post-processing program on the activation memory as the engine leaves it (every
/// layer's golden codes at its address, in layer order) and check that it writes exactly the
/// reference's records; returns its cycles.
fn post_run(
    d: &FoldedDesign,
    g: &Golden,
    u: &super::nms::NmsUnit,
    out_base: usize,
    want: &[i32],
) -> Result<u64> {
    let aw = post_aw(d);
    let mut mem = vec![0u8; 1 << aw];
    let mut seen = std::collections::BTreeSet::new();
    for l in d.layers.iter().filter(|l| l.kind != LayerKind::Qnms) {
        if !seen.insert(l.index) {
            continue;
        }
        let end = g.offsets.get(l.index + 1).copied().unwrap_or(g.codes.len());
        for (i, &c) in g.codes[g.offsets[l.index]..end].iter().enumerate() {
            mem[l.out_base + i] = c as u8;
        }
    }
    let run = if d.da > 0 {
        let mut t = super::banded::SdramTiming::default();
        u.run_timed(&mut mem, aw, &mut |a, w| t.access(a, w))?
    } else {
        u.run(&mut mem, aw)?
    };
    let got = &mem[out_base..out_base + want.len()];
    if got.iter().zip(want).any(|(&a, &b)| a as i32 != b) {
        return Err(Error::Other(
            "internal: the post-processing program's records differ from the reference model's"
                .into(),
        ));
    }
    Ok(run.cycles)
}

/// Plan, lower, compute golden vectors on `image` and write everything to `out`.
pub fn generate(
    q: &crate::quant::QuantGraph,
    size: usize,
    hw: super::FoldHw,
    image: &ndarray::Array3<f32>,
    out: &Path,
) -> Result<Manifest> {
    generate_with(q, size, hw, Tensors::Onchip, image, out)
}

/// [`generate`] with the tensors where `tensors` says.
pub fn generate_with(
    q: &crate::quant::QuantGraph,
    size: usize,
    hw: super::FoldHw,
    tensors: Tensors,
    image: &ndarray::Array3<f32>,
    out: &Path,
) -> Result<Manifest> {
    let plan = crate::rtl::plan::plan(q, size, size)?;
    if image.dim() != (3, size, size) {
        return Err(Error::arg(
            "--image",
            format!(
                "golden image is {:?}, expected [3, {size}, {size}]",
                image.shape()
            ),
        ));
    }
    let mut d = match tensors {
        Tensors::Onchip => super::lower(q, &plan, hw)?,
        Tensors::Dram => {
            let bands = super::band::split(q, &plan, &hw, hw.mem_bytes, super::band::DESC_BYTES)?;
            super::banded::lower(q, &plan, hw, &bands)?
        }
    };
    let g = crate::rtl::golden::golden(q, &plan, image);
    // The NMS stage writes the count and the records of this image.
    if let Some(run) = &g.qnms {
        for l in d.layers.iter_mut().filter(|l| l.kind == LayerKind::Qnms) {
            l.shape = [1, 1, run.codes.len()];
        }
    }
    let post_cycles = match (&g.qnms, &d.nms, plan.qnms()) {
        (Some(run), Some(u), Some(p)) => Some(post_run(&d, &g, u, p.out_base, &run.codes)?),
        _ => None,
    };
    super::cycles::apply(&mut d, post_cycles);
    let (files, manifest) = render_all(&d, &plan, &g)?;
    crate::rtl::write_design(out, &["rtl", "mem", "tb", "board"], &files)?;
    // The flash image for `iceprog -o 1M board/flash.bin`.
    crate::util::write_atomic(&out.join("board/flash.bin"), &d.flash)?;
    Ok(manifest)
}
