//! Exact integer micro-kernels of the convolution, with runtime dispatch. Operands are 32-bit
//! words holding a group of consecutive reduction rows: two i16 (AVX-512 VNNI `vpdpwssd` on
//! zmm, 8 channels × 32 positions per call; AVX2 `vpmaddwd` + `vpaddd` on ymm, 4 channels ×
//! 32 positions as two halves of 16), or four bytes, unsigned codes × signed weights
//! (AVX-512 VNNI `vpdpbusd`, [`super::micro_u8`], 8 × 32). Every kernel computes, in i32
//! lanes, `acc[r][t] = sum_j word(a) · word(b)` over the words — exact (no lane can wrap)
//! whenever the caller has bounded the sums below 2^31, and then bit-identical to the others.

/// Output positions per panel block (one AVX-512 pair of zmm, four ymm).
pub const NB: usize = 32;
/// Largest channel block of any kernel.
pub const MR_MAX: usize = 8;

/// Instruction set and operand format of the micro-kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// i16 pairs, `vpmaddwd`.
    Avx2,
    /// i16 pairs, `vpdpwssd`.
    Avx512Vnni,
    /// u8 codes × i8 weights in quads, `vpdpbusd`: codes in 0..=255, weights in -128..=127.
    Avx512VnniU8,
}

impl Isa {
    /// Best i16 kernel this CPU supports, `None` without AVX2.
    pub fn detect() -> Option<Isa> {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f") && has!("avx512bw") && has!("avx512vnni") {
                return Some(Isa::Avx512Vnni);
            }
            if has!("avx2") {
                return Some(Isa::Avx2);
            }
        }
        None
    }

    /// Output channels per micro-kernel call (the weight packing's block height).
    pub fn mr(self) -> usize {
        match self {
            Isa::Avx2 => 4,
            Isa::Avx512Vnni | Isa::Avx512VnniU8 => MR_MAX,
        }
    }

    /// Reduction rows per operand word.
    pub fn group(self) -> usize {
        match self {
            Isa::Avx2 | Isa::Avx512Vnni => 2,
            Isa::Avx512VnniU8 => 4,
        }
    }

    /// True when this CPU can run the kernel.
    pub fn available(self) -> bool {
        match (self, Isa::detect()) {
            (_, None) => false,
            (Isa::Avx2, Some(_)) => true,
            (Isa::Avx512Vnni | Isa::Avx512VnniU8, Some(best)) => best == Isa::Avx512Vnni,
        }
    }
}

/// `acc[r][t] = sum_j a[j*mr + r] · b[j*NB + t]` (words of `isa.group()` rows) for
/// `r < isa.mr()`. `a` holds `kw * mr` words (`[j][r]`), `b` holds `kw * NB` words (`[j][t]`).
pub fn micro(isa: Isa, a: &[i32], b: &[i32], kw: usize, acc: &mut [[i32; NB]; MR_MAX]) {
    assert!(isa.available() && a.len() >= kw * isa.mr() && b.len() >= kw * NB);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU supports `isa` (checked above) and the slices are long enough.
    unsafe {
        match isa {
            Isa::Avx2 => micro_avx2(a.as_ptr(), b.as_ptr(), kw, acc),
            Isa::Avx512Vnni => micro_avx512(a.as_ptr(), b.as_ptr(), kw, acc),
            Isa::Avx512VnniU8 => super::micro_u8::micro_u8(a.as_ptr(), b.as_ptr(), kw, acc),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = acc;
}

/// Body of the AVX-512 micro-kernels (8 channels × 32 positions in sixteen zmm sums):
/// `avx512_micro!(dp, a, n, at, acc)` sets `acc[r][t] = sum_{j < n} dp(a[j·MR_MAX + r],
/// b_j[t])`, where `at(j)` is the address of the [`NB`] operand words `b_j` and `dp` is a
/// `vpdp*` intrinsic taking (sums, operand words, broadcast weight word). Used inside
/// functions compiled with AVX-512 F/BW/VNNI, with `MR_MAX` and `NB` in scope.
macro_rules! avx512_micro {
    ($dp:ident, $a:expr, $n:expr, $at:expr, $acc:expr) => {{
        use std::arch::x86_64::*;
        let (a, at, acc): (*const i32, _, &mut [[i32; NB]; MR_MAX]) = ($a, $at, $acc);
        let mut s = [[_mm512_setzero_si512(); 2]; MR_MAX];
        for j in 0..$n {
            let b: *const i32 = at(j);
            let b0 = _mm512_loadu_si512(b as *const __m512i);
            let b1 = _mm512_loadu_si512(b.add(16) as *const __m512i);
            for (r, sr) in s.iter_mut().enumerate() {
                let w = _mm512_set1_epi32(*a.add(j * MR_MAX + r));
                sr[0] = $dp(sr[0], b0, w);
                sr[1] = $dp(sr[1], b1, w);
            }
        }
        for (r, sr) in s.iter().enumerate() {
            _mm512_storeu_si512(acc[r].as_mut_ptr() as *mut __m512i, sr[0]);
            _mm512_storeu_si512(acc[r].as_mut_ptr().add(16) as *mut __m512i, sr[1]);
        }
    }};
}

// AVX-512 intrinsics and target features are stable since Rust 1.89 (the manifest's
// `rust-version`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn micro_avx512(a: *const i32, b: *const i32, k2: usize, acc: &mut [[i32; NB]; MR_MAX]) {
    // vpdpwssd: i16 pairs of both operands (the product commutes).
    avx512_micro!(_mm512_dpwssd_epi32, a, k2, |j| b.add(j * NB), acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn micro_avx2(a: *const i32, b: *const i32, k2: usize, acc: &mut [[i32; NB]; MR_MAX]) {
    use std::arch::x86_64::*;
    const MR: usize = 4;
    for half in 0..2 {
        let b = b.add(16 * half);
        let mut s = [[_mm256_setzero_si256(); 2]; MR];
        for j in 0..k2 {
            let b0 = _mm256_loadu_si256(b.add(j * NB) as *const __m256i);
            let b1 = _mm256_loadu_si256(b.add(j * NB + 8) as *const __m256i);
            for (r, sr) in s.iter_mut().enumerate() {
                let w = _mm256_set1_epi32(*a.add(j * MR + r));
                sr[0] = _mm256_add_epi32(sr[0], _mm256_madd_epi16(w, b0));
                sr[1] = _mm256_add_epi32(sr[1], _mm256_madd_epi16(w, b1));
            }
        }
        for (r, sr) in s.iter().enumerate() {
            let d = acc[r].as_mut_ptr().add(16 * half);
            _mm256_storeu_si256(d as *mut __m256i, sr[0]);
            _mm256_storeu_si256(d.add(8) as *mut __m256i, sr[1]);
        }
    }
}
