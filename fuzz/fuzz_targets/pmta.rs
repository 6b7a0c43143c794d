//! Fuzz target `pmta`: see `targets::pmta`.
#![no_main]

#[path = "../common/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::pmta(data));
