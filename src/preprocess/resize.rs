//! `cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)` for 8-bit RGB images, bit for bit.
//!
//! Guarantees (checked bit for bit against OpenCV 4.6 in `tests/imgproc_cv2.rs`):
//! - Source coordinates use half-pixel centres, `src = (dst + 0.5) * scale - 0.5` with
//!   `scale = 1 / (dst_size / src_size)` in f64, then rounded to f32; the floor is the tap, the rest
//!   the weight. Columns left of 0 / right of the last pixel take the edge pixel (weight 0); rows
//!   are clamped to the image (border replicate). No antialiasing when shrinking (same formula).
//! - Weights are `round_half_even(w * 2048)` (`INTER_RESIZE_COEF_SCALE`) as i16. The horizontal
//!   pass is exact (`a * w0 + b * w1`, scale 2^11). The vertical pass is OpenCV's 8-bit
//!   specialisation, identical in its SIMD and scalar paths:
//!   `((((r0 >> 4) * b0) >> 16) + (((r1 >> 4) * b1) >> 16) + 2) >> 2`
//!   (not the exactly rounded `(r0 * b0 + r1 * b1 + 2^21) >> 22`).
//! - An exact 2× shrink, which OpenCV routes to INTER_AREA, gives the same values through this
//!   formula (`(a + b + c + d + 2) >> 2`). Equal sizes are a plain copy (as in OpenCV).

use image::RgbImage;

/// Weight scale of OpenCV's fixed-point resize (`INTER_RESIZE_COEF_SCALE`).
pub const COEF_SCALE: i32 = 2048;

/// One output coordinate: the two source taps and their fixed-point weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tap {
    i0: usize,
    i1: usize,
    w0: i32,
    w1: i32,
}

/// Weight of a fractional part in fixed point: `saturate_cast<short>(w * 2048.f)`.
fn fixed(w: f32) -> i32 {
    (w * COEF_SCALE as f32).round_ties_even() as i32
}

/// Source position of output index `d` as OpenCV computes it: (floor, fraction).
fn src_pos(d: usize, scale: f64) -> (i64, f32) {
    let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
    let s = f.floor();
    (s as i64, f - s)
}

/// Column taps: out-of-range positions snap to the edge pixel with weight (2048, 0).
fn column_taps(src: usize, dst: usize) -> Vec<Tap> {
    let scale = 1.0 / (dst as f64 / src as f64);
    (0..dst)
        .map(|d| {
            let (mut s, mut f) = src_pos(d, scale);
            if s < 0 {
                (s, f) = (0, 0.0);
            }
            if s >= src as i64 - 1 {
                (s, f) = (src as i64 - 1, 0.0);
            }
            let s = s as usize;
            Tap {
                i0: s,
                i1: (s + 1).min(src - 1),
                w0: fixed(1.0 - f),
                w1: fixed(f),
            }
        })
        .collect()
}

/// Row taps: the fraction is kept, the row indices are clamped to the image.
fn row_taps(src: usize, dst: usize) -> Vec<Tap> {
    let scale = 1.0 / (dst as f64 / src as f64);
    let clamp = |i: i64| i.clamp(0, src as i64 - 1) as usize;
    (0..dst)
        .map(|d| {
            let (s, f) = src_pos(d, scale);
            Tap {
                i0: clamp(s),
                i1: clamp(s + 1),
                w0: fixed(1.0 - f),
                w1: fixed(f),
            }
        })
        .collect()
}

/// Horizontal pass of one source row: 3 interleaved channels, values scaled by 2048.
fn hpass(row: &[u8], cols: &[Tap], out: &mut [i32]) {
    for (o, t) in out.chunks_exact_mut(3).zip(cols) {
        for (c, v) in o.iter_mut().enumerate() {
            *v = row[3 * t.i0 + c] as i32 * t.w0 + row[3 * t.i1 + c] as i32 * t.w1;
        }
    }
}

/// Vertical pass: combine two horizontally resized rows into one output row.
fn vpass(r0: &[i32], r1: &[i32], t: &Tap, out: &mut [u8]) {
    let (b0, b1) = (t.w0, t.w1);
    for ((o, &a), &b) in out.iter_mut().zip(r0).zip(r1) {
        // OpenCV: int16 mul_hi of (row >> 4) by the weight, then a rounding shift by 2.
        let v = ((((a >> 4) * b0) >> 16) + (((b >> 4) * b1) >> 16) + 2) >> 2;
        *o = v.clamp(0, 255) as u8;
    }
}

/// Resize an RGB image to `(new_w, new_h)` exactly as `cv2.resize(..., INTER_LINEAR)` does.
///
/// Panics if either target dimension is zero or the source is empty (callers validate sizes).
pub fn resize_linear(img: &RgbImage, new_w: usize, new_h: usize) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    assert!(
        w > 0 && h > 0 && new_w > 0 && new_h > 0,
        "resize of an empty image"
    );
    if (w, h) == (new_w, new_h) {
        return img.clone();
    }
    let cols = column_taps(w, new_w);
    let rows = row_taps(h, new_h);
    let src = img.as_raw();
    let row = |i: usize| &src[i * w * 3..(i + 1) * w * 3];
    let mut out = vec![0u8; new_w * new_h * 3];
    // The two most recent horizontally resized source rows (row index, values).
    let mut idx = [usize::MAX; 2];
    let mut bufs = [vec![0i32; new_w * 3], vec![0i32; new_w * 3]];
    for (t, o) in rows.iter().zip(out.chunks_exact_mut(new_w * 3)) {
        for i in [t.i0, t.i1] {
            if !idx.contains(&i) {
                let slot = usize::from(idx[0] == t.i0 || idx[0] == t.i1);
                hpass(row(i), &cols, &mut bufs[slot]);
                idx[slot] = i;
            }
        }
        let slot = |i: usize| usize::from(idx[0] != i);
        vpass(&bufs[slot(t.i0)], &bufs[slot(t.i1)], t, o);
    }
    RgbImage::from_raw(new_w as u32, new_h as u32, out).expect("buffer size matches")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_at_edges_replicate() {
        let c = column_taps(4, 8);
        assert_eq!((c[0].i0, c[0].w0, c[0].w1), (0, 2048, 0));
        assert_eq!((c[7].i0, c[7].w0, c[7].w1), (3, 2048, 0));
        let r = row_taps(4, 8);
        assert_eq!((r[0].i0, r[0].i1), (0, 0));
        assert_eq!((r[7].i0, r[7].i1), (3, 3));
        assert_eq!(r[0].w0 + r[0].w1, 2048);
    }
}
