//! The requantize / SiLU-table epilogue in i32 lanes: [`Requant32`] is the exact i32 form
//! of one channel's [`requant`] where no intermediate can leave i32, and its rows run as
//! AVX-512 vectors (16 lanes: clamp, add, multiply, rounding shift, saturate, and a
//! `vpgatherdd` table lookup) where the CPU has AVX-512F, else as the scalar loop.
//! Results are the definition's, bit for bit, on every CPU.

use crate::quant::spec::{requant, QFormat};

/// [`requant`] of `acc + bias` for i32 sums `acc`, in i32 arithmetic: exact whenever
/// [`Requant32::new`] accepts the channel. The requantizer is monotone in the sum (`mult >=
/// 0`) and saturates, so clamping the sum to `[lo, hi]`, the last sum that gives 0 and the
/// first that gives `qmax`, changes no result; in that window `(sum + bias) * mult + round`
/// fits i32, so the wrapping i32 add of the bias and the product are the true values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requant32 {
    lo: i32,
    hi: i32,
    bias: i32,
    mult: i32,
    round: i32,
    shift: u32,
    zero: i32,
    qmax: i32,
}

impl Requant32 {
    /// The i32 form of `requant(acc + bias, mult, shift, fmt)` over every i32 `acc`, or
    /// `None` when some intermediate could leave i32 (then the i64 definition runs).
    pub fn new(bias: i64, mult: i64, shift: i32, fmt: &QFormat) -> Option<Self> {
        if mult < 0 || !(-30..=30).contains(&shift) {
            return None;
        }
        let f = |a: i64| requant(a + bias, mult, shift, fmt);
        let qmax = fmt.qmax();
        let (amin, amax) = (i32::MIN as i64, i32::MAX as i64);
        // Largest sum that still gives 0 / smallest that gives qmax (monotone bisection).
        let lo = if f(amin) > 0 {
            amin
        } else {
            let (mut a, mut b) = (amin, amax); // f(a) == 0; find the last such a
            if f(b) == 0 {
                a = b;
            }
            while b - a > 1 {
                let m = a + (b - a) / 2;
                if f(m) == 0 {
                    a = m
                } else {
                    b = m
                }
            }
            a
        };
        let hi = if f(amax) < qmax {
            amax
        } else {
            let (mut a, mut b) = (amin, amax); // f(b) == qmax; find the first such b
            if f(a) == qmax {
                b = a;
            }
            while b - a > 1 {
                let m = a + (b - a) / 2;
                if f(m) == qmax {
                    b = m
                } else {
                    a = m
                }
            }
            b
        };
        let (mult, shift) = if shift > 0 {
            (mult, shift as u32)
        } else {
            (mult << -shift, 0)
        };
        let round = if shift > 0 { 1i64 << (shift - 1) } else { 0 };
        let fits = |v: i64| (amin..=amax).contains(&v);
        let ends = [(lo + bias) * mult + round, (hi + bias) * mult + round];
        if !(fits(mult) && ends.iter().all(|&v| fits(v)) && fits(lo + bias) && fits(hi + bias)) {
            return None;
        }
        Some(Requant32 {
            lo: lo as i32,
            hi: hi as i32,
            bias: bias as i32, // wrapped: only the sum `acc + bias` (in i32 range) is used
            mult: mult as i32,
            round: round as i32,
            shift,
            zero: fmt.zero,
            qmax,
        })
    }

    /// Largest output code.
    pub fn qmax(&self) -> i32 {
        self.qmax
    }

    /// `requant(acc + bias, mult, shift, fmt)`.
    #[inline(always)]
    pub fn apply(&self, acc: i32) -> i32 {
        let c = acc.clamp(self.lo, self.hi).wrapping_add(self.bias);
        ((c * self.mult + self.round) >> self.shift)
            .wrapping_add(self.zero)
            .clamp(0, self.qmax)
    }
}

fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `dst[t] = r.apply(acc[t])` (`dst` and `acc` of one length).
pub fn requant32_row(acc: &[i32], r: &Requant32, dst: &mut [i32]) {
    assert_eq!(acc.len(), dst.len(), "requant32_row lengths");
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: AVX-512F is present (checked); the lengths match.
        return unsafe { avx512::rows(acc, r, None, dst) };
    }
    for (d, &a) in dst.iter_mut().zip(acc) {
        *d = r.apply(a);
    }
}

