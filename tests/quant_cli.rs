//! `yoloq-gen quantize` through the binary: bad input gives one clear error line, a non-zero
//! exit, no panic and no output directory; a small real run writes every artifact, with ROM
//! images that parse and fit their declared widths and a first-pixel trace that agrees with
//! the golden activations.
mod common;

use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_yoloq-gen");

/// The first `n` calibration images (sorted by path), copied into a fresh folder.
fn calib_subset(n: usize) -> Option<(tempfile::TempDir, PathBuf)> {
    let src = common::shared("data/coco128/images/train2017")?;
    let mut imgs: Vec<PathBuf> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    imgs.sort();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("calib");
    std::fs::create_dir(&dir).unwrap();
    for p in &imgs[..n] {
        std::fs::copy(p, dir.join(p.file_name().unwrap())).unwrap();
    }
    Some((tmp, dir))
}

fn quantize(model: &Path, calib: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.arg("quantize")
        .arg("--model")
        .arg(model)
        .arg("--calib")
        .arg(calib)
        .arg("--out")
        .arg(out)
        .args([
            "--calib-images",
            "2",
            "--imgsz",
            "320",
            "--sample-imgsz",
            "64",
        ])
        .args(extra);
    c.output().unwrap()
}

/// The run failed cleanly: exit != 0, no panic, exactly one `error:` line naming `needle`
/// (our own errors print nothing else), and `out` was not created.
fn assert_clean_error(o: &Output, out: &Path, needle: &str, clap: bool) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "expected failure, stderr: {err}");
    assert_eq!(o.status.code(), Some(if clap { 2 } else { 1 }), "{err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "one error line expected: {err}");
    assert!(errors[0].contains(needle), "`{needle}` not named in: {err}");
    if !clap {
        assert_eq!(lines.len(), 1, "one line expected: {err}");
    }
    assert!(!out.exists(), "{} was created", out.display());
}

#[test]
fn bad_input_fails_with_one_clear_line_and_writes_nothing() {
    let (Some(model), Some((tmp, calib))) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        calib_subset(1),
    ) else {
        return;
    };
    let out = tmp.path().join("outs/q");
    let run = |calib: &Path, extra: &[&str]| quantize(&model, calib, &out, extra);
    // Bit widths out of range.
    let o = run(&calib, &["--bits", "1"]);
    assert_clean_error(&o, &out, "bits", false);
    assert!(String::from_utf8_lossy(&o.stderr).contains("2 to 16"));
    let o = run(&calib, &["--bits", "17"]);
    assert_clean_error(&o, &out, "bits", false);
    assert!(String::from_utf8_lossy(&o.stderr).contains("17"));
    assert_clean_error(&run(&calib, &["--abits", "0"]), &out, "--abits", false);
    // --qnms needs the integer head.
    assert_clean_error(
        &run(&calib, &["--qnms", "--head", "float"]),
        &out,
        "--qnms",
        false,
    );
    // Unknown calibration method (rejected by the argument parser).
    assert_clean_error(
        &run(&calib, &["--calib-method", "median"]),
        &out,
        "--calib-method",
        true,
    );
    // Missing calibration folder.
    let missing = tmp.path().join("no-such-folder");
    assert_clean_error(&run(&missing, &[]), &out, "no-such-folder", false);
    // Empty calibration folder.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_clean_error(&run(&empty, &[]), &out, "empty", false);
    // An image that does not decode.
    let bad = tmp.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("x.jpg"), b"definitely not a jpeg \x00\x01\x02").unwrap();
    assert_clean_error(&run(&bad, &[]), &out, "x.jpg", false);
    assert!(!tmp.path().join("outs").exists());
}

/// Signed value of a two's complement hex line of `bits` bits; checks the digit count.
fn parse_hex(line: &str, bits: u32) -> i64 {
    assert_eq!(line.len(), bits.div_ceil(4) as usize, "digits of `{line}`");
    let u = u64::from_str_radix(line, 16).unwrap();
    assert!(u >> bits == 0, "`{line}` does not fit {bits} bits");
    let sign = 1u64 << (bits - 1);
    (u ^ sign) as i64 - sign as i64
}

/// Unsigned value of a hex line of `bits` bits (activation codes, table entries).
fn parse_code(line: &str, bits: u32) -> i64 {
    assert_eq!(line.len(), bits.div_ceil(4) as usize, "digits of `{line}`");
    let u = i64::from_str_radix(line, 16).unwrap();
    assert!(u >> bits == 0, "`{line}` does not fit {bits} bits");
    u
}

fn read_codes(path: &Path, bits: u32) -> Vec<i64> {
    let s = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    s.lines().map(|l| parse_code(l, bits)).collect()
}

fn read_hex(path: &Path, bits: u32) -> Vec<i64> {
    let s = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    s.lines().map(|l| parse_hex(l, bits)).collect()
}

