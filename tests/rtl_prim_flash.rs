//! The folded accelerator's SPI flash reader (`templates/folded/prims/yq_flash_reader.v`)
//! against the W25Q128JV model (`templates/folded/sim/yq_flash_model.v`) in
//! `rtl_tb/folded/tb_yq_flash_reader.v`, in Icarus and Verilator: a seeded image at 1 MiB,
//! every byte and the cycle model checked by the testbench, and here independently: the
//! FNV-1a hash of every range against this file's own copy of the image, the cycle counts
//! against the datasheet's clock counts, and the error cases (a reader that skips ABh, the
//! model's own timing and protocol checks). Then lint, Yosys `synth_ice40` and, with
//! nextpnr and icetime, place and route on the iCEBreaker's pins with Fmax >= 60 MHz.
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const IMAGE_BYTES: usize = 262_144;
const OFFSET: u32 = 0x10_0000;
const CLK_HZ: u64 = 50_000_000; // the testbench clock
const READER: &str = "templates/folded/prims/yq_flash_reader.v";
const MODEL: &str = "templates/folded/sim/yq_flash_model.v";
const TB: &str = "rtl_tb/folded/tb_yq_flash_reader.v";

fn src(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The flash image: a 64-bit LCG's high bytes, seeded.
fn image(seed: u64) -> Vec<u8> {
    let mut s = seed;
    (0..IMAGE_BYTES)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 56) as u8
        })
        .collect()
}

fn flash_byte(img: &[u8], a: u32) -> u8 {
    let a = a & 0xFF_FFFF;
    if a >= OFFSET && ((a - OFFSET) as usize) < img.len() {
        img[(a - OFFSET) as usize]
    } else {
        0xFF // erased
    }
}

fn fnv(bytes: impl Iterator<Item = u8>) -> u32 {
    bytes.fold(0x811C_9DC5, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193))
}

/// Instruction geometry from the W25Q128JV datasheet (8.2.7, 8.2.10, 8.2.11): clocks before
/// the first data clock and data lanes, by reader MODE.
fn geometry(mode: u32) -> (u64, u64) {
    match mode {
        2 => (8 + 6 + 2 + 4, 4),
        1 => (8 + 12 + 4, 2),
        _ => (8 + 24 + 8, 1),
    }
}

/// The reader's cycle model at `clk_hz` (edges, see docs/hardware.md "Flash reader"):
/// (req to first byte, per byte, last byte to next req).
fn cycle_model(mode: u32, clk_hz: u64) -> (u64, u64, u64) {
    let (hdr, lanes) = geometry(mode);
    let shsl = clk_hz.div_ceil(20_000_000); // ceil(50 ns * f)
    (2 * (hdr + 8 / lanes) + 1, 16 / lanes, shsl)
}

/// Edges from the first edge out of reset to the first edge that can sample req. A command
/// of B bit-times takes 2B + 1 edges, then CS stays high tRES1 (after ABh) or tSHSL2.
fn init_cycles(mode: u32, qe_init: bool, skip_rpd: bool, clk_hz: u64) -> u64 {
    let res1 = (3 * clk_hz).div_ceil(1_000_000) + 1;
    let shsl = clk_hz.div_ceil(20_000_000);
    let cmd = |bits: u64| 2 * bits + 1;
    let mut t = if skip_rpd { 0 } else { cmd(8) + res1 };
    if mode == 2 {
        t += cmd(16) + shsl; // 35h
        if !qe_init {
            t += cmd(8) + shsl + cmd(16) + shsl + cmd(16) + shsl; // 50h, 31h, 35h
        }
    }
    t
}

/// `key=value` fields of an output line.
fn fields(line: &str) -> BTreeMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .collect()
}

fn num(f: &BTreeMap<&str, &str>, k: &str) -> u64 {
    f[k].parse()
        .unwrap_or_else(|_| panic!("field {k} in {f:?}"))
}

fn hex(f: &BTreeMap<&str, &str>, k: &str) -> u32 {
    u32::from_str_radix(f[k], 16).unwrap_or_else(|_| panic!("field {k} in {f:?}"))
}

/// The reads each testbench port makes, as (addr, len), in order (complete reads only).
fn planned(port: u64) -> Vec<(u32, u32)> {
    let mut v = vec![(0x10_0000, 64), (0x10_0040, 16)];
    match port {
        0 => v.extend([
            (0x10_FF00, 70_000),
            (0x0F_FFF0, 40),
            (OFFSET + IMAGE_BYTES as u32 - 16, 32),
            (0x10_0123, 1),
            (0x10_0400, 300),
            (0x10_0800, 200),
        ]),
        4 => v = vec![(0x10_0000, 4)],
        _ => v.push((0x10_FFF0, 300)),
    }
    v
}

/// Ports: (mode, qe_init, skip_rpd), as instantiated in the testbench.
const PORTS: [(u32, bool, bool); 5] = [
    (2, false, false),
    (1, false, false),
    (0, false, false),
    (2, true, false),
    (2, true, true),
];

