//! Resource estimate of an emitted design for a board, from its `manifest.json` alone, so that
//! `synth` refuses in seconds a design that cannot fit instead of after many minutes of Yosys
//! and a failed placement.
//!
//! # The model
//!
//! Layer-sequential designs have one engine per layer (`templates/layerseq/`). Per convolution
//! engine with `p` MAC lanes (its `design[].params`): `p` DSP (one multiplier per lane; Yosys
//! maps every multiplier of at least 11 product bits to a DSP and never spills DSPs into logic,
//! so this is also what place-and-route must find), `600 + 40·p` LUT and `330 + 38·p` FF, and
//! its three ROMs (weights `w_depth × p·wb`, channel parameters `p_depth × prm_w`, the SiLU
//! table `lut_depth × abits`) in block RAM, each in the cheapest of the board's block shapes
//! (iCE40 EBR: 256×16, 512×8, 1024×4, 2048×2). Plus the activation memory
//! (`mem_depth × abits`) in block RAM, the NMS stage's 8 multipliers, and the rest of the
//! design (input loader, adds, pools, upsamples, NMS logic, controller): 3,460 LUT, 1,341 FF.
//!
//! Folded designs are one fixed engine (`rtl::folded::FoldHw`: 16 lanes, 256 taps, 128 KB of
//! activation memory); the model is the measured iCE40 build of the YOLOv8n board at 128×128
//! (docs/hardware.md): 4,051 LUT, 2,134 FF, 8 DSP (two lanes per SB_MAC16), 29 EBR, 4 SPRAM. On
//! other families the lanes are plain multipliers and the activation memory is block RAM.
//!
//! # Calibration and error
//!
//! iCE40 (`synth_ice40 -dsp -noflatten`, Yosys 0.23), measured for this model: three
//! convolution engines of the synthetic design (3×3 s2 3→16, 1×1 8→8, 3×3 s2 16→16) each at
//! 1, 2, 4, 8 and 16 lanes, synthesized alone: DSP exact in all 15; LUT within ±15 % of
//! `600 + 40·p` (505–680 + 35–42 per lane); FF within ±15 %; EBR exact to +1 per engine, except
//! ROMs 8 words deep at 8–16 lanes, which Yosys puts in logic (up to +4 per engine). The whole
//! synthetic design at 32×32 with 4 lanes (`generated/synthetic-32-p4`, the docs' synthesis
//! table): estimate 244 DSP / 328 EBR against 244 SB_MAC16 / 325 EBR measured; the LUT and FF
//! totals (48,302 / 29,779) fix the constant for the rest of the design. Checked on a design
//! not used for fitting, the same synthetic model at 1 lane, whole (598 s of Yosys): estimate
//! 41,220 LUT / 23,053 FF / 67 DSP / 290 EBR against 41,801 / 23,401 / 67 / 293 measured
//! (−1.4 %, −1.5 %, exact, −1.0 %). Larger images widen the engines' counters and addresses,
//! which the per-engine constants do not follow: for YOLOv8n-sized designs the LUT and FF
//! figures are unmeasured beyond that (the DSP count, which decides them, is exact).
//! ECP5 and Xilinx 7: LUT and FF scaled from iCE40 by the measured ratio of the whole
//! synthetic design at 4 lanes (×1.02 / ×1.13 and ×0.83 / ×0.89), DSP as on iCE40 (243
//! measured on both: the NMS stage takes 7 there, +1 in the estimate), block RAM from the
//! board's block (18 kbit, read ports up to 36 bits; a Xilinx RAMB36 holds two ROMs of 18 kbit
//! or less): at 4 lanes 178 against 180 DP16KD measured. ECP5 at 1 lane, whole (not used for
//! fitting): estimate 42,207 LUT / 26,029 FF / 67 DSP / 178 blocks against 41,001 / 24,219 /
//! 66 / 180 measured (+2.9 %, +7.5 %, +1, −1.1 %). Xilinx block RAM is unmeasured beyond the
//! cell count Yosys reports (175 RAMB18/36 cells at 4 lanes; estimate 89 RAMB36 sites).
//!
//! A resource is refused only when the estimate is over the board's capacity by more than
//! its error ([`MARGIN`]), so a design that might fit is never refused; `synth --no-estimate`
//! runs Yosys whatever the estimate says.