/// Integer tensor (I32 or I64) from a safetensors file, flattened.
fn ints(st: &SafeTensors, name: &str) -> Vec<i64> {
    let t = st.tensor(name).unwrap_or_else(|_| panic!("tensor {name}"));
    match t.dtype() {
        Dtype::I32 => t
            .data()
            .chunks(4)
            .map(|b| i32::from_le_bytes(b.try_into().unwrap()) as i64)
            .collect(),
        Dtype::I64 => t
            .data()
            .chunks(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        d => panic!("{name}: unexpected dtype {d:?}"),
    }
}

fn u(v: &Value) -> u32 {
    v.as_u64().unwrap() as u32
}

fn int_list(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

#[test]
fn small_run_writes_consistent_artifacts() {
    let (Some(model), Some((tmp, calib))) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        calib_subset(2),
    ) else {
        return;
    };
    let out = tmp.path().join("q");
    let o = quantize(&model, &calib, &out, &["--qnms"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "quant.safetensors",
        "scales.yaml",
        "architecture.yaml",
        "activations.safetensors",
        "first_pixel.yaml",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let wbytes = std::fs::read(out.join("quant.safetensors")).unwrap();
    let weights = SafeTensors::deserialize(&wbytes).unwrap();
    let abytes = std::fs::read(out.join("activations.safetensors")).unwrap();
    let acts = SafeTensors::deserialize(&abytes).unwrap();
    let scales: Value =
        serde_norway::from_str(&std::fs::read_to_string(out.join("scales.yaml")).unwrap()).unwrap();
    let abits = u(&scales["config"]["abits"]);
    let (mut convs, mut act_files) = (0, 0);
    for n in scales["nodes"].as_array().unwrap() {
        let name = n["name"].as_str().unwrap();
        let stem = name.replace('.', "_");
        let op = &n["op"];
        if op["kind"] == "conv" {
            convs += 1;
            let mem = |ext: &str| out.join("mem").join(format!("{stem}.{ext}.hex"));
            let (co, ci, k) = (u(&op["c_out"]), u(&op["c_in"]), u(&op["k"]));
            let wbits = u(&op["wbits"]);
            let w = read_hex(&mem("weight"), wbits);
            assert_eq!(w.len() as u32, co * ci * k * k, "{name} weights");
            let wmax = (1i64 << (wbits - 1)) - 1;
            assert!(
                w.iter().all(|v| v.abs() <= wmax),
                "{name}: weight beyond ±{wmax}"
            );
            assert_eq!(
                w,
                ints(&weights, &format!("{name}.weight")),
                "{name} weight hex"
            );
            let b = read_hex(&mem("bias"), u(&op["acc_bits"]));
            assert_eq!(
                b,
                ints(&weights, &format!("{name}.bias")),
                "{name} bias hex"
            );
            let bound = op["acc_bound"].as_i64().unwrap();
            assert!(
                b.iter().all(|v| v.abs() <= bound),
                "{name}: bias beyond the bound"
            );
            assert_eq!(
                read_hex(&mem("mult"), 16),
                int_list(&op["mult"]),
                "{name} mult"
            );
            assert_eq!(
                read_hex(&mem("shift"), 8),
                int_list(&op["shift"]),
                "{name} shift"
            );
            if !op["silu_pre"].is_null() {
                let t = read_codes(&mem("silu"), abits);
                assert_eq!(
                    t.len(),
                    1 << u(&op["silu_pre"]["bits"]),
                    "{name} table size"
                );
                assert_eq!(t, ints(&weights, &format!("{name}.silu_table")));
            }
        }
        if !n["format"].is_null() {
            act_files += 1;
            let bits = u(&n["format"]["bits"]);
            let codes = read_codes(&out.join(format!("activations/{stem}.hex")), bits);
            assert_eq!(
                codes,
                ints(&acts, name),
                "{name}: hex vs safetensors activations"
            );
        }
    }
    assert!(convs >= 60, "only {convs} integer convolutions");
    assert_eq!(
        std::fs::read_dir(out.join("activations")).unwrap().count(),
        act_files
    );
    // The first-pixel trace agrees with the golden activations at (0,0).
    let fp: Value =
        serde_norway::from_str(&std::fs::read_to_string(out.join("first_pixel.yaml")).unwrap())
            .unwrap();
    let layers = fp.as_array().unwrap();
    assert_eq!(layers.len(), act_files);
    for l in layers {
        let name = l["name"].as_str().unwrap();
        let t = acts.tensor(name).unwrap();
        let (h, w) = (t.shape()[1], t.shape()[2]);
        let a = ints(&acts, name);
        let at00: Vec<i64> = (0..t.shape()[0]).map(|c| a[c * h * w]).collect();
        let out00 = int_list(&l["output_00"]);
        assert_eq!(out00, at00, "{name}: output_00 vs activation at (0,0)");
        if l["kind"] == "conv" {
            let c = &l["conv"];
            let ch0 = c["table_output_ch0"]
                .as_i64()
                .unwrap_or_else(|| c["saturated_ch0"].as_i64().unwrap());
            assert_eq!(ch0, at00[0], "{name}: channel-0 trace vs activation");
            assert_eq!(int_list(&c["out_all"]), at00, "{name}: out_all");
            let partial = int_list(&c["partial_sums_ch0"]);
            assert_eq!(*partial.last().unwrap(), c["acc_ch0"].as_i64().unwrap());
        }
    }
}
