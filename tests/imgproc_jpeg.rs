//! JPEG decoding is bit-identical to `cv2.imread(path, IMREAD_COLOR)` (BGR→RGB): on every dataset
//! JPEG, and on generated files covering grey, CMYK, YCCK, progressive, every chroma subsampling,
//! odd sizes, EXIF rotation and truncation. OpenCV runs through `python3` with `cv2` (Debian:
//! `apt-get install python3-opencv`). Also: bus.jpg decoded by us letterboxes to exactly the
//! Ultralytics reference input tensor.
mod common;

use mozjpeg::{ColorSpace, Compress, Marker};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use yoloq_gen::image_io::{decode_rgb_lenient, load_rgb};
use yoloq_gen::preprocess::letterbox;

/// For each path on stdin: `<u32 h><u32 w>` (0, 0 when cv2 fails) then h*w*3 RGB bytes.
const DRIVER: &str = r#"
import sys, struct, cv2, numpy as np
out = sys.stdout.buffer
for p in sys.stdin.read().splitlines():
    img = cv2.imread(p, cv2.IMREAD_COLOR)
    if img is None:
        out.write(struct.pack('<II', 0, 0))
        continue
    out.write(struct.pack('<II', img.shape[0], img.shape[1]))
    out.write(np.ascontiguousarray(img[:, :, ::-1]).tobytes())
"#;

/// A python3 that can import cv2, or a loud skip.
fn python_with_cv2() -> Option<PathBuf> {
    for cand in ["python3", "/usr/bin/python3"] {
        let ok = Command::new(cand)
            .args(["-c", "import cv2"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(PathBuf::from(cand));
        }
    }
    common::missing("python3 with OpenCV (`apt-get install python3-opencv`)");
    None
}

/// OpenCV's decoding of each file: `Some((width, height, rgb))`, or `None` where imread fails.
fn opencv_decode(py: &Path, files: &[PathBuf]) -> Vec<Option<(u32, u32, Vec<u8>)>> {
    let list: String = files.iter().map(|f| format!("{}\n", f.display())).collect();
    let stdin = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut &stdin, list.as_bytes()).unwrap();
    std::io::Seek::rewind(&mut &stdin).unwrap();
    let out = Command::new(py)
        .args(["-c", DRIVER])
        .stdin(Stdio::from(stdin))
        .stderr(Stdio::null()) // libjpeg warnings about the truncated files
        .output()
        .unwrap();
    assert!(out.status.success(), "OpenCV driver failed");
    let mut r = &out.stdout[..];
    let next_u32 = |r: &mut &[u8]| {
        let mut b = [0u8; 4];
        r.read_exact(&mut b).unwrap();
        u32::from_le_bytes(b)
    };
    let mut decoded = Vec::new();
    for _ in files {
        let (h, w) = (next_u32(&mut r), next_u32(&mut r));
        if h == 0 {
            decoded.push(None);
            continue;
        }
        let mut px = vec![0u8; (h * w * 3) as usize];
        r.read_exact(&mut px).unwrap();
        decoded.push(Some((w, h, px)));
    }
    assert!(r.is_empty(), "driver wrote more than expected");
    decoded
}

/// How one file's decoding compares with OpenCV's.
#[derive(Debug, Default)]
struct Diff {
    values: usize,
    differing: usize,
    max_abs: u8,
}