use super::{Board, Family, MemoryKind};
use crate::error::{Error, Result};
use crate::rtl::manifest::{read_manifest, Manifest};
use crate::rtl::plan::LayerKind;
use crate::rtl::Arch;
use std::path::Path;

/// What a design needs of a board.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Estimate {
    pub lut: u64,
    pub ff: u64,
    pub dsp: u64,
    /// Block RAM units of the board's block RAM (EBR on iCE40).
    pub bram: u64,
    pub spram: u64,
    /// The part of `bram` that holds the activation memory (layer-sequential designs).
    pub act_bram: u64,
}

/// Relative error of each estimate (LUT, FF, DSP, block RAM): a resource is refused only when
/// the estimate less this share is still over capacity.
pub const MARGIN: [f64; 4] = [0.25, 0.25, 0.05, 0.15];

/// Per convolution engine: LUT and FF as `base + per_lane · p` (iCE40).
const CONV_LUT: (u64, u64) = (600, 40);
const CONV_FF: (u64, u64) = (330, 38);
/// The rest of a layer-sequential design (iCE40), and the NMS stage's multipliers.
const REST_LUT: u64 = 3_460;
const REST_FF: u64 = 1_341;
const NMS_DSP: u64 = 8;
/// The folded YOLOv8n board at 128×128 on the UP5K (Yosys, before packing).
const FOLDED_ICE40: Estimate = Estimate {
    lut: 4_051,
    ff: 2_134,
    dsp: 8,
    bram: 29,
    spram: 4,
    act_bram: 0,
};

/// LUT and FF of a family relative to iCE40 (measured on the whole synthetic design).
fn family_scale(f: Family) -> (f64, f64) {
    match f {
        Family::Ice40 => (1.0, 1.0),
        Family::Ecp5 => (49_458.0 / 48_302.0, 33_623.0 / 29_779.0),
        Family::Xc7 => (40_217.0 / 48_302.0, 26_412.0 / 29_779.0),
        // Multipliers in LUTs (no DSP on the generic board): 96,757 LUT measured.
        Family::Generic => (96_757.0 / 48_302.0, 33_369.0 / 29_779.0),
    }
}

/// Block RAM of a board for a read-only or one-port memory: bits per block and its widest
/// read port (ECP5 and Xilinx blocks read twice their port width in pseudo-dual-port mode,
/// e.g. ECP5 PDPW16KD 512×36); iCE40's EBR when the board lists none.
fn block(b: &Board) -> (u64, u64) {
    let m = b
        .memories_of(MemoryKind::Ebr)
        .chain(b.memories_of(MemoryKind::Bram))
        .next();
    let wide = match b.family {
        Family::Ecp5 | Family::Xc7 => 2,
        Family::Ice40 | Family::Generic => 1,
    };
    match m {
        Some(m) => (m.unit_bits(), wide * m.width as u64),
        None => (4096, 16),
    }
}

/// Blocks for a `depth × width` memory: the cheapest shape of the block, halving the width
/// (doubling the depth) from its widest port.
fn blocks(depth: u64, width: u64, (bits, widest): (u64, u64)) -> u64 {
    if depth == 0 || width == 0 {
        return 0;
    }
    let mut best = u64::MAX;
    let mut w = widest;
    while w >= 1 {
        let d = bits / w;
        best = best.min(depth.div_ceil(d) * width.div_ceil(w));
        w /= 2;
    }
    best
}

/// Half blocks of a `depth × width` memory on a Xilinx 7 (a RAMB36 holds two RAMB18s).
fn half_blocks(depth: u64, width: u64, (bits, widest): (u64, u64)) -> u64 {
    let half = (bits / 2, widest / 2);
    blocks(depth, width, half)
}

fn param(v: &serde_json::Value, key: &str) -> u64 {
    v.get(key).and_then(|x| x.as_u64()).unwrap_or(0)
}

