//! The folded accelerator's activation memory (`templates/folded/prims/yq_spram.v`, 4 ×
//! SB_SPRAM256KA as 64K × 16 with byte writes) against the reference array in
//! `rtl_tb/folded/tb_yq_spram.v`: the generic version in Icarus and Verilator, the ice40
//! version in Icarus with Yosys' cell models and as a `synth_ice40` netlist, and its
//! placed-and-routed timing on the UP5K (harness `rtl_tb/folded/yq_spram_pnr.v`).
mod common;
#[path = "common/hdl.rs"]
mod hdl;

use hdl::Param;

const TARGET_MHZ: f64 = 40.0;

#[test]
fn spram_lint_clean() {
    let work = tempfile::tempdir().unwrap();
    let file = [hdl::prim("yq_spram.v")];
    hdl::lint(&file, "yq_spram", &[("IMPL", Param::Str("generic"))], &[]);
    hdl::lint_ice40(work.path(), &file, "yq_spram", &[]);
}

#[test]
fn spram_generic_icarus_and_verilator() {
    let work = tempfile::tempdir().unwrap();
    let files = [hdl::tb("tb_yq_spram.v"), hdl::prim("yq_spram.v")];
    let p = [("IMPL", Param::Str("generic"))];
    let Some(out) = hdl::icarus(work.path(), "tb_yq_spram", &files, &p, &[]) else {
        return;
    };
    hdl::assert_pass(&out, "generic, Icarus");
    let Some(out) = hdl::verilator(work.path(), "tb_yq_spram", &files, &p, &[]) else {
        return;
    };
    hdl::assert_pass(&out, "generic, Verilator");
}

#[test]
fn spram_ice40_cells_and_gate_level() {
    let work = tempfile::tempdir().unwrap();
    let (Some(cells), Some(_)) = (hdl::cells_sim(), common::tool("yosys")) else {
        return;
    };
    let src = hdl::prim("yq_spram.v");
    let files = [hdl::tb("tb_yq_spram.v"), src.clone(), cells.clone()];
    let p = [("IMPL", Param::Str("ice40")), ("SEED", Param::Int(9))];
    let defs = ["NO_ICE40_DEFAULT_ASSIGNMENTS"];
    let out = hdl::icarus(work.path(), "tb_yq_spram", &files, &p, &defs).unwrap();
    hdl::assert_pass(&out, "ice40 (SB_SPRAM256KA model), Icarus");

    let script = format!(
        "read_verilog {}; chparam -set IMPL \"ice40\" yq_spram; synth_ice40 -top yq_spram; \
         tee -q -o stat.txt stat; write_verilog -noattr net.v",
        src.display()
    );
    hdl::yosys(work.path(), &script).unwrap();
    let stat = std::fs::read_to_string(work.path().join("stat.txt")).unwrap();
    let cellcount = hdl::stat_cells(&stat);
    eprintln!("yq_spram (ice40) cells: {cellcount:?}");
    assert_eq!(
        cellcount.get("SB_SPRAM256KA").copied(),
        Some(4),
        "64K x 16 is the four SPRAMs:\n{stat}"
    );
    let files = [hdl::tb("tb_yq_spram.v"), work.path().join("net.v"), cells];
    let p = [("SEED", Param::Int(4))];
    let out = hdl::icarus(
        work.path(),
        "tb_yq_spram",
        &files,
        &p,
        &["GATE", "NO_ICE40_DEFAULT_ASSIGNMENTS"],
    )
    .unwrap();
    hdl::assert_pass(&out, "ice40 netlist, Icarus");
}

#[test]
fn spram_up5k_timing() {
    let work = tempfile::tempdir().unwrap();
    if common::tool("yosys").is_none() {
        return;
    }
    let script = format!(
        "read_verilog {} {}; synth_ice40 -top yq_spram_pnr -json pnr.json",
        hdl::prim("yq_spram.v").display(),
        hdl::tb("yq_spram_pnr.v").display()
    );
    hdl::yosys(work.path(), &script).unwrap();
    let pcf = hdl::tb("yq_pnr_up5k_sg48.pcf");
    let Some((nextpnr, icetime, log)) = hdl::pnr_up5k(work.path(), "pnr.json", &pcf, 40) else {
        return;
    };
    eprintln!("yq_spram_pnr: nextpnr {nextpnr:.2} MHz, icetime {icetime:.2} MHz");
    assert!(
        log.contains("ICESTORM_SPRAM:     4/    4"),
        "the harness must place all 4 SPRAMs:\n{log}"
    );
    assert!(
        icetime >= TARGET_MHZ && nextpnr >= TARGET_MHZ,
        "SPRAM below {TARGET_MHZ} MHz: icetime {icetime:.2}, nextpnr {nextpnr:.2}"
    );
}
