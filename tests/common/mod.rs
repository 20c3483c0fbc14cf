//! Shared test helpers: locating ../shared data and external tools.
//!
//! On a user's machine a missing prerequisite skips the test with a loud message;
//! in CI (`CI=true`, any case, or 1/yes/on) or with `YOLOQ_REQUIRE_ALL=1` it is a failure.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// True when every prerequisite must be present (CI).
pub fn require_all() -> bool {
    let on = |var: &str| {
        std::env::var(var).is_ok_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "true" | "1" | "yes" | "on"
            )
        })
    };
    on("CI") || on("YOLOQ_REQUIRE_ALL")
}

/// Report a missing prerequisite: panic in CI, print a loud skip message otherwise.
pub fn missing(what: &str) {
    if require_all() {
        panic!("required test prerequisite missing: {what}");
    }
    eprintln!("\n*** SKIPPED: {what} is missing (set YOLOQ_DATA_DIR / install it; CI treats this as a failure) ***\n");
}

/// True when the full tier runs (`YOLOQ_FULL=1`): slow hardware runs that CI leaves out to
/// stay under its time budget, run by hand and recorded in `docs/` (README, "Tests"). Otherwise
/// prints a loud message naming the test and how to run it.
pub fn full_tier(test: &str) -> bool {
    let on = std::env::var("YOLOQ_FULL").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        )
    });
    if !on {
        // Straight to stderr, past the test harness's output capture, so it shows in CI logs.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** FULL TIER: {test} not run in the fast tier; run it with YOLOQ_FULL=1 cargo test --release ***\n"
        );
    }
    on
}

/// `$YOLOQ_DATA_DIR/<rel>` if it exists.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("YOLOQ_DATA_DIR") else {
        missing(&format!("YOLOQ_DATA_DIR (needed for {rel})"));
        return None;
    };
    let p = PathBuf::from(dir).join(rel);
    if p.exists() {
        Some(p)
    } else {
        missing(&p.display().to_string());
        None
    }
}

/// Path of an external tool if it is on PATH.
pub fn tool(name: &str) -> Option<PathBuf> {
    match which::which(name) {
        Ok(p) => Some(p),
        Err(_) => {
            missing(&format!("external tool `{name}`"));
            None
        }
    }
}

/// Run the yoloq-gen binary with `YOLOQ_DATA_DIR` set to `data_dir`, as a user runs it; the
/// command must succeed. Returns its standard output.
pub fn yoloq_ok(args: &[&str], data_dir: &Path) -> String {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_yoloq-gen"))
        .args(args)
        .env("YOLOQ_DATA_DIR", data_dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The emitted design in `dir` (its manifest's RTL and top) is Verilator `-Wall` and Icarus
/// `-g2005 -Wall` clean; `None` when a tool is missing (reported by [`tool`]).
#[allow(dead_code)]
pub fn assert_lint_clean(dir: &Path) -> Option<()> {
    let (v, iv) = (tool("verilator")?, tool("iverilog")?);
    let m = yoloq_gen::rtl::manifest::read_manifest(dir).unwrap();
    let out = std::process::Command::new(v)
        .current_dir(dir)
        .args(["--lint-only", "-Wall", "--top-module", &m.top])
        .args(&m.rtl)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("%Warning"), "{err}");
    let out = std::process::Command::new(iv)
        .current_dir(dir)
        .args(["-g2005", "-Wall", "-o", "/dev/null", "-s", &m.top])
        .args(&m.rtl)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("warning"), "{err}");
    Some(())
}

/// The synthetic model's golden image at `size` as a PNG at `path` (what `emit --synthetic`
/// letterboxes for its golden vectors), for host-program and `predict` runs.
#[allow(dead_code)]
pub fn synthetic_golden_png(size: usize, path: &Path) {
    use yoloq_gen::synthetic;
    let t = synthetic::image(synthetic::GOLDEN_IMAGE_SEED, size);
    let img = image::RgbImage::from_fn(size as u32, size as u32, |x, y| {
        image::Rgb([0, 1, 2].map(|c| (t[[c, y as usize, x as usize]] * 255.0).round() as u8))
    });
    yoloq_gen::image_io::save_png(path, &img).unwrap();
}

/// The synthetic model quantized with the default configuration at `size`, saved in `dir`
/// (the model of the synthetic designs, for `predict --quant`).
#[allow(dead_code)]
pub fn synthetic_quant_dir(size: usize, dir: &Path) {
    use yoloq_gen::synthetic;
    let q = synthetic::quant_graph(
        synthetic::SEED,
        size,
        synthetic::CALIB_IMAGES,
        &yoloq_gen::quant::QuantConfig::default(),
    )
    .unwrap();
    yoloq_gen::quant::store::save(&q, dir).unwrap();
}

/// Run the yoloq-gen binary in `cwd` (relative paths as a user gives them); the command must
/// succeed. Returns its standard output and standard error.
#[allow(dead_code)]
pub fn yoloq_in(cwd: &Path, args: &[&std::ffi::OsStr]) -> (String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_yoloq-gen"))
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{args:?} failed: {err}");
    (String::from_utf8(out.stdout).unwrap(), err)
}

/// `board run --design DESIGN --port sim IMAGES...` in `cwd` against the simulated board; the
/// flash model must report no error. Returns the printed detections.
#[allow(dead_code)]
pub fn board_run_sim(cwd: &Path, design: &str, images: &[&Path]) -> String {
    let head = ["board", "run", "--design", design, "--port", "sim"];
    let mut args: Vec<&std::ffi::OsStr> = head.iter().map(|a| a.as_ref()).collect();
    args.extend(images.iter().map(|p| p.as_os_str()));
    let (out, log) = yoloq_in(cwd, &args);
    eprintln!("{log}");
    assert!(
        log.contains("flash errors 0"),
        "the flash model saw errors:\n{log}"
    );
    out
}

/// `predict --quant QDIR --imgsz SIZE IMAGE` in `cwd`: the integer model's printed detections.
#[allow(dead_code)]
pub fn predict_quant(cwd: &Path, qdir: &Path, size: usize, image: &Path) -> String {
    let size = size.to_string();
    let args: [&std::ffi::OsStr; 6] = [
        "predict".as_ref(),
        "--quant".as_ref(),
        qdir.as_os_str(),
        "--imgsz".as_ref(),
        size.as_ref(),
        image.as_os_str(),
    ];
    yoloq_in(cwd, &args).0
}
