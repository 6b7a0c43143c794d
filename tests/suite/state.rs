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

/// The time of the first record of a log part, as `--since` takes it.
fn first_time(log: &str, text: &str) -> String {
    let first = text.lines().nth(usize::from(log.ends_with(".csv"))).unwrap();
    match log {
        // `2026-03-07 11:15:36 1vM0WT-...`
        "exim_mainlog" => format!("{}T{}Z", &first[..10], &first[11..19]),
        // `d,2026-03-09 09:03:58+0000,...`
        "pmta-acct.csv" => {
            let t = first.split(',').nth(1).unwrap();
            format!("{}T{}Z", &t[..10], &t[11..19])
        }
        // `"event_time":"2026-03-09T09:01:19.584275782Z"`
        _ => {
            let at = first.find("\"event_time\":\"").unwrap() + 14;
            format!("{}Z", &first[at..at + 19])
        }
    }
}

#[test]
fn every_mta_carries_its_messages_in_flight_to_the_next_day() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = ["--contacts", "1200", "--campaigns", "10", "--seed", "9", "--start", "2026-02-02T09:00:00Z"];
    if !generate(d, &[&args[..], &["--formats", "exim,pmta,kumomta"]].concat()) {
        return;
    }
    for log in ["exim_mainlog", "pmta-acct.csv", "kumomta.jsonl"] {
        let text = std::fs::read_to_string(d.join(log)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let (head, body) =
            if log.ends_with(".csv") { (format!("{}\n", lines[0]), &lines[1..]) } else { (String::new(), &lines[..]) };
        let half = body.len() / 2;
        let day2 = format!("{head}{}\n", body[half..].join("\n"));
        std::fs::write(d.join("day1"), format!("{head}{}\n", body[..half].join("\n"))).unwrap();
        std::fs::write(d.join("day2"), &day2).unwrap();
        let since = first_time(log, &day2);
        let run = |command: &str, file: &str, extra: &[&str]| {
            let mut a = strs(d, &[command, file, "--sends", "@sends.csv", "--campaigns", "@campaigns.csv"]);
            a.extend(strs(d, &["--contacts", "@contacts.csv", "--format", "csv"]));
            a.extend(extra.iter().map(|s| s.to_string()));
            bounces(&a).ok().stdout
        };
        let state = d.join(format!("{log}.state.json")).display().to_string();
        run("deactivations", "@day1", &["--state", &state]);
        let state_text = std::fs::read_to_string(&state).unwrap();
        let key = match log {
            "exim_mainlog" => "\"exim\":{\"arrivals\":[{",
            "pmta-acct.csv" => "\"pmta\":[{",
            _ => "\"kumomta\":[{",
        };
        assert!(state_text.contains(key), "{log}: the state keeps its messages in flight");
        let second = run("report", "@day2", &["--state", &state]);
        // Day 2 after day 1 counts what one run counts from day 2 on, each message in its campaign: a message that
        // arrived or was deferred on day 1 and settled on day 2 keeps its campaign and its tries.
        assert!(second == run("report", &format!("@{log}"), &["--since", &since]), "{log}: day 2 report");
    }
}

#[test]
fn a_run_whose_output_cannot_be_written_leaves_the_state_as_it_was() {
    // Run again after the failure, the lines must not count twice: the state is saved only after the output.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let unwritable = dir.path().join("no-such-folder").join("out.csv");
    let run = bounces(&[
        "deactivations",
        "samples/maillog",
        "--state",
        state.to_str().unwrap(),
        "-o",
        unwritable.to_str().unwrap(),
    ])
    .code(2);
    assert!(run.stderr.contains("cannot create the output file"), "{}", run.stderr);
    assert!(!state.exists(), "the state was saved by a run that failed");
    bounces(&["deactivations", "samples/maillog", "--state", state.to_str().unwrap(), "--format", "csv"]).ok();
    assert!(state.exists());
}

