//! The reader's promise that lets outcomes be replayed as the log is read: with each batch of attempts comes a time
//! before which no later batch settles a message. Broken, the replay would count soft bounces in the wrong order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bounces::domain::classify::Classifier;
use bounces::domain::outcome::settle;
use bounces::domain::time::Timestamp;
use bounces::input::{LogOptions, read_logs};

use super::oracle::{first_year, generate};
use super::util::{bounces, csv_rows};

/// Reads `logs` and checks the promise of every batch against the outcomes of all later batches. Returns how many
/// batches promised something and the most outcomes that waited at once behind the promises.
fn check_promises(logs: &[PathBuf], year: i32) -> (usize, usize) {
    let options = LogOptions { year: Some(year), ..LogOptions::default() };
    let classifier = Classifier::builtin();
    let mut batches: Vec<(Vec<Timestamp>, Option<Timestamp>)> = Vec::new();
    read_logs(logs, &options, &mut |parts, settled| {
        // Each part holds whole messages: settled part by part, as the analysis does.
        let mut part_of: HashMap<String, usize> = HashMap::new();
        for (i, part) in parts.iter().enumerate() {
            for a in part {
                let first = *part_of.entry(a.message_key.clone()).or_insert(i);
                assert_eq!(first, i, "message {} is in parts {first} and {i} of one batch", a.message_key);
            }
        }
        let times = parts.iter_mut().flat_map(|part| settle(std::mem::take(part), &classifier)).map(|o| o.time);
        batches.push((times.collect(), settled));
        Ok(())
    })
    .unwrap();
    kept(&batches)
}

/// [`check_promises`] for the promise on tries (`LogOptions::bound_tries`, what `classify` shows in time order): no
/// later batch holds a try before it.
fn check_try_promises(logs: &[PathBuf], year: i32) -> (usize, usize) {
    let options = LogOptions { year: Some(year), bound_tries: true, ..LogOptions::default() };
    let mut batches: Vec<(Vec<Timestamp>, Option<Timestamp>)> = Vec::new();
    read_logs(logs, &options, &mut |parts, settled| {
        batches.push((parts.iter_mut().flat_map(|part| part.drain(..)).map(|a| a.time).collect(), settled));
        Ok(())
    })
    .unwrap();
    kept(&batches)
}

/// Checks each batch's promise (its time) against the times of all later batches: how many batches promised
/// something, and the most times that waited at once behind the promises.
fn kept(batches: &[(Vec<Timestamp>, Option<Timestamp>)]) -> (usize, usize) {
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

/// A sending log of `rows` rows two seconds apart from 2026-01-01, every seventh row about half an hour back (clocks
/// within the slack; an odd second, so no two rows at the same time), and every fifth a bounce.
fn sending_log(rows: usize) -> String {
    let mut text = String::from("campaign_id,email,timestamp,log\n");
    let start = Timestamp::parse("2026-01-01T00:00:00Z").unwrap().millis();
    for i in 0..rows {
        let back = if i % 7 == 6 { 1_801_000 } else { 0 };
        let t = Timestamp::from_millis(start + i as i64 * 2000 - back).rfc3339();
        let log = if i % 5 == 0 { "FAILED 452 4.2.2 mailbox full" } else { "250 ok" };
        text.push_str(&format!("c{},u{}@x.example,{t},{log}\n", i / 20_000, i % 5000));
    }
    text
}

#[test]
fn sending_logs_in_time_order_are_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows = 70_000;
    let text = sending_log(rows);
    std::fs::write(d.join("sending.csv"), &text).unwrap();
    let (promised, most_waiting) = check_promises(&[d.join("sending.csv")], 2026);
    // Rows are read 32,768 at a time: every batch promises, and what waits is about a batch and the slack.
    assert!(promised >= 2, "{promised} promises");
    assert!(most_waiting < 40_000, "{most_waiting} outcomes waited at once");

    // Rotated in two files, and beside a Postfix log: still kept.
    let (header, body) = text.split_once('\n').unwrap();
    let lines: Vec<&str> = body.lines().collect();
    std::fs::write(d.join("a.csv"), format!("{header}\n{}\n", lines[..rows / 2].join("\n"))).unwrap();
    std::fs::write(d.join("b.csv"), format!("{header}\n{}\n", lines[rows / 2..].join("\n"))).unwrap();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let (promised, _) = check_promises(&[d.join("b.csv"), d.join("a.csv"), samples.join("maillog")], 2026);
    assert!(promised >= 2, "{promised} promises");

    // Rows sorted some other way are read whole: nothing is promised before the end.
    let mut shuffled = lines.clone();
    shuffled.sort_by_key(|l| l.split(',').nth(1).unwrap().to_string());
    std::fs::write(d.join("by-address.csv"), format!("{header}\n{}\n", shuffled.join("\n"))).unwrap();
    assert_eq!(check_promises(&[d.join("by-address.csv")], 2026), (0, 0));

    // Streamed or held whole, the same history gives the same answers: 1,000 of the 5,000 addresses bounce on every
    // one of their 20 sends, and are deactivated at the tenth.
    let run = |file: &str, command: &str| {
        bounces(&[command, d.join(file).to_str().unwrap(), "--format", "csv", "-j", "2"]).ok().stdout
    };
    for command in ["deactivations", "report"] {
        assert!(run("sending.csv", command) == run("by-address.csv", command), "{command} differs");
    }
    assert_eq!(csv_rows(&run("sending.csv", "deactivations")).len(), 1000);
}

