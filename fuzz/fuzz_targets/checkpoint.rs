//! Fuzz target: arbitrary bytes as a `.pt` checkpoint (zip + pickle + storages, the path
//! `yoloq-gen import` takes) must give a checkpoint or one error line naming the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = yoloq_gen::import::parse_checkpoint(Path::new("fuzz.pt"), data) {
        let msg = e.to_string();
        assert!(msg.starts_with("fuzz.pt") && !msg.contains('\n'), "{msg}");
    }
});
