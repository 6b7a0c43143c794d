//! Fuzz target `classify`: see `targets::classify`.
#![no_main]

#[path = "../common/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::classify(data));
