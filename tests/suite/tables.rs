//! Tables of one row per input line (`classify --text` on many responses, `classify` on a log) are drawn as their
//! rows come, sized from their first rows: each must still show every name whole, keep one width, say what the csv
//! output says, and end quietly when the reader of a pipe stops early.

use super::util::{bounces, bounces_stdin};

/// More responses than a table holds to size its columns: the first ones short, the longest names and a text
/// longer than the column only after them.
fn responses() -> String {
    let late = [
        "550-5.7.1 [192.0.2.1] Our system has detected that this message is not RFC 5322 compliant: multiple From headers",
        "550 5.7.1 Message rejected due to local policy violation",
        "550 5.1.1 <a@b.example>: Recipient address rejected: User unknown in virtual mailbox table, and a long tail",
        "421 4.7.0 Try again later, closing connection",
    ];
    let mut text = "250 ok\n".repeat(1500);
    for i in 0..1100 {
        text.push_str(late[i % late.len()]);
        text.push('\n');
    }
    text
}

/// The cells of a table's row, trimmed.
fn cells(line: &str) -> Vec<&str> {
    line.trim_start_matches('│').trim_end_matches('│').split('┆').map(str::trim).collect()
}

#[test]
fn a_long_table_of_responses_shows_every_name_whole() {
    let input = responses();
    let table = bounces_stdin(&["classify", "--text"], Some(input.as_bytes())).ok().stdout;
    let rows = bounces_stdin(&["classify", "--text", "--format", "csv"], Some(input.as_bytes())).ok().csv();
    let lines: Vec<&str> = table.lines().collect();
    // The top border, the header and its rule, a line per response, the bottom border.
    assert_eq!(lines.len(), rows.len() + 4, "{table}");
    assert_eq!(rows.len(), 2600);
    let width = lines[0].chars().count();
    assert!(lines.iter().all(|l| l.chars().count() == width), "one width:\n{table}");
    assert_eq!(cells(lines[1]), ["input", "class", "reason", "fault", "code", "enhanced"]);
    for (line, row) in lines[3..lines.len() - 1].iter().zip(&rows) {
        let c = cells(line);
        assert_eq!(
            (c[1], c[2], c[3], c[4], c[5]),
            (
                row["class"].as_str(),
                row["reason"].as_str(),
                row["fault"].as_str(),
                row["reply_code"].as_str(),
                row["enhanced_status"].as_str()
            ),
            "{line}"
        );
        // The response itself, cut only where tables cut it (at 80 characters), though the first rows were short.
        let input = &row["input"];
        let expected: String =
            if input.chars().count() > 80 { input.chars().take(79).chain(['…']).collect() } else { input.clone() };
        assert_eq!(c[0], expected, "{line}");
    }
    assert!(rows.iter().any(|r| r["reason"] == "notcompliantrfc"));
}

#[test]
fn a_short_table_is_sized_to_its_rows() {
    // The same responses, few: the table is as wide as they need, no wider.
    let input: String = responses().lines().skip(1499).take(3).map(|l| format!("{l}\n")).collect();
    let table = bounces_stdin(&["classify", "--text"], Some(input.as_bytes())).ok().stdout;
    let header = table.lines().nth(1).unwrap();
    assert!(header.contains("┆ reason          ┆"), "{table}");
    assert!(header.contains("┆ enhanced │"), "{table}");
}

#[test]
fn a_log_table_is_as_wide_as_its_widest_cells() {
    // Every attempt of the sample log, drawn a row at a time: the same rows as the csv output, none cut.
    let table = bounces(&["classify", "samples/maillog"]).ok().stdout;
    let rows = bounces(&["classify", "samples/maillog", "--format", "csv"]).ok().csv();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), rows.len() + 4);
    for (line, row) in lines[3..lines.len() - 1].iter().zip(&rows) {
        let c = cells(line);
        assert_eq!((c[0], c[1], c[5]), (row["time"].as_str(), row["recipient"].as_str(), row["reason"].as_str()));
    }
}

#[test]
fn a_table_closed_early_by_its_reader_ends_quietly() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let mut child = super::util::spawn(&["classify", "--text"], Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    let input = responses().repeat(40);
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    // The first rows, then the pipe is closed while the binary still has rows to write.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with('┌'), "{first}");
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_sparkline_is_for_terminals_not_pipes_or_files() {
    let args = ["report", "samples/maillog", "--sends", "samples/sends.csv", "--campaigns", "samples/campaigns.csv"];
    let piped = bounces(&args).ok();
    assert!(piped.stdout.contains("c07"), "{}", piped.stdout);
    assert!(!piped.stdout.contains("bounce rate by campaign"), "{}", piped.stdout);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.txt");
    let mut to_file = args.to_vec();
    to_file.extend(["-o", file.to_str().unwrap()]);
    bounces(&to_file).ok();
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains("c07") && !written.contains("bounce rate by campaign"), "{written}");
}

#[test]
fn no_deactivations_is_a_line_not_an_empty_table() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sending.csv");
    std::fs::write(&log, "campaign_id,email,timestamp,log\nc1,a@b.example,2026-01-01T00:00:00Z,250 ok\n").unwrap();
    let run = bounces(&["deactivations", log.to_str().unwrap()]).ok();
    assert_eq!(run.stdout.trim(), "0 contacts deactivated: 0 by hard bounces, 0 by the soft-bounce threshold");
    let run = bounces(&["deactivations", log.to_str().unwrap(), "--format", "csv"]).ok();
    assert!(run.stdout.starts_with("email,deactivated_at,"), "pipelines still get the header: {}", run.stdout);
}
