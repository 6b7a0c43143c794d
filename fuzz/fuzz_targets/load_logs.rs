//! Fuzz target `load_logs`: see `targets::load_logs_target`.
#![no_main]

#[path = "../common/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::load_logs_target(data));
