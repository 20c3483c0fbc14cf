//! Mixed-precision weights from a budget (`--wbits 4.5`, `--wbits 1.8MB`): each convolution's
//! width (2–8 bits) chosen from its measured sensitivity ([`super::sensitivity`]) so that the
//! whole model's weight memory meets the budget.
//!
//! The errors of quantizing layers one at a time are taken as additive, and the allocation
//! minimises their sum exactly (a knapsack over the layers, by dynamic programming on the
//! weight bits in `UNITS` steps, each layer's cost rounded up so the true total never exceeds
//! the budget). Guarantees: the chosen widths meet the budget; layers fixed by `--keep8` keep
//! 8 bits and count against it; the result is a pure function of its inputs (ties keep the
//! wider width).

use super::calibrate::CalibStats;
use super::gptq::CalibImages;
use super::sensitivity::{self, Sensitivity, WIDTHS};
use super::weights::keep8;
use super::QuantConfig;
use crate::error::{Error, Result};
use crate::graph::Graph;
use serde::{Deserialize, Serialize};

/// A weight-memory budget for the whole model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightBudget {
    /// Average bits per weight over every integer convolution weight.
    Average(f64),
    /// Bytes of packed weights (`Σ weights · bits / 8`).
    Bytes(u64),
}

/// `--wbits` as typed: one width for every layer, or a budget.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WBits {
    Fixed(u32),
    Budget(WeightBudget),
}

/// Parse `--wbits`: `6` (every layer 6 bits), `4.5` (average bits per weight) or a byte
/// budget `1800000B`, `1800kB`, `1.8MB`, `1.7MiB`.
pub fn parse_wbits(s: &str) -> std::result::Result<WBits, String> {
    const HELP: &str = "use a width (e.g. 6), an average budget in bits per weight (e.g. 4.5) or a weight-memory budget in bytes (e.g. 1.8MB, 1700000B)";
    let t = s.trim();
    if let Ok(b) = t.parse::<u32>() {
        return Ok(WBits::Fixed(b));
    }
    let units: [(&str, f64); 5] = [
        ("MiB", 1_048_576.0),
        ("kiB", 1024.0),
        ("MB", 1e6),
        ("kB", 1e3),
        ("B", 1.0),
    ];
    for (suffix, mul) in units {
        if let Some(v) = t.strip_suffix(suffix) {
            return match v.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => {
                    Ok(WBits::Budget(WeightBudget::Bytes((v * mul).floor() as u64)))
                }
                _ => Err(format!("`{s}` is not a byte budget; {HELP}")),
            };
        }
    }
    match t.parse::<f64>() {
        Ok(v) if (2.0..=8.0).contains(&v) => Ok(WBits::Budget(WeightBudget::Average(v))),
        Ok(v) => Err(format!(
            "an average of {v} bits per weight is outside 2..8 (each layer gets 2 to 8 bits); {HELP}"
        )),
        Err(_) => Err(format!("`{s}` is not a bit width; {HELP}")),
    }
}

impl WeightBudget {
    /// The budget in bits for a model of `weights` weights.
    pub fn total_bits(&self, weights: u64) -> f64 {
        match *self {
            WeightBudget::Average(a) => a * weights as f64,
            WeightBudget::Bytes(b) => 8.0 * b as f64,
        }
    }

    /// The uniform width standing for the budget where one width is needed (the run's name,
    /// the default rounding): the average rounded down, within 2..=8.
    pub fn nominal_bits(&self, weights: u64) -> u32 {
        let avg = self.total_bits(weights) / weights.max(1) as f64;
        (avg.floor() as u32).clamp(2, 8)
    }
}

impl std::fmt::Display for WeightBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WeightBudget::Average(a) => write!(f, "{a}"),
            WeightBudget::Bytes(b) => write!(f, "{b}B"),
        }
    }
}

/// Budget steps of the dynamic programme (the budget is met exactly; the allocation is
/// optimal up to one step, 1/UNITS of the 8-bit model, per layer).
const UNITS: usize = 1 << 16;

