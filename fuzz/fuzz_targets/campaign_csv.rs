//! Fuzz target `campaign_csv`: see `targets::campaign_csv`.
#![no_main]

#[path = "../common/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::campaign_csv(data));
