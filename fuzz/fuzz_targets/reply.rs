//! Fuzz target `reply`: see `targets::reply`.
#![no_main]

#[path = "../common/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::reply(data));