/// `dst[t] = table[r.apply(acc[t])]`; `table` holds at least `qmax + 1` entries.
pub fn table32_row(acc: &[i32], r: &Requant32, table: &[i32], dst: &mut [i32]) {
    assert_eq!(acc.len(), dst.len(), "table32_row lengths");
    let table = &table[..r.qmax as usize + 1];
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: AVX-512F is present (checked); the lengths match and every index
        // `apply` returns lies in 0..=qmax, inside `table`.
        return unsafe { avx512::rows(acc, r, Some(table), dst) };
    }
    for (d, &a) in dst.iter_mut().zip(acc) {
        *d = table[r.apply(a) as usize];
    }
}

/// A SiLU table whose entries are all bytes (8-bit output codes), as 256 bytes for the
/// AVX-512 VBMI byte-permute lookup ([`table8_row`]).
pub struct ByteTable {
    bytes: [u8; 256],
    len: usize,
}

impl ByteTable {
    /// The byte form of `table`, `None` when an entry is outside 0..=255, the table is
    /// longer than 256 entries, or the CPU lacks AVX-512 F/BW/VBMI.
    pub fn new(table: &[i32]) -> Option<Self> {
        if table.len() > 256 || table.iter().any(|&v| !(0..=255).contains(&v)) || !has_vbmi() {
            return None;
        }
        let mut bytes = [0u8; 256];
        for (b, &v) in bytes.iter_mut().zip(table) {
            *b = v as u8;
        }
        Some(ByteTable {
            bytes,
            len: table.len(),
        })
    }
}