#[test]
fn exim_powermta_and_kumomta_logs_keep_the_promise() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    if !generate(d, &["--contacts", "3000", "--campaigns", "6", "--seed", "5", "--formats", "exim,pmta,kumomta"]) {
        return;
    }
    for log in ["exim_mainlog", "pmta-acct.csv", "kumomta.jsonl"] {
        let (promised, most_waiting) = check_promises(&[d.join(log)], 2025);
        assert!(promised > 1, "{log}: {promised} promises");
        // 18,000 messages: what waits at once is about a block's worth and the deferrals, not the whole history.
        assert!(most_waiting < 6_000, "{log}: {most_waiting} outcomes waited at once");
    }
    // Rotated in two, each log gives what it gives whole: a message's deferrals in one file, its end in the next.
    for (log, header) in [("exim_mainlog", false), ("pmta-acct.csv", true), ("kumomta.jsonl", false)] {
        let text = std::fs::read_to_string(d.join(log)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let (head, body) = if header { (format!("{}\n", lines[0]), &lines[1..]) } else { (String::new(), &lines[..]) };
        let half = body.len() / 2;
        let (one, two) = (d.join(format!("{log}.1")), d.join(format!("{log}.2")));
        std::fs::write(&one, format!("{head}{}\n", body[..half].join("\n"))).unwrap();
        std::fs::write(&two, format!("{head}{}\n", body[half..].join("\n"))).unwrap();
        let run = |files: &[&Path]| {
            let mut args = vec!["deactivations", "--format", "csv"];
            args.extend(files.iter().map(|f| f.to_str().unwrap()));
            bounces(&args).ok().stdout
        };
        let whole = run(&[&d.join(log)]);
        assert!(csv_rows(&whole).len() > 100, "{log}");
        assert!(run(&[&two, &one]) == whole, "{log} rotated in two");
    }
}

/// A Sendmail log of 40,000 messages a second apart from 2025-11-20; every fifth is deferred first and delivered an
/// hour later.
fn sendmail_log() -> String {
    let start = Timestamp::parse("2025-11-20T00:00:00Z").unwrap().millis();
    let stamp = |secs: i64| {
        let c = Timestamp::from_millis(start + secs * 1000).civil();
        let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        format!("{} {:2} {:02}:{:02}:{:02}", month[c.month as usize - 1], c.day, c.hour, c.minute, c.second)
    };
    let mut lines: Vec<(i64, String)> = Vec::new();
    for i in 0..40_000i64 {
        let qid = format!("5AK{i:08}x");
        let to = format!("to=<u{}@y.example>, relay=mx.y.example. [192.0.2.1]", i % 3000);
        lines.push((i, format!("mx sendmail[1]: {qid}: from=<b@n.example>, size=1, nrcpts=1, msgid=<m{i}@n.example>")));
        if i % 5 == 0 {
            lines.push((i, format!("mx sendmail[1]: {qid}: {to}, dsn=4.2.2, stat=Deferred: 452 4.2.2 over quota")));
            lines.push((i + 3600, format!("mx sendmail[1]: {qid}: {to}, dsn=2.0.0, stat=Sent (ok)")));
        } else {
            lines.push((i, format!("mx sendmail[1]: {qid}: {to}, dsn=2.0.0, stat=Sent (ok)")));
        }
    }
    lines.sort_by_key(|(t, _)| *t);
    lines.iter().map(|(t, l)| format!("{} {l}\n", stamp(*t))).collect()
}

#[test]
fn sendmail_logs_keep_the_promise() {
    let text = sendmail_log();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sendmail.log");
    std::fs::write(&log, text).unwrap();
    let (promised, most_waiting) = check_promises(std::slice::from_ref(&log), 2025);
    assert!(promised > 1, "{promised} promises");
    // What waits is the hour of deferred messages and about a block: not the 40,000.
    assert!(most_waiting < 20_000, "{most_waiting} outcomes waited at once");
    let run = bounces(&["report", log.to_str().unwrap(), "--year", "2025", "--format", "csv"]).ok();
    let row = &csv_rows(&run.stdout)[0];
    assert_eq!((row["sent"].as_str(), row["delivered"].as_str(), row["pending"].as_str()), ("40000", "40000", "0"));
}