#[test]
fn a_growing_log_read_again_with_a_state_file_is_read_on_from_where_the_last_run_stopped() {
    // As cron runs it: the same live log each day, grown since. Cut through a message (its bounce before the cut,
    // its removal after) and in the middle of a line (the MTA writing it): the two runs give what one gives.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = std::fs::read_to_string(super::util::root().join("samples/maillog")).unwrap();
    let cut = text.match_indices('\n').nth(1499).unwrap().0 + 1 + 40;
    let live = d.join("mail.log");
    let state = d.join("state.json");
    let run = |log: &std::path::Path| {
        let args = ["deactivations", log.to_str().unwrap(), "--state", state.to_str().unwrap(), "--format", "csv"];
        bounces(&[&args[..], &["--stats"]].concat()).ok()
    };
    let whole = bounces(&["deactivations", "samples/maillog", "--format", "csv"]).ok().stdout;
    std::fs::write(&live, &text[..cut]).unwrap();
    let first = run(&live);
    assert!(
        first.stderr.contains("its last line has no line end yet: it is left for the next run"),
        "{}",
        first.stderr
    );
    std::fs::write(&live, &text).unwrap();
    let second = run(&live);
    assert_eq!(second.stdout, whole, "day 1 then day 2 of one file is one run over both");
    assert!(
        second.stderr.contains("its first 1500 lines were read by an earlier run (--state) and are not read again"),
        "{}",
        second.stderr
    );
    let lines = |run: &super::util::Run| -> u64 {
        let row = run.stderr.lines().find(|l| l.contains("mail.log") && !l.starts_with("bounces:")).unwrap();
        row.split_whitespace().nth(2).unwrap().parse().unwrap()
    };
    assert_eq!(lines(&first) + lines(&second), text.lines().count() as u64, "every line read once");
    // Rotated and compressed, the file is known by its lines, not its name: nothing in it is read again.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
    let rotated = d.join("mail.log.1.gz");
    std::fs::write(&rotated, gz.finish().unwrap()).unwrap();
    std::fs::remove_file(&live).unwrap();
    let third = run(&rotated);
    assert_eq!(third.stdout, whole, "nothing counted twice");
    assert_eq!(lines(&third), 0);
    // A file that starts with other lines (a new log after rotation) is read from its start.
    let other = d.join("mail.log.new");
    std::fs::write(&other, text.lines().skip(2000).map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    assert_eq!(lines(&run(&other)), 969);
}

#[test]
fn a_contacts_history_before_the_state_is_told_by_its_counters() {
    // The first 1500 lines hold five of the contact's soft bounces; the rest, five more and its deactivation.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = std::fs::read_to_string(super::util::root().join("samples/maillog")).unwrap();
    let cut = text.match_indices('\n').nth(1499).unwrap().0 + 1;
    let live = d.join("mail.log");
    let state = d.join("state.json");
    let (log, st) = (live.to_str().unwrap(), state.to_str().unwrap());
    let email = "nora.bennett@acme-corp.example";
    std::fs::write(&live, &text[..cut]).unwrap();
    bounces(&["deactivations", log, "--state", st]).ok();
    let written = std::fs::read_to_string(&state).unwrap();
    let at = written.split("\"written_at\":\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    std::fs::write(&live, &text).unwrap();
    // `contact` saves the state too: each run below starts from a copy of the first run's.
    let contact = |format: &str| {
        std::fs::write(&state, &written).unwrap();
        bounces(&["contact", email, log, "--state", st, "--format", format]).ok().stdout
    };
    let human = contact("table");
    let before = format!("before these logs (--state {st}, written {at}): 5 consecutive soft bounces, 0 hard bounces");
    assert!(human.contains(&format!("{before}\n")), "{human}");
    assert!(human.contains("status: deactivated at 2026-05-04T09:02:01Z"), "{human}");
    let csv = contact("csv");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[1], format!("{email},{at},,carried,,,,,5,0,,,"));
    assert!(rows[2].contains(",soft,mailboxfull,") && rows[2].contains(",6,0,"), "the count goes on: {}", rows[2]);
    // Once every line is read, the contact's whole story is its counters: deactivated by the earlier run.
    bounces(&["deactivations", log, "--state", st]).ok();
    let after = bounces(&["contact", email, log, "--state", st]).ok().stdout;
    assert!(
        after.contains("10 consecutive soft bounces, 0 hard bounces, deactivated\nno messages in these logs\n"),
        "{after}"
    );
    assert!(after.contains("status: deactivated at 2026-05-04T09:02:01Z"), "{after}");
}
