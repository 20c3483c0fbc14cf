//! Element loops of the integer convolution (code range scan, requantize / table epilogue),
//! written once as plain scalar Rust and compiled again for AVX-512 and AVX2 so that the
//! vectorizer can use them (the crate itself targets baseline x86-64); the widest variant the
//! CPU has is chosen at run time. Every variant computes exactly the scalar definition
//! ([`crate::quant::spec::requant`]), so results never depend on the CPU.

use crate::quant::spec::{requant, QFormat};

/// Which compiled copy of a loop to run.
#[derive(Clone, Copy)]
pub enum Level {
    Avx512,
    Avx2,
    Plain,
}

pub fn level() -> Level {
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

/// `fn name(args) -> R = body;` defines `name`, which runs the `#[inline(always)]` function
/// `body` compiled for the widest vector unit the CPU has (AVX-512, AVX2, else baseline).
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),*) -> $r:ty = $body:path;) => {
        $(#[$m])*
        $vis fn $name($($a: $t),*) -> $r {
            #[cfg(target_arch = "x86_64")]
            {
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
                unsafe fn w512($($a: $t),*) -> $r {
                    $body($($a),*)
                }
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx2")]
                unsafe fn w256($($a: $t),*) -> $r {
                    $body($($a),*)
                }
                match $crate::quant::kernels::rows::level() {
                    // SAFETY: the CPU has the features (checked by `level`).
                    $crate::quant::kernels::rows::Level::Avx512 => unsafe { w512($($a),*) },
                    // SAFETY: as above.
                    $crate::quant::kernels::rows::Level::Avx2 => unsafe { w256($($a),*) },
                    $crate::quant::kernels::rows::Level::Plain => $body($($a),*),
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            $body($($a),*)
        }
    };
}

multiversion! {
    /// Smallest and largest value of `s` (`(i32::MAX, i32::MIN)` when empty).
    pub fn min_max(s: &[i32]) -> (i32, i32) = min_max_body;
}

#[inline(always)]
fn min_max_body(s: &[i32]) -> (i32, i32) {
    s.iter()
        .fold((i32::MAX, i32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

multiversion! {
    /// Largest `sum |w|` over the rows of `kk` weights of `ws` (0 when empty), in i64.
    pub fn max_abs_row_sum(ws: &[i32], kk: usize) -> i64 = max_abs_row_sum_body;
}

#[inline(always)]
fn max_abs_row_sum_body(ws: &[i32], kk: usize) -> i64 {
    ws.chunks_exact(kk.max(1))
        .map(|wc| wc.iter().map(|&v| v.unsigned_abs() as i64).sum::<i64>())
        .max()
        .unwrap_or(0)
}

multiversion! {
    /// `dst[t] = requant(acc[t] + bias, mult, shift, fmt)`.
    pub fn requant_row(acc: &[i32], bias: i64, mult: i64, shift: i32, fmt: &QFormat, dst: &mut [i32]) -> () = requant_body;
}

#[inline(always)]
fn requant_body(acc: &[i32], bias: i64, mult: i64, shift: i32, fmt: &QFormat, dst: &mut [i32]) {
    for (d, &a) in dst.iter_mut().zip(acc) {
        *d = requant(a as i64 + bias, mult, shift, fmt);
    }
}

multiversion! {
    /// `dst[t] = table[requant(acc[t] + bias, mult, shift, pre)]`.
    #[allow(clippy::too_many_arguments)]
    pub fn table_row(acc: &[i32], bias: i64, mult: i64, shift: i32, pre: &QFormat, table: &[i32], dst: &mut [i32]) -> () = table_body;
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
