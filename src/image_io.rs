//! Image decoding (JPEG/PNG) to 8-bit RGB, and PNG writing.
//!
//! Guarantees:
//! - [`load_rgb`] returns the image as Ultralytics sees it after `cv2.imread` + BGR→RGB: 8-bit RGB,
//!   alpha dropped, grey replicated, JPEG EXIF orientation applied (OpenCV applies it too).
//!   JPEG pixels are bit-identical to OpenCV's (same libjpeg-turbo decoder and settings, see
//!   [`jpeg`]); PNG goes through the `image` crate.
//! - Every failure (missing, unreadable, truncated, corrupt, unsupported format) is a single-line
//!   [`Error`] naming the file and what to do; a JPEG with a libjpeg warning counts as corrupt
//!   ([`decode_rgb_lenient`] keeps OpenCV's behaviour for comparisons).
//! - Memory is bounded before any pixel buffer exists: the header's size is checked against
//!   [`MAX_PIXELS`] and against what the file's bytes can encode at most ([`check_size`]), so a
//!   small file cannot make the decoder allocate gigabytes.
//! - [`save_png`] writes through [`write_atomic`], so no half-written file is ever left behind.

use crate::error::{Error, Result};
use crate::util::write_atomic;
use image::codecs::png::{PngDecoder, PngEncoder};
use image::{DynamicImage, ImageEncoder, ImageFormat, RgbImage};
use std::io::Cursor;
use std::path::Path;

mod jpeg;

/// The largest image accepted: 2^26 pixels (8192×8192, 192 MB as RGB; a 50-megapixel photo
/// fits). The network sees at most `--imgsz` (640) pixels a side, so larger inputs only cost
/// memory; OpenCV's own limit (2^30) lets a header ask for 3 GB.
pub const MAX_PIXELS: u64 = 1 << 26;

/// Refuse a `w`×`h` header that needs more pixels than [`MAX_PIXELS`], or more than
/// `per_byte` pixels for each of the file's `len` bytes (`per_byte` is the most a file of
/// that format can encode; `None` when the format has no such bound). A file claiming more
/// than its bytes can hold is truncated whatever its header says, so this refuses no image
/// the decoder would have read in full.
pub(crate) fn check_size(
    format: &str,
    w: u64,
    h: u64,
    len: usize,
    per_byte: Option<u64>,
) -> std::result::Result<(), String> {
    let px = w.saturating_mul(h);
    if px > MAX_PIXELS {
        return Err(format!(
            "{format} header claims {w}×{h} pixels, over the limit of 2^26 (67,108,864) pixels; downscale the image"
        ));
    }
    if let Some(k) = per_byte {
        if px > k.saturating_mul(len as u64) {
            return Err(format!(
                "{format} header claims {w}×{h} pixels but the file has {len} bytes, which can encode at most {k} pixels per byte; the file is truncated or corrupt, re-export it"
            ));
        }
    }
    Ok(())
}

/// Decode a JPEG or PNG file into an 8-bit RGB image. A JPEG that libjpeg warns about (cut
/// short, corrupt data) is unreadable: its pixels would be partly invented.
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_rgb(&bytes).map_err(|msg| Error::data(path, msg))
}

/// Decode in-memory JPEG or PNG bytes, refusing a JPEG with decoder warnings; the error is a
/// one-line message without the file name.
pub fn decode_rgb(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
    match decode_rgb_lenient(bytes)? {
        (_, Some((w, n))) => Err(format!(
            "unreadable JPEG: libjpeg warns \"{w}\"{}; the file is truncated or corrupt, re-export it as JPEG or PNG",
            if n > 1 { format!(" and {} more", n - 1) } else { String::new() }
        )),
        (img, None) => Ok(img),
    }
}

/// Decode like `cv2.imread`, which keeps what libjpeg makes of a damaged JPEG: the image, and
/// the first decoder warning with their count when there were any.
pub fn decode_rgb_lenient(
    bytes: &[u8],
) -> std::result::Result<(RgbImage, Option<(String, usize)>), String> {
    let bad = |e: image::ImageError| {
        let msg = e.to_string().replace(['\n', '\r'], " ");
        format!("cannot decode image ({msg}); the file is corrupt or truncated, re-export it as JPEG or PNG")
    };
    let mut warning = None;
    let img = match image::guess_format(bytes) {
        Ok(ImageFormat::Jpeg) => {
            let decoded = jpeg::decode(bytes)?;
            warning = decoded.warning;
            let mut img = DynamicImage::ImageRgb8(decoded.image);
            img.apply_orientation(decoded.orientation);
            img
        }
        Ok(ImageFormat::Png) => {
            let dec = PngDecoder::new(Cursor::new(bytes)).map_err(bad)?;
            // The header's size is checked before the pixel buffer is allocated. Deflate
            // expands a byte into at most 1032 bytes (258-byte matches at about two bits
            // each), and the smallest PNG pixel is one bit: at most 8 × 1032 pixels per byte.
            let (w, h) = image::ImageDecoder::dimensions(&dec);
            check_size("PNG", w.into(), h.into(), bytes.len(), Some(8 * 1032))?;
            DynamicImage::from_decoder(dec).map_err(bad)?
        }
        Ok(other) => {
            return Err(format!(
                "unsupported image format {other:?}; convert it to JPEG or PNG"
            ))
        }
        Err(_) if bytes.is_empty() => {
            return Err("empty file; expected a JPEG or PNG image".to_string())
        }
        Err(_) => {
            return Err(
                "not a JPEG or PNG image (unrecognised header); convert it to JPEG or PNG"
                    .to_string(),
            )
        }
    };
    if img.width() == 0 || img.height() == 0 {
        return Err("image has zero width or height".to_string());
    }
    Ok((img.to_rgb8(), warning))
}

/// Encode `img` as an 8-bit RGB PNG and write it atomically to `path`.
pub fn save_png(path: &Path, img: &RgbImage) -> Result<()> {
    let mut bytes = Vec::new();
    PngEncoder::new(&mut bytes)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| Error::data(path, format!("cannot encode PNG: {e}")))?;
    write_atomic(path, &bytes)
}
