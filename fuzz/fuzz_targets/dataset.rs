//! Fuzz target: the dataset files a user hands `val` (Ultralytics data yaml, YOLO label
//! `.txt`, COCO instances json, COCO results json) must parse or give one error line naming
//! the file. The first byte picks the parser (and, for labels, the class count).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use yoloq_gen::eval::{coco_json, dataset};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(body);
    let (name, res) = match sel % 4 {
        0 => {
            let p = Path::new("fuzz.yaml");
            (
                "fuzz.yaml",
                dataset::parse_data_yaml(&text, p, "val").map(drop),
            )
        }
        1 => {
            let p = Path::new("fuzz.txt");
            let nc = 1 + (sel as usize >> 2);
            ("fuzz.txt", dataset::parse_labels(&text, p, nc).map(drop))
        }
        2 => (
            "fuzz.json",
            coco_json::parse_gt(body, Path::new("fuzz.json")).map(drop),
        ),
        _ => (
            "fuzz.json",
            coco_json::parse_dets(body, Path::new("fuzz.json")).map(drop),
        ),
    };
    if let Err(e) = res {
        let msg = e.to_string();
        assert!(msg.starts_with(name) && !msg.contains('\n'), "{msg}");
    }
});