fn has_vbmi() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| has!("avx512f") && has!("avx512bw") && has!("avx512vbmi"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `dst[t] = table[r.apply(acc[t])]` with the table as bytes; the table holds at least
/// `qmax + 1` entries. Same results as [`table32_row`].
pub fn table8_row(acc: &[i32], r: &Requant32, table: &ByteTable, dst: &mut [i32]) {
    assert_eq!(acc.len(), dst.len(), "table8_row lengths");
    assert!(
        table.len > r.qmax as usize,
        "table shorter than the code range"
    );
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `ByteTable::new` checked AVX-512 F/BW/VBMI; the lengths match and every index
    // `apply` returns lies in 0..=qmax < table.len ≤ 256.
    unsafe {
        avx512::rows8(acc, r, &table.bytes, dst)
    }
    #[cfg(not(target_arch = "x86_64"))]
    for (d, &a) in dst.iter_mut().zip(acc) {
        *d = table.bytes[r.apply(a) as usize] as i32;
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Requant32;
    use std::arch::x86_64::*;

    /// [`Requant32::apply`] on 16 lanes.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn apply16(r: &Requant32, a: __m512i) -> __m512i {
        let c = _mm512_min_epi32(
            _mm512_max_epi32(a, _mm512_set1_epi32(r.lo)),
            _mm512_set1_epi32(r.hi),
        );
        let c = _mm512_add_epi32(c, _mm512_set1_epi32(r.bias));
        let p = _mm512_add_epi32(
            _mm512_mullo_epi32(c, _mm512_set1_epi32(r.mult)),
            _mm512_set1_epi32(r.round),
        );
        let q = _mm512_sra_epi32(p, _mm_cvtsi32_si128(r.shift as i32));
        let q = _mm512_add_epi32(q, _mm512_set1_epi32(r.zero));
        _mm512_min_epi32(
            _mm512_max_epi32(q, _mm512_setzero_si512()),
            _mm512_set1_epi32(r.qmax),
        )
    }

    /// Requantize (and look up `table`) 16 lanes at a time, the tail scalar.
    ///
    /// # Safety
    /// AVX-512F; `acc.len() == dst.len()`; `table`, if given, holds `qmax + 1` entries.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn rows(acc: &[i32], r: &Requant32, table: Option<&[i32]>, dst: &mut [i32]) {
        let n = acc.len() / 16 * 16;
        for i in (0..n).step_by(16) {
            let a = _mm512_loadu_si512(acc.as_ptr().add(i) as *const __m512i);
            let mut q = apply16(r, a);
            if let Some(t) = table {
                q = _mm512_i32gather_epi32::<4>(q, t.as_ptr());
            }
            _mm512_storeu_si512(dst.as_mut_ptr().add(i) as *mut __m512i, q);
        }
        for (d, &a) in dst[n..].iter_mut().zip(&acc[n..]) {
            let q = r.apply(a);
            *d = match table {
                Some(t) => t[q as usize],
                None => q,
            };
        }
    }

    /// Requantize and look up a 256-byte table 16 lanes at a time: two `vpermt2b` on the
    /// code (in the low byte of each lane; the other bytes are 0) look it up in entries
    /// 0..128 and 128..256, the code's bit 7 picks one, the low byte is the entry.
    ///
    /// # Safety
    /// AVX-512 F/BW/VBMI; `acc.len() == dst.len()`; `apply` gives codes below 256.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub unsafe fn rows8(acc: &[i32], r: &Requant32, table: &[u8; 256], dst: &mut [i32]) {
        let t: [__m512i; 4] = std::array::from_fn(|i| {
            _mm512_loadu_si512(table.as_ptr().add(64 * i) as *const __m512i)
        });
        let (half, byte) = (_mm512_set1_epi32(128), _mm512_set1_epi32(0xff));
        let n = acc.len() / 16 * 16;
        for i in (0..n).step_by(16) {
            let a = _mm512_loadu_si512(acc.as_ptr().add(i) as *const __m512i);
            let q = apply16(r, a);
            let lo = _mm512_permutex2var_epi8(t[0], q, t[1]);
            let hi = _mm512_permutex2var_epi8(t[2], q, t[3]);
            let m = _mm512_cmpge_epi32_mask(q, half);
            let v = _mm512_and_si512(_mm512_mask_blend_epi32(m, lo, hi), byte);
            _mm512_storeu_si512(dst.as_mut_ptr().add(i) as *mut __m512i, v);
        }
        for (d, &a) in dst[n..].iter_mut().zip(&acc[n..]) {
            *d = table[r.apply(a) as usize] as i32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector rows equal the scalar form (16-lane body and tail, table lookups).
    #[test]
    fn rows_equal_scalar() {
        let fmt = QFormat::pow2(8, 4, 17);
        let table: Vec<i32> = (0..256).map(|v| (v * 7 + 3) % 251).collect();
        for (bias, shift) in [(-12345i64, 6), (1 << 20, 9), (-7, 0), (99, -2)] {
            let r = Requant32::new(bias, 1, shift, &fmt).expect("i32 form");
            let acc: Vec<i32> = (0..77)
                .map(|i| (i * 7919 - 300_000) * (1 + i % 5))
                .collect();
            let mut got = vec![0; acc.len()];
            requant32_row(&acc, &r, &mut got);
            let want: Vec<i32> = acc.iter().map(|&a| r.apply(a)).collect();
            assert_eq!(got, want);
            table32_row(&acc, &r, &table, &mut got);
            let want: Vec<i32> = want.iter().map(|&q| table[q as usize]).collect();
            assert_eq!(got, want);
            if let Some(bt) = ByteTable::new(&table) {
                got.fill(-1);
                table8_row(&acc, &r, &bt, &mut got);
                assert_eq!(got, want, "byte table");
            }
        }
    }

    /// The i32 requantizer equals the i64 definition for every accepted channel, at the
    /// i32 ends, around both saturation points and on random sums; both shift signs, power
    /// of two and multiplier scales, large biases.
    #[test]
    fn requant32_equals_definition() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut accepted = 0;
        for case in 0..3000 {
            let bits = [8, 6, 4, 16][case % 4];
            let fmt = QFormat::pow2(bits, 3, (rnd() % (1 << bits)) as i32);
            let shift = (rnd() % 40) as i32 - 8;
            let mult = if case % 3 == 0 {
                1
            } else {
                (rnd() % (1 << 15)) as i64
            };
            let bias = (rnd() % (1 << 34)) as i64 - (1 << 33);
            let Some(r) = Requant32::new(bias, mult, shift, &fmt) else {
                continue;
            };
            accepted += 1;
            let mut probes = vec![i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX - 1, i32::MAX];
            for e in [r.lo, r.hi] {
                for d in -3..=3 {
                    probes.push(e.saturating_add(d));
                }
            }
            probes.extend((0..40).map(|_| rnd() as i32));
            probes.extend((0..40).map(|_| (rnd() % (1 << 20)) as i32 - (1 << 19) - bias as i32));
            for a in probes {
                let want = requant(a as i64 + bias, mult, shift, &fmt);
                assert_eq!(
                    r.apply(a),
                    want,
                    "{a} bias {bias} mult {mult} shift {shift} {fmt:?}"
                );
            }
        }
        assert!(accepted > 500, "only {accepted} channels took the i32 path");
    }
}