/// Each layer's width (in `sens.layers` order) minimising the summed sensitivity within
/// `budget`; `fixed[l]` pins layer `l` to a width (`--keep8`).
pub fn allocate(
    sens: &Sensitivity,
    budget: WeightBudget,
    fixed: &[Option<u32>],
) -> Result<Vec<u32>> {
    let layers = &sens.layers;
    assert_eq!(fixed.len(), layers.len());
    let total: u64 = layers.iter().map(|l| l.weights as u64).sum();
    let bits = budget.total_bits(total);
    let unit = 8.0 * total as f64 / UNITS as f64;
    // Candidate (width, cost in units, error) per layer.
    let cands: Vec<Vec<(u32, usize, f64)>> = layers
        .iter()
        .zip(fixed)
        .map(|(l, f)| {
            // Measured errors are noisy (one rounding, a few images): a width never counts as
            // better than a wider one.
            let mut env = l.err.clone();
            for k in (0..env.len().saturating_sub(1)).rev() {
                env[k] = env[k].max(env[k + 1]);
            }
            WIDTHS
                .iter()
                .zip(env)
                .filter(|(&b, _)| f.is_none_or(|f| f == b))
                .map(|(&b, e)| (b, ((l.weights as f64 * b as f64) / unit).ceil() as usize, e))
                .collect()
        })
        .collect();
    let cap = ((bits / unit).floor() as usize).min(UNITS + layers.len());
    let least: usize = cands
        .iter()
        .map(|c| c.iter().map(|x| x.1).min().unwrap_or(0))
        .sum();
    if least > cap {
        let min_avg = cands
            .iter()
            .zip(layers)
            .map(|(c, l)| c.iter().map(|x| x.0).min().unwrap_or(8) as f64 * l.weights as f64)
            .sum::<f64>()
            / total as f64;
        return Err(Error::arg(
            "--wbits",
            format!(
                "a budget of {budget} is below the smallest model ({min_avg:.2} bits per weight with 2-bit layers and --keep8); use a larger budget"
            ),
        ));
    }
    // best[u]: least error of the layers so far using at most u units; pick[l][u]: the
    // candidate chosen for layer l at u.
    let mut best = vec![0f64; cap + 1];
    let mut pick: Vec<Vec<u8>> = Vec::with_capacity(layers.len());
    for c in &cands {
        let mut next = vec![f64::INFINITY; cap + 1];
        let mut choice = vec![u8::MAX; cap + 1];
        for u in 0..=cap {
            // Widest first, so ties keep the wider width.
            for (k, &(_, cost, e)) in c.iter().enumerate().rev() {
                if cost <= u && best[u - cost] + e < next[u] {
                    next[u] = best[u - cost] + e;
                    choice[u] = k as u8;
                }
            }
        }
        best = next;
        pick.push(choice);
    }
    let mut u = cap;
    let mut out = vec![0u32; layers.len()];
    for l in (0..layers.len()).rev() {
        let k = pick[l][u] as usize;
        let (b, cost, _) = cands[l][k];
        out[l] = b;
        u -= cost;
    }
    Ok(out)
}

