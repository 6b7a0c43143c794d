//! Bad input: clear errors naming the file (and line), exit codes, and no panic.

use super::util::{bounces, bounces_stdin};

#[test]
fn missing_file_names_it_with_exit_code_2() {
    let run = bounces(&["report", "no/such/maillog"]).code(2);
    assert!(run.stderr.starts_with("bounces: no/such/maillog: cannot open"), "{}", run.stderr);
}

#[test]
fn csv_without_its_required_column_names_file_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let contacts = dir.path().join("contacts.csv");
    std::fs::write(&contacts, "mail,first_name\na@b.example,A\n").unwrap();
    let run = bounces(&["deactivations", "samples/sending-log.csv", "--contacts", contacts.to_str().unwrap()]).code(2);
    assert!(run.stderr.contains("contacts.csv:1: the contacts file needs a column 'email'"), "{}", run.stderr);
    let sends = dir.path().join("sends.csv");
    std::fs::write(&sends, "email,message_id\na@b.example,<m@x>\n").unwrap();
    let run = bounces(&["report", "samples/maillog", "--sends", sends.to_str().unwrap()]).code(2);
    assert!(run.stderr.contains("sends.csv:1: the sends file needs a column 'campaign_id'"), "{}", run.stderr);
}

#[test]
fn malformed_lines_are_counted_warned_and_fatal_when_strict() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sending.csv");
    std::fs::write(&log, "campaign_id,email,timestamp,log\nc1,a@b.example,2026-01-01T00:00:00Z,250 ok\nc1,b@b.example,yesterday,250 ok\nc1,c@b.example,2026-01-01T00:00:01Z,what\n").unwrap();
    let run = bounces(&["report", log.to_str().unwrap(), "--format", "csv", "--stats"]).ok();
    assert!(run.stderr.contains("sending.csv:3: timestamp 'yesterday'"), "{}", run.stderr);
    assert!(run.stderr.contains("sending.csv:4: log 'what'"), "{}", run.stderr);
    assert_eq!(run.csv()[0]["sent"], "1");
    let stats = run.stderr.lines().find(|l| l.contains("sending-log")).unwrap();
    assert_eq!(stats.split_whitespace().skip(2).collect::<Vec<_>>(), ["4", "1", "1", "2"]);
    let run = bounces(&["report", log.to_str().unwrap(), "--strict"]).code(2);
    assert!(run.stderr.contains("sending.csv:3:"), "{}", run.stderr);
}

#[test]
fn warnings_name_the_line_of_a_csv_exported_with_cr_lf_line_ends() {
    // As a spreadsheet on Windows writes it, with a blank line: each warning names the line its row is on, in the
    // sending log and in a contacts file alike.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sending.csv");
    std::fs::write(&log, "campaign_id,email,timestamp,log\r\nc1,a@b.example,2026-01-01T00:00:00Z,250 ok\r\nc1,b@b.example,yesterday,250 ok\r\n\r\nc1,c@b.example,2026-01-01T00:00:01Z,what\r\n").unwrap();
    let contacts = dir.path().join("contacts.csv");
    std::fs::write(&contacts, "email,engaged\r\na@b.example,true\r\n\r\nb@b.example,perhaps\r\n").unwrap();
    let run =
        bounces(&["report", log.to_str().unwrap(), "--contacts", contacts.to_str().unwrap(), "--format", "csv"]).ok();
    assert!(run.stderr.contains("sending.csv:3: timestamp 'yesterday'"), "{}", run.stderr);
    assert!(run.stderr.contains("sending.csv:5: log 'what'"), "{}", run.stderr);
    assert!(run.stderr.contains("contacts.csv:4:"), "{}", run.stderr);
    assert_eq!(run.csv()[0]["sent"], "1");
}

#[test]
fn every_line_of_a_csv_is_counted_blank_lines_too() {
    // Blank lines (one before the header, two between rows, one at the end) are read and ignored; a quoted cell's
    // empty line belongs to its row.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sending.csv");
    let text = "\ncampaign_id,email,timestamp,log\nc1,a@b.example,2026-01-01T00:00:00Z,250 ok\n\n\nc1,b@b.example,2026-01-01T00:00:01Z,\"FAILED 550\n\nuser unknown\"\n\n";
    for text in [text.to_string(), text.replace('\n', "\r\n")] {
        std::fs::write(&log, &text).unwrap();
        let run = bounces(&["report", log.to_str().unwrap(), "--format", "csv", "--stats"]).ok();
        let stats = run.stderr.lines().find(|l| l.contains("sending-log")).unwrap();
        // read, used, ignored, malformed: 9 lines, the quoted cell's two extra lines counted with its row.
        assert_eq!(stats.split_whitespace().skip(2).collect::<Vec<_>>(), ["7", "2", "5", "0"], "{text:?}");
        assert_eq!((&run.csv()[0]["sent"][..], &run.csv()[0]["hard_bounces"][..]), ("2", "1"));
    }
}