#[test]
fn tries_keep_their_promise_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let year = first_year(&samples).parse().unwrap();
    let (promised, _) = check_try_promises(&[samples.join("maillog")], year);
    assert!(promised > 0, "the samples' maillog gives promises");
    std::fs::write(d.join("sendmail.log"), sendmail_log()).unwrap();
    let (promised, most_waiting) = check_try_promises(&[d.join("sendmail.log")], 2025);
    assert!(promised > 1, "{promised} promises");
    assert!(most_waiting < 20_000, "{most_waiting} tries waited at once");
    std::fs::write(d.join("sending.csv"), sending_log(70_000)).unwrap();
    let (promised, most_waiting) = check_try_promises(&[d.join("sending.csv")], 2026);
    assert!(promised >= 2, "{promised} promises");
    assert!(most_waiting < 40_000, "{most_waiting} tries waited at once");
    if !generate(
        d,
        &["--contacts", "3000", "--campaigns", "6", "--seed", "5", "--formats", "postfix,exim,pmta,kumomta"],
    ) {
        return;
    }
    let year = first_year(d).parse().unwrap();
    for log in ["maillog", "exim_mainlog", "pmta-acct.csv", "kumomta.jsonl"] {
        let (promised, most_waiting) = check_try_promises(&[d.join(log)], year);
        assert!(promised > 1, "{log}: {promised} promises");
        // 18,000 messages, each tried about three times: what waits is the messages in flight, not the history.
        assert!(most_waiting < 15_000, "{log}: {most_waiting} tries waited at once");
    }
    let text = std::fs::read_to_string(d.join("maillog")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let half = lines.len() / 2;
    std::fs::write(d.join("mail.log.1"), lines[..half].join("\n") + "\n").unwrap();
    std::fs::write(d.join("mail.log"), lines[half..].join("\n") + "\n").unwrap();
    let (promised, _) = check_try_promises(&[d.join("mail.log"), d.join("mail.log.1")], year);
    assert!(promised > 0);
}

/// `classify` on logs writes csv and json as it reads (released by the promise on tries), and gives the rows it gives
/// when it holds every attempt until the end (`--strict`, which writes nothing before every line is read).
#[test]
fn classify_streams_what_it_would_hold() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let text = std::fs::read_to_string(samples.join("maillog")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let half = lines.len() / 2;
    std::fs::write(d.join("mail.log.1"), lines[..half].join("\n") + "\n").unwrap();
    std::fs::write(d.join("mail.log"), lines[half..].join("\n") + "\n").unwrap();
    std::fs::write(d.join("sendmail.log"), sendmail_log()).unwrap();
    std::fs::write(d.join("sending.csv"), sending_log(70_000)).unwrap();
    let sends = samples.join("sends.csv");
    let runs: [(Vec<PathBuf>, &str); 4] = [
        (vec![samples.join("maillog")], "2026"),
        (vec![d.join("mail.log"), d.join("mail.log.1")], "2026"),
        (vec![d.join("sendmail.log")], "2025"),
        (vec![d.join("sending.csv"), samples.join("maillog")], "2026"),
    ];
    for (logs, year) in runs {
        for format in ["csv", "json"] {
            let mut args = vec!["classify", "--format", format, "--year", year, "--sends", sends.to_str().unwrap()];
            args.extend(logs.iter().map(|l| l.to_str().unwrap()));
            let streamed = bounces(&args).ok().stdout;
            args.push("--strict");
            let held = bounces(&args).ok().stdout;
            assert!(streamed.lines().count() > 100, "{logs:?}");
            assert!(streamed == held, "{logs:?} {format}: streamed and held differ");
        }
    }
    // A table of more than a thousand rows is written as it comes, its columns sized from the first rows and
    // the names they can hold: the same cells as the table drawn from every row at the end, some columns narrower
    // or wider.
    let cells = |table: &str| -> Vec<Vec<String>> {
        let rows = table.lines().filter(|l| l.starts_with('│'));
        rows.map(|l| l.trim_matches('│').split('┆').map(|c| c.trim().to_string()).collect()).collect()
    };
    let log = d.join("sending.csv");
    let streamed = bounces(&["classify", log.to_str().unwrap()]).ok().stdout;
    let held = bounces(&["classify", log.to_str().unwrap(), "--strict"]).ok().stdout;
    assert_eq!(cells(&streamed).len(), 70_001, "a header and a row per attempt");
    assert!(cells(&streamed) == cells(&held), "the streamed table's cells differ from the held table's");
}