/// The estimate of design `m` on board `b`.
pub fn estimate(m: &Manifest, b: &Board) -> Estimate {
    let (lut_k, ff_k) = family_scale(b.family);
    let blk = block(b);
    // Memories in blocks; on Xilinx in half blocks, rounded up at the end.
    let xc7 = b.family == Family::Xc7;
    let mem = |depth: u64, width: u64| {
        if xc7 {
            half_blocks(depth, width, blk)
        } else {
            blocks(depth, width, blk)
        }
    };
    let finish = |lut: f64, ff: f64, dsp: u64, bram: u64, spram: u64| Estimate {
        lut: (lut * lut_k).round() as u64,
        ff: (ff * ff_k).round() as u64,
        dsp: if b.family == Family::Generic { 0 } else { dsp },
        bram: if xc7 { bram.div_ceil(2) } else { bram },
        spram,
        act_bram: 0,
    };
    match m.arch {
        Arch::Folded => {
            let f = FOLDED_ICE40;
            if b.family == Family::Ice40 {
                return f;
            }
            // The lanes as multipliers; the 128 KB activation memory and the engine's 29
            // 4-kbit buffers in the board's block RAM.
            let hw = crate::rtl::folded::FoldHw::up5k();
            let act = mem(hw.mem_bytes as u64 / 2, 16);
            let bufs = mem(29 * 256, 16);
            finish(f.lut as f64, f.ff as f64, m.parallel as u64, act + bufs, 0)
        }
        Arch::Layerseq => {
            let (mut lut, mut ff, mut dsp, mut bram) = (REST_LUT, REST_FF, 0u64, 0u64);
            // Block RAM of the weights and tables, then of the activation memory.
            let abits = m.abits as u64;
            let layers = m.design.as_array().map(Vec::as_slice).unwrap_or(&[]);
            for l in layers {
                let Some(p) = l.get("params") else { continue };
                if p.get("type").and_then(|t| t.as_str()) != Some("Conv") {
                    continue;
                }
                let lanes = param(p, "p");
                let wb = param(p, "wb");
                lut += CONV_LUT.0 + CONV_LUT.1 * lanes;
                ff += CONV_FF.0 + CONV_FF.1 * lanes;
                if wb + abits + 1 >= 11 {
                    dsp += lanes;
                } else {
                    // Narrow products stay in logic: about one LUT per partial-product bit.
                    lut += lanes * wb * (abits + 1);
                }
                bram += mem(param(p, "w_depth"), lanes * wb);
                bram += mem(param(p, "p_depth"), param(p, "prm_w"));
                if p.get("has_lut").and_then(|x| x.as_bool()) == Some(true) {
                    bram += mem(param(p, "lut_depth"), abits);
                }
            }
            if m.layers.iter().any(|l| l.kind == LayerKind::Qnms) {
                dsp += NMS_DSP;
            }
            let act = mem(m.mem_depth as u64, abits);
            let mut e = finish(lut as f64, ff as f64, dsp, bram + act, 0);
            e.act_bram = if xc7 { act.div_ceil(2) } else { act };
            e
        }
    }
}

/// The resources of `e` over `b`'s capacity by more than the estimate's error, as
/// `(name, needed, capacity)`.
pub fn over(e: &Estimate, b: &Board) -> Vec<(&'static str, u64, u64)> {
    let r = &b.resources;
    let bram_name = match b.family {
        Family::Ice40 => "EBR",
        _ => "BRAM",
    };
    [
        ("DSP", e.dsp, r.dsp, MARGIN[2]),
        (bram_name, e.bram, r.bram, MARGIN[3]),
        ("LUT", e.lut, r.lut, MARGIN[0]),
        ("FF", e.ff, r.ff, MARGIN[1]),
        ("SPRAM", e.spram, r.spram, MARGIN[3]),
    ]
    .into_iter()
    .filter_map(|(name, need, cap, err)| {
        let cap = cap?;
        (need as f64 * (1.0 - err) > cap as f64).then_some((name, need, cap))
    })
    .collect()
}