#[test]
fn garbage_and_unknown_formats_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"\x00\x01\x02\xff\xfe binary garbage\n\x1b[31m").unwrap();
    let run = bounces(&["report", junk.to_str().unwrap()]).code(2);
    assert!(run.stderr.contains("junk.bin: cannot tell the log format"), "{}", run.stderr);
    let run = bounces(&["report", junk.to_str().unwrap(), "--log-format", "postfix", "--stats"]).ok();
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let empty = dir.path().join("empty.log");
    std::fs::write(&empty, b"").unwrap();
    bounces(&["deactivations", empty.to_str().unwrap()]).ok();
    bounces_stdin(&["classify", "--text"], Some(b"\xff\xfe\x00\n\n550\n")).ok();
    // Standard input is read once, as a stream: naming it twice is an error, not a silently empty second input.
    let log = std::fs::read("samples/maillog").unwrap();
    let run = bounces_stdin(&["report", "-", "--sends", "-"], Some(&log)).code(2);
    assert!(run.stderr.contains("standard input (`-`) can be read only once"), "{}", run.stderr);
}

#[test]
fn closed_pipe_ends_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = super::util::spawn(&["classify", "samples/maillog", "--format", "csv"], Stdio::null());
    let mut first = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // Dropping the read end closes the pipe while the binary still writes.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `classify big.log | head`: once the reader of its output is gone, the run stops reading and ends, rather than
/// reading the rest of the log first. Here the log never ends (its writer keeps standard input open), so a run that
/// read on would never end.
#[test]
fn classify_stops_reading_once_its_output_is_closed() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    // Ten megabytes of Postfix lines, one delivered message a second: several blocks, hours of log.
    let mut log = String::new();
    for n in 0..60_000u32 {
        let (h, m, s) = (n / 3600, n / 60 % 60, n % 60);
        let t = format!("2026-03-0{}T{:02}:{m:02}:{s:02}+00:00", 2 + h / 24, h % 24);
        let id = format!("{:010X}", 0xA0000 + n);
        log.push_str(&format!("{t} mta1 postfix/cleanup[2915]: {id}: message-id=<m{n}@news.example.com>\n"));
        log.push_str(&format!(
            "{t} mta1 postfix/qmgr[1187]: {id}: from=<bounce@news.example.com>, size=39398, nrcpt=1 (queue active)\n"
        ));
        log.push_str(&format!("{t} mta1 postfix/smtp[4829]: {id}: to=<r{n}@example.org>, relay=mx.example.org[198.51.100.27]:25, delay=1.2, delays=0.1/0/0.64/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK queued as {n})\n"));
        log.push_str(&format!("{t} mta1 postfix/qmgr[1187]: {id}: removed\n"));
    }
    // No --year: RFC 3339 times carry theirs, so standard input is streamed, not copied whole first.
    let mut child =
        super::util::spawn(&["classify", "-", "--log-format", "postfix", "--format", "csv"], Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    let (done, wait_for_done) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(log.as_bytes());
        // Standard input stays open until the test is over.
        let _ = wait_for_done.recv();
    });
    // The first two lines, then the read end is closed.
    let stdout = child.stdout.take().unwrap();
    let (first, first_lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let (mut header, mut row) = (String::new(), String::new());
        let _ = reader.read_line(&mut header).and_then(|_| reader.read_line(&mut row));
        let _ = first.send((header, row));
    });
    let Ok((header, row)) = first_lines.recv_timeout(Duration::from_secs(60)) else {
        let _ = child.kill();
        panic!("no rows within a minute");
    };
    assert!(header.starts_with("time,recipient,"), "{header}");
    assert!(row.starts_with("2026-03-02T00:00:00Z,r0@example.org,"), "{row}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.is_none() {
        let _ = child.kill();
    }
    let _ = done.send(());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(status.is_some(), "still reading a minute after its output was closed: {stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn a_sends_file_without_message_ids_is_an_error_not_every_row_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let sends = dir.path().join("sends.csv");
    std::fs::write(&sends, "campaign_id,email,sent_at\nc01,a@b.example,2026-03-02T09:00:00Z\n").unwrap();
    let run = bounces(&["report", "samples/maillog", "--sends", sends.to_str().unwrap()]).code(2);
    assert!(run.stderr.contains("sends.csv:1: the sends file needs a column 'message_id'"), "{}", run.stderr);
}