/// Decode every file with us and with OpenCV: both must succeed or both fail, with equal sizes.
fn compare_with_opencv(py: &Path, files: &[PathBuf]) -> Vec<Diff> {
    let mut diffs = Vec::new();
    for (file, cv) in files.iter().zip(opencv_decode(py, files)) {
        // OpenCV keeps what libjpeg makes of a damaged file; so does the lenient decoder, while
        // `load_rgb` refuses any file libjpeg warns about (checked below).
        let ours = decode_rgb_lenient(&std::fs::read(file).unwrap()).map(|(img, warning)| {
            assert_eq!(
                load_rgb(file).is_err(),
                warning.is_some(),
                "{}: load_rgb must refuse exactly the files with warnings",
                file.display()
            );
            img
        });
        let Some((w, h, cv)) = cv else {
            assert!(
                ours.is_err(),
                "{}: OpenCV refuses it, we decode it",
                file.display()
            );
            diffs.push(Diff::default());
            continue;
        };
        let ours = ours.unwrap_or_else(|e| panic!("OpenCV decodes it, we fail: {e}"));
        assert_eq!(ours.dimensions(), (w, h), "{}", file.display());
        let mut d = Diff {
            values: cv.len(),
            ..Diff::default()
        };
        for (a, b) in ours.as_raw().iter().zip(&cv) {
            d.differing += usize::from(a != b);
            d.max_abs = d.max_abs.max(a.abs_diff(*b));
        }
        diffs.push(d);
    }
    diffs
}

fn jpegs_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    files.sort();
    files
}

#[test]
fn dataset_jpegs_decode_exactly_like_opencv() {
    let dirs = [
        "data/samples",
        "data/val2017-79/images",
        "data/coco128/images/train2017",
    ];
    let Some(dirs) = dirs
        .iter()
        .map(|d| common::shared(d))
        .collect::<Option<Vec<_>>>()
    else {
        return;
    };
    let Some(py) = python_with_cv2() else { return };
    let files: Vec<PathBuf> = dirs.iter().flat_map(|d| jpegs_in(d)).collect();
    assert!(files.len() >= 200, "only {} dataset JPEGs", files.len());
    let diffs = compare_with_opencv(&py, &files);
    let total: usize = diffs.iter().map(|d| d.values).sum();
    eprintln!("{} files, {total} values compared with OpenCV", files.len());
    for (file, d) in files.iter().zip(&diffs) {
        assert_eq!(d.differing, 0, "{}: {d:?}", file.display());
    }
}

/// A smooth colour field with texture, so that IDCT and chroma upsampling both matter.
fn pattern(w: usize, h: usize, channels: usize) -> Vec<u8> {
    let mut px = Vec::with_capacity(w * h * channels);
    for y in 0..h {
        for x in 0..w {
            for c in 0..channels {
                let v = (x * (3 + c) + y * (5 - c)) as f64 * 0.37 + ((x * y + c) % 23) as f64 * 3.0;
                px.push((v as u64 % 256) as u8);
            }
        }
    }
    px
}

struct Variant {
    name: &'static str,
    input: ColorSpace,
    stored: Option<ColorSpace>,
    /// Chroma "pixel" size in luma pixels (2, 2 = 4:2:0), for YCbCr files.
    chroma: (u8, u8),
    progressive: bool,
    size: (usize, usize),
    orientation: Option<u16>,
}

fn encode(v: &Variant) -> Vec<u8> {
    let channels = match v.input {
        ColorSpace::JCS_GRAYSCALE => 1,
        ColorSpace::JCS_CMYK => 4,
        _ => 3,
    };
    let mut c = Compress::new(v.input);
    // libjpeg-turbo's own defaults (baseline, no trellis), not mozjpeg's progressive profile.
    c.set_fastest_defaults();
    c.set_size(v.size.0, v.size.1);
    c.set_quality(85.0);
    if let Some(space) = v.stored {
        c.set_color_space(space);
    }
    if v.input == ColorSpace::JCS_RGB && v.stored.is_none() {
        c.set_chroma_sampling_pixel_sizes(v.chroma, v.chroma);
    }
    if v.progressive {
        c.set_progressive_mode();
    }
    let mut s = c.start_compress(Vec::new()).unwrap();
    if let Some(o) = v.orientation {
        let tiff = [
            &b"Exif\0\0MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01"[..],
            &o.to_be_bytes(),
            &[0; 6],
        ]
        .concat();
        s.write_marker(Marker::APP(1), &tiff);
    }
    s.write_scanlines(&pattern(v.size.0, v.size.1, channels))
        .unwrap();
    s.finish().unwrap()
}

