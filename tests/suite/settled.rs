//! The reader's promise that lets outcomes be replayed as the log is read: with each batch of attempts comes a time
//! before which no later batch settles a message. Broken, the replay would count soft bounces in the wrong order.

use std::path::{Path, PathBuf};

use bounces::domain::classify::Classifier;
use bounces::domain::outcome::settle;
use bounces::domain::time::Timestamp;
use bounces::input::{LogOptions, read_logs};

use super::oracle::{first_year, generate};

/// Reads `logs` and checks the promise of every batch against the outcomes of all later batches. Returns how many
/// batches promised something and the most outcomes that waited at once behind the promises.
fn check_promises(logs: &[PathBuf], year: i32) -> (usize, usize) {
    let options = LogOptions { year: Some(year), ..LogOptions::default() };
    let classifier = Classifier::builtin();
    let mut batches: Vec<(Vec<Timestamp>, Option<Timestamp>)> = Vec::new();
    read_logs(logs, &options, &mut |attempts, settled| {
        let times = settle(attempts, &classifier).iter().map(|o| o.time).collect();
        batches.push((times, settled));
    })
    .unwrap();
    let mut promised = 0;
    let mut most_waiting = 0;
    let mut waiting: Vec<Timestamp> = Vec::new();
    for (i, (_, settled)) in batches.iter().enumerate() {
        waiting.extend(&batches[i].0);
        let Some(before) = settled else { continue };
        promised += 1;
        for (j, (later, _)) in batches.iter().enumerate().skip(i + 1) {
            if let Some(t) = later.iter().find(|t| *t < before) {
                panic!("batch {j} settles at {} before batch {i} promised {}", t.rfc3339(), before.rfc3339());
            }
        }
        waiting.retain(|t| t >= before);
        most_waiting = most_waiting.max(waiting.len());
    }
    (promised, most_waiting)
}

#[test]
fn no_later_batch_settles_before_a_promise() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let year = first_year(&samples).parse().unwrap();
    let (promised, _) = check_promises(&[samples.join("maillog")], year);
    assert!(promised > 0, "the samples' maillog gives promises");

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    if !generate(d, &["--contacts", "3000", "--campaigns", "6", "--seed", "5"]) {
        return;
    }
    let year = first_year(d).parse().unwrap();
    let (promised, most_waiting) = check_promises(&[d.join("maillog")], year);
    assert!(promised > 1);
    // 18,000 messages: what waits at once is about one campaign's, not the whole history.
    assert!(most_waiting < 6_000, "{most_waiting} outcomes waited at once");
}

#[test]
fn rotated_files_keep_the_promise() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    if !generate(d, &["--contacts", "600", "--campaigns", "4", "--seed", "9"]) {
        return;
    }
    let text = std::fs::read_to_string(d.join("maillog")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let half = lines.len() / 2;
    std::fs::write(d.join("mail.log.1"), lines[..half].join("\n") + "\n").unwrap();
    std::fs::write(d.join("mail.log"), lines[half..].join("\n") + "\n").unwrap();
    let year = first_year(d).parse().unwrap();
    let (promised, _) = check_promises(&[d.join("mail.log"), d.join("mail.log.1")], year);
    assert!(promised > 0);
}
