//! The folded design on a board: the iCEBreaker top level (PLL, flash pads, UART, host
//! protocol), its pin constraints and the flash image as `iceprog` writes it.
//!
//! Guarantees: the PLL settings are the iCE40 PLL's rule (phase detector 10–133 MHz, VCO
//! 533–1066 MHz, output VCO / 2^DIVQ) and reach the requested clock exactly, or the request
//! is refused; the UART divider gives the requested baud rate within 2 %.

use crate::error::{Error, Result};
use serde::Serialize;

/// Board oscillator of the iCEBreaker.
pub const OSC_HZ: u64 = 12_000_000;
/// Where the flash image goes (`iceprog -o 1M`): after the bitstream, the board convention.
pub const FLASH_BASE: u64 = 0x10_0000;
/// Flash reads in quad I/O (EBh): the W25Q128JV of the iCEBreaker, its volatile Quad Enable
/// bit set by the reader.
pub const FLASH_MODE: u32 = 2;
/// UART rate to the host.
pub const BAUD: u64 = 1_000_000;

/// `SB_PLL40_PAD` settings for one output clock.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Pll {
    pub divr: u32,
    pub divf: u32,
    pub divq: u32,
    pub filter: u32,
    pub hz: u64,
    pub mhz: f64,
}

/// PLL settings giving exactly `hz` from the 12 MHz oscillator.
pub fn pll(hz: u64) -> Result<Pll> {
    for divr in 0..16u64 {
        let pfd = OSC_HZ / (divr + 1);
        if !(10_000_000..=133_000_000).contains(&pfd) || !OSC_HZ.is_multiple_of(divr + 1) {
            continue;
        }
        for divq in 1..7u32 {
            for divf in 0..128u64 {
                let vco = pfd * (divf + 1);
                if (533_000_000..=1_066_000_000).contains(&vco)
                    && vco >> divq == hz
                    && vco.is_multiple_of(1 << divq)
                {
                    let filter = match pfd {
                        0..=16_999_999 => 1,
                        17_000_000..=26_999_999 => 2,
                        27_000_000..=44_999_999 => 3,
                        45_000_000..=74_999_999 => 4,
                        75_000_000..=109_999_999 => 5,
                        _ => 6,
                    };
                    return Ok(Pll {
                        divr: divr as u32,
                        divf: divf as u32,
                        divq,
                        filter,
                        hz,
                        mhz: hz as f64 / 1e6,
                    });
                }
            }
        }
    }
    Err(Error::arg(
        "--clock",
        format!("{} MHz cannot be made exactly from the 12 MHz oscillator; use a multiple of 0.375 MHz such as 24 or 30", hz as f64 / 1e6),
    ))
}

/// UART clocks per bit at `hz`, refused when the rate error exceeds 2 %.
pub fn clks_per_bit(hz: u64) -> Result<u64> {
    let c = (hz + BAUD / 2) / BAUD;
    let err = (hz as f64 / c as f64 - BAUD as f64).abs() / BAUD as f64;
    if c < 4 || err > 0.02 {
        return Err(Error::arg(
            "--clock",
            format!(
                "{} MHz gives no UART divider for {BAUD} baud within 2 %",
                hz as f64 / 1e6
            ),
        ));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pll_matches_the_rule() {
        // 24 and 30 MHz as the iCE40 PLL makes them (icepll gives the same numbers)
        let p = pll(30_000_000).unwrap();
        assert_eq!((p.divr, p.divf, p.divq, p.filter), (0, 79, 5, 1));
        let p = pll(24_000_000).unwrap();
        assert_eq!((12_000_000 * (p.divf as u64 + 1)) >> p.divq, 24_000_000);
        assert!(pll(23_000_001).is_err());
        assert_eq!(clks_per_bit(30_000_000).unwrap(), 30);
    }
}
