//! The folded design on the ULX3S (ECP5 LFE5U-85F): the EHXPLLL settings for the system
//! clock, the flash layout and the board top level's constants (`templates/folded/
//! board_ulx3s.v.tera`, pins in `templates/folded/ulx3s.lpf`, facts in
//! `boards/ulx3s-85f.yaml`).
//!
//! Guarantees: the PLL settings obey the ECP5 EHXPLLL's ranges (input 8–400 MHz, phase
//! detector 3.125–400 MHz, VCO 400–800 MHz, output 3.125–400 MHz; CLKI_DIV 1–128, CLKFB_DIV
//! 1–80, CLKOP_DIV 1–128, feedback from CLKOP so f_out = f_in · CLKFB_DIV / CLKI_DIV and
//! VCO = f_out · CLKOP_DIV) and give the requested clock exactly, or the request is refused.

use crate::error::{Error, Result};
use serde::Serialize;

/// The board's oscillator (pin G2).
pub const OSC_HZ: u64 = 25_000_000;
/// The system clock of the folded design on this board: the floor. nextpnr-ecp5
/// closes the synthetic design at 56.1 MHz (docs/ecp5.md); the path that limits it starts
/// at a block RAM's output without its output register.
pub const CLOCK_HZ: u64 = 50_000_000;
/// Where the weight image goes in the flash: above the uncompressed 85F bitstream (1.93 MB
/// bare, 2.14 MB with the synthetic design's 90 initialised block RAMs), the board file's
/// `user_offset`.
pub const FLASH_BASE: u64 = 0x30_0000;
/// Flash reads in dual I/O (BBh), which the IS25LP family takes without setting its
/// non-volatile Quad Enable bit (the reader's quad mode sets a W25Q-only volatile bit).
pub const FLASH_MODE: u32 = 1;
/// System clocks per flash byte in dual I/O at SCK = clk / 2: 4 SCK per byte.
pub const FLASH_BYTE_CYCLES: u64 = 8;

/// `EHXPLLL` settings for one output clock.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Ecp5Pll {
    pub clki_div: u32,
    pub clkfb_div: u32,
    pub clkop_div: u32,
    pub clkop_cphase: u32,
    pub vco_hz: u64,
    pub hz: u64,
    pub mhz: f64,
}

/// PLL settings giving exactly `hz` from `osc_hz`; of the exact settings, the one with the
/// VCO nearest 600 MHz (the middle of its range) and then the smallest dividers.
pub fn pll(osc_hz: u64, hz: u64) -> Result<Ecp5Pll> {
    let mut best: Option<(u64, Ecp5Pll)> = None;
    if (8_000_000..=400_000_000).contains(&osc_hz) && (3_125_000..=400_000_000).contains(&hz) {
        for clki_div in 1..=128u64 {
            if osc_hz < 3_125_000 * clki_div {
                break;
            }
            if osc_hz / clki_div > 400_000_000 {
                continue;
            }
            for clkfb_div in 1..=80u64 {
                if osc_hz * clkfb_div != hz * clki_div {
                    continue;
                }
                for clkop_div in 1..=128u64 {
                    let vco = hz * clkop_div;
                    if !(400_000_000..=800_000_000).contains(&vco) {
                        continue;
                    }
                    let dist = vco.abs_diff(600_000_000);
                    if best.as_ref().is_none_or(|b| dist < b.0) {
                        best = Some((
                            dist,
                            Ecp5Pll {
                                clki_div: clki_div as u32,
                                clkfb_div: clkfb_div as u32,
                                clkop_div: clkop_div as u32,
                                clkop_cphase: (clkop_div / 2) as u32,
                                vco_hz: vco,
                                hz,
                                mhz: hz as f64 / 1e6,
                            },
                        ));
                    }
                }
            }
        }
    }
    best.map(|b| b.1).ok_or_else(|| {
        Error::Other(format!(
            "ECP5 PLL: {} MHz cannot be made exactly from the {} MHz oscillator (phase detector at least 3.125 MHz, VCO 400-800 MHz); use a multiple such as 50, 62.5 or 75 MHz",
            hz as f64 / 1e6,
            osc_hz as f64 / 1e6
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every setting is checked against the EHXPLLL's equations and ranges, independently of
    /// the search.
    fn valid(p: &Ecp5Pll, osc: u64) -> bool {
        let pfd = osc as f64 / p.clki_div as f64;
        let out = osc as f64 * p.clkfb_div as f64 / p.clki_div as f64;
        let vco = out * p.clkop_div as f64;
        (1..=128).contains(&p.clki_div)
            && (1..=80).contains(&p.clkfb_div)
            && (1..=128).contains(&p.clkop_div)
            && (3.125e6..=400e6).contains(&pfd)
            && (400e6..=800e6).contains(&vco)
            && out == p.hz as f64
            && vco == p.vco_hz as f64
    }

    #[test]
    fn pll_obeys_the_ehxplll_rules() {
        for mhz in [25, 40, 50, 60, 75, 80, 100, 125] {
            let hz = mhz * 1_000_000;
            let p = pll(OSC_HZ, hz).unwrap();
            assert!(valid(&p, OSC_HZ), "{mhz} MHz: {p:?}");
        }
        // 50 MHz from 25 MHz: x2, VCO 600 MHz (CLKOP_DIV 12), as Lattice's tools choose it
        let p = pll(OSC_HZ, 50_000_000).unwrap();
        assert_eq!((p.clki_div, p.clkfb_div, p.clkop_div), (1, 2, 12));
        // 62.5 MHz = 25 x 5 / 2
        assert!(valid(&pll(OSC_HZ, 62_500_000).unwrap(), OSC_HZ));
        // 25 x 80 / 128 < 1: nothing below 3.125 MHz, nothing irrational to the oscillator
        assert!(pll(OSC_HZ, 3_000_000).is_err());
        // 48 = 25 x 48 / 25 needs a 1 MHz phase detector
        assert!(pll(OSC_HZ, 48_000_000).is_err());
        assert!(pll(OSC_HZ, 50_000_001).is_err());
        assert!(pll(OSC_HZ, 500_000_000).is_err());
    }
}
