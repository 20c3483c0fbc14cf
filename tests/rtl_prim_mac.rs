//! The folded accelerator's MAC array (`templates/folded/prims/yq_mac_array.v`) against the
//! behavioural reference in `rtl_tb/folded/tb_yq_mac_array.v`: the generic version in Icarus
//! and Verilator, the SB_MAC16 version in Icarus with Yosys' cell models, the netlist Yosys
//! makes of it (`synth_ice40`, without `-dsp` as for every folded design: the DSP inference
//! pass would rebuild the hand-instantiated SB_MAC16 cells) at gate level, and its placed-and-routed timing on the
//! UP5K (nextpnr-ice40 + icetime, harness `rtl_tb/folded/yq_mac_array_pnr.v`).
mod common;
#[path = "common/hdl.rs"]
mod hdl;

use hdl::Param;

/// The DSP count of the UP5K and the clock the folded design targets.
const UP5K_DSP: u64 = 8;
const TARGET_MHZ: f64 = 40.0;

#[test]
fn mac_array_lint_clean() {
    let work = tempfile::tempdir().unwrap();
    let file = [hdl::prim("yq_mac_array.v")];
    hdl::lint(
        &file,
        "yq_mac_array",
        &[("IMPL", Param::Str("generic"))],
        &[],
    );
    hdl::lint(
        &file,
        "yq_mac_array",
        &[("IMPL", Param::Str("generic")), ("LANES", Param::Int(3))],
        &[],
    );
    hdl::lint_ice40(work.path(), &file, "yq_mac_array", &[]);
}

#[test]
fn mac_array_generic_icarus_and_verilator() {
    let work = tempfile::tempdir().unwrap();
    let files = [hdl::tb("tb_yq_mac_array.v"), hdl::prim("yq_mac_array.v")];
    let generic = || ("IMPL", Param::Str("generic"));
    let Some(out) = hdl::icarus(work.path(), "tb_yq_mac_array", &files, &[generic()], &[]) else {
        return;
    };
    hdl::assert_pass(&out, "generic, Icarus");
    // Narrow accumulators and long sums: the sums wrap modulo 2^18.
    let wrap = [
        generic(),
        ("ACC_W", Param::Int(18)),
        ("MAXLEN", Param::Int(40)),
        ("SEED", Param::Int(7)),
    ];
    let out = hdl::icarus(work.path(), "tb_yq_mac_array", &files, &wrap, &[]).unwrap();
    hdl::assert_pass(&out, "generic, ACC_W=18, Icarus");
    // An odd lane count (generic only).
    let odd = [generic(), ("LANES", Param::Int(5)), ("SEED", Param::Int(3))];
    let out = hdl::icarus(work.path(), "tb_yq_mac_array", &files, &odd, &[]).unwrap();
    hdl::assert_pass(&out, "generic, LANES=5, Icarus");
    let Some(out) = hdl::verilator(work.path(), "tb_yq_mac_array", &files, &[generic()], &[])
    else {
        return;
    };
    hdl::assert_pass(&out, "generic, Verilator");
}

#[test]
fn mac_array_ice40_cells_icarus() {
    let work = tempfile::tempdir().unwrap();
    let Some(cells) = hdl::cells_sim() else {
        return;
    };
    let files = [
        hdl::tb("tb_yq_mac_array.v"),
        hdl::prim("yq_mac_array.v"),
        cells,
    ];
    let p = [("IMPL", Param::Str("ice40")), ("SEED", Param::Int(11))];
    let Some(out) = hdl::icarus(
        work.path(),
        "tb_yq_mac_array",
        &files,
        &p,
        &["NO_ICE40_DEFAULT_ASSIGNMENTS"],
    ) else {
        return;
    };
    hdl::assert_pass(&out, "ice40 (SB_MAC16 model), Icarus");
}

#[test]
fn mac_array_ice40_gate_level() {
    let work = tempfile::tempdir().unwrap();
    let (Some(cells), Some(_)) = (hdl::cells_sim(), common::tool("yosys")) else {
        return;
    };
    let src = hdl::prim("yq_mac_array.v");
    let script = format!(
        "read_verilog {}; chparam -set IMPL \"ice40\" yq_mac_array; \
         synth_ice40 -top yq_mac_array; tee -q -o stat.txt stat; write_verilog -noattr net.v",
        src.display()
    );
    hdl::yosys(work.path(), &script).unwrap();
    let stat = std::fs::read_to_string(work.path().join("stat.txt")).unwrap();
    let cellcount = hdl::stat_cells(&stat);
    eprintln!("yq_mac_array (ice40) cells: {cellcount:?}");
    assert_eq!(
        cellcount.get("SB_MAC16").copied(),
        Some(UP5K_DSP),
        "16 lanes must use the 8 DSPs, two lanes each:\n{stat}"
    );
    let files = [
        hdl::tb("tb_yq_mac_array.v"),
        work.path().join("net.v"),
        cells,
    ];
    let p = [("CYCLES", Param::Int(1500)), ("SEED", Param::Int(5))];
    let out = hdl::icarus(
        work.path(),
        "tb_yq_mac_array",
        &files,
        &p,
        &["GATE", "NO_ICE40_DEFAULT_ASSIGNMENTS"],
    )
    .unwrap();
    hdl::assert_pass(&out, "ice40 netlist, Icarus");
}

#[test]
fn mac_array_up5k_timing() {
    let work = tempfile::tempdir().unwrap();
    if common::tool("yosys").is_none() {
        return;
    }
    let script = format!(
        "read_verilog {} {}; synth_ice40 -top yq_mac_array_pnr -json pnr.json",
        hdl::prim("yq_mac_array.v").display(),
        hdl::tb("yq_mac_array_pnr.v").display()
    );
    hdl::yosys(work.path(), &script).unwrap();
    let pcf = hdl::tb("yq_pnr_up5k_sg48.pcf");
    let Some((nextpnr, icetime, log)) = hdl::pnr_up5k(work.path(), "pnr.json", &pcf, 40) else {
        return;
    };
    eprintln!("yq_mac_array_pnr: nextpnr {nextpnr:.2} MHz, icetime {icetime:.2} MHz");
    assert!(
        log.contains("ICESTORM_DSP:     8/    8"),
        "the harness must place all 8 DSPs:\n{log}"
    );
    assert!(
        icetime >= TARGET_MHZ && nextpnr >= TARGET_MHZ,
        "MAC array below {TARGET_MHZ} MHz: icetime {icetime:.2}, nextpnr {nextpnr:.2}"
    );
}
