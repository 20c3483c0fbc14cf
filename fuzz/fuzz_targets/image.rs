//! Fuzz target: arbitrary bytes through the JPEG/PNG decoder the tool uses for dataset and
//! `predict` images (libjpeg-turbo via mozjpeg, PNG via the `image` crate) must decode or
//! give one error line, never panic, hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(msg) = yoloq_gen::image_io::decode_rgb(data) {
        assert!(!msg.contains('\n'), "{msg}");
    }
});