#[test]
fn generated_variants_decode_exactly_like_opencv() {
    let Some(py) = python_with_cv2() else { return };
    use ColorSpace::{JCS_CMYK as CMYK, JCS_GRAYSCALE as GREY, JCS_RGB as RGB, JCS_YCCK as YCCK};
    let v = |name, input, stored, chroma, progressive, size, orientation| Variant {
        name,
        input,
        stored,
        chroma,
        progressive,
        size,
        orientation,
    };
    let variants = [
        v("420", RGB, None, (2, 2), false, (97, 61), None),
        v("422", RGB, None, (2, 1), false, (64, 33), None),
        v("440", RGB, None, (1, 2), false, (45, 70), None),
        v("444", RGB, None, (1, 1), false, (31, 17), None),
        v("411", RGB, None, (4, 1), false, (50, 20), None),
        v("prog420", RGB, None, (2, 2), true, (123, 77), None),
        v("tiny", RGB, None, (2, 2), false, (1, 1), None),
        v("grey", GREY, None, (1, 1), false, (40, 30), None),
        v("greyprog", GREY, None, (1, 1), true, (33, 9), None),
        v("cmyk", CMYK, None, (1, 1), false, (36, 28), None),
        v("ycck", CMYK, Some(YCCK), (1, 1), false, (29, 41), None),
        v("rgbstored", RGB, Some(RGB), (1, 1), false, (24, 24), None),
        v("rot6", RGB, None, (2, 1), false, (48, 20), Some(6)),
        v("rot3", RGB, None, (2, 2), false, (21, 30), Some(3)),
        v("rot8prog", RGB, None, (2, 2), true, (40, 22), Some(8)),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for var in &variants {
        let bytes = encode(var);
        let path = dir.path().join(format!("{}.jpg", var.name));
        std::fs::write(&path, &bytes).unwrap();
        // Cut mid-scan: libjpeg warns and fills the rest; OpenCV returns that image.
        let cut = dir.path().join(format!("{}-cut.jpg", var.name));
        std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
        files.extend([path, cut]);
    }
    let diffs = compare_with_opencv(&py, &files);
    for ((file, d), var) in files
        .iter()
        .zip(&diffs)
        .zip(variants.iter().flat_map(|v| [v, v]))
    {
        let cut = file.to_string_lossy().ends_with("-cut.jpg");
        // A cut file is unreadable for every command; a whole one decodes.
        assert_eq!(load_rgb(file).is_err(), cut, "{}", file.display());
        if cut && var.progressive {
            // The missing coefficients of an incomplete progressive scan are estimated by
            // libjpeg's block smoothing, which differs slightly between libjpeg-turbo releases
            // (here: the vendored one vs the system one OpenCV links; not a SIMD/C difference).
            assert!(
                d.max_abs <= 1 && d.differing * 20 <= d.values,
                "{}: {d:?}",
                file.display()
            );
        } else {
            assert_eq!(d.differing, 0, "{}: {d:?}", file.display());
        }
        // Both refusing is fine for a cut file (checked in compare_with_opencv), not for a whole one.
        assert!(
            cut || d.values > 0,
            "{}: OpenCV could not read it",
            file.display()
        );
        eprintln!("{}: {d:?}", file.file_name().unwrap().to_string_lossy());
    }
}

#[test]
fn bus_letterboxes_to_the_reference_input_exactly() {
    let Some(bus) = common::shared("data/samples/bus.jpg") else {
        return;
    };
    let Some(refp) = common::shared("reference/yolov8n-real-fused.bus640.output.safetensors")
    else {
        return;
    };
    let img = load_rgb(&bus).unwrap();
    let bytes = std::fs::read(refp).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let want: Vec<f32> = st
        .tensor("input")
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let lb = letterbox(&img, (640, 640), false, 32);
    let got = lb.tensor.as_standard_layout();
    assert_eq!(
        got.as_slice().unwrap(),
        &want[..],
        "bus 640 input tensor differs"
    );
}
