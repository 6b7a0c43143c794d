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
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_bounces"))
        .args(["classify", "samples/maillog", "--format", "csv"])
        .current_dir(super::util::root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // Dropping the read end closes the pipe while the binary still writes.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}
