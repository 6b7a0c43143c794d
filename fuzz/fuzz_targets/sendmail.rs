//! Fuzz target `sendmail`: see `targets::sendmail`.
#![no_main]

#[path = "../common/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::sendmail(data));