/// The largest lane count at or below the design's whose DSP, LUT and FF estimates fit `b`
/// (layer-sequential designs), if any.
fn lanes_that_fit(m: &Manifest, b: &Board) -> Option<usize> {
    (1..m.parallel).rev().find(|&lanes| {
        let mut m2 = m.clone();
        if let Some(layers) = m2.design.as_array_mut() {
            for l in layers {
                if let Some(p) = l.get_mut("params").and_then(|p| p.as_object_mut()) {
                    if p.get("type").and_then(|t| t.as_str()) == Some("Conv") {
                        let cur = p.get("p").and_then(|x| x.as_u64()).unwrap_or(1);
                        let depth = p.get("w_depth").and_then(|x| x.as_u64()).unwrap_or(0);
                        let new = cur.min(lanes as u64);
                        p.insert("p".into(), new.into());
                        p.insert("w_depth".into(), (depth * cur).div_ceil(new).into());
                    }
                }
            }
        }
        over(&estimate(&m2, b), b).is_empty()
    })
}

/// Refuse (one line: the board, each resource short and the fix) a design that the estimate
/// says cannot fit `b`; otherwise return the estimate. Reads only `dir/manifest.json`.
pub fn check(dir: &Path, b: &Board) -> Result<Estimate> {
    let m = read_manifest(dir)?;
    check_manifest(&m, b, dir)
}

/// [`check`] of a manifest already read; `dir` names the design in the message.
pub fn check_manifest(m: &Manifest, b: &Board, dir: &Path) -> Result<Estimate> {
    let e = estimate(m, b);
    let short = over(&e, b);
    if short.is_empty() {
        return Ok(e);
    }
    let needs: Vec<String> = short
        .iter()
        .map(|(n, need, cap)| format!("~{need} {n} (estimate) of {cap}"))
        .collect();
    let fix = match (m.arch, b.arch) {
        (Arch::Layerseq, Arch::Folded) => format!(
            "emit it with --arch folded, the one-engine architecture the {} board is meant for (the main job does this for --board {})",
            b.name, b.name
        ),
        (Arch::Layerseq, _) => match lanes_that_fit(m, b) {
            Some(p) => format!(
                "emit it with --parallel {p} (fewer MAC lanes per layer), or --arch folded, or use a bigger board"
            ),
            None if short.iter().any(|s| s.0 == "EBR" || s.0 == "BRAM")
                && 2 * e.act_bram > e.bram =>
            {
                "emit it with a smaller --imgsz (the activation memory takes most of the block RAM) or --arch folded, or use a bigger board".to_string()
            }
            None if short.iter().any(|s| s.0 == "EBR" || s.0 == "BRAM") => {
                "the weights do not fit the block RAM: emit it with --arch folded (weights streamed from flash), or use a bigger board".to_string()
            }
            None => "emit it with --arch folded (one shared engine), or use a bigger board".to_string(),
        },
        (Arch::Folded, _) => "use a bigger board (the folded engine is fixed in size)".to_string(),
    };
    Err(Error::arg(
        "--board",
        format!(
            "{} does not fit the {} board: it needs {}; {fix}; `synth --no-estimate` runs Yosys anyway",
            dir.display(),
            b.name,
            needs.join(", ")
        ),
    ))
}

