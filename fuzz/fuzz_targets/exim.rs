//! Fuzz target `exim`: see `targets::exim`.
#![no_main]

#[path = "../common/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::exim(data));
