//! Letterbox preprocessing identical in effect to Ultralytics `LetterBox` (center=True,
//! scaleup=True, pad value 114) followed by `img / 255` in NCHW float32.
//!
//! Guarantees, for an image of `h × w` and a target `new_h × new_w`:
//! - gain `r = min(new_h / h, new_w / w)` in f64 (upscaling allowed);
//! - unpadded size `(round(w r), round(h r))` with Python's round-half-to-even;
//! - padding `dw = new_w - w'`, `dh = new_h - h'`, reduced `mod stride` when `auto` (predict's
//!   minimal padding); halves split as `left = round(dw/2 - 0.1)`, `right = round(dw/2 + 0.1)`
//!   (same for top/bottom), so the output is `(h' + dh) × (w' + dw)`;
//! - the resize is [`resize_linear`] (bit-exact `cv2.resize` INTER_LINEAR) and only happens when
//!   the size changes; the pad colour is (114, 114, 114);
//! - the tensor is `[3, H, W]`, RGB, `v as f32 / 255.0` (as torch computes `uint8 → float / 255`).

mod resize;

pub use resize::{resize_linear, COEF_SCALE};

use image::{Rgb, RgbImage};
use ndarray::Array3;

/// Ultralytics' pad colour.
pub const PAD_VALUE: u8 = 114;

/// Where the resized image sits inside the letterboxed canvas.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LetterboxGeometry {
    /// Gain applied to the original image (`r` above), in f64 as Python computes it.
    pub ratio: f64,
    /// Size of the resized image before padding, (h, w).
    pub unpad_hw: (usize, usize),
    /// Padding in pixels: (top, bottom, left, right).
    pub pad_tblr: (usize, usize, usize, usize),
    /// Final canvas size, (h, w).
    pub out_hw: (usize, usize),
}

/// Python's `round` for a float that fits an integer (half to even).
fn py_round(x: f64) -> i64 {
    x.round_ties_even() as i64
}

/// Compute Ultralytics' letterbox geometry for an `orig_hw` image and a `new_hw` target.
///
/// `stride` is only used when `auto` is true. Panics on zero sizes or `stride == 0` with `auto`.
pub fn letterbox_geometry(
    orig_hw: (usize, usize),
    new_hw: (usize, usize),
    auto: bool,
    stride: usize,
) -> LetterboxGeometry {
    let (h, w) = orig_hw;
    let (nh, nw) = new_hw;
    assert!(
        h > 0 && w > 0 && nh > 0 && nw > 0,
        "letterbox of an empty size"
    );
    let r = (nh as f64 / h as f64).min(nw as f64 / w as f64);
    // Never round to 0: Ultralytics would crash in cv2.resize there; keep one pixel instead.
    let uw = py_round(w as f64 * r).max(1) as usize;
    let uh = py_round(h as f64 * r).max(1) as usize;
    let mut dw = nw.saturating_sub(uw) as f64;
    let mut dh = nh.saturating_sub(uh) as f64;
    if auto {
        assert!(stride > 0, "letterbox stride must be positive");
        dw %= stride as f64;
        dh %= stride as f64;
    }
    let (dw, dh) = (dw / 2.0, dh / 2.0);
    let split = |d: f64| (py_round(d - 0.1) as usize, py_round(d + 0.1) as usize);
    let (top, bottom) = split(dh);
    let (left, right) = split(dw);
    LetterboxGeometry {
        ratio: r,
        unpad_hw: (uh, uw),
        pad_tblr: (top, bottom, left, right),
        out_hw: (uh + top + bottom, uw + left + right),
    }
}

/// A letterboxed network input plus what is needed to map boxes back to the original image.
#[derive(Clone, Debug)]
pub struct Letterboxed {
    /// `[3, H, W]` RGB, values in `0..=1` (`u8 / 255`).
    pub tensor: Array3<f32>,
    /// Gain from original to network pixels.
    pub ratio: f32,
    /// Padding added on the (left, top).
    pub pad: (f32, f32),
    /// Original image size, (h, w).
    pub orig_hw: (usize, usize),
}

impl Letterboxed {
    /// Network input size, (h, w).
    pub fn input_hw(&self) -> (usize, usize) {
        let s = self.tensor.shape();
        (s[1], s[2])
    }
}

/// Letterbox to 8-bit RGB: the exact pixels Ultralytics feeds the network (before `/255`).
pub fn letterbox_u8(
    img: &RgbImage,
    new_hw: (usize, usize),
    auto: bool,
    stride: usize,
) -> (RgbImage, LetterboxGeometry) {
    let orig_hw = (img.height() as usize, img.width() as usize);
    let g = letterbox_geometry(orig_hw, new_hw, auto, stride);
    let (uh, uw) = g.unpad_hw;
    let resized;
    let src = if (uh, uw) == orig_hw {
        img
    } else {
        resized = resize_linear(img, uw, uh);
        &resized
    };
    let (top, _, left, _) = g.pad_tblr;
    let (oh, ow) = g.out_hw;
    let mut out = RgbImage::from_pixel(ow as u32, oh as u32, Rgb([PAD_VALUE; 3]));
    let (sw, dw) = (uw * 3, ow * 3);
    let (dst, s) = (&mut *out, src.as_raw());
    for y in 0..uh {
        let d0 = (y + top) * dw + left * 3;
        dst[d0..d0 + sw].copy_from_slice(&s[y * sw..(y + 1) * sw]);
    }
    (out, g)
}

/// `[3, H, W]` float tensor of `v / 255` from an RGB image.
pub fn to_tensor(img: &RgbImage) -> Array3<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut t = Array3::<f32>::zeros((3, h, w));
    let raw = img.as_raw();
    for c in 0..3 {
        let mut plane = t.index_axis_mut(ndarray::Axis(0), c);
        let plane = plane.as_slice_mut().expect("fresh array is contiguous");
        for (p, px) in plane.iter_mut().zip(raw.chunks_exact(3)) {
            *p = px[c] as f32 / 255.0;
        }
    }
    t
}

/// Letterbox `img` to `new_hw` = (h, w) exactly like Ultralytics `LetterBox` and return the
/// `/255` tensor with the gain and padding. `auto` (used by predict) pads only to a multiple
/// of `stride`.
pub fn letterbox(img: &RgbImage, new_hw: (usize, usize), auto: bool, stride: usize) -> Letterboxed {
    let (u8img, g) = letterbox_u8(img, new_hw, auto, stride);
    Letterboxed {
        tensor: to_tensor(&u8img),
        ratio: g.ratio as f32,
        pad: (g.pad_tblr.2 as f32, g.pad_tblr.0 as f32),
        orig_hw: (img.height() as usize, img.width() as usize),
    }
}
