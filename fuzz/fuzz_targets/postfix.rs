//! Fuzz target `postfix`: see `targets::postfix`.
#![no_main]

#[path = "../common/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::postfix(data));
