//! JPEG decoding that reproduces `cv2.imread(path, cv2.IMREAD_COLOR)` bit for bit.
//!
//! Guarantees:
//! - Pixels come from libjpeg-turbo's decoder (as vendored by mozjpeg, built from source; with the
//!   optional `jpeg-simd` feature also its SIMD kernels, which libjpeg-turbo keeps bit-identical to
//!   its C code) with the settings OpenCV uses: accurate integer IDCT (`JDCT_ISLOW`), fancy chroma
//!   upsampling, block smoothing on, libjpeg's own YCbCr→RGB and grey→RGB conversion.
//! - Complete files decode bit-identically to OpenCV's; for a progressive file cut short, the
//!   block smoothing that estimates the missing coefficients may differ by one level in a few
//!   pixels, as it does between libjpeg-turbo releases.
//! - 4-component (CMYK/YCCK) files are decoded to CMYK by libjpeg and converted to RGB with
//!   OpenCV's integer formula `k - ((255 - c) * k >> 8)`.
//! - Warnings (e.g. a file cut mid-scan) are ignored, as OpenCV ignores them: libjpeg fills the
//!   missing rows and a full-size image is returned. Fatal libjpeg errors become a one-line
//!   message, never a panic.
//! - Images over OpenCV's default limit of 2^30 pixels are refused before any allocation.
//! - The EXIF orientation tag (first APP1 "Exif" segment) is returned for the caller to apply.

use image::metadata::Orientation;
use image::RgbImage;
use mozjpeg::{ColorSpace, DctMethod, Decompress, Marker};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// OpenCV's `CV_IO_MAX_IMAGE_PIXELS` default.
const MAX_PIXELS: usize = 1 << 30;

/// Decoded pixels (not yet oriented) and the EXIF orientation to apply to them.
pub(super) struct Decoded {
    pub image: RgbImage,
    pub orientation: Orientation,
}

/// Decode JPEG bytes; the error is a one-line message without the file name.
pub(super) fn decode(bytes: &[u8]) -> Result<Decoded, String> {
    // libjpeg reports fatal errors by unwinding out of the C code (mozjpeg's error manager);
    // nothing escapes this closure but the bytes it reads, so unwinding cannot leave state behind.
    match catch_unwind(AssertUnwindSafe(|| decode_unguarded(bytes))) {
        Ok(result) => result,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("unknown libjpeg error");
            Err(bad(msg))
        }
    }
}

fn bad(detail: &str) -> String {
    let detail = detail.replace(['\n', '\r'], " ");
    format!("cannot decode JPEG ({detail}); the file is corrupt or truncated, re-export it as JPEG or PNG")
}

fn io_bad(e: std::io::Error) -> String {
    bad(&e.to_string())
}

fn decode_unguarded(bytes: &[u8]) -> Result<Decoded, String> {
    let mut dec = Decompress::with_markers(&[Marker::APP(1)])
        .from_mem(bytes)
        .map_err(io_bad)?;
    let (w, h) = dec.size();
    if w == 0 || h == 0 {
        return Err("image has zero width or height".to_string());
    }
    if w.saturating_mul(h) > MAX_PIXELS {
        return Err(format!(
            "image is {w}×{h} pixels, over the 2^30-pixel limit (as in OpenCV); downscale it"
        ));
    }
    let orientation = dec
        .markers()
        .filter(|m| m.marker == Marker::APP(1))
        .find_map(|m| m.data.strip_prefix(b"Exif\0\0"))
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    dec.dct_method(DctMethod::IntegerSlow);
    dec.do_fancy_upsampling(true);
    dec.do_block_smoothing(true);
    let four_channel = dec.components().len() == 4;
    let rgb = if four_channel {
        let mut started = dec.to_colorspace(ColorSpace::JCS_CMYK).map_err(io_bad)?;
        let cmyk: Vec<[u8; 4]> = started.read_scanlines().map_err(io_bad)?;
        started.finish().map_err(io_bad)?;
        cmyk.iter().flat_map(|&p| cmyk_to_rgb(p)).collect()
    } else {
        let mut started = dec.rgb().map_err(io_bad)?;
        let rgb: Vec<u8> = started.read_scanlines().map_err(io_bad)?;
        started.finish().map_err(io_bad)?;
        rgb
    };
    let image = RgbImage::from_raw(w as u32, h as u32, rgb)
        .ok_or_else(|| bad("libjpeg returned fewer rows than the header declares"))?;
    Ok(Decoded { image, orientation })
}

/// OpenCV's CMYK→RGB (`icvCvt_CMYK2BGR_8u_C4C3R`): each of C, M, Y becomes
/// `k - ((255 - v) * k >> 8)` and lands in R, G, B respectively.
pub(super) fn cmyk_to_rgb([c, m, y, k]: [u8; 4]) -> [u8; 3] {
    let k = u32::from(k);
    let f = |v: u8| (k - (((255 - u32::from(v)) * k) >> 8)) as u8;
    [f(c), f(m), f(y)]
}

#[cfg(test)]
mod tests {
    use super::cmyk_to_rgb;

    #[test]
    fn cmyk_formula_matches_opencv_by_hand() {
        // k = 255: 255 - ((255 - v) * 255 >> 8); v = 128 gives 255 - 126.
        assert_eq!(cmyk_to_rgb([255, 0, 128, 255]), [255, 1, 129]);
        // k = 0: black whatever the inks.
        assert_eq!(cmyk_to_rgb([10, 200, 255, 0]), [0, 0, 0]);
        // k = 100, v = 50: 100 - (205 * 100 >> 8) = 100 - 80 = 20.
        assert_eq!(cmyk_to_rgb([50, 50, 50, 100]), [20, 20, 20]);
    }
}
