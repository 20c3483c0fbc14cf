//! The folded accelerator's UART (`templates/folded/prims/yq_uart_{rx,tx}.v`) against its
//! testbench (`rtl_tb/folded/tb_yq_uart.v`): tx→rx loopback with the tx waveform checked
//! cycle by cycle, and a behavioural sender 2 % slow, exact and 2 % fast with glitches and
//! framing errors, at the clock/baud pairs the iCEBreaker uses (1, 2 and 3 Mbaud from 24 and
//! 36 MHz), in Icarus and Verilator.
mod common;
#[path = "common/hdl.rs"]
mod hdl;

use hdl::Param;
use std::path::PathBuf;

/// (system clock in Hz, baud rate) pairs; CLKS_PER_BIT = clock / baud must be an integer.
const RATES: [(u64, u64); 6] = [
    (24_000_000, 1_000_000),
    (24_000_000, 2_000_000),
    (24_000_000, 3_000_000),
    (36_000_000, 1_000_000),
    (36_000_000, 2_000_000),
    (36_000_000, 3_000_000),
];

fn files() -> Vec<PathBuf> {
    vec![
        hdl::tb("tb_yq_uart.v"),
        hdl::prim("yq_uart_rx.v"),
        hdl::prim("yq_uart_tx.v"),
    ]
}

/// Testbench parameters for one clock/baud pair: clocks per bit and half the clock period
/// in picoseconds (rounded).
fn params(clk_hz: u64, baud: u64, stream: bool) -> Vec<(&'static str, Param)> {
    assert_eq!(
        clk_hz % baud,
        0,
        "{clk_hz} Hz / {baud} baud is not an integer"
    );
    let half_ps = (1e12 / clk_hz as f64 / 2.0).round() as i64;
    vec![
        ("CLKS_PER_BIT", Param::Int((clk_hz / baud) as i64)),
        ("HALF_PS", Param::Int(half_ps)),
        ("SEED", Param::Int((clk_hz / 1000 + baud / 1000) as i64)),
        ("STREAM", Param::Int(stream as i64)),
    ]
}

#[test]
fn uart_primitives_lint_clean() {
    for f in ["yq_uart_rx", "yq_uart_tx"] {
        for cpb in [4, 12, 36] {
            hdl::lint(
                &[hdl::prim(&format!("{f}.v"))],
                f,
                &[("CLKS_PER_BIT", Param::Int(cpb))],
                &[],
            );
        }
    }
}

#[test]
fn uart_icarus_all_rates() {
    let work = tempfile::tempdir().unwrap();
    for (clk, baud) in RATES {
        let Some(out) = hdl::icarus(
            work.path(),
            "tb_yq_uart",
            &files(),
            &params(clk, baud, true),
            &[],
        ) else {
            return;
        };
        hdl::assert_pass(&out, &format!("icarus {clk} Hz {baud} baud"));
        eprintln!("{clk} Hz {baud} baud: {}", out.trim());
    }
    // The smallest legal CLKS_PER_BIT, loopback only (the receiver has no margin for a
    // 2 % sender at 4 clocks per bit).
    let p4 = params(24_000_000, 6_000_000, false);
    let out = hdl::icarus(work.path(), "tb_yq_uart", &files(), &p4, &[]).unwrap();
    hdl::assert_pass(&out, "icarus 4 clocks per bit");
}

#[test]
fn uart_verilator_extreme_rates() {
    // 8 and 36 clocks per bit (3 Mbaud at 24 MHz, 1 Mbaud at 36 MHz): each Verilator build
    // takes ~30 s, so the middle rates are left to Icarus.
    let work = tempfile::tempdir().unwrap();
    for (clk, baud) in [RATES[2], RATES[3]] {
        let Some(out) = hdl::verilator(
            work.path(),
            "tb_yq_uart",
            &files(),
            &params(clk, baud, true),
            &[],
        ) else {
            return;
        };
        hdl::assert_pass(&out, &format!("verilator {clk} Hz {baud} baud"));
    }
}

#[test]
fn uart_rejects_too_few_clocks_per_bit() {
    let work = tempfile::tempdir().unwrap();
    let Some(iverilog) = common::tool("iverilog") else {
        return;
    };
    let out = std::process::Command::new(iverilog)
        .args(["-g2005", "-Ptb_yq_uart.CLKS_PER_BIT=3", "-o"])
        .arg(work.path().join("bad.vvp"))
        .args(files())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && text.contains("CLKS_PER_BIT_must_be_at_least_4"),
        "CLKS_PER_BIT=3 must fail elaboration naming the rule:\n{text}"
    );
}

#[test]
fn uart_echo_up5k_timing() {
    // The echo harness on the iCEBreaker pins must meet the 40 MHz target with room to spare
    // (it is one small counter per direction).
    let work = tempfile::tempdir().unwrap();
    if common::tool("yosys").is_none() {
        return;
    }
    let script = format!(
        "read_verilog {} {} {}; synth_ice40 -top yq_uart_pnr -json pnr.json",
        hdl::prim("yq_uart_rx.v").display(),
        hdl::prim("yq_uart_tx.v").display(),
        hdl::tb("yq_uart_pnr.v").display()
    );
    hdl::yosys(work.path(), &script).unwrap();
    let pcf = hdl::tb("yq_uart_pnr.pcf");
    let Some((nextpnr, icetime, _)) = hdl::pnr_up5k(work.path(), "pnr.json", &pcf, 40) else {
        return;
    };
    eprintln!("yq_uart_pnr: nextpnr {nextpnr:.2} MHz, icetime {icetime:.2} MHz");
    assert!(
        icetime >= 40.0 && nextpnr >= 40.0,
        "UART echo below 40 MHz: icetime {icetime:.2}, nextpnr {nextpnr:.2}"
    );
}
