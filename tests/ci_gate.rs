//! The test helpers' CI gate, as a CI runner meets it: with `CI` set to any common spelling
//! of "on" (True, TRUE, yes, 1, ...) or `YOLOQ_REQUIRE_ALL=1`, a missing prerequisite fails
//! the test instead of skipping it; otherwise it is skipped and the test passes.
mod common;

use std::process::Command;

/// Asks for a prerequisite that is never there; run only by the test below, in a child
/// process whose environment it chooses.
#[test]
#[ignore = "run by ci_spellings_require_every_prerequisite in a child process"]
fn probe_missing_prerequisite() {
    let _ = common::shared("no-such-prerequisite");
}

#[test]
fn ci_spellings_require_every_prerequisite() {
    let exe = std::env::current_exe().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // True when the probe passes (the missing prerequisite was skipped).
    let skipped = |ci: Option<&str>, require_all: Option<&str>| {
        let mut c = Command::new(&exe);
        c.args(["--ignored", "--exact", "probe_missing_prerequisite"])
            .env("YOLOQ_DATA_DIR", tmp.path())
            .env_remove("CI")
            .env_remove("YOLOQ_REQUIRE_ALL");
        if let Some(v) = ci {
            c.env("CI", v);
        }
        if let Some(v) = require_all {
            c.env("YOLOQ_REQUIRE_ALL", v);
        }
        let o = c.output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        // The probe ran (one test), whatever its outcome.
        assert!(text.contains("running 1 test"), "{text}");
        o.status.success()
    };
    for v in ["true", "True", "TRUE", "1", "yes", "Yes", "on", " true "] {
        assert!(
            !skipped(Some(v), None),
            "CI={v:?} skipped a missing prerequisite"
        );
    }
    assert!(!skipped(None, Some("1")), "YOLOQ_REQUIRE_ALL=1 skipped");
    assert!(
        !skipped(Some("false"), Some("1")),
        "YOLOQ_REQUIRE_ALL=1 under CI=false skipped"
    );
    for v in ["false", "0", ""] {
        assert!(
            skipped(Some(v), None),
            "CI={v:?} failed on a missing prerequisite"
        );
    }
    assert!(
        skipped(None, None),
        "no CI: a missing prerequisite should be skipped"
    );
}
