//! Fuzz target `sending_log`: see `targets::sending_log`.
#![no_main]

#[path = "../common/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::sending_log(data));