fn check_output(out: &str, img: &[u8], sim: &str) {
    assert!(out.contains("RESULT PASS"), "{sim}: no RESULT PASS\n{out}");
    assert!(!out.contains("TB ERROR"), "{sim}\n{out}");
    assert!(out.contains("MODEL CHECKS ok"), "{sim}\n{out}");
    // Flash errors come only from the reader that skips ABh (p4) and the model checks (p5).
    let errs: Vec<&str> = out.lines().filter(|l| l.contains("FLASH ERROR")).collect();
    for e in &errs {
        assert!(e.contains(".p4.") || e.contains(".p5."), "{sim}: {e}");
    }
    assert!(
        errs.iter()
            .any(|e| e.contains(".p4.") && e.contains("while powered down")),
        "{sim}: the model did not report the reader that skips ABh"
    );
    assert!(errs.iter().filter(|e| e.contains(".p5.")).count() >= 10);

    let mut ranges: BTreeMap<u64, Vec<(u32, u32)>> = BTreeMap::new();
    for l in out.lines().filter(|l| l.starts_with("RANGE ")) {
        let f = fields(l);
        let (p, a, n) = (num(&f, "p"), hex(&f, "addr"), num(&f, "len") as u32);
        let want = if PORTS[p as usize].2 {
            fnv(std::iter::repeat_n(0xFF, n as usize)) // nothing reached the flash
        } else {
            fnv((0..n).map(|i| flash_byte(img, a + i)))
        };
        assert_eq!(hex(&f, "fnv"), want, "{sim}: {l}");
        ranges.entry(p).or_default().push((a, n));
    }
    for (p, &(mode, qe, skip)) in PORTS.iter().enumerate() {
        let p = p as u64;
        assert_eq!(ranges.get(&p), Some(&planned(p)), "{sim}: reads of p{p}");
        let init = out
            .lines()
            .find(|l| l.starts_with(&format!("INIT p={p} ")))
            .unwrap_or_else(|| panic!("{sim}: no INIT line for p{p}"));
        assert_eq!(
            num(&fields(init), "cycles"),
            init_cycles(mode, qe, skip, CLK_HZ),
            "{sim}: {init}"
        );
        if skip {
            continue;
        }
        let c = out
            .lines()
            .find(|l| l.starts_with(&format!("CYCLES p={p} ")))
            .unwrap_or_else(|| panic!("{sim}: no CYCLES line for p{p}"));
        let f = fields(c);
        let (first, per, gap) = cycle_model(mode, CLK_HZ);
        assert_eq!(num(&f, "mode"), mode as u64);
        assert_eq!(
            (num(&f, "first"), num(&f, "per"), num(&f, "gap")),
            (first, per, gap),
            "{sim}: {c}"
        );
        if p == 0 {
            assert!(num(&f, "pauses") > 0, "{sim}: SCK never paused: {c}");
        }
    }
}

fn run(c: &mut Command, what: &str) -> String {
    let o = c
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let s = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{what} failed:\n{s}");
    s
}

fn write_image(dir: &Path, img: &[u8]) {
    let mut s = String::with_capacity(img.len() * 3);
    for b in img {
        s.push_str(&format!("{b:02x}\n"));
    }
    std::fs::write(dir.join("flash_image.hex"), s).unwrap();
}

#[test]
fn reader_and_model_in_icarus() {
    let (Some(iv), Some(vvp)) = (common::tool("iverilog"), common::tool("vvp")) else {
        return;
    };
    let img = image(0x5EED_F1A5);
    let tmp = tempfile::tempdir().unwrap();
    write_image(tmp.path(), &img);
    run(
        Command::new(iv)
            .current_dir(tmp.path())
            .args(["-g2005", "-s", "tb_yq_flash_reader", "-o", "tb.vvp"])
            .args([src(TB), src(MODEL), src(READER)]),
        "iverilog",
    );
    let out = run(
        Command::new(vvp)
            .current_dir(tmp.path())
            .args(["-n", "tb.vvp"]),
        "vvp",
    );
    check_output(&out, &img, "icarus");
}

#[test]
fn reader_and_model_in_verilator() {
    let Some(v) = common::tool("verilator") else {
        return;
    };
    let img = image(0xF1A5_0002);
    let tmp = tempfile::tempdir().unwrap();
    write_image(tmp.path(), &img);
    run(
        Command::new(v)
            .current_dir(tmp.path())
            .args([
                "--binary",
                "--timing",
                "-Wno-fatal",
                "-Wno-lint",
                "-Wno-style",
            ])
            .args([
                "-MAKEFLAGS",
                "OPT_FAST=-O1 OPT_SLOW=-O0 OPT_GLOBAL=-O0",
                "-j",
                "2",
            ])
            .args(["--top-module", "tb_yq_flash_reader", "--Mdir", "obj"])
            .args([src(TB), src(MODEL), src(READER)]),
        "verilator",
    );
    let out = run(
        Command::new(tmp.path().join("obj/Vtb_yq_flash_reader")).current_dir(tmp.path()),
        "Vtb_yq_flash_reader",
    );
    check_output(&out, &img, "verilator");
}

