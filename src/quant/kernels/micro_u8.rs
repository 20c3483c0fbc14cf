//! The u8 × i8 micro-kernel (AVX-512 VNNI `vpdpbusd`): each 32-bit operand word holds four
//! consecutive reduction rows, unsigned activation codes in `b`, signed weights in `a`, and
//! one instruction adds the four products of 16 positions into their i32 sums. No
//! saturation happens anywhere (`vpdpbusd`, not `vpdpbusds`), so the sums are exact when the
//! caller has bounded them below 2^31, twice the multiply-adds per instruction of the i16
//! pairs. Same contract as [`super::micro::micro`].

use super::micro::{MR_MAX, NB};

/// `acc[r][t] = sum_j a[j*MR_MAX + r] · b[j*NB + t]` over `kw` words of four bytes.
///
/// # Safety
/// The CPU must have AVX-512 F/BW/VNNI, `a` must hold `kw * MR_MAX` words and `b`
/// `kw * NB` words.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn micro_u8(a: *const i32, b: *const i32, kw: usize, acc: &mut [[i32; NB]; MR_MAX]) {
    avx512_micro!(_mm512_dpbusd_epi32, a, kw, |j| b.add(j * NB), acc)
}