/// Lower bounds known before any design exists, for a layer-sequential design with at least
/// `convs` convolution engines of `lanes` MAC lanes holding at least `weight_bits` of weights
/// on chip: `convs · lanes` DSP, and the weights in block RAM or, at most 64 bits per LUT, in
/// logic. Refused (one line, like [`check`]) when a bound is over `b`'s capacity (the DSP
/// bound by more than the estimate's error).
pub fn check_layerseq(convs: usize, lanes: usize, weight_bits: u64, b: &Board) -> Result<()> {
    if b.family == Family::Generic {
        return Ok(());
    }
    let r = &b.resources;
    let need = (convs * lanes) as u64;
    if let Some(cap) = r
        .dsp
        .filter(|&cap| need as f64 * (1.0 - MARGIN[2]) > cap as f64)
    {
        let fix = match (1..lanes)
            .rev()
            .find(|&p| ((convs * p) as f64) * (1.0 - MARGIN[2]) <= cap as f64)
        {
            Some(p) => format!("--parallel {p} or lower, or a bigger board"),
            None => "a bigger board (even one lane per layer does not fit)".to_string(),
        };
        return Err(Error::arg(
            "--synth",
            format!(
                "a layer-sequential design of {convs} or more convolutions at {lanes} MAC lanes needs at least {need} DSP, the {} board has {cap}; use {fix}",
                b.name
            ),
        ));
    }
    let (unit, _) = block(b);
    let room = r.bram.unwrap_or(0) * unit + r.lut.unwrap_or(0) * 64;
    if r.bram.is_some() && r.lut.is_some() && weight_bits > room {
        return Err(Error::arg(
            "--synth",
            format!(
                "the layer-sequential design keeps its {weight_bits} bits of weights on chip, the {} board holds at most {room} (block RAM and every LUT as ROM); use a board with the folded engine (weights streamed from flash) or a smaller model",
                b.name
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtl::synth::board;

    fn manifest(name: &str) -> Manifest {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("generated")
            .join(name);
        read_manifest(&dir).unwrap()
    }

    /// A layer-sequential design of YOLOv8n's size at 64×64: 64 convolution engines of 8
    /// lanes (the main job's default), each with the committed synthetic design's first
    /// engines' ROM shapes scaled to 8 lanes.
    fn yolov8n_sized() -> Manifest {
        let mut m = manifest("synthetic-32-p4");
        let design = m.design.as_array_mut().unwrap();
        let convs: Vec<serde_json::Value> = design
            .iter()
            .filter(|l| l["params"]["type"] == "Conv")
            .cloned()
            .collect();
        let mut more = Vec::new();
        for i in 0..64 - convs.len() {
            more.push(convs[i % convs.len()].clone());
        }
        design.extend(more);
        for l in design.iter_mut() {
            let p = &mut l["params"];
            if p["type"] == "Conv" {
                let (cur, depth) = (p["p"].as_u64().unwrap(), p["w_depth"].as_u64().unwrap());
                p["p"] = 8.into();
                p["w_depth"] = (depth * cur).div_ceil(8).into();
            }
        }
        m.parallel = 8;
        m.imgsz = [64, 64];
        m
    }

    #[test]
    fn block_shapes_follow_the_cheapest_configuration() {
        let ebr = (4096, 16);
        assert_eq!(blocks(256, 16, ebr), 1);
        assert_eq!(blocks(2304, 8, ebr), 5); // 512x8 blocks
        assert_eq!(blocks(576, 32, ebr), 6); // 256x16, two wide, three deep
        assert_eq!(blocks(8192, 8, ebr), 16);
        assert_eq!(blocks(0, 8, ebr), 0);
        let dp16kd = (18432, 18);
        assert_eq!(blocks(1024, 18, dp16kd), 1);
        assert_eq!(blocks(2048, 9, dp16kd), 1);
    }

    /// The committed design whose Yosys figures are in docs/hardware.md: DSP exact, EBR within
    /// 1 %, LUT and FF (the constants were fitted to this design) within 1 %.
    #[test]
    fn committed_synthetic_design_is_estimated_as_measured() {
        let m = manifest("synthetic-32-p4");
        let e = estimate(&m, &board("ice40").unwrap());
        assert_eq!(e.dsp, 244);
        let near = |est: u64, meas: f64, tol: f64| (est as f64 - meas).abs() <= tol * meas;
        assert!(near(e.bram, 325.0, 0.01), "{e:?}");
        assert!(
            near(e.lut, 48_302.0, 0.01) && near(e.ff, 29_779.0, 0.01),
            "{e:?}"
        );
        let ecp5 = estimate(&m, &board("ecp5").unwrap());
        assert!(near(ecp5.lut, 49_458.0, 0.01) && near(ecp5.ff, 33_623.0, 0.01));
        assert!(
            near(ecp5.dsp, 243.0, 0.01) && near(ecp5.bram, 180.0, 0.05),
            "{ecp5:?}"
        );
        // Generic: no DSPs, no capacity, never refused.
        let g = board("generic").unwrap();
        assert_eq!(estimate(&m, &g).dsp, 0);
        assert!(over(&estimate(&yolov8n_sized(), &g), &g).is_empty());
    }

    #[test]
    fn layer_sequential_yolov8n_is_refused_for_ice40_and_ecp5_with_the_fix() {
        let m = yolov8n_sized();
        let dir = Path::new("runs/yoloq/rtl_64x64_p8");
        let ice40 = board("ice40").unwrap();
        let e = estimate(&m, &ice40);
        assert_eq!(e.dsp, 64 * 8 + NMS_DSP);
        let msg = check_manifest(&m, &ice40, dir).unwrap_err().to_string();
        assert!(
            msg.starts_with("--board: runs/yoloq/rtl_64x64_p8 does not fit the ice40 board")
                && msg.contains(&format!("~{} DSP (estimate) of 8", e.dsp))
                && msg.contains("--arch folded")
                && msg.contains("--no-estimate")
                && !msg.contains('\n'),
            "{msg}"
        );
        // ECP5 (156 DSP): two lanes per layer would fit the DSPs and the logic.
        let ecp5 = board("ecp5").unwrap();
        // ECP5 (156 DSP, 208 blocks): over on DSP and block RAM (8-lane ROMs 64 bits wide);
        // at two lanes both fit.
        let msg = check_manifest(&m, &ecp5, dir).unwrap_err().to_string();
        assert!(
            msg.contains("DSP (estimate) of 156")
                && msg.contains("BRAM (estimate) of 208")
                && msg.contains("--parallel 2"),
            "{msg}"
        );
        // With ROMs eight times deeper (YOLOv8n's real weights are ~25 Mbit) no lane count
        // fits: the weights must leave the chip.
        let mut deep = m.clone();
        for l in deep.design.as_array_mut().unwrap() {
            if l["params"]["type"] == "Conv" {
                let d = l["params"]["w_depth"].as_u64().unwrap();
                l["params"]["w_depth"] = (8 * d).into();
            }
        }
        let msg = check_manifest(&deep, &ecp5, dir).unwrap_err().to_string();
        assert!(
            msg.contains("weights do not fit") && msg.contains("--arch folded"),
            "{msg}"
        );
        // The same lower bounds before the design exists: DSP, then YOLOv8n's 3.15 M 8-bit
        // weights (25 Mbit) against the ECP5-85F's 3.8 Mbit of block RAM and 84 k LUTs.
        let msg = check_layerseq(64, 8, 0, &ecp5).unwrap_err().to_string();
        assert!(
            msg.contains("512 DSP") && msg.contains("--parallel 2"),
            "{msg}"
        );
        assert!(check_layerseq(64, 2, 1 << 20, &ecp5).is_ok());
        let msg = check_layerseq(64, 2, 3_151_888 * 8, &ecp5)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("25215104 bits") && msg.contains("folded"),
            "{msg}"
        );
        assert!(check_layerseq(64, 8, 1 << 30, &board("generic").unwrap()).is_ok());
    }

    #[test]
    fn folded_designs_pass_on_the_board_they_are_made_for() {
        let m = manifest("synthetic-32-folded");
        let ice40 = board("ice40").unwrap();
        let e = check_manifest(&m, &ice40, Path::new("d")).unwrap();
        assert_eq!(e, FOLDED_ICE40);
        // The measured build leaves room on every resource of the UP5K.
        let r = &ice40.resources;
        assert!(e.lut < r.lut.unwrap() && e.dsp <= r.dsp.unwrap() && e.bram <= r.bram.unwrap());
        // A board too small for the fixed engine names the engine's size as the cause.
        let mut tiny = ice40.clone();
        tiny.resources.lut = Some(1280);
        let msg = check_manifest(&m, &tiny, Path::new("d"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("LUT") && msg.contains("bigger board"), "{msg}");
        // The committed layer-sequential synthetic design does not fit the UP5K either.
        let ls = manifest("synthetic-32-p4");
        assert!(check_manifest(&ls, &ice40, Path::new("d")).is_err());
    }
}
