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
//! - Warnings (a file cut mid-scan, corrupt entropy data, extraneous bytes) are counted by our
//!   error manager and the first one is returned with the pixels ([`Decoded::warning`]);
//!   OpenCV ignores them and returns libjpeg's grey-filled image, which is what the pixels are
//!   then. Callers treat a warning as an unreadable file (`image_io::load_rgb`). Fatal libjpeg
//!   errors become a one-line message, never a panic.
//! - Images over `image_io::MAX_PIXELS`, or a Huffman-coded header claiming more pixels than
//!   the file's bytes can encode ([`HUFFMAN_PIXELS_PER_BYTE`]), are refused after the header is
//!   read and before libjpeg allocates coefficient or pixel buffers.
//! - The EXIF orientation tag (first APP1 "Exif" segment) is returned for the caller to apply.

use image::metadata::Orientation;
use image::RgbImage;
use mozjpeg::{ColorSpace, DctMethod, Decompress, Marker};
use mozjpeg_sys::{jpeg_common_struct, jpeg_error_mgr, jpeg_std_error};
use std::cell::RefCell;
use std::os::raw::c_int;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// The most pixels a Huffman-coded JPEG can hold per byte of file. Every scan codes each of
/// its 8×8 blocks with at least one bit (Huffman codes are 1–16 bits; a progressive image
/// needs a DC scan before its AC scans, or libjpeg warns), and one block of a component
/// sampled at the smallest factor (1 of 4 each way) covers 32×32 pixels: 1024 pixels per bit.
/// Arithmetic coding can spend far less than a bit per block, so it has only the absolute cap.
pub(super) const HUFFMAN_PIXELS_PER_BYTE: u64 = 8 * 1024;

/// Whether the frame header (SOFn) before the first scan is Huffman-coded: `Some(true)` for
/// SOF0–3/5–7, `Some(false)` for the arithmetic SOF9–11/13–15, `None` when not found.
fn huffman_coded(bytes: &[u8]) -> Option<bool> {
    let mut i = 2; // after SOI
    loop {
        if *bytes.get(i)? != 0xff {
            return None;
        }
        let marker = *bytes.get(i + 1)?;
        match marker {
            0xff => i += 1, // fill byte
            0x01 | 0xd0..=0xd7 => i += 2,
            0xc0..=0xc3 | 0xc5..=0xc7 => return Some(true),
            0xc9..=0xcb | 0xcd..=0xcf => return Some(false),
            0xda | 0xd9 => return None,
            _ => {
                let len = u16::from_be_bytes([*bytes.get(i + 2)?, *bytes.get(i + 3)?]);
                i += 2 + len as usize;
            }
        }
    }
}

/// Decoded pixels (not yet oriented) and the EXIF orientation to apply to them.
pub(super) struct Decoded {
    pub image: RgbImage,
    pub orientation: Orientation,
    /// The first libjpeg warning and how many there were (the pixels are then partly invented).
    pub warning: Option<(String, usize)>,
}

thread_local! {
    /// Warnings of the decode running on this thread.
    static WARNINGS: RefCell<(Option<String>, usize)> = const { RefCell::new((None, 0)) };
}

/// libjpeg's message for the current `msg_code`, as text.
fn message(cinfo: &mut jpeg_common_struct) -> String {
    // SAFETY: `cinfo.err` is the error manager libjpeg is calling us through; `format_message`
    // writes at most JMSG_LENGTH_MAX (80) bytes, NUL-terminated, into the buffer.
    unsafe {
        let Some(fmt) = cinfo.err.as_ref().and_then(|e| e.format_message) else {
            return "unknown libjpeg message".into();
        };
        let buf = [0u8; 80]; // JMSG_LENGTH_MAX
        fmt(cinfo, &buf);
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    }
}

/// `emit_message`: level -1 is a warning (corrupt data); trace levels are ignored.
extern "C-unwind" fn on_message(cinfo: &mut jpeg_common_struct, level: c_int) {
    if level < 0 {
        let msg = message(cinfo);
        WARNINGS.with(|w| {
            let mut w = w.borrow_mut();
            w.1 += 1;
            w.0.get_or_insert(msg);
        });
    }
}

/// `error_exit`: unwind out of libjpeg with the message (caught in [`decode`]).
extern "C-unwind" fn on_error(cinfo: &mut jpeg_common_struct) {
    let msg = format!("libjpeg fatal error: {}", message(cinfo));
    resume_unwind(Box::new(msg));
}

fn error_mgr() -> jpeg_error_mgr {
    // SAFETY: jpeg_std_error fills every field of a zeroed error manager.
    let mut err: jpeg_error_mgr = unsafe { std::mem::zeroed() };
    unsafe { jpeg_std_error(&mut err) };
    err.error_exit = Some(on_error);
    err.emit_message = Some(on_message);
    err
}

/// Decode JPEG bytes; the error is a one-line message without the file name.
pub(super) fn decode(bytes: &[u8]) -> Result<Decoded, String> {
    // libjpeg reports fatal errors by unwinding out of the C code (mozjpeg's error manager);
    // nothing escapes this closure but the bytes it reads, so unwinding cannot leave state behind.
    WARNINGS.with(|w| *w.borrow_mut() = (None, 0));
    let result = catch_unwind(AssertUnwindSafe(|| decode_unguarded(bytes)));
    let (first, count) = WARNINGS.with(|w| w.take());
    match result {
        Ok(Ok(mut d)) => {
            d.warning = first.map(|m| (m, count));
            Ok(d)
        }
        Ok(Err(e)) => Err(e),
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
        .with_err(error_mgr())
        .from_mem(bytes)
        .map_err(io_bad)?;
    let (w, h) = dec.size();
    if w == 0 || h == 0 {
        return Err("image has zero width or height".to_string());
    }
    // A frame header this walk cannot reach lies behind bytes that are not markers, which
    // libjpeg skips with a warning: such a file is refused after decoding anyway, so it gets
    // the Huffman bound too rather than only the absolute cap.
    let per_byte = huffman_coded(bytes)
        .unwrap_or(true)
        .then_some(HUFFMAN_PIXELS_PER_BYTE);
    super::check_size("JPEG", w as u64, h as u64, bytes.len(), per_byte)?;
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
    Ok(Decoded {
        image,
        orientation,
        warning: None,
    })
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