/// `cfg` with a budget's widths filled in (`layer_bits`, and `wbits` set to the nominal
/// width), from the sensitivity measured on `images`; `cfg` unchanged without a budget or when
/// the widths are already chosen.
pub fn resolve(
    g: &Graph,
    stats: &CalibStats,
    cfg: &QuantConfig,
    images: Option<CalibImages>,
) -> Result<(QuantConfig, Option<Sensitivity>)> {
    let Some(budget) = cfg.wbudget.filter(|_| cfg.layer_bits.is_empty()) else {
        return Ok((cfg.clone(), None));
    };
    let images = images.ok_or_else(|| {
        Error::arg(
            "--wbits",
            "a budget needs the calibration images to measure each layer's sensitivity; quantize through a command that reads them (quantize, sweep, the main job)",
        )
    })?;
    let t = std::time::Instant::now();
    let sens = sensitivity::measure(g, stats, cfg, images)?;
    let fixed: Vec<Option<u32>> = sens
        .layers
        .iter()
        .map(|l| keep8(g, l.node, cfg).then_some(8))
        .collect();
    let widths = allocate(&sens, budget, &fixed)?;
    let total: u64 = sens.layers.iter().map(|l| l.weights as u64).sum();
    eprintln!(
        "sensitivity: {} layers x {} widths on {} images in {:.0} s; budget {budget}: {:.3} bits per weight, {} bytes",
        sens.layers.len(),
        WIDTHS.len(),
        sens.images,
        t.elapsed().as_secs_f64(),
        average_bits(&sens, &widths),
        sens.layers
            .iter()
            .zip(&widths)
            .map(|(l, &b)| l.weights as u64 * b as u64)
            .sum::<u64>()
            .div_ceil(8)
    );
    let out = QuantConfig {
        wbits: budget.nominal_bits(total),
        layer_bits: sens
            .layers
            .iter()
            .zip(&widths)
            .map(|(l, &b)| (l.name.clone(), b))
            .collect(),
        ..cfg.clone()
    };
    Ok((out, Some(sens)))
}

/// Average bits per weight of `widths` over the layers of `sens`.
pub fn average_bits(sens: &Sensitivity, widths: &[u32]) -> f64 {
    let (mut bits, mut n) = (0f64, 0f64);
    for (l, &b) in sens.layers.iter().zip(widths) {
        bits += l.weights as f64 * b as f64;
        n += l.weights as f64;
    }
    bits / n.max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::sensitivity::LayerSensitivity;

    fn sens(errs: &[(usize, [f64; 7])]) -> Sensitivity {
        Sensitivity {
            images: 1,
            layers: errs
                .iter()
                .enumerate()
                .map(|(i, (n, e))| LayerSensitivity {
                    node: i,
                    name: format!("l{i}"),
                    weights: *n,
                    err: e.to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn parses_widths_and_budgets() {
        assert_eq!(parse_wbits("6"), Ok(WBits::Fixed(6)));
        assert_eq!(
            parse_wbits("4.5"),
            Ok(WBits::Budget(WeightBudget::Average(4.5)))
        );
        assert_eq!(
            parse_wbits("1.5MB"),
            Ok(WBits::Budget(WeightBudget::Bytes(1_500_000)))
        );
        assert_eq!(
            parse_wbits("2kiB"),
            Ok(WBits::Budget(WeightBudget::Bytes(2048)))
        );
        assert!(parse_wbits("9.5").unwrap_err().contains("outside 2..8"));
        assert!(parse_wbits("abc").is_err());
    }

    #[test]
    fn sensitive_layer_gets_the_bits_and_budget_holds() {
        // Two equal-size layers; the first loses 100× more per bit removed.
        let e = |k: f64| {
            [
                64.0 * k,
                16.0 * k,
                4.0 * k,
                1.0 * k,
                0.25 * k,
                0.06 * k,
                0.01 * k,
            ]
        };
        let s = sens(&[(1000, e(100.0)), (1000, e(1.0))]);
        let w = allocate(&s, WeightBudget::Average(5.0), &[None, None]).unwrap();
        assert!(w[0] > w[1], "{w:?}");
        assert!(average_bits(&s, &w) <= 5.0);
        let w = allocate(&s, WeightBudget::Average(8.0), &[None, None]).unwrap();
        assert_eq!(w, vec![8, 8]);
        let w = allocate(&s, WeightBudget::Bytes(500), &[None, None]).unwrap();
        assert_eq!(w, vec![2, 2]);
        // A pinned layer keeps its width and pays for it.
        let w = allocate(&s, WeightBudget::Average(5.0), &[None, Some(8)]).unwrap();
        assert_eq!(w, vec![2, 8]);
        let e = allocate(&s, WeightBudget::Average(2.0), &[None, Some(8)]).unwrap_err();
        assert!(e.to_string().contains("--wbits"), "{e}");
    }
}