/// Both hand-written files are clean under `verilator --lint-only -Wall` (the reader in
/// every mode) and `iverilog -Wall`.
#[test]
fn reader_and_model_lint_clean() {
    let (Some(v), Some(iv)) = (common::tool("verilator"), common::tool("iverilog")) else {
        return;
    };
    let lint = |file: &str, params: &[&str]| {
        let o = run(
            Command::new(&v)
                .args(["--lint-only", "-Wall"])
                .args(params)
                .arg(src(file)),
            "verilator --lint-only",
        );
        assert!(o.trim().is_empty(), "{file} {params:?}:\n{o}");
        let o = run(
            Command::new(&iv)
                .args(["-g2005", "-Wall", "-o", "/dev/null"])
                .arg(src(file)),
            "iverilog -Wall",
        );
        assert!(o.trim().is_empty(), "{file}:\n{o}");
    };
    for m in ["-GMODE=0", "-GMODE=1", "-GMODE=2"] {
        lint(READER, &[m, "-GCLK_HZ=60000000"]);
    }
    lint(MODEL, &[]);
}

/// `(cells by type)` of the top module from Yosys `stat -json` written to `path`.
fn stat_cells(path: &Path, top: &str) -> BTreeMap<String, u64> {
    let s = std::fs::read_to_string(path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&s[s.find('{').unwrap()..]).unwrap();
    v["modules"][format!("\\{top}")]["num_cells_by_type"]
        .as_object()
        .unwrap_or_else(|| panic!("no {top} in {s}"))
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .collect()
}

/// Yosys `synth_ice40` of the reader alone (its ports kept, so nothing is optimised away),
/// then, with nextpnr-ice40 and icetime, the reader in `rtl_tb/folded/yq_flash_pnr.v` on the
/// iCEBreaker's flash pins: placed and routed on the UP5K, icetime Fmax >= 60 MHz.
#[test]
fn reader_synthesizes_and_meets_60_mhz_on_ice40() {
    let Some(yosys) = common::tool("yosys") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    run(
        Command::new(&yosys)
            .current_dir(d)
            .arg("-q")
            .arg("-p")
            .arg(format!(
                "read_verilog {}; synth_ice40 -top yq_flash_reader; tee -q -o stat.json stat -json",
                src(READER).display()
            )),
        "yosys synth_ice40",
    );
    let cells = stat_cells(&d.join("stat.json"), "yq_flash_reader");
    let lut = cells.get("SB_LUT4").copied().unwrap_or(0);
    let ff: u64 = cells
        .iter()
        .filter(|(k, _)| k.starts_with("SB_DFF"))
        .map(|(_, n)| n)
        .sum();
    let carry = cells.get("SB_CARRY").copied().unwrap_or(0);
    println!("yq_flash_reader (quad, synth_ice40): {lut} SB_LUT4, {ff} SB_DFF*, {carry} SB_CARRY");
    // The shift register, counters and stream registers are all there; a tenth of the UP5K
    // is the budget the folded design leaves the flash path.
    assert!(ff >= 100 && lut > 100, "{cells:?}");
    assert!(lut <= 528, "{lut} LUTs exceed a tenth of the UP5K");

    let (Some(pnr), Some(icetime)) = (common::tool("nextpnr-ice40"), common::tool("icetime"))
    else {
        return;
    };
    let pcf = src("rtl_tb/folded/yq_flash_pnr.pcf");
    run(
        Command::new(&yosys)
            .current_dir(d)
            .arg("-q")
            .arg("-p")
            .arg(format!(
                "read_verilog {} {}; synth_ice40 -top yq_flash_pnr -json pnr_in.json",
                src(READER).display(),
                src("rtl_tb/folded/yq_flash_pnr.v").display()
            )),
        "yosys (pnr wrapper)",
    );
    run(
        Command::new(pnr)
            .current_dir(d)
            .args(["--up5k", "--package", "sg48", "--freq", "60", "--pcf"])
            .arg(&pcf)
            .args([
                "--json",
                "pnr_in.json",
                "--asc",
                "pnr.asc",
                "--report",
                "report.json",
            ]),
        "nextpnr-ice40",
    );
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("report.json")).unwrap()).unwrap();
    let lc = rep["utilization"]["ICESTORM_LC"]["used"].as_u64().unwrap();
    let io = rep["utilization"]["SB_IO"]["used"].as_u64().unwrap();
    assert_eq!(io, 8, "clk, flash_clk, csb, io0-3, led");
    let t = run(
        Command::new(icetime)
            .current_dir(d)
            .args(["-d", "up5k", "-P", "sg48", "-p"])
            .arg(&pcf)
            .args(["-t", "pnr.asc"]),
        "icetime",
    );
    let line = t
        .lines()
        .find(|l| l.starts_with("Total path delay:"))
        .unwrap_or_else(|| panic!("no path delay in icetime output:\n{t}"));
    let mhz: f64 = line
        .split('(')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("unreadable: {line}"));
    println!("yq_flash_pnr: {lc} ICESTORM_LC, icetime {line}");
    assert!(
        mhz >= 60.0,
        "icetime Fmax {mhz} MHz below the 60 MHz target"
    );
}
