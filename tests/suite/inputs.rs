//! Many files at once: rotated, compressed (gzip and zstd), given in any order, read as one history; and time
//! windows.

use std::io::Write;
use std::path::Path;

use super::oracle::{expected, first_year, generate, ours, strs};
use super::util::{bounces, bounces_stdin};

/// Writes `lines` gzip-compressed.
fn write_gz(path: &Path, lines: &[&str]) {
    let mut e = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
    for l in lines {
        writeln!(e, "{l}").unwrap();
    }
    e.finish().unwrap();
}

/// Writes `lines` zstd-compressed.
fn write_zst(path: &Path, lines: &[&str]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let data = ruzstd::encoding::compress_to_vec(text.as_bytes(), ruzstd::encoding::CompressionLevel::Fastest);
    std::fs::write(path, data).unwrap();
}

#[test]
fn a_log_split_into_compressed_files_in_any_order_gives_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    if !generate(d, &["--contacts", "1500", "--campaigns", "5", "--seed", "21"]) {
        return;
    }
    let want = expected(d);
    assert!(!want.is_empty());
    let text = std::fs::read_to_string(d.join("maillog")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Four rotated parts: messages that span two parts are joined across files.
    let quarter = lines.len() / 4 + 1;
    let parts: Vec<&[&str]> = lines.chunks(quarter).collect();
    let names = ["mail.log.3.gz", "mail.log.2.gz", "mail.log.1.zst", "mail.log"];
    for (name, part) in names.iter().zip(&parts) {
        let path = d.join(name);
        match name.rsplit('.').next() {
            Some("gz") => write_gz(&path, part),
            Some("zst") => write_zst(&path, part),
            _ => std::fs::write(&path, part.join("\n") + "\n").unwrap(),
        }
    }
    let year = first_year(d);
    let run = |order: &[&str]| {
        let mut args = strs(d, &["deactivations", "--sends", "@sends.csv", "--contacts", "@contacts.csv"]);
        args.extend(strs(d, &["--format", "csv", "--year", &year]));
        args.extend(order.iter().map(|n| d.join(n).display().to_string()));
        args
    };
    let output = |order: &[&str]| bounces(&run(order)).ok().stdout;
    assert_eq!(ours(run(&names)), want, "rotated parts, oldest first");
    let shuffled = ["mail.log.1.zst", "mail.log", "mail.log.3.gz", "mail.log.2.gz"];
    assert_eq!(output(&shuffled), output(&names), "the same bytes whatever the order of the files");
    assert_eq!(output(&["mail.log", "mail.log.1.zst", "mail.log.2.gz", "mail.log.3.gz"]), output(&names));
}

#[test]
fn standard_input_is_read_as_a_file_is_plain_or_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    if !generate(d, &["--contacts", "1500", "--campaigns", "5", "--seed", "21"]) {
        return;
    }
    let text = std::fs::read_to_string(d.join("maillog")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    write_gz(&d.join("maillog.gz"), &lines);
    write_zst(&d.join("maillog.zst"), &lines);
    let year = first_year(d);
    let args = |log: &str| {
        let mut args = strs(d, &["report", log, "--sends", "@sends.csv", "--contacts", "@contacts.csv"]);
        args.extend(strs(d, &["--format", "csv", "--year", &year, "--stats"]));
        args
    };
    let from_file = bounces(&args(&d.join("maillog").display().to_string())).ok().stdout;
    for name in ["maillog", "maillog.gz", "maillog.zst"] {
        let bytes = std::fs::read(d.join(name)).unwrap();
        let run = bounces_stdin(&args("-"), Some(&bytes)).ok();
        assert!(run.stdout == from_file, "{name} on standard input");
        let stats = run.stderr.lines().find(|l| l.starts_with("<stdin>")).unwrap_or_else(|| panic!("{}", run.stderr));
        assert!(stats.contains(&lines.len().to_string()), "every line read once: {stats}");
    }
    // Without --year, the year comes from the last line, as for a file (written now, so dated now): standard input
    // is copied to a temporary file to be read twice, and the copy is removed.
    let spills = || {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("bounces-stdin-"))
            .count()
    };
    let before = spills();
    let no_year = |log: &str, stdin: Option<&[u8]>| {
        let args = strs(d, &["deactivations", log, "--sends", "@sends.csv", "--format", "csv"]);
        bounces_stdin(&args, stdin).ok().stdout
    };
    let gz = std::fs::read(d.join("maillog.gz")).unwrap();
    let file = no_year(&d.join("maillog").display().to_string(), None);
    assert!(file.lines().count() > 10);
    assert!(no_year("-", Some(&gz)) == file, "the year inferred from the whole input");
    assert_eq!(spills(), before, "no copy left behind");
    // A sending log on standard input is checked for time order in the same way, and gives the same answer.
    let sending = std::fs::read(d.join("sending-log.csv")).unwrap();
    let deactivations =
        |log: &str, stdin: Option<&[u8]>| bounces_stdin(&["deactivations", log, "--format", "csv"], stdin).ok().stdout;
    let file = d.join("sending-log.csv").display().to_string();
    assert!(deactivations("-", Some(&sending)) == deactivations(&file, None));
}

