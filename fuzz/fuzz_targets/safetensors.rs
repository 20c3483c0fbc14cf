//! Fuzz target: arbitrary bytes as a `.safetensors` checkpoint must give a checkpoint or
//! one error line naming the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.safetensors");
    if let Err(e) = yoloq_gen::import::parse_checkpoint(path, data) {
        let msg = e.to_string();
        assert!(
            msg.starts_with("fuzz.safetensors") && !msg.contains('\n'),
            "{msg}"
        );
    }
});
