//! Fuzz target: arbitrary bytes through the restricted unpickler must return Ok or Err,
//! never panic, hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = yoloq_gen::import::pickle::unpickle(data);
});