#[test]
fn a_year_taken_from_long_after_the_last_line_is_noted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("maillog");
    std::fs::write(
        &log,
        concat!(
            "Mar  2 09:00:00 mta1 postfix/qmgr[1]: ABCDE12345: from=<bounce@news.example.com>, size=100, nrcpt=1 (queue active)\n",
            "Mar  2 09:00:01 mta1 postfix/smtp[2]: ABCDE12345: to=<a@example.org>, relay=mx.example.org[192.0.2.1]:25, delay=1, ",
            "delays=0/0/0/1, dsn=5.1.1, status=bounced (host mx.example.org[192.0.2.1] said: 550 5.1.1 user unknown ",
            "(in reply to RCPT TO command))\n",
            "Mar  2 09:00:01 mta1 postfix/qmgr[1]: ABCDE12345: removed\n",
        ),
    )
    .unwrap();
    let changed = |secs: u64| {
        let file = std::fs::File::options().write(true).open(&log).unwrap();
        file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)).unwrap();
    };
    let name = log.display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec!["deactivations", name.as_str(), "--format", "csv"];
        args.extend(extra);
        bounces(&args).ok()
    };
    // Changed on 2025-06-01: the last line is taken to be 2 March 2025, three months before, and the user is told.
    changed(1_748_736_000);
    let noted = run(&[]);
    assert!(noted.stdout.contains("a@example.org,2025-03-02T09:00:01Z"), "{}", noted.describe());
    let note = format!(
        "bounces: note: {name}: its times carry no year: its first line was dated 2025 and its last 2025-03-02, 90 days \
         before the file was last changed (2025-06-01); if the log is older, give its first line's year with --year"
    );
    assert!(noted.stderr.lines().any(|l| l == note), "{}", noted.describe());
    // A note is no problem with the file: --strict still runs; and --year says the year, so nothing is noted.
    assert_eq!(run(&["--strict"]).stdout, noted.stdout);
    let given = run(&["--year", "2024"]);
    assert!(given.stdout.contains("a@example.org,2024-03-02T09:00:01Z"), "{}", given.describe());
    assert!(!given.stderr.contains("note"), "{}", given.describe());
    // Changed the day after its last line, as a live or rotated log is: nothing to tell.
    changed(1_740_960_000);
    let quiet = run(&[]);
    assert_eq!(quiet.stdout, noted.stdout);
    assert!(!quiet.stderr.contains("note"), "{}", quiet.describe());
}

#[test]
fn since_and_until_keep_the_attempts_in_the_window() {
    let all = bounces(&["classify", "samples/maillog", "--format", "csv"]).ok().csv();
    let (since, until) = ("2026-04-06T00:00:00Z", "2026-04-20");
    let window = bounces(&["classify", "samples/maillog", "--format", "csv", "--since", since, "--until", until]);
    let window = window.ok().csv();
    let inside: Vec<_> =
        all.iter().filter(|r| r["time"].as_str() >= since && r["time"].as_str() < "2026-04-20T00:00:00Z").collect();
    assert!(!inside.is_empty() && inside.len() < all.len());
    assert_eq!(window.iter().collect::<Vec<_>>(), inside);
    let run = bounces(&["classify", "samples/maillog", "--since", "last tuesday"]).code(2);
    assert!(run.stderr.contains("--since 'last tuesday' is not a time"), "{}", run.stderr);
}
