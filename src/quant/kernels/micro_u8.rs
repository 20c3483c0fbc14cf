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
    use std::arch::x86_64::*;
    let mut s = [[_mm512_setzero_si512(); 2]; MR_MAX];
    for j in 0..kw {
        let b0 = _mm512_loadu_si512(b.add(j * NB) as *const __m512i);
        let b1 = _mm512_loadu_si512(b.add(j * NB + 16) as *const __m512i);
        for (r, sr) in s.iter_mut().enumerate() {
            let w = _mm512_set1_epi32(*a.add(j * MR_MAX + r));
            sr[0] = _mm512_dpbusd_epi32(sr[0], b0, w);
            sr[1] = _mm512_dpbusd_epi32(sr[1], b1, w);
        }
    }
    for (r, sr) in s.iter().enumerate() {
        _mm512_storeu_si512(acc[r].as_mut_ptr() as *mut __m512i, sr[0]);
        _mm512_storeu_si512(acc[r].as_mut_ptr().add(16) as *mut __m512i, sr[1]);
    }
}
