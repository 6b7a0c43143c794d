//! Fuzz target `rule_file`: see `targets::rule_file`.
#![no_main]

#[path = "../common/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::rule_file(data));
