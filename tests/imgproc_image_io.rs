//! Image loading and saving: round trips, one-line errors naming the file, EXIF orientation.
mod common;

use image::{Rgb, RgbImage};
use yoloq_gen::image_io::{decode_rgb, load_rgb, save_png};

fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x * 7) as u8, (y * 5) as u8, (x ^ y) as u8])
    })
}

#[test]
fn png_round_trip_is_lossless_and_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/out.png");
    let img = gradient(33, 17);
    save_png(&path, &img).unwrap();
    assert_eq!(load_rgb(&path).unwrap(), img);
    // Only the final file exists: no temporary left behind.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn grey_and_rgba_png_become_rgb() {
    let dir = tempfile::tempdir().unwrap();
    let grey = image::GrayImage::from_fn(4, 3, |x, y| image::Luma([(10 * x + y) as u8]));
    let p = dir.path().join("grey.png");
    grey.save(&p).unwrap();
    let rgb = load_rgb(&p).unwrap();
    assert_eq!(*rgb.get_pixel(3, 2), Rgb([32, 32, 32]));
    let rgba = image::RgbaImage::from_pixel(2, 2, image::Rgba([1, 2, 3, 0]));
    let p = dir.path().join("rgba.png");
    rgba.save(&p).unwrap();
    // Alpha is dropped, not blended (as cv2.imread IMREAD_COLOR does).
    assert_eq!(*load_rgb(&p).unwrap().get_pixel(1, 1), Rgb([1, 2, 3]));
}

/// Assert the error is one line and names the file.
fn assert_one_line_naming(err: yoloq_gen::Error, path: &std::path::Path) -> String {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "multi-line error: {msg}");
    assert!(
        msg.contains(&path.display().to_string()),
        "error does not name the file: {msg}"
    );
    msg
}

#[test]
fn bad_files_give_one_line_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.jpg");
    assert_one_line_naming(load_rgb(&missing).unwrap_err(), &missing);

    let text = dir.path().join("notes.jpg");
    std::fs::write(&text, "hello, not an image").unwrap();
    let msg = assert_one_line_naming(load_rgb(&text).unwrap_err(), &text);
    assert!(msg.contains("JPEG or PNG"), "{msg}");

    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    assert_one_line_naming(load_rgb(&empty).unwrap_err(), &empty);

    let gif = dir.path().join("anim.gif");
    std::fs::write(&gif, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap();
    let msg = assert_one_line_naming(load_rgb(&gif).unwrap_err(), &gif);
    assert!(msg.contains("unsupported"), "{msg}");

    // A PNG cut in half, and one with a corrupted data chunk.
    let good = dir.path().join("good.png");
    save_png(&good, &gradient(64, 64)).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.png");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert_one_line_naming(load_rgb(&cut).unwrap_err(), &cut);
    let mut bad = bytes.clone();
    let n = bad.len();
    for b in &mut bad[60..n - 20] {
        *b = b.wrapping_add(77);
    }
    let corrupt = dir.path().join("corrupt.png");
    std::fs::write(&corrupt, &bad).unwrap();
    assert_one_line_naming(load_rgb(&corrupt).unwrap_err(), &corrupt);
}

#[test]
fn jpeg_truncated_or_corrupt_is_an_error() {
    let Some(bus) = common::shared("data/samples/bus.jpg") else {
        return;
    };
    let img = load_rgb(&bus).unwrap();
    assert_eq!(img.dimensions(), (810, 1080));
    let bytes = std::fs::read(&bus).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Header only: no scan data at all.
    let head = dir.path().join("head.jpg");
    std::fs::write(&head, &bytes[..200]).unwrap();
    assert_one_line_naming(load_rgb(&head).unwrap_err(), &head);
    // Cut mid-scan: libjpeg would return a grey-filled image with a warning; the warning makes
    // it unreadable, with a one-line error naming the file and libjpeg's words.
    let half = dir.path().join("half.jpg");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    let msg = assert_one_line_naming(load_rgb(&half).unwrap_err(), &half);
    assert!(msg.contains("Premature end of JPEG file"), "{msg}");
    // Entropy data overwritten in the middle (length kept): a corrupt-data warning.
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid..mid + 64].fill(0xFF);
    let corrupt = dir.path().join("corrupt.jpg");
    std::fs::write(&corrupt, &bad).unwrap();
    assert_one_line_naming(load_rgb(&corrupt).unwrap_err(), &corrupt);
}

#[test]
fn jpeg_exif_orientation_is_applied_like_opencv() {
    // 32×16: left half red, right half blue, tagged EXIF orientation 6 (rotate 90° clockwise).
    let img = RgbImage::from_fn(32, 16, |x, _| {
        if x < 16 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    let tiff: Vec<u8> = [
        &b"II*\0"[..],
        &8u32.to_le_bytes(),
        &1u16.to_le_bytes(),
        &[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0],
        &0u32.to_le_bytes(),
    ]
    .concat();
    let mut bytes = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95);
    image::ImageEncoder::set_exif_metadata(&mut enc, tiff).unwrap();
    enc.encode_image(&img).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rotated.jpg");
    std::fs::write(&path, &bytes).unwrap();
    let got = load_rgb(&path).unwrap();
    // Displayed upright: 16 wide, 32 tall, the original left (red) half on top.
    assert_eq!(got.dimensions(), (16, 32));
    let top = got.get_pixel(8, 4);
    let bottom = got.get_pixel(8, 28);
    assert!(top[0] > 200 && top[2] < 50, "top {top:?}");
    assert!(bottom[2] > 200 && bottom[0] < 50, "bottom {bottom:?}");
}

#[test]
fn corrupt_jpegs_never_panic() {
    let Some(bus) = common::shared("data/samples/bus.jpg") else {
        return;
    };
    let bytes = std::fs::read(bus).unwrap();
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    for i in 0..300usize {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let mut bad = bytes[..(s as usize % bytes.len()).max(2)].to_vec();
        // Flip a few bytes, in the headers for a third of the cases.
        for k in 0..(i % 5) {
            let span = if i % 3 == 0 {
                700.min(bad.len())
            } else {
                bad.len()
            };
            let at = (s >> (8 * k)) as usize % span;
            bad[at] ^= (s >> 40) as u8 | 1;
        }
        match decode_rgb(&bad) {
            Ok(img) => assert!(img.width() > 0 && img.height() > 0),
            Err(msg) => assert!(!msg.contains('\n') && !msg.is_empty(), "{msg}"),
        }
    }
}