#[test]
fn an_output_file_that_is_an_input_is_refused_and_left_whole() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    std::fs::copy("samples/maillog", &log).unwrap();
    let before = std::fs::read(&log).unwrap();
    let path = log.to_str().unwrap();
    for command in ["classify", "report", "deactivations", "unclassified"] {
        let run = bounces(&[command, path, "-o", path]).code(2);
        assert!(run.stderr.contains("is also an input of this run"), "{command}: {}", run.stderr);
    }
    let run = bounces(&["contact", "nora.bennett@acme-corp.example", path, "-o", path]).code(2);
    assert!(run.stderr.contains("is also an input of this run"), "{}", run.stderr);
    assert_eq!(std::fs::read(&log).unwrap(), before, "the log was written over");
    // The campaign data, and a state file not made yet (named another way), are inputs too.
    let sends = dir.path().join("sends.csv");
    std::fs::copy("samples/sends.csv", &sends).unwrap();
    let run = bounces(&["report", path, "--sends", sends.to_str().unwrap(), "-o", sends.to_str().unwrap()]).code(2);
    assert!(run.stderr.contains("is also an input of this run"), "{}", run.stderr);
    let state = dir.path().join("state.json");
    let other_name = dir.path().join(".").join("state.json");
    let run = bounces(&["deactivations", path, "--state", state.to_str().unwrap(), "-o", other_name.to_str().unwrap()])
        .code(2);
    assert!(run.stderr.contains("is also an input of this run"), "{}", run.stderr);
    assert!(!state.exists(), "a refused run wrote its state");
}

#[test]
fn a_window_that_ends_before_it_begins_is_an_error() {
    let run = bounces(&["report", "samples/maillog", "--since", "2026-05-01", "--until", "2026-04-01"]).code(2);
    assert!(run.stderr.contains("--since (2026-05-01T00:00:00Z) is not before --until"), "{}", run.stderr);
}

#[test]
fn an_engagement_date_that_cannot_be_read_is_malformed_not_never_engaged() {
    let dir = tempfile::tempdir().unwrap();
    let contacts = dir.path().join("contacts.csv");
    std::fs::write(&contacts, "email,last_click_at\na@b.example,31/12/2025\nb@b.example,2025-12-31\nc@b.example,\n")
        .unwrap();
    let run = bounces(&[
        "deactivations",
        "samples/sending-log.csv",
        "--contacts",
        contacts.to_str().unwrap(),
        "--format",
        "csv",
        "--stats",
    ])
    .ok();
    assert!(run.stderr.contains("contacts.csv:2: engagement date '31/12/2025'"), "{}", run.stderr);
    let stats = run.stderr.lines().find(|l| l.contains("contacts.csv") && !l.contains("warning")).unwrap();
    // read, used, ignored (the header), malformed: the empty date is read as never engaged.
    assert_eq!(stats.split_whitespace().skip(2).collect::<Vec<_>>(), ["4", "2", "1", "1"], "{stats}");
}

