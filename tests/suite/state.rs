//! `--state`: replaying a history in parts, carrying the state file between runs, gives what one run gives.

use super::oracle::{expected, generate, ours, strs};
use super::util::bounces;

#[test]
fn two_days_with_a_state_file_give_what_one_run_gives() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = ["--contacts", "1200", "--campaigns", "10", "--seed", "9", "--start", "2026-02-02T09:00:00Z"];
    if !generate(d, &args) {
        return;
    }
    let text = std::fs::read_to_string(d.join("maillog")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Cut in the middle of the history: messages deferred before the cut settle after it.
    for (name, part) in [("day1.log", &lines[..lines.len() / 2]), ("day2.log", &lines[lines.len() / 2..])] {
        std::fs::write(d.join(name), part.join("\n") + "\n").unwrap();
    }
    let run = |log: &str, state: Option<&str>| {
        let mut a = strs(d, &["deactivations", log, "--sends", "@sends.csv", "--contacts", "@contacts.csv"]);
        a.extend(strs(d, &["--format", "csv", "--year", "2026"]));
        if let Some(s) = state {
            a.extend(["--state".to_string(), d.join(s).display().to_string()]);
        }
        a
    };
    let whole = bounces(&run("@maillog", None)).ok().stdout;
    assert_eq!(ours(run("@maillog", None)), expected(d), "the whole log gives the generator's answer");
    let first = bounces(&run("@day1.log", Some("state.json"))).ok().stdout;
    let second = bounces(&run("@day2.log", Some("state.json"))).ok().stdout;
    assert_ne!(first, whole, "the first day alone does not see every deactivation");
    assert_eq!(second, whole, "day 1 then day 2 with the state file is one run over both");
    let state = std::fs::read_to_string(d.join("state.json")).unwrap();
    assert!(state.starts_with("{\"format\":\"bounces-state\",\"version\":1"), "{}", &state[..80]);
    // Without the state file, day 2 alone misses what day 1 counted.
    assert_ne!(bounces(&run("@day2.log", None)).ok().stdout, whole);
}

#[test]
fn a_damaged_state_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(&state, "{\"format\":\"bounces-state\",\"version\":1,\"contacts\":[{").unwrap();
    let run = bounces(&["deactivations", "samples/maillog", "--state", state.to_str().unwrap()]).code(2);
    assert!(run.stderr.contains("state.json: not a bounces state file (or damaged)"), "{}", run.stderr);
}
