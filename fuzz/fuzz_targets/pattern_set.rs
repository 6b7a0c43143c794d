//! Fuzz target `pattern_set`: see `targets::pattern_set`.
#![no_main]

#[path = "../common/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::pattern_set(data));
