//! Determinism: the same `yoloq-gen quantize` command twice gives byte-identical output
//! directories (every file, compared byte for byte), and the same `yoloq-gen sweep` twice
//! gives byte-identical results files.
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_yoloq-gen");

/// Every regular file under `dir`, by path relative to `dir`, with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn assert_same_tree(a: &Path, b: &Path) {
    let (ta, tb) = (tree(a), tree(b));
    assert!(!ta.is_empty(), "{} is empty", a.display());
    let names = |t: &BTreeMap<PathBuf, Vec<u8>>| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&ta), names(&tb), "different file lists");
    for (f, bytes) in &ta {
        assert!(
            bytes == &tb[f],
            "{} differs between the two runs",
            f.display()
        );
    }
}

fn run(args: &[&str], paths: &[(&str, &Path)]) {
    run_env(args, paths, &[]);
}

fn run_env(args: &[&str], paths: &[(&str, &Path)], env: &[(&str, &str)]) {
    let mut c = Command::new(BIN);
    c.args(args).envs(env.iter().copied());
    for (flag, p) in paths {
        c.arg(flag).arg(p);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn quantize_twice_gives_identical_directories() {
    let (Some(model), Some(calib)) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        common::shared("data/coco128/images"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dirs = [tmp.path().join("a"), tmp.path().join("b")];
    for d in &dirs {
        run(
            &[
                "quantize",
                "--calib-images",
                "3",
                "--imgsz",
                "256",
                "--sample-imgsz",
                "96",
                "--qnms",
            ],
            &[("--model", &model), ("--calib", &calib), ("--out", d)],
        );
    }
    let t = tree(&dirs[0]);
    assert!(
        t.keys().any(|k| k.starts_with("mem")) && t.keys().any(|k| k.starts_with("activations"))
    );
    assert_same_tree(&dirs[0], &dirs[1]);
}

#[test]
fn gptq_rounding_is_identical_on_one_and_two_threads() {
    let (Some(model), Some(calib)) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        common::shared("data/coco128/images"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dirs = [tmp.path().join("a"), tmp.path().join("b")];
    for (d, threads) in dirs.iter().zip(["1", "2"]) {
        run_env(
            &[
                "quantize",
                "--wbits",
                "4",
                "--rounding",
                "gptq",
                "--calib-images",
                "2",
                "--imgsz",
                "128",
                "--sample-imgsz",
                "64",
            ],
            &[("--model", &model), ("--calib", &calib), ("--out", d)],
            &[("RAYON_NUM_THREADS", threads)],
        );
    }
    let scales = std::fs::read_to_string(dirs[0].join("scales.yaml")).unwrap();
    assert!(scales.contains("rounding: Gptq"), "rounding not recorded");
    assert_same_tree(&dirs[0], &dirs[1]);
}

#[test]
fn sweep_twice_gives_identical_results() {
    let (Some(model), Some(calib), Some(data)) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        common::shared("data/coco128/images"),
        common::shared("data/val2017-79"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dirs = [tmp.path().join("a"), tmp.path().join("b")];
    for d in &dirs {
        run(
            &["sweep", "--calib-images", "2", "--imgsz", "64"],
            &[
                ("--model", &model),
                ("--calib", &calib),
                ("--data", &data),
                ("--out", d),
            ],
        );
    }
    let t = tree(&dirs[0]);
    let names: Vec<_> = t.keys().map(|k| k.display().to_string()).collect();
    assert_eq!(
        names,
        [
            "ap_vs_bits.png",
            "results.json",
            "results.md",
            "yoloq-outputs.json"
        ]
    );
    let json: serde_json::Value = serde_json::from_slice(&t[Path::new("results.json")]).unwrap();
    // The default sweep: 20 rows, W8A6, W6A6, W4A4, the 4.5-bit budget and the two
    // gptq-refine rows (src/quant/sweep/variants.rs).
    assert_eq!(json["variants"].as_array().unwrap().len(), 26);
    assert_same_tree(&dirs[0], &dirs[1]);
}
