//! Every input kept from fuzzing (`fuzz/regressions/TARGET/`: what once crashed a target; `fuzz/seeds/TARGET/`: the
//! hand-written hostile seeds) runs through the same code as the fuzz target, on stable, without a panic.

use std::path::Path;

#[path = "../../fuzz/common/targets.rs"]
mod targets;

#[test]
fn kept_fuzz_inputs_run_without_panic() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut ran = 0;
    for dir in ["regressions", "seeds"] {
        for (name, target) in targets::TARGETS {
            let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(name)) else { continue };
            let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
            files.sort();
            for file in files {
                let data = std::fs::read(&file).unwrap();
                let outcome = std::panic::catch_unwind(|| target(&data));
                assert!(outcome.is_ok(), "fuzz target {name} panics on {}", file.display());
                ran += 1;
            }
        }
    }
    assert!(ran >= 10, "only {ran} kept inputs found under {}", fuzz.display());
}
