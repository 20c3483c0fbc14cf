//! The fuzz targets' inputs replayed in the ordinary test suite (docs/fuzzing.md): the
//! hand-made seeds in `fuzz/seeds/<target>/` parse, and every seed and every minimised
//! corpus entry in `fuzz/corpus/<target>/` gives a result or one error line naming the
//! file, never a panic. Findings of the fuzzers have their own regression tests here.

mod import_fixtures;

use import_fixtures::*;
use std::path::{Path, PathBuf};
use yoloq_gen::eval::{coco_json, dataset};
use yoloq_gen::image_io::decode_rgb;
use yoloq_gen::import::parse_checkpoint;

fn fuzz_dir(kind: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target)
}

/// The files of `fuzz/<kind>/<target>/` (none when the folder is absent).
fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(rd) = std::fs::read_dir(fuzz_dir(kind, target)) else {
        return Vec::new();
    };
    let mut v: Vec<_> = rd
        .map(|e| e.unwrap().path())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

/// An error message must be one line and start with the file name.
fn check_err(name: &str, msg: &str) {
    assert!(
        msg.starts_with(name) && !msg.contains('\n'),
        "not one line naming {name}: {msg}"
    );
}

/// What the `checkpoint` and `safetensors` fuzz targets do.
fn checkpoint(name: &str, bytes: &[u8]) -> Result<(), String> {
    parse_checkpoint(Path::new(name), bytes)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// What the `dataset` fuzz target does: the first byte picks the parser.
fn dataset_input(data: &[u8]) -> Option<(&'static str, Result<(), String>)> {
    let (&sel, body) = data.split_first()?;
    let text = String::from_utf8_lossy(body);
    let (name, res) = match sel % 4 {
        0 => (
            "fuzz.yaml",
            dataset::parse_data_yaml(&text, Path::new("fuzz.yaml"), "val").map(drop),
        ),
        1 => (
            "fuzz.txt",
            dataset::parse_labels(&text, Path::new("fuzz.txt"), 1 + (sel as usize >> 2)).map(drop),
        ),
        2 => (
            "fuzz.json",
            coco_json::parse_gt(body, Path::new("fuzz.json")).map(drop),
        ),
        _ => (
            "fuzz.json",
            coco_json::parse_dets(body, Path::new("fuzz.json")).map(drop),
        ),
    };
    Some((name, res.map_err(|e| e.to_string())))
}

#[test]
fn seeds_parse() {
    for target in ["checkpoint", "safetensors"] {
        let ext = if target == "checkpoint" {
            "fuzz.pt"
        } else {
            "fuzz.safetensors"
        };
        let seeds = inputs("seeds", target);
        assert!(seeds.len() >= 2, "no {target} seeds");
        for (p, b) in seeds {
            checkpoint(ext, &b).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }
    let seeds = inputs("seeds", "dataset");
    assert!(seeds.len() >= 4, "no dataset seeds");
    for (p, b) in seeds {
        let (_, res) = dataset_input(&b).unwrap();
        res.unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
    let seeds = inputs("seeds", "image");
    assert!(seeds.len() >= 4, "no image seeds");
    for (p, b) in seeds {
        decode_rgb(&b).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
}

#[test]
fn corpora_give_results_or_one_line_errors() {
    for kind in ["seeds", "corpus", "regressions"] {
        for (p, b) in inputs(kind, "checkpoint") {
            if let Err(e) = checkpoint("fuzz.pt", &b) {
                check_err("fuzz.pt", &format!("{e} ({})", p.display()));
            }
        }
        for (p, b) in inputs(kind, "safetensors") {
            if let Err(e) = checkpoint("fuzz.safetensors", &b) {
                check_err("fuzz.safetensors", &format!("{e} ({})", p.display()));
            }
        }
        for (p, b) in inputs(kind, "dataset") {
            if let Some((name, Err(e))) = dataset_input(&b) {
                check_err(name, &format!("{e} ({})", p.display()));
            }
        }
        for (p, b) in inputs(kind, "image") {
            if let Err(e) = decode_rgb(&b) {
                assert!(!e.contains('\n'), "{}: {e}", p.display());
            }
        }
    }
}

/// Fuzzer finding (checkpoint target): a zip record named `arc   \n/data.pkl` with a bad
/// checksum gave a two-line error, the record name being quoted as it stands.
#[test]
fn zip_record_name_with_a_line_break_gives_one_error_line() {
    let (_, b) = &inputs("regressions", "checkpoint")[0];
    let e = checkpoint("fuzz.pt", b).unwrap_err();
    check_err("fuzz.pt", &e);
    assert!(e.contains("\\n/data.pkl") && e.contains("corrupt"), "{e}");
}

/// Fuzzer finding (image target): a PNG whose header claims 83886324×4294967286 pixels
/// aborted the process (the pixel buffer was allocated before any check). The fuzz build
/// skips PNG checksums, so the test writes such a header with valid checksums.
#[test]
fn png_with_a_huge_header_size_is_refused_before_allocating() {
    let crc = |data: &[u8]| {
        let mut c = 0xffff_ffffu32;
        for &b in data {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    };
    let chunk = |kind: &[u8], data: &[u8]| {
        let body = [kind, data].concat();
        [
            &(data.len() as u32).to_be_bytes()[..],
            &body,
            &crc(&body).to_be_bytes(),
        ]
        .concat()
    };
    let ihdr = [
        &65535u32.to_be_bytes()[..],
        &65535u32.to_be_bytes(),
        &[8, 2, 0, 0, 0],
    ]
    .concat();
    let png = [
        &b"\x89PNG\r\n\x1a\n"[..],
        &chunk(b"IHDR", &ihdr),
        &chunk(
            b"IDAT",
            &[0x78, 0x01, 0x01, 0x00, 0x00, 0xff, 0xff, 0, 0, 0, 1],
        ),
        &chunk(b"IEND", &[]),
    ]
    .concat();
    let e = decode_rgb(&png).unwrap_err();
    assert!(
        e.contains("65535×65535") && e.contains("limit of 2^26"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.png");
    std::fs::write(&p, &png).unwrap();
    let e = yoloq_gen::image_io::load_rgb(&p).unwrap_err().to_string();
    check_err(&p.display().to_string(), &e);
    // The fuzzer's own input (checksums wrong) is an error too.
    assert!(decode_rgb(&regression("image", "png-huge-header")).is_err());
    // 1024×1024 claimed in 68 bytes: over 8 × 1032 pixels per byte, refused by size first.
    let ihdr = [
        &1024u32.to_be_bytes()[..],
        &1024u32.to_be_bytes(),
        &[8, 2, 0, 0, 0],
    ]
    .concat();
    let small = [&png[..8], &chunk(b"IHDR", &ihdr), &png[33..]].concat();
    let e = decode_rgb(&small).unwrap_err();
    assert!(e.contains("at most 8256 pixels per byte"), "{e}");
}

fn regression(target: &str, name: &str) -> Vec<u8> {
    std::fs::read(fuzz_dir("regressions", target).join(name)).unwrap()
}

/// Fuzzer finding (image target): a 167-byte baseline JPEG whose header claims 20039×35152
/// pixels made libjpeg allocate the whole image (4.2 GB peak RSS) before its truncation
/// warning rejected it. Now refused from the header: over the absolute cap, and, with the
/// size set to 4096×4096 (under the cap), over what 167 bytes of Huffman data can encode.
#[test]
fn jpeg_header_claiming_more_pixels_than_its_bytes_hold_is_refused_before_decoding() {
    let b = regression("image", "jpeg-704mpx-header-167-bytes");
    let e = decode_rgb(&b).unwrap_err();
    assert!(
        e.contains("20039×35152") && e.contains("limit of 2^26"),
        "{e}"
    );
    // The SOF0 segment: FF C0, length, precision, height, width.
    let sof = b.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
    assert_eq!(&b[sof + 5..sof + 9], &[0x89, 0x50, 0x4e, 0x47]);
    let mut smaller = b.clone();
    smaller[sof + 5..sof + 9].copy_from_slice(&[0x10, 0x00, 0x10, 0x00]);
    let e = decode_rgb(&smaller).unwrap_err();
    assert!(
        e.contains("4096×4096") && e.contains("167 bytes") && e.contains("8192 pixels per byte"),
        "{e}"
    );
    // At 64×64 the same bytes reach the decoder, which finds them corrupt.
    smaller[sof + 5..sof + 9].copy_from_slice(&[0x00, 0x40, 0x00, 0x40]);
    let e = decode_rgb(&smaller).unwrap_err();
    assert!(e.contains("libjpeg"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.jpg");
    std::fs::write(&p, &b).unwrap();
    let e = yoloq_gen::image_io::load_rgb(&p).unwrap_err().to_string();
    check_err(&p.display().to_string(), &e);
}

fn safetensors_seed(tensors: &[(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views: Vec<_> = tensors
        .iter()
        .map(|(n, dt, shape, b)| {
            (
                n.to_string(),
                safetensors::tensor::TensorView::new(*dt, shape.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn image_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use image::ImageEncoder;
    let (w, h) = (12u32, 9u32);
    let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
    let rgba: Vec<u8> = (0..w * h * 4).map(|i| (i * 11 % 253) as u8).collect();
    let grey: Vec<u8> = (0..w * h).map(|i| (i * 5) as u8).collect();
    let png = |data: &[u8], t: image::ExtendedColorType| {
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(data, w, h, t)
            .unwrap();
        out
    };
    let jpeg = |space: mozjpeg::ColorSpace, data: &[u8], progressive: bool| {
        let mut c = mozjpeg::Compress::new(space);
        c.set_fastest_defaults();
        c.set_size(w as usize, h as usize);
        c.set_quality(80.0);
        if progressive {
            c.set_progressive_mode();
        }
        let mut s = c.start_compress(Vec::new()).unwrap();
        s.write_scanlines(data).unwrap();
        s.finish().unwrap()
    };
    use image::ExtendedColorType as T;
    use mozjpeg::ColorSpace as C;
    vec![
        ("rgb.png", png(&rgb, T::Rgb8)),
        ("rgba.png", png(&rgba, T::Rgba8)),
        ("grey.png", png(&grey, T::L8)),
        ("baseline.jpg", jpeg(C::JCS_RGB, &rgb, false)),
        ("progressive.jpg", jpeg(C::JCS_RGB, &rgb, true)),
        ("grey.jpg", jpeg(C::JCS_GRAYSCALE, &grey, false)),
    ]
}

fn dataset_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let sel = |s: u8, text: &str| [&[s][..], text.as_bytes()].concat();
    vec![
        (
            "data_map.yaml",
            sel(
                0,
                "path: ../coco\ntrain: images/train2017\nval: images/val2017\nnc: 2\nnames:\n  0: person\n  1: bicycle\n",
            ),
        ),
        (
            "data_list.yaml",
            sel(0, "val: [images/a, lists/b.txt]\nnames: [cat, 'dog']\n"),
        ),
        (
            "labels.txt",
            sel(
                5,
                "0 0.5 0.5 0.2 0.3\n1 0.1 0.2 0.05 0.1\n\n1 0.1 0.1 0.3 0.1 0.2 0.4\n0 0.5 0.5 0.2 0.3\n",
            ),
        ),
        (
            "instances.json",
            sel(
                2,
                r#"{"images":[{"id":1,"file_name":"1.jpg","width":64,"height":48}],
"annotations":[{"id":1,"image_id":1,"category_id":18,"bbox":[1.5,2,10,20.25],"area":202.5,"iscrowd":0}],
"categories":[{"id":18,"name":"dog","supercategory":"animal"}]}"#,
            ),
        ),
        (
            "results.json",
            sel(
                3,
                r#"[{"image_id":1,"category_id":18,"bbox":[1,2,3,4],"score":0.875},{"image_id":2,"category_id":1,"bbox":[0,0,1e2,5e-1],"score":1}]"#,
            ),
        ),
    ]
}

/// Regenerate the hand-made seeds of every fuzz target but `unpickle` (whose seeds
/// `import_pickle` writes): `cargo test --test fuzz_corpus -- --ignored write_fuzz_seeds`.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let mut sd = PtBuilder::default();
    let root = P::OrderedDict(vec![
        (s("w"), sd.view(Dt::F16, &vals(8, 2), &[2, 2], &[1, 2], 1)),
        (s("b"), sd.tensor(Dt::BF16, &vals(3, 1), &[3])),
        (s("d"), sd.tensor(Dt::F64, &vals(2, 0), &[2, 1])),
        (s("n"), sd.tensor(Dt::I64, &[0.0], &[])),
    ]);
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    use safetensors::Dtype as D;
    let seeds: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "checkpoint",
            "tiny_yolo_unfused.pt",
            tiny_yolo(false, false).0,
        ),
        (
            "checkpoint",
            "tiny_yolo_fused_ema.pt",
            tiny_yolo(true, true).0,
        ),
        ("checkpoint", "state_dict.pt", sd.zip("archive", &root)),
        (
            "safetensors",
            "f32.safetensors",
            safetensors_seed(&[
                (
                    "model.0.conv.weight",
                    D::F32,
                    vec![2, 1, 1, 2],
                    f32s(&vals(4, 0)),
                ),
                ("model.0.conv.bias", D::F32, vec![2], f32s(&vals(2, 3))),
            ]),
        ),
        (
            "safetensors",
            "mixed.safetensors",
            safetensors_seed(&[
                ("h", D::F16, vec![3], vec![0, 60, 0, 188, 0, 0]),
                ("b", D::BF16, vec![1, 2], vec![128, 63, 0, 192]),
                ("d", D::F64, vec![1], 2.5f64.to_le_bytes().to_vec()),
                ("n", D::I64, vec![], 7i64.to_le_bytes().to_vec()),
                ("e", D::F32, vec![0, 3], vec![]),
            ]),
        ),
    ];
    let mut all: Vec<(&str, &str, Vec<u8>)> = seeds;
    all.extend(dataset_seeds().into_iter().map(|(n, b)| ("dataset", n, b)));
    all.extend(image_seeds().into_iter().map(|(n, b)| ("image", n, b)));
    for (target, name, bytes) in all {
        let dir = fuzz_dir("seeds", target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
