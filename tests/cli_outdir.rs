//! Output folders, through the binary: a non-empty folder that yoloq-gen did not write survives
//! every writing command byte for byte; `--force` replaces only our own files; a re-run removes
//! only the files its marker lists; files get normal permissions; an interrupted run leaves
//! no partial files or folders.
mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_yoloq-gen");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Every file under `dir`: relative path → (contents, mode bits).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    fn walk(root: &Path, d: &Path, m: &mut BTreeMap<PathBuf, (Vec<u8>, u32)>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
            if p.is_dir() {
                m.insert(p.strip_prefix(root).unwrap().join(""), (vec![], mode));
                walk(root, &p, m);
            } else {
                let body = std::fs::read(&p).unwrap();
                m.insert(p.strip_prefix(root).unwrap().to_path_buf(), (body, mode));
            }
        }
    }
    let mut m = BTreeMap::new();
    walk(dir, dir, &mut m);
    m
}

/// A folder of someone else's files, some with the names our commands write.
fn foreign_folder(dir: &Path) {
    std::fs::create_dir_all(dir.join("notes/deep")).unwrap();
    std::fs::write(dir.join("thesis.tex"), "my work\n").unwrap();
    std::fs::write(dir.join("notes/deep/data.csv"), "1,2,3\n").unwrap();
    for ours in [
        "original.safetensors",
        "report.md",
        "results.md",
        "Makefile",
        "quant.safetensors",
    ] {
        std::fs::write(dir.join(ours), format!("the user's own {ours}\n")).unwrap();
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn foreign_folder_survives_every_writing_command() {
    let (Some(pt), Some(calib), Some(data), Some(bus)) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        common::shared("data/coco128/images"),
        common::shared("data/val2017-79"),
        common::shared("data/samples/bus.jpg"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("mine");
    foreign_folder(&f);
    let before = snapshot(&f);
    let fs = s(&f);
    let (pt, calib, data, bus) = (s(&pt), s(&calib), s(&data), s(&bus));
    // Valid inputs throughout: without the rule each command would run and write into `mine`.
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("import", vec!["import", "--model", pt, "--out", fs]),
        (
            "quantize",
            vec![
                "quantize",
                "--model",
                pt,
                "--calib",
                calib,
                "--calib-images",
                "1",
                "--out",
                fs,
            ],
        ),
        (
            "val --report",
            vec!["val", "--model", pt, "--data", data, "--report", fs],
        ),
        (
            "sweep",
            vec![
                "sweep", "--model", pt, "--calib", calib, "--data", data, "--out", fs,
            ],
        ),
        ("emit", vec!["emit", "--synthetic", "--out", fs]),
        (
            "predict --save",
            vec!["predict", "--model", pt, "--save", fs, bus],
        ),
        (
            "main job",
            vec!["--model", pt, "--calib", calib, "--data", data, "--out", fs],
        ),
    ];
    for (name, args) in &cases {
        let t = std::time::Instant::now();
        let o = run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{name} accepted a foreign folder");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{name}: one line expected, got {err}");
        assert!(
            lines[0].contains(fs) && lines[0].contains("--force"),
            "{name}: the error names the folder and the fix: {err}"
        );
        assert!(
            t.elapsed().as_secs_f64() < 5.0,
            "{name}: refused only after {:?} (the check comes before any work)",
            t.elapsed()
        );
        assert_eq!(snapshot(&f), before, "{name} changed the foreign folder");
    }
    // The worst case of the issue: `--out .` inside the user's folder.
    let o = Command::new(BIN)
        .current_dir(&f)
        .args(["quantize", "--model", pt, "--calib", calib, "--out", "."])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert_eq!(snapshot(&f), before, "quantize --out . changed the folder");
}

#[test]
fn force_replaces_only_our_files_and_reruns_need_no_force() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("mine");
    foreign_folder(&f);
    let before = snapshot(&f);
    let o = run(&[
        "emit",
        "--synthetic",
        "--imgsz",
        "32",
        "--out",
        s(&f),
        "--force",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let after = snapshot(&f);
    for (p, v) in &before {
        if p != Path::new("Makefile") {
            assert_eq!(after.get(p), Some(v), "{} was touched", p.display());
        }
    }
    assert_ne!(after[Path::new("Makefile")], before[Path::new("Makefile")]);
    assert!(after.contains_key(Path::new("manifest.json")));
    // Now the folder is ours: a re-run is accepted without --force.
    let o = run(&["emit", "--synthetic", "--imgsz", "32", "--out", s(&f)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(snapshot(&f)[Path::new("thesis.tex")].0, b"my work\n");
    // A manifest.json that is not ours is refused even with --force (emit replaces rtl/ there).
    let g = tmp.path().join("other");
    std::fs::create_dir_all(g.join("rtl")).unwrap();
    std::fs::write(g.join("manifest.json"), "{\"name\": \"my web app\"}").unwrap();
    std::fs::write(g.join("rtl/core.v"), "module core; endmodule\n").unwrap();
    let o = run(&[
        "emit",
        "--synthetic",
        "--imgsz",
        "32",
        "--out",
        s(&g),
        "--force",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("manifest.json"));
    assert!(g.join("rtl/core.v").is_file());
}

/// A tiny checkpoint of the synthetic model, imported twice: the second run removes the file
/// the marker lists and this run does not write, and keeps the user's file beside ours.
#[test]
fn rerun_removes_only_listed_files_with_normal_permissions() {
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("m.safetensors");
    let ck = yoloq_gen::synthetic::checkpoint(yoloq_gen::synthetic::SEED);
    yoloq_gen::import::safetensors_io::write_f32(&st, &ck.tensors).unwrap();
    let out = tmp.path().join("imp");
    let sh = |extra: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask 022 && exec \"$0\" import --model \"$1\" --out \"$2\" --imgsz 64 {extra}"
            ))
            .args([BIN, s(&st), s(&out)])
            .output()
            .unwrap()
    };
    let o = sh("");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let marker: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("yoloq-outputs.json")).unwrap()).unwrap();
    let mut listed: Vec<&str> = marker["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "architecture.yaml",
            "fused.safetensors",
            "original.safetensors"
        ]
    );
    // Pretend an earlier version of ours wrote `old/stale.bin`; the user added `notes.txt`.
    let mut m = marker.clone();
    m["files"]
        .as_array_mut()
        .unwrap()
        .push("old/stale.bin".into());
    std::fs::write(out.join("yoloq-outputs.json"), m.to_string()).unwrap();
    std::fs::create_dir_all(out.join("old")).unwrap();
    std::fs::write(out.join("old/stale.bin"), [1u8, 2, 3]).unwrap();
    std::fs::write(out.join("notes.txt"), "mine\n").unwrap();
    let o = sh("");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        !out.join("old").exists(),
        "stale output of ours not removed"
    );
    assert_eq!(std::fs::read(out.join("notes.txt")).unwrap(), b"mine\n");
    for (p, (_, mode)) in snapshot(&out) {
        let want = if p.to_str().unwrap().ends_with('/') {
            0o755
        } else {
            0o644
        };
        assert_eq!(mode, want, "{} has mode {mode:o}", p.display());
    }
    assert_eq!(
        snapshot(&out).len(),
        5,
        "three outputs, the marker, notes.txt; nothing partial"
    );
}

/// Ctrl-C in the middle of `predict --save`: exit status 130, and neither the half-filled
/// staging folder nor the output folder it created remain.
#[test]
fn interrupted_run_leaves_nothing_behind() {
    let (Some(pt), Some(bus)) = (
        common::shared("models/yolov8n-coco-synthbn.pt"),
        common::shared("data/samples/bus.jpg"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("saved");
    let images: Vec<PathBuf> = (0..200)
        .map(|i| {
            let p = tmp.path().join(format!("img{i:03}.jpg"));
            std::fs::copy(&bus, &p).unwrap();
            p
        })
        .collect();
    let child = Command::new(BIN)
        .args(["predict", "--model", s(&pt), "--save", s(&out)])
        .args(&images)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the staging folder holds at least one annotated image.
    let t = std::time::Instant::now();
    let staged = loop {
        let found = std::fs::read_dir(&out).ok().and_then(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .find(|p| std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_some()))
        });
        if let Some(p) = found {
            break p;
        }
        assert!(
            t.elapsed().as_secs() < 120,
            "no staged output after 2 minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(staged
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("yoloq-partial-"));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.exists(), "interrupted run left {}", out.display());
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_str().unwrap().starts_with("img"))
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
