//! Bit-exactness against OpenCV itself: `cv2.resize(INTER_LINEAR)` on random images and the
//! whole Ultralytics `LetterBox` (transcribed into the Python driver below), run through
//! `python3` with `cv2` (Debian: `apt-get install python3-opencv`). Also checks that, given
//! OpenCV's own JPEG decoding of bus.jpg, our letterbox reproduces the reference `input`
//! tensors exactly (so the only difference left there is the JPEG decoder).
mod common;

use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};
use std::process::Command;
use yoloq_gen::image_io::{load_rgb, save_png};
use yoloq_gen::preprocess::{letterbox, letterbox_u8, resize_linear};

/// Python driver: each job line is `resize|letterbox|decode <src> <dst> <h> <w> <auto>`.
const DRIVER: &str = r#"
import sys, cv2, numpy as np
def letterbox(img, new, auto, stride=32):
    shape = img.shape[:2]
    r = min(new[0] / shape[0], new[1] / shape[1])
    new_unpad = int(round(shape[1] * r)), int(round(shape[0] * r))
    dw, dh = new[1] - new_unpad[0], new[0] - new_unpad[1]
    if auto:
        dw, dh = np.mod(dw, stride), np.mod(dh, stride)
    dw /= 2
    dh /= 2
    if shape[::-1] != new_unpad:
        img = cv2.resize(img, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    return cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
for line in open(sys.argv[1]):
    op, src, dst, h, w, auto = line.split()
    img = cv2.imread(src, cv2.IMREAD_COLOR)
    if op == 'resize':
        out = cv2.resize(img, (int(w), int(h)), interpolation=cv2.INTER_LINEAR)
    elif op == 'letterbox':
        out = letterbox(img, (int(h), int(w)), auto == '1')
    else:
        out = img
    assert cv2.imwrite(dst, out)
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

fn run_driver(py: &Path, dir: &Path, jobs: &[String]) {
    let list = dir.join("jobs.txt");
    std::fs::write(&list, jobs.join("\n") + "\n").unwrap();
    let out = Command::new(py)
        .args(["-c", DRIVER])
        .arg(&list)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "driver failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn random_image(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    RgbImage::from_fn(w, h, |_, _| {
        let mut px = [0u8; 3];
        for p in &mut px {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            *p = (s >> 56) as u8;
        }
        Rgb(px)
    })
}

#[test]
fn resize_and_letterbox_bit_exact_with_opencv() {
    let Some(py) = python_with_cv2() else { return };
    let dir = tempfile::tempdir().unwrap();
    // (src w, src h, dst w, dst h): down/up-scaling, 2x (OpenCV switches to INTER_AREA),
    // row widths with every SIMD tail length (dst w * 3 mod 16), 1-pixel edges.
    let mut cases = vec![
        (810, 1080, 240, 320),
        (64, 48, 32, 24),
        (7, 5, 33, 17),
        (1, 1, 5, 3),
    ];
    cases.extend([
        (20, 9, 1, 1),
        (100, 3, 7, 50),
        (3, 100, 50, 7),
        (640, 480, 641, 479),
    ]);
    for k in 1..=16u32 {
        cases.push((37 + 5 * k, 29 + 3 * k, k + 5 * (k % 3), 11 + 7 * k));
    }
    let mut s = 12345u64;
    let mut next = |m: u32| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        1 + ((s >> 33) as u32 % m)
    };
    for _ in 0..40 {
        cases.push((next(300), next(300), next(300), next(300)));
    }
    let mut jobs = Vec::new();
    for (i, &(w, h, nw, nh)) in cases.iter().enumerate() {
        let src = dir.path().join(format!("src{i}.png"));
        save_png(&src, &random_image(w, h, i as u64)).unwrap();
        let dst = dir.path().join(format!("cv{i}.png"));
        jobs.push(format!(
            "resize {} {} {nh} {nw} 0",
            src.display(),
            dst.display()
        ));
    }
    // Letterbox geometry, both modes, square and non-square targets.
    let lb_cases = [
        (810, 1080, 640, 640, 1),
        (1280, 720, 640, 640, 1),
        (500, 375, 320, 320, 0),
    ];
    let lb_cases = [
        &lb_cases[..],
        &[
            (333, 517, 256, 320, 1),
            (77, 1000, 640, 480, 0),
            (61, 59, 160, 160, 1),
        ],
    ]
    .concat();
    for (i, &(w, h, nh, nw, auto)) in lb_cases.iter().enumerate() {
        let src = dir.path().join(format!("lbsrc{i}.png"));
        save_png(&src, &random_image(w, h, 100 + i as u64)).unwrap();
        let dst = dir.path().join(format!("lbcv{i}.png"));
        jobs.push(format!(
            "letterbox {} {} {nh} {nw} {auto}",
            src.display(),
            dst.display()
        ));
    }
    run_driver(&py, dir.path(), &jobs);
    for (i, &(w, h, nw, nh)) in cases.iter().enumerate() {
        let ours = resize_linear(&random_image(w, h, i as u64), nw as usize, nh as usize);
        let cv = load_rgb(&dir.path().join(format!("cv{i}.png"))).unwrap();
        let bad = ours
            .as_raw()
            .iter()
            .zip(cv.as_raw())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            bad, 0,
            "resize {w}x{h} -> {nw}x{nh}: {bad} values differ from OpenCV"
        );
    }
    for (i, &(w, h, nh, nw, auto)) in lb_cases.iter().enumerate() {
        let img = random_image(w, h, 100 + i as u64);
        let (ours, _) = letterbox_u8(&img, (nh as usize, nw as usize), auto == 1, 32);
        let cv = load_rgb(&dir.path().join(format!("lbcv{i}.png"))).unwrap();
        assert_eq!(
            ours.dimensions(),
            cv.dimensions(),
            "letterbox {w}x{h} auto={auto}"
        );
        assert!(
            ours == cv,
            "letterbox {w}x{h} -> {nw}x{nh} auto={auto} differs from OpenCV"
        );
    }
}

#[test]
fn bus_letterbox_exact_given_opencv_decoding() {
    let Some(bus) = common::shared("data/samples/bus.jpg") else {
        return;
    };
    let refs = [
        (
            "reference/yolov8n-real-fused.bus320.layers.safetensors",
            320,
        ),
        (
            "reference/yolov8n-real-fused.bus640.output.safetensors",
            640,
        ),
    ];
    let Some(py) = python_with_cv2() else { return };
    let dir = tempfile::tempdir().unwrap();
    let decoded = dir.path().join("bus.png");
    run_driver(
        &py,
        dir.path(),
        &[format!(
            "decode {} {} 0 0 0",
            bus.display(),
            decoded.display()
        )],
    );
    let img = load_rgb(&decoded).unwrap();
    for (rel, size) in refs {
        let Some(path) = common::shared(rel) else {
            return;
        };
        let bytes = std::fs::read(&path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let want: Vec<f32> = st
            .tensor("input")
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let lb = letterbox(&img, (size, size), false, 32);
        let got = lb.tensor.as_standard_layout();
        assert_eq!(
            got.as_slice().unwrap(),
            &want[..],
            "bus {size}: not bit-exact"
        );
    }
}
