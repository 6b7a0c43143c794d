//! Hostile and broken input, one case per kind: for each, the exit code, the message on stderr (naming the file and
//! line where there is one), the `--stats` accounting (lines read = used + ignored + malformed), and no panic.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::util::{Run, bounces, root};

/// A scratch directory with files written into it.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().unwrap())
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> String {
        let path = self.0.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_string()
    }
}

/// Runs the binary and checks what every run must: no panic, and an exit code of 0, 1 or 2.
#[track_caller]
fn run(args: &[&str]) -> Run {
    let r = bounces(args);
    assert!(![101, -1].contains(&r.code) && !r.stderr.contains("panicked"), "{}", r.describe());
    r
}

/// The accounting `--stats` printed for a file: read, used, ignored, malformed; checks that they add up.
#[track_caller]
fn stats(r: &Run, file: &str) -> [u64; 4] {
    let line = r
        .stderr
        .lines()
        .rfind(|l| l.starts_with(file) && !l.starts_with("bounces:"))
        .unwrap_or_else(|| panic!("no accounting for {file}: {}", r.describe()));
    let n: Vec<u64> = line.split_whitespace().rev().take(4).map(|x| x.parse().unwrap()).collect();
    let [read, used, ignored, malformed] = [n[3], n[2], n[1], n[0]];
    assert_eq!(read, used + ignored + malformed, "{line}");
    [read, used, ignored, malformed]
}

#[track_caller]
fn stderr_has(r: &Run, text: &str) {
    assert!(r.stderr.contains(text), "expected {text:?} on stderr\n{}", r.describe());
}

