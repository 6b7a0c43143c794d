//! Fuzz target `kumomta`: see `targets::kumomta`.
#![no_main]

#[path = "../common/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::kumomta(data));
