//! `-j N` changes the speed, never the output: one worker and two give byte-identical standard output on a
//! generated history (`../shared/bench/gen.py`; skipped, with a message, when `../shared` is absent).

use std::path::Path;
use std::process::Command;

use super::util::{bounces, csv_file, shared};

fn generate(out: &Path) -> bool {
    let Some(shared) = shared() else {
        eprintln!("skipped: ../shared/bench/gen.py is not here");
        return false;
    };
    let run = Command::new("python3")
        .arg(shared.join("bench/gen.py"))
        .args(["--contacts", "1500", "--campaigns", "8", "--seed", "11"])
        .args(["--formats", "postfix,sending-log,exim,pmta,kumomta", "--out"])
        .arg(out)
        .output()
        .expect("python3 runs");
    assert!(run.status.success(), "gen.py failed: {}", String::from_utf8_lossy(&run.stderr));
    true
}

/// Runs `bounces -j 1 ARGS` and `bounces -j 2 ARGS` and asserts the same standard output, not empty.
fn same_for_one_and_two_threads(args: &[String]) {
    let with = |j: &str| {
        let mut all = vec!["-j".to_string(), j.to_string()];
        all.extend_from_slice(args);
        bounces(&all).ok()
    };
    let one = with("1");
    let two = with("2");
    assert!(one.stdout.lines().count() > 1, "no rows: {}", one.describe());
    assert!(one.stdout == two.stdout, "-j 1 and -j 2 differ:\n{}\n\n{}", one.describe(), two.describe());
}

#[test]
fn one_thread_and_two_give_the_same_output() {
    let dir = tempfile::tempdir().unwrap();
    if !generate(dir.path()) {
        return;
    }
    let path = |f: &str| dir.path().join(f).display().to_string();
    let year = csv_file(&dir.path().join("campaigns.csv"))[0]["sent_at"][..4].to_string();
    let data = [
        "--sends".to_string(),
        path("sends.csv"),
        "--campaigns".to_string(),
        path("campaigns.csv"),
        "--contacts".to_string(),
        path("contacts.csv"),
        "--year".to_string(),
        year,
    ];
    let maillog = path("maillog");
    for (command, format) in [("report", None), ("deactivations", Some("csv")), ("classify", Some("csv"))] {
        let mut args = vec![command.to_string(), maillog.clone()];
        args.extend_from_slice(&data);
        if let Some(format) = format {
            args.extend(["--format".to_string(), format.to_string()]);
        }
        same_for_one_and_two_threads(&args);
    }
    // The other formats, each read in blocks cut into ranges parsed side by side.
    for log in ["sending-log.csv", "exim_mainlog", "pmta-acct.csv", "kumomta.jsonl"] {
        let mut args = vec!["deactivations".to_string(), path(log)];
        args.extend_from_slice(&data);
        args.extend(["--format".to_string(), "csv".to_string()]);
        same_for_one_and_two_threads(&args);
    }
    // One campaign in depth, and the sending log's responses as bare text.
    let mut args = vec!["report".to_string(), maillog.clone(), "--campaign".to_string(), "c0003".to_string()];
    args.extend_from_slice(&data);
    same_for_one_and_two_threads(&args);
    let responses = dir.path().join("responses.txt");
    let text: String =
        csv_file(&dir.path().join("sending-log.csv")).iter().map(|r| format!("{}\n", r["log"])).collect();
    std::fs::write(&responses, text).unwrap();
    same_for_one_and_two_threads(&[
        "classify".into(),
        "--text".into(),
        "--format".into(),
        "csv".into(),
        responses.display().to_string(),
    ]);
}