fn sample(name: &str) -> String {
    root().join("samples").join(name).to_str().unwrap().to_string()
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

fn lines_of(path: &str) -> u64 {
    read(path).iter().filter(|&&b| b == b'\n').count() as u64
}

/// A Postfix delivery line in traditional syslog form.
fn postfix_line(when: &str, host: &str, qid: &str, to: &str, status: &str, said: &str) -> String {
    let dsn = if status == "sent" { "2.0.0" } else { "5.1.1" };
    format!(
        "{when} {host} postfix/smtp[1]: {qid}: to=<{to}>, relay=mx.x.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn={dsn}, status={status} (host mx.x.example[192.0.2.1] said: {said} (in reply to RCPT TO command))\n"
    )
}

#[test]
fn empty_file() {
    let d = Dir::new();
    let empty = d.write("empty.log", "");
    let r = run(&["report", &empty, "--stats"]).code(0);
    assert_eq!(stats(&r, &empty), [0, 0, 0, 0]);
    assert!(!r.stderr.contains("warning"), "{}", r.describe());
    // An empty CSV of campaign data has no header: the error names the file.
    let contacts = d.write("contacts.csv", "");
    let r = run(&["report", "samples/maillog", "--contacts", &contacts]).code(2);
    stderr_has(&r, "contacts.csv:1: the contacts file needs a column 'email'");
}

#[test]
fn binary_garbage() {
    let d = Dir::new();
    let mut junk: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    junk.extend(b"\n\x00\x01\x02\xff\n");
    let junk = d.write("junk.bin", junk);
    let r = run(&["report", &junk, "--stats"]).code(2);
    stderr_has(&r, "junk.bin: cannot tell the log format from its first lines; give it with --log-format");
    // Read as each format anyway: every line is counted, none is used, nothing panics.
    for format in ["postfix", "exim", "sendmail", "kumomta"] {
        let r = run(&["classify", &junk, "--log-format", format, "--stats", "--format", "csv"]).code(0);
        let [read, used, _, malformed] = stats(&r, &junk);
        assert_eq!((read, used), (lines_of(&junk), 0), "{}", r.describe());
        assert!(malformed > 0, "{}", r.describe());
        stderr_has(&r, "junk.bin:1: ");
        let r = run(&["classify", &junk, "--log-format", format, "--strict"]).code(2);
        stderr_has(&r, "junk.bin:1: ");
        stderr_has(&r, "--strict stops at the first malformed line");
    }
    // As CSV formats, the header lacks the required columns.
    let r = run(&["report", &junk, "--log-format", "sending-log"]).code(2);
    stderr_has(&r, "junk.bin:1: ");
    let r = run(&["report", &junk, "--log-format", "pmta"]).code(2);
    stderr_has(&r, "junk.bin:1: ");
}

#[test]
fn invalid_utf8_is_read_lossily_and_counted() {
    let d = Dir::new();
    let mut log = postfix_line(
        "Nov 20 09:00:01",
        "mta1",
        "AAA111",
        "a@x.example",
        "bounced",
        "550 5.1.1 Benutzer \u{fc}nbekannt",
    );
    log.push_str(&postfix_line("Nov 20 09:00:02", "mta1", "BBB222", "b@x.example", "sent", "250 ok"));
    let mut bytes = log.into_bytes();
    // Latin-1 bytes in the first line's response.
    let at = bytes.iter().position(|&b| b == 0xc3).unwrap();
    bytes.splice(at..at + 2, [0xfc]);
    let maillog = d.write("latin1.log", &bytes);
    let r = run(&["classify", &maillog, "--year", "2025", "--stats", "--format", "csv"]).code(0);
    assert_eq!(stats(&r, &maillog), [2, 2, 0, 0]);
    stderr_has(&r, "latin1.log: 1 line is not valid UTF-8 (the first is line 1); their bad bytes were read as U+FFFD");
    let rows = r.csv();
    assert_eq!((rows[0]["class"].as_str(), rows[0]["text"].as_str()), ("hard", "Benutzer \u{fffd}nbekannt"));
    // Campaign CSVs too: a Latin-1 name is read, not rejected.
    let campaigns = d.write("campaigns.csv", b"campaign_id,name,sent_at\nc01,Sp\xe9cial offer,2026-03-02T09:00:00Z\n");
    let r = run(&["report", "samples/maillog", "--sends", "samples/sends.csv", "--campaigns", &campaigns, "--stats"]);
    let r = r.code(0);
    assert_eq!(stats(&r, &campaigns), [2, 1, 1, 0]);
    stderr_has(&r, "campaigns.csv: 1 line is not valid UTF-8 (the first is line 2)");
    assert!(r.stdout.contains("Sp\u{fffd}cial offer"), "{}", r.describe());
}

#[test]
fn a_5_mib_line_is_malformed_not_loaded() {
    let d = Dir::new();
    let huge = "x".repeat(5 << 20);
    // In a Postfix log, between two good lines.
    let text = std::fs::read_to_string(sample("maillog")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let long = format!("Nov 20 09:00:01 mta1 postfix/smtp[1]: AAA: to=<a@b>, status=sent ({huge})");
    lines.insert(2, &long);
    let maillog = d.write("long.log", lines.join("\n") + "\n");
    let r = run(&["report", &maillog, "--stats", "--format", "csv"]).code(0);
    let [read, used, ignored, malformed] = stats(&r, &maillog);
    assert_eq!((read, malformed), (2970, 1));
    assert_eq!((used, ignored), (2820, 149), "qmgr's `removed` lines are used: they end a message");
    stderr_has(&r, "long.log:3: line of 5242947 bytes is longer than the limit of 1048576");
    let once = run(&["report", "samples/maillog", "--format", "csv"]).code(0);
    assert_eq!(r.stdout, once.stdout, "the long line changed the report");
    let r = run(&["report", &maillog, "--strict"]).code(2);
    stderr_has(&r, "long.log:3: line of 5242947 bytes");
    // In CSV formats: the sending log and a PowerMTA file.
    let mut sending = std::fs::read_to_string(sample("sending-log.csv")).unwrap();
    sending.insert_str(
        sending.find('\n').unwrap() + 1,
        &format!("c01,a@b.example,2026-03-02T09:00:01Z,FAILED 550 {huge}\n"),
    );
    let sending = d.write("long.csv", sending);
    let r = run(&["deactivations", &sending, "--stats", "--format", "csv"]).code(0);
    assert_eq!(stats(&r, &sending), [408, 406, 1, 1]);
    stderr_has(&r, "long.csv:2: row of 524");
    stderr_has(&r, " bytes is longer than the limit of 1048576");
    let pmta = d.write(
        "long-acct.csv",
        format!("type,timeLogged,rcpt,dsnStatus,dsnDiag\nb,2025-11-20 09:00:15+0000,a@b.example,5.1.1,smtp;550 {huge}\nd,2025-11-20 09:00:16+0000,c@d.example,2.0.0,smtp;250 ok\n"),
    );
    let r = run(&["classify", &pmta, "--stats", "--format", "csv"]).code(0);
    assert_eq!(stats(&r, &pmta), [3, 1, 1, 1]);
    stderr_has(&r, "long-acct.csv:2: row of");
    // And in the campaign data.
    let contacts = d.write("contacts.csv", format!("email,engaged\na@b.example,{huge}\nc@d.example,yes\n"));
    let r = run(&["report", "samples/maillog", "--contacts", &contacts, "--stats"]).code(0);
    assert_eq!(stats(&r, &contacts), [3, 1, 1, 1]);
    stderr_has(&r, "contacts.csv:2: row of");
}

#[test]
fn crlf_line_endings_give_the_same_results() {
    let d = Dir::new();
    for (name, command) in [("maillog", "report"), ("sending-log.csv", "deactivations")] {
        let lf = sample(name);
        let crlf = String::from_utf8(read(&lf)).unwrap().replace('\n', "\r\n");
        let crlf = d.write(name, crlf);
        let a = run(&[command, &lf, "--stats", "--format", "csv"]).code(0);
        let b = run(&[command, &crlf, "--stats", "--format", "csv"]).code(0);
        assert_eq!(a.stdout, b.stdout, "{name}");
        assert_eq!(stats(&a, &lf), stats(&b, &crlf), "{name}");
        assert_eq!(stats(&b, &crlf)[3], 0, "{}", b.describe());
    }
}

#[test]
fn a_truncated_gzip_yields_what_it_holds_with_a_warning() {
    let d = Dir::new();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&read(&sample("maillog"))).unwrap();
    let gz = gz.finish().unwrap();
    let whole = d.write("maillog.gz", &gz);
    let cut = d.write("cut.gz", &gz[..gz.len() / 2]);
    let once = run(&["report", &whole, "--stats", "--format", "csv"]).code(0);
    assert_eq!(stats(&once, &whole), [2969, 2820, 149, 0]);
    let r = run(&["report", &cut, "--stats", "--format", "csv"]).code(0);
    stderr_has(&r, "bounces: warning: ");
    stderr_has(&r, "cut.gz: gzip data ends early or is damaged");
    let [read, ..] = stats(&r, &cut);
    assert!(read > 100 && read < 2969, "{}", r.describe());
    let r = run(&["report", &cut, "--strict"]).code(2);
    stderr_has(&r, "cut.gz: gzip data ends early or is damaged");
    stderr_has(&r, "(--strict)");
    // Bare responses (`classify --text`, `unclassified --text`) are read the same way.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&b"550 5.1.1 user unknown\n452 4.2.2 mailbox full \xff\n".repeat(2000)).unwrap();
    let gz = gz.finish().unwrap();
    let responses = d.write("responses.gz", &gz[..gz.len() - 8]);
    for command in ["classify", "unclassified"] {
        let r = run(&[command, "--text", &responses, "--stats", "--format", "csv"]).code(0);
        stderr_has(&r, "responses.gz: gzip data ends early or is damaged");
        stderr_has(&r, "responses.gz: 2000 lines are not valid UTF-8 (the first is line 2)");
        assert_eq!(stats(&r, &responses)[0], 4000, "{}", r.describe());
    }
}

#[test]
fn a_csv_missing_a_required_column() {
    let d = Dir::new();
    let sending = d.write("sending.csv", "campaign_id,email,timestamp\nc1,a@b.example,2026-01-01T00:00:00Z\n");
    let r = run(&["report", &sending, "--log-format", "sending-log"]).code(2);
    stderr_has(&r, "sending.csv:1: the sending log needs a column 'log'");
    let sends = d.write("sends.csv", "email,message_id\na@b.example,<m@x>\n");
    let r = run(&["report", "samples/maillog", "--sends", &sends]).code(2);
    stderr_has(&r, "sends.csv:1: the sends file needs a column 'campaign_id'");
    let campaigns = d.write("campaigns.csv", "name,sent_at\nSpring,2026-03-02\n");
    let r = run(&["report", "samples/maillog", "--campaigns", &campaigns]).code(2);
    stderr_has(&r, "campaigns.csv:1: the campaigns file needs a column 'campaign_id'");
    let pmta = d.write("acct.csv", "type,timeLogged,orig,dsnStatus\nd,2025-11-20 09:00:15+0000,a@b,2.0.0\n");
    let r = run(&["report", &pmta, "--log-format", "pmta"]).code(2);
    stderr_has(&r, "acct.csv:1: the PowerMTA accounting file needs a column 'rcpt'");
}

#[test]
fn formula_cells_are_neutralised_in_csv() {
    let d = Dir::new();
    let log = d.write(
        "sending.csv",
        "campaign_id,email,timestamp,log\n\
         =1+1,a@b.example,2026-01-01T00:00:00Z,\"FAILED 550 =HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\"\n\
         @SUM(A1),b@b.example,2026-01-01T00:00:01Z,FAILED 550 +cmd|' /C calc'!A0\n\
         -2+3,c@b.example,2026-01-01T00:00:02Z,FAILED 550 -1+1\n\
         \"\tc4\",d@b.example,2026-01-01T00:00:03Z,\"FAILED 550 \r=1\"\n",
    );
    let r = run(&["classify", &log, "--format", "csv", "--stats"]).code(0);
    assert_eq!(stats(&r, &log), [5, 4, 1, 0]);
    let rows = r.csv();
    let cells: Vec<(&str, &str)> = rows.iter().map(|r| (r["campaign_id"].as_str(), r["text"].as_str())).collect();
    assert_eq!(
        cells,
        [
            ("'=1+1", "'=HYPERLINK(\"http://evil.example\",\"x\")"),
            ("'@SUM(A1)", "'+cmd|' /C calc'!A0"),
            ("'-2+3", "'-1+1"),
            // Parsers trim cells, so a leading tab or CR cannot reach the output from here (unit tests cover it).
            ("c4", "'=1"),
        ]
    );
    // For machine consumers, --raw-csv leaves them as they are.
    let r = run(&["classify", &log, "--format", "csv", "--raw-csv"]).code(0);
    let rows = r.csv();
    assert_eq!(
        (rows[0]["campaign_id"].as_str(), rows[0]["text"].as_str()),
        ("=1+1", "=HYPERLINK(\"http://evil.example\",\"x\")")
    );
    assert_eq!(rows[2]["text"], "-1+1");
}

#[test]
fn terminal_escapes_in_responses_are_shown_escaped() {
    let d = Dir::new();
    let log = d.write(
        "sending.csv",
        "campaign_id,email,timestamp,log\n\
         c1,a@b.example,2026-01-01T00:00:00Z,FAILED 550 5.1.1 user unknown \x1b]0;pwned\x07 \x1b[2J\u{9b}31m\u{202e}gnp.exe\n\
         c1,b@b.example,2026-01-01T00:00:01Z,\x1b]8;;http://evil.example\x1b\\\n",
    );
    let r = run(&["classify", &log, "--stats"]).code(0);
    assert_eq!(stats(&r, &log), [3, 1, 1, 1]);
    assert!(r.stdout.contains("user unknown \\e]0;pwned\\x07 \\e[2J\\x9b31m\\u{202e}gnp.exe"), "{}", r.describe());
    // The malformed row's text is quoted in the warning: escaped too.
    stderr_has(&r, "sending.csv:3: log '\\e]8;;http://evil.example\\e\\' is neither");
    for out in [&r.stdout, &r.stderr] {
        assert!(!out.contains(['\x1b', '\x07', '\u{9b}', '\u{202e}']), "{}", r.describe());
    }
    // The same in a report's table and the deactivations table.
    for command in ["deactivations", "contact a@b.example"] {
        let mut args: Vec<&str> = command.split(' ').collect();
        args.push(&log);
        let r = run(&args).code(0);
        assert!(r.stdout.contains("\\e]0;pwned\\x07"), "{}", r.describe());
        assert!(!r.stdout.contains(['\x1b', '\x07', '\u{9b}']), "{}", r.describe());
    }
    // JSON escapes them its own way; CSV to a file or a pipe keeps them for programs.
    let r = run(&["classify", &log, "--format", "json"]).code(0);
    assert!(r.stdout.contains("\\u001b]0;pwned\\u0007"), "{}", r.describe());
}

#[test]
fn a_year_rollover_in_yearless_syslog() {
    let d = Dir::new();
    let log = [
        postfix_line("Dec 31 23:59:58", "mta1", "AAA111", "a@x.example", "bounced", "550 5.1.1 user unknown"),
        postfix_line("Jan  1 00:00:03", "mta2", "BBB222", "b@x.example", "sent", "250 ok"),
        postfix_line("Feb 29 10:00:00", "mta2", "CCC333", "c@x.example", "sent", "250 ok"),
        postfix_line("Mar  1 10:00:00", "mta2", "DDD444", "d@x.example", "sent", "250 ok"),
    ]
    .concat();
    let log = d.write("rollover.log", log);
    let r = run(&["classify", &log, "--year", "2025", "--stats", "--format", "csv"]).code(0);
    let times: Vec<String> = r.csv().iter().map(|r| r["time"].clone()).collect();
    assert_eq!(times, ["2025-12-31T23:59:58Z", "2026-01-01T00:00:03Z", "2026-03-01T10:00:00Z"]);
    // 29 February 2026 does not exist: that line is malformed, named.
    assert_eq!(stats(&r, &log), [4, 3, 0, 1]);
    stderr_has(&r, "rollover.log:3: 2026-02-29 does not exist");
    // A year given for a leap year reads it.
    let r = run(&["classify", &log, "--year", "2027", "--format", "csv"]).code(0);
    assert_eq!(r.csv()[2]["time"], "2028-02-29T10:00:00Z");
}

#[test]
fn out_of_order_lines() {
    let d = Dir::new();
    // Two hosts merged by a syslog server, seconds out of order around the end of a month and of a year.
    let log = [
        postfix_line("Mar 31 23:59:58", "mta1", "AAA111", "a@x.example", "sent", "250 ok"),
        postfix_line("Apr  1 00:00:01", "mta2", "BBB222", "b@x.example", "sent", "250 ok"),
        postfix_line("Mar 31 23:59:59", "mta1", "CCC333", "c@x.example", "sent", "250 ok"),
        postfix_line("Apr  1 00:00:02", "mta1", "DDD444", "d@x.example", "sent", "250 ok"),
        postfix_line("Dec 31 23:59:58", "mta1", "EEE555", "e@x.example", "sent", "250 ok"),
        postfix_line("Jan  1 00:00:01", "mta2", "FFF666", "f@x.example", "sent", "250 ok"),
        postfix_line("Dec 31 23:59:59", "mta1", "ABC777", "g@x.example", "sent", "250 ok"),
        postfix_line("Jan  1 00:00:02", "mta1", "DEF888", "h@x.example", "sent", "250 ok"),
    ]
    .concat();
    let log = d.write("merged.log", log);
    let r = run(&["classify", &log, "--year", "2025", "--stats", "--format", "csv"]).code(0);
    assert_eq!(stats(&r, &log), [8, 8, 0, 0]);
    let times: Vec<(String, String)> = r.csv().iter().map(|r| (r["recipient"].clone(), r["time"].clone())).collect();
    let expected = [
        ("a", "2025-03-31T23:59:58Z"),
        ("c", "2025-03-31T23:59:59Z"),
        ("b", "2025-04-01T00:00:01Z"),
        ("d", "2025-04-01T00:00:02Z"),
        ("e", "2025-12-31T23:59:58Z"),
        ("g", "2025-12-31T23:59:59Z"),
        ("f", "2026-01-01T00:00:01Z"),
        ("h", "2026-01-01T00:00:02Z"),
    ]
    .map(|(who, t)| (format!("{who}@x.example"), t.to_string()));
    assert_eq!(times, expected);
    // A sending log in any row order gives the same deactivations: replay is in time order, not file order.
    let text = std::fs::read_to_string(sample("sending-log.csv")).unwrap();
    let (header, rows) = text.split_once('\n').unwrap();
    let reversed: Vec<&str> = rows.lines().rev().collect();
    let reversed = d.write("reversed.csv", format!("{header}\n{}\n", reversed.join("\n")));
    let a = run(&["deactivations", &sample("sending-log.csv"), "--format", "csv"]).code(0);
    let b = run(&["deactivations", &reversed, "--format", "csv", "--stats"]).code(0);
    assert_eq!(stats(&b, &reversed), [407, 406, 1, 0]);
    assert_eq!(a.stdout, b.stdout);
}

/// The note printed when attempts were found twice.
fn duplicates_note(r: &Run) -> Option<u64> {
    let line = r.stderr.lines().find(|l| l.starts_with("bounces: note: ") && l.contains(" appeared more than once"))?;
    line["bounces: note: ".len()..].split(' ').next()?.parse().ok()
}

#[test]
fn the_same_file_twice_is_counted_once() {
    // Every one of the maillog's 649 attempts (7 of them expiries) appears in both copies.
    for (name, command, attempts) in
        [("maillog", "report", 649), ("sending-log.csv", "deactivations", 406), ("sending-log.csv", "report", 406)]
    {
        let path = sample(name);
        let once = run(&[command, &path, "--format", "csv"]).code(0);
        assert_eq!(duplicates_note(&once), None, "{}", once.describe());
        let twice = run(&[command, &path, &path, "--format", "csv", "--stats"]).code(0);
        assert_eq!(once.stdout, twice.stdout, "{name} given twice changed the {command}");
        assert_eq!(duplicates_note(&twice), Some(attempts), "{}", twice.describe());
        stderr_has(&twice, "(the same file given twice, or overlapping rotated files) and were counted once");
        // Each copy is still accounted for in full.
        let lines = lines_of(&path);
        let accounted: Vec<&str> = twice.stderr.lines().filter(|l| l.starts_with(path.as_str())).collect();
        assert_eq!(accounted.len(), 2, "{}", twice.describe());
        assert_eq!(stats(&twice, &path)[0], lines);
    }
    // Every format: the same attempts as once.
    let d = Dir::new();
    let exim = d.write(
        "exim.log",
        "2025-11-20 09:00:01 1vM0WT-0000GA-35 <= b@n.example H=localhost [127.0.0.1] P=esmtp S=1 id=m1@x\n\
         2025-11-20 09:00:02 1vM0WT-0000GA-35 ** a@x.example R=dnslookup T=remote_smtp H=mx.x.example [192.0.2.1]: SMTP error from remote mail server after RCPT TO:<a@x.example>: 550 5.1.1 user unknown\n\
         2025-11-20 09:00:03 1vM0WT-0000GA-35 => c@y.example R=dnslookup T=remote_smtp H=mx.y.example [192.0.2.2] C=\"250 OK id=1\"\n\
         2025-11-20 09:00:04 1vM0WT-0000GA-35 Completed\n",
    );
    for file in [
        "tests/fixtures/formats/kumomta.jsonl",
        "tests/fixtures/formats/pmta-acct.csv",
        "tests/fixtures/formats/sendmail.log",
        exim.as_str(),
        "tests/fixtures/corpus/postfix/infohtreasure-postfix-maillog-dump-mailog2-lines1-1700.log",
    ] {
        let once = run(&["classify", file, "--format", "csv", "--year", "2020"]).code(0);
        let twice = run(&["classify", file, file, "--format", "csv", "--year", "2020"]).code(0);
        assert!(once.stdout.lines().count() > 1, "{}", once.describe());
        assert_eq!(once.stdout, twice.stdout, "{file}");
        assert!(duplicates_note(&twice).is_some(), "{}", twice.describe());
    }
    // classify lists attempts: the same rows as once.
    let once = run(&["classify", "samples/maillog", "--format", "csv"]).code(0);
    let twice = run(&["classify", "samples/maillog", "samples/maillog", "--format", "csv"]).code(0);
    assert_eq!(once.stdout, twice.stdout);
}

#[test]
fn overlapping_rotated_files_are_counted_once() {
    let d = Dir::new();
    for (name, command, cut) in [("maillog", "report", (1500, 2000)), ("sending-log.csv", "deactivations", (150, 300))]
    {
        let path = sample(name);
        let text = String::from_utf8(read(&path)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let (header, from) = if name.ends_with(".csv") { (format!("{}\n", lines[0]), 1) } else { (String::new(), 0) };
        // Part 1 is lines up to 2000, part 2 from 1500: 500 lines in both.
        let part1 = d.write(&format!("{name}.1"), format!("{header}{}\n", lines[from..cut.1].join("\n")));
        let part2 = d.write(&format!("{name}.2"), format!("{header}{}\n", lines[cut.0..].join("\n")));
        let whole = run(&[command, &path, "--format", "csv"]).code(0);
        let parts = run(&[command, &part2, &part1, "--format", "csv", "--stats"]).code(0);
        assert_eq!(whole.stdout, parts.stdout, "{name} in overlapping parts changed the {command}");
        assert!(duplicates_note(&parts).is_some_and(|n| n > 0), "{}", parts.describe());
        // Without the overlap there is nothing to note.
        let part2 = d.write(&format!("{name}.3"), format!("{header}{}\n", lines[cut.1..].join("\n")));
        let parts = run(&[command, &part1, &part2, "--format", "csv"]).code(0);
        assert_eq!(whole.stdout, parts.stdout);
        assert_eq!(duplicates_note(&parts), None, "{}", parts.describe());
    }
}

#[test]
fn distinct_sends_in_one_file_are_not_merged() {
    // The same row twice in one sending log is two sends (the platform's word); the file given twice is still two.
    let d = Dir::new();
    let row = "c1,a@b.example,2026-01-01T00:00:00Z,FAILED 452 4.2.2 mailbox full\n";
    let log = d.write("twice.csv", format!("campaign_id,email,timestamp,log\n{row}{row}"));
    let count = |files: &[&str]| {
        let mut args = vec!["report", "--format", "csv"];
        args.extend_from_slice(files);
        run(&args).code(0).csv()[0]["soft_bounces"].clone()
    };
    assert_eq!(count(&[&log]), "2");
    assert_eq!(count(&[&log, &log]), "2");
}

#[test]
fn every_sample_through_every_command_under_stats() {
    // The whole battery's promise, on the good inputs: accounting adds up, nothing panics.
    let files: Vec<PathBuf> = ["maillog", "sending-log.csv"].iter().map(|n| root().join("samples").join(n)).collect();
    for f in &files {
        let f = f.to_str().unwrap();
        for command in ["report", "deactivations", "classify", "unclassified"] {
            let r = run(&[command, f, "--stats", "--format", "csv"]).code(0);
            stats(&r, f);
        }
    }
    assert!(Path::new(&files[0]).exists());
}

#[test]
fn server_text_cannot_change_its_own_code() {
    // A refusal whose words quote Exim's wrapper around a 250 stays a refusal (found by fuzzing the reply parser).
    let r = super::util::bounces_stdin(
        &["classify", "--text", "--format", "csv", "--stats"],
        Some(b"FAILED 550 5.1.1 no such user; SMTP error from remote mail server after RCPT TO:<a@b>: 250 ok\n"),
    );
    let r = r.code(0);
    assert_eq!(stats(&r, "<stdin>"), [1, 1, 0, 0]);
    let row = &r.csv()[0];
    assert_eq!((row["class"].as_str(), row["reply_code"].as_str()), ("hard", "550"), "{}", r.describe());
}

/// A log where every message comes from its own host with its own return path: more names than the run keeps in its
/// tables (see `postfix::Name`), so that most are held as counted copies. The verdicts, the deactivations and the
/// accounting must be those of the same log from one host with one sender.
#[test]
fn endless_distinct_hosts_and_senders_join_as_one_host_would() {
    let log = |distinct: bool| {
        let mut log = String::new();
        for n in 0..5_000u32 {
            let t =
                format!("2026-03-{:02}T{:02}:{:02}:{:02}+00:00", 2 + n / 86_400, n / 3600 % 24, n / 60 % 60, n % 60);
            let id = format!("{:010X}", 0xB0000 + n);
            let (host, sender) =
                if distinct { (format!("mta-{n}"), format!("bounce+{n}")) } else { ("mta".into(), "bounce".into()) };
            // Four recipients take turns; one in seven messages bounces, one in five is deferred and then delivered.
            let to = format!("r{}@example.org", n % 4);
            log.push_str(&format!("{t} {host} postfix/cleanup[1]: {id}: message-id=<m{n}@news.example.com>\n"));
            log.push_str(&format!(
                "{t} {host} postfix/qmgr[2]: {id}: from=<{sender}@news.example.com>, size=1, nrcpt=1 (queue active)\n"
            ));
            if n % 5 == 0 {
                log.push_str(&format!("{t} {host} postfix/smtp[3]: {id}: to=<{to}>, relay=mx.example.org[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=4.2.2, status=deferred (host mx.example.org[192.0.2.1] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command))\n"));
            }
            let (dsn, status, text) = if n % 7 == 0 {
                (
                    "5.1.1",
                    "bounced",
                    "host mx.example.org[192.0.2.1] said: 550 5.1.1 User unknown (in reply to RCPT TO command)",
                )
            } else {
                ("2.0.0", "sent", "250 2.0.0 Ok: queued")
            };
            log.push_str(&format!("{t} {host} postfix/smtp[3]: {id}: to=<{to}>, relay=mx.example.org[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn={dsn}, status={status} ({text})\n"));
            log.push_str(&format!("{t} {host} postfix/qmgr[2]: {id}: removed\n"));
        }
        log
    };
    let dir = Dir::new();
    let (many, one) = (dir.write("many.log", log(true)), dir.write("sole.log", log(false)));
    // Every try (5,000 final, 1,000 deferrals) and a header; each of the four recipients deactivated, and a header.
    let commands =
        [(&["classify", "--format", "csv"][..], 6_001), (&["deactivations", "--format", "csv", "--hard", "3"][..], 5)];
    for (command, rows) in commands {
        let got = |path: &str| run(&[command, &[path, "--stats"]].concat()).ok();
        let (a, b) = (got(&many), got(&one));
        assert_eq!(a.stdout, b.stdout, "{command:?}");
        assert_eq!(a.stderr.replace("many.log", "sole.log"), b.stderr, "{command:?}");
        assert_eq!(a.stdout.lines().count(), rows, "{command:?}");
    }
}

#[test]
fn responses_ended_by_bare_carriage_returns_are_each_classified() {
    // Old Mac line ends: the line reader does not split at a bare CR, so the file is one line of three responses.
    // Each is its own row, in the table as in csv; the line counts once.
    let text = b"550 5.1.1 user unknown\r451 4.7.1 try later\r\r452 4.2.2 mailbox full\r";
    let r = super::util::bounces_stdin(&["classify", "--text", "--format", "csv", "--stats"], Some(text)).code(0);
    assert_eq!(stats(&r, "<stdin>"), [1, 1, 0, 0]);
    let rows: Vec<(String, String)> = r.csv().iter().map(|row| (row["input"].clone(), row["reason"].clone())).collect();
    let want = [
        ("550 5.1.1 user unknown", "userunknown"),
        ("451 4.7.1 try later", "blocked"),
        ("452 4.2.2 mailbox full", "mailboxfull"),
    ];
    assert_eq!(rows, want.map(|(i, r)| (i.to_string(), r.to_string())), "{}", r.describe());
    let table = super::util::bounces_stdin(&["classify", "--text"], Some(text)).ok().stdout;
    assert_eq!(table.matches("┆ hard ").count() + table.matches("┆ soft ").count(), 3, "{table}");
}
