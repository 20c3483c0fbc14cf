//! Element loops of the integer convolution (code range scan, requantize / table epilogue),
//! written once as plain scalar Rust and compiled again for AVX-512 and AVX2 so that the
//! vectorizer can use them (the crate itself targets baseline x86-64); the widest variant the
//! CPU has is chosen at run time. Every variant computes exactly the scalar definition
//! ([`crate::quant::spec::requant`]), so results never depend on the CPU.

use crate::quant::spec::{requant, QFormat};

/// Which compiled copy of a loop to run.
#[derive(Clone, Copy)]
enum Level {
    Avx512,
    Avx2,
    Plain,
}

fn level() -> Level {
    static LEVEL: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(detect)
}

fn detect() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512bw") && has!("avx512dq") && has!("avx512vl") {
            return Level::Avx512;
        }
        if has!("avx2") {
            return Level::Avx2;
        }
    }
    Level::Plain
}

/// Run `f` compiled for the widest vector unit the CPU has: `f` should only call
/// `#[inline(always)]` bodies so that they are compiled inside the feature-enabled frame.
pub fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
        unsafe fn w512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2")]
        unsafe fn w256<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        match level() {
            // SAFETY: the CPU has the features (checked by `level`).
            Level::Avx512 => unsafe { w512(f) },
            // SAFETY: as above.
            Level::Avx2 => unsafe { w256(f) },
            Level::Plain => f(),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    f()
}

/// Largest `|v|` over `s` and `init` (as i64, so `|i32::MIN|` is exact).
pub fn max_abs(s: &[i32], init: i64) -> i64 {
    wide(|| max_abs_body(s, init))
}

#[inline(always)]
fn max_abs_body(s: &[i32], init: i64) -> i64 {
    let (lo, hi) = s
        .iter()
        .fold((i32::MAX, i32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if s.is_empty() {
        return init;
    }
    init.max((lo as i64).abs()).max((hi as i64).abs())
}

/// `dst[t] = requant(acc[t] + bias, mult, shift, fmt)`.
pub fn requant_row(acc: &[i32], bias: i64, mult: i64, shift: i32, fmt: &QFormat, dst: &mut [i32]) {
    wide(|| requant_body(acc, bias, mult, shift, fmt, dst))
}

#[inline(always)]
fn requant_body(acc: &[i32], bias: i64, mult: i64, shift: i32, fmt: &QFormat, dst: &mut [i32]) {
    for (d, &a) in dst.iter_mut().zip(acc) {
        *d = requant(a as i64 + bias, mult, shift, fmt);
    }
}

/// `dst[t] = table[requant(acc[t] + bias, mult, shift, pre)]`.
#[allow(clippy::too_many_arguments)]
pub fn table_row(
    acc: &[i32],
    bias: i64,
    mult: i64,
    shift: i32,
    pre: &QFormat,
    table: &[i32],
    dst: &mut [i32],
) {
    wide(|| table_body(acc, bias, mult, shift, pre, table, dst))
}

#[inline(always)]
fn table_body(
    acc: &[i32],
    bias: i64,
    mult: i64,
    shift: i32,
    pre: &QFormat,
    table: &[i32],
    dst: &mut [i32],
) {
    for (d, &a) in dst.iter_mut().zip(acc) {
        *d = table[requant(a as i64 + bias, mult, shift, pre) as usize];
    }
}