#[test]
fn a_stray_quote_costs_its_own_row_and_rows_it_takes_in_are_counted_and_named() {
    // Line 4 opens a quote that is never closed: only that row is lost, and said so; the rows after it are read.
    // A reply quoted across lines (lines 2 and 3) is one row, as RFC 4180 writes it.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sending.csv");
    let head = "campaign_id,email,timestamp,log\n\
         c1,a@b.example,2026-01-01T00:00:00Z,\"550-5.1.1 The email account, that you tried to reach does not exist.\n550 5.1.1 Please try double-checking the recipient, email address, for typos\"\n\
         c1,\"b@b.example,2026-01-01T00:00:01Z,250 ok\n\
         c1,c@b.example,2026-01-01T00:00:02Z,250 ok\n";
    std::fs::write(&log, format!("{head}c1,d@b.example,2026-01-01T00:00:03Z,FAILED 550 5.1.1 no such user\n")).unwrap();
    let run = bounces(&["deactivations", log.to_str().unwrap(), "--format", "csv", "--stats"]).ok();
    assert!(
        run.stderr.contains("sending.csv:4: a `\"` opens a quoted cell that is not closed on its line"),
        "{}",
        run.stderr
    );
    let emails: Vec<String> = run.csv().iter().map(|r| r["email"].clone()).collect();
    assert_eq!(emails, ["a@b.example", "d@b.example"], "the multi-line reply and the row after the stray quote");
    let stats = run.stderr.lines().find(|l| l.contains("sending-log") && !l.starts_with("bounces:")).unwrap();
    assert_eq!(stats.split_whitespace().skip(2).collect::<Vec<_>>(), ["5", "3", "1", "1"]);
    let run = bounces(&["deactivations", log.to_str().unwrap(), "--strict"]).code(2);
    assert!(run.stderr.contains("sending.csv:4: a `\"` opens a quoted cell"), "{}", run.stderr);

    // A quote in a later row closes the stray one: the rows between are one row to the CSV reader. They cannot be
    // read, but every line is counted and the user told which.
    std::fs::write(&log, format!("{head}c1,d@b.example,2026-01-01T00:00:03Z,FAILED 550 5.1.1 \"no such user\n"))
        .unwrap();
    let run = bounces(&["deactivations", log.to_str().unwrap(), "--format", "csv", "--stats"]).ok();
    assert!(
        run.stderr.contains(
            "sending.csv:4: a `\"` opens a quoted cell that runs to line 6, taking in 2 line(s) that read as rows of \
             their own (a stray quote?): lines 4 to 6 are not used"
        ),
        "{}",
        run.stderr
    );
    let stats = run.stderr.lines().find(|l| l.contains("sending-log") && !l.starts_with("bounces:")).unwrap();
    assert_eq!(stats.split_whitespace().skip(2).collect::<Vec<_>>(), ["5", "1", "1", "3"]);

    // A contacts file, read in ranges on all cores, and a sending log larger than a block: the stray quote costs
    // one row.
    let contacts = dir.path().join("contacts.csv");
    std::fs::write(&contacts, "email,engaged\na@b.example,true\n\"b@b.example,false\nc@b.example,true\n").unwrap();
    let run = bounces(&["report", "samples/sending-log.csv", "--contacts", contacts.to_str().unwrap(), "--stats"]).ok();
    assert!(run.stderr.contains("contacts.csv:3: a `\"` opens a quoted cell that is not closed"), "{}", run.stderr);
    let stats = run.stderr.lines().find(|l| l.contains("contacts.csv") && !l.starts_with("bounces:")).unwrap();
    assert_eq!(stats.split_whitespace().skip(2).collect::<Vec<_>>(), ["4", "2", "1", "1"]);
    let mut big = String::from("campaign_id,email,timestamp,log\n");
    let rows = 60_000;
    for i in 0..rows {
        let quote = if i == 10 { "\"" } else { "" };
        big.push_str(&format!("c1,{quote}u{i}@b.example,2026-01-01T00:00:00Z,FAILED 550 5.1.1 user unknown\n"));
    }
    assert!(big.len() > 2 << 20, "more than a block");
    std::fs::write(&log, big).unwrap();
    let run = bounces(&["report", log.to_str().unwrap(), "--format", "csv", "--stats"]).ok();
    assert!(run.stderr.contains("sending.csv:12: a `\"` opens a quoted cell"), "{}", run.stderr);
    let stats = run.stderr.lines().find(|l| l.contains("sending-log") && !l.starts_with("bounces:")).unwrap();
    let want = [rows + 1, rows - 1, 1, 1].map(|n| n.to_string());
    assert_eq!(stats.split_whitespace().skip(2).collect::<Vec<_>>(), want);
}

#[test]
fn a_year_no_log_can_be_from_is_an_error() {
    for year in ["0", "99999", "-5"] {
        let run = bounces(&["report", "samples/maillog", &format!("--year={year}")]).code(2);
        assert!(run.stderr.contains(&format!("--year {year} is not a year a log can be from")), "{}", run.stderr);
    }
    bounces(&["report", "samples/maillog", "--year", "2025"]).ok();
}

#[test]
fn rows_that_repeat_a_contact_or_a_campaign_or_contradict_a_send_are_warned_of_and_the_last_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let contacts = dir.path().join("contacts.csv");
    std::fs::write(&contacts, "email,engaged\na@b.example,true\nb@b.example,false\nA@b.example,false\n").unwrap();
    let campaigns = dir.path().join("campaigns.csv");
    std::fs::write(&campaigns, "campaign_id,name\nc1,One\nc1,Uno\n").unwrap();
    let args = ["report", "samples/sending-log.csv", "--contacts", contacts.to_str().unwrap()];
    let run = bounces(&[&args[..], &["--campaigns", campaigns.to_str().unwrap(), "--format", "csv"]].concat()).ok();
    assert!(
        run.stderr.contains("contacts.csv: 1 row repeats an email of an earlier row (the first at line 4)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("campaigns.csv: 1 row repeats a campaign id of an earlier row (the first at line 3)"));
    assert!(run.csv().iter().any(|r| r["name"] == "Uno"), "the last row is used: {}", run.stdout);
    // A sends file that gives a message two campaigns: the last is used, and the user told.
    let sends = dir.path().join("sends.csv");
    std::fs::write(
        &sends,
        "campaign_id,email,message_id
c1,a@b.example,<m1@x>
c2,a@b.example,<m1@x>
c3,b@b.example,<m2@x>
c3,b@b.example,<m2@x>
",
    )
    .unwrap();
    let run = bounces(&["report", "samples/maillog", "--sends", sends.to_str().unwrap()]).ok();
    assert!(
        run.stderr.contains("sends.csv: 1 row gives a message-id a campaign that a later row changes"),
        "only m1 is contradicted, m2 only repeated: {}",
        run.stderr
    );
}
