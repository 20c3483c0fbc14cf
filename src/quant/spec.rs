//! The integer arithmetic rules, written once. The integer reference model, the artifact
//! writers and the generated RTL all obey exactly these functions (see docs/quantization.md).

use serde::{Deserialize, Serialize};

/// An activation tensor format: unsigned `bits`-bit codes `q` in `[0, 2^bits - 1]` with an
/// integer zero point; the real value is `(q - zero) * scale`. With power-of-two scales,
/// `scale == 2^-frac`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QFormat {
    pub bits: u32,
    pub zero: i32,
    /// Fractional bits when the scale is a power of two (`scale = 2^-frac`).
    pub frac: i32,
    pub scale: f64,
}

impl QFormat {
    pub fn pow2(bits: u32, frac: i32, zero: i32) -> Self {
        QFormat {
            bits,
            zero,
            frac,
            scale: (-frac as f64).exp2(),
        }
    }
    pub fn qmax(&self) -> i32 {
        ((1i64 << self.bits) - 1) as i32
    }
    /// Real value of a code.
    pub fn dequant(&self, q: i32) -> f32 {
        ((q - self.zero) as f64 * self.scale) as f32
    }
    /// Nearest code (round half away from zero, as `f64::round`), saturated.
    pub fn quantize(&self, v: f32) -> i32 {
        let q = (v as f64 / self.scale).round() as i64 + self.zero as i64;
        q.clamp(0, self.qmax() as i64) as i32
    }
    /// Smallest and largest representable real values.
    pub fn range(&self) -> (f64, f64) {
        (
            -(self.zero as f64) * self.scale,
            (self.qmax() - self.zero) as f64 * self.scale,
        )
    }
}

/// Rounding arithmetic right shift: `round_half_up(v / 2^s)` for `s > 0`
/// (`(v + 2^(s-1)) >> s`, arithmetic), `v << -s` for `s <= 0`.
#[inline]
pub fn rshift_round(v: i64, s: i32) -> i64 {
    if s > 0 {
        (v + (1i64 << (s - 1))) >> s
    } else {
        v << (-s)
    }
}

/// Saturate to `[lo, hi]`.
#[inline]
pub fn sat(v: i64, lo: i64, hi: i64) -> i64 {
    v.clamp(lo, hi)
}

/// Requantize an accumulator: `sat(rshift_round(acc * mult, shift) + zero, 0, 2^bits - 1)`.
/// Power-of-two scales use `mult == 1`.
#[inline]
pub fn requant(acc: i64, mult: i64, shift: i32, out: &QFormat) -> i32 {
    sat(
        rshift_round(acc * mult, shift) + out.zero as i64,
        0,
        out.qmax() as i64,
    ) as i32
}

/// Range `[lo, hi]` of every partial sum of one output channel's products with input codes
/// in `[0, qmax]` (bias not included): `[qmax * N, qmax * P]`, with `P` / `N` the sums of the
/// channel's positive / negative weights. The quantizer's proven accumulator width and the
/// hardware's accumulator width both start from it.
pub fn partial_sum_range<'a>(weights: impl IntoIterator<Item = &'a i32>, qmax: i64) -> (i64, i64) {
    let (pos, neg) = weights.into_iter().fold((0i64, 0i64), |(p, n), &v| {
        (p + (v.max(0)) as i64, n + (v.min(0)) as i64)
    });
    (qmax * neg, qmax * pos)
}

/// Signed width (bits, including sign) needed to hold every value in `[-bound, bound]`.
pub fn signed_bits(bound: i64) -> u32 {
    let b = bound.unsigned_abs();
    64 - b.leading_zeros() + 1
}

/// Symmetric signed weight range for `bits`: `[-(2^(bits-1) - 1), 2^(bits-1) - 1]`.
pub fn weight_max(bits: u32) -> i32 {
    (1i32 << (bits - 1)) - 1
}

/// Multiplier/shift pair for a real ratio `r` (mult mode): `mult` in `[2^14, 2^15)` and
/// `shift` such that `mult * 2^-shift ≈ r`.
pub fn mult_shift(r: f64) -> (i64, i32) {
    if r <= 0.0 {
        return (0, 0);
    }
    let e = r.log2().floor() as i32; // r = m * 2^e with m in [1, 2)
    let shift = 14 - e;
    let mut mult = (r * (shift as f64).exp2()).round() as i64;
    let mut shift = shift;
    if mult >= 1 << 15 {
        mult = (mult + 1) >> 1;
        shift -= 1;
    }
    (mult, shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_shift_rounds_half_up() {
        assert_eq!(rshift_round(5, 1), 3); // 2.5 -> 3
        assert_eq!(rshift_round(-5, 1), -2); // -2.5 -> -2
        assert_eq!(rshift_round(-6, 2), -1); // -1.5 -> -1
        assert_eq!(rshift_round(7, 0), 7);
        assert_eq!(rshift_round(3, -2), 12);
        for v in -1000i64..1000 {
            for s in 1..6 {
                let want = ((v as f64) / (1i64 << s) as f64 + 0.5).floor() as i64;
                assert_eq!(rshift_round(v, s), want, "v={v} s={s}");
            }
        }
    }

    #[test]
    fn formats_round_trip_and_saturate() {
        let f = QFormat::pow2(8, 4, 5);
        assert_eq!(f.quantize(0.0), 5);
        assert_eq!(f.dequant(f.quantize(1.25)), 1.25);
        assert_eq!(f.quantize(1e9), 255);
        assert_eq!(f.quantize(-1e9), 0);
        assert_eq!(signed_bits(127), 8);
        assert_eq!(signed_bits(128), 9);
        assert_eq!(weight_max(8), 127);
    }

    #[test]
    fn mult_shift_approximates_ratio() {
        for &r in &[1e-6, 0.0123, 0.5, 0.999, 1.0, 3.7, 1234.5] {
            let (m, s) = mult_shift(r);
            assert!((1 << 14..1 << 15).contains(&m), "{r}: mult {m}");
            let approx = m as f64 * (-s as f64).exp2();
            assert!(
                (approx - r).abs() / r < 1.0 / (1 << 14) as f64,
                "{r} ~ {approx}"
            );
        }
    }
}
