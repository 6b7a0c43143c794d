//! Exim and Sendmail logs: every file of the shared corpus is accounted for line by line and gives as many
//! attempts as an independent count by plain string matching; the generator's Exim mainlog gives the oracle's exact
//! deactivations; a hand-made Sendmail log gives the outcomes it was written for.
//!
//! Only the permissively licensed corpus file (CrowdSec's, MIT) is copied into `tests/fixtures/corpus/exim/`; the
//! GPL and Perl-licensed files are read from `../shared` when it is present and skipped, with a message, otherwise.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::corpus::check_accounting;
use super::oracle::{campaign_columns, expected, generate, ours, strs};
use super::util::{bounces, csv_file, root, shared};

/// The shared corpus's Exim files under the GPL (Exim's test suite, fail2ban, ddgrey): read in place, never copied.
const EXIM_SHARED: [&str; 15] = [
    "exim-testsuite-test-log-0135.log",
    "exim-testsuite-test-log-0194.log",
    "exim-testsuite-test-log-0215.log",
    "exim-testsuite-test-log-0217.log",
    "exim-testsuite-test-log-0322.log",
    "exim-testsuite-test-log-0495.log",
    "exim-testsuite-test-log-0497.log",
    "exim-testsuite-test-log-0607.log",
    "exim-testsuite-test-log-0622.log",
    "exim-testsuite-test-log-1091.log",
    "exim-testsuite-test-log-5510.log",
    "exim-testsuite-test-log-5700.log",
    "fail2ban-tests-files-logs-exim.log",
    "perericr-ddgrey-mainlog.log",
    // Also in the fixtures (MIT); read here too so that every file of the folder is covered.
    "crowdsec-hub-exim-logs.log",
];

/// The shared corpus's Sendmail files (Perl 5 license): read in place, never copied.
const SENDMAIL_SHARED: [&str; 3] = [
    "parse-syslog-mail-t-logs-sendmail-plain.log",
    "parse-syslog-mail-t-logs-sendmail-done.log",
    "parse-syslog-mail-t-logs-sendmail-ruleset.log",
];

/// Counts the delivery lines of an Exim main log without our parser: lines whose word after the time (and the
/// optional `+ZZZZ` and `[pid]`) and the message id is `=>`, `->`, `==` or `**` (the same markers elsewhere on a
/// line, as in `. [127.0.0.1] -> [127.0.0.1]:25` event lines, do not count), leaving out the messages whose `<=`
/// sender is `<>` (Exim's own notifications) and the lines about no address at all (`** mua_wrapper is set ...`:
/// neither of the two words after the marker has an `@`).
fn exim_count(log: &str) -> usize {
    let split = |l: &str| -> Option<(String, String, Vec<String>)> {
        let mut words = l.split_whitespace().skip(2).peekable();
        if words.peek().is_some_and(|w| w.starts_with('+') || w.starts_with('-')) {
            words.next();
        }
        if words.peek().is_some_and(|w| w.starts_with('[') && w.ends_with(']')) {
            words.next();
        }
        let id = words.next()?.to_string();
        let marker = words.next()?.to_string();
        Some((id, marker, words.take(2).map(str::to_string).collect()))
    };
    let lines: Vec<_> = log.lines().filter(|l| l.starts_with(['1', '2'])).filter_map(split).collect();
    let notifications: HashSet<&str> = lines
        .iter()
        .filter(|(_, m, after)| m == "<=" && after.first().is_some_and(|s| s == "<>"))
        .map(|(id, ..)| id.as_str())
        .collect();
    lines
        .iter()
        .filter(|(_, m, _)| ["=>", "->", "==", "**"].contains(&m.as_str()))
        .filter(|(id, ..)| !notifications.contains(id.as_str()))
        .filter(|(.., after)| after.iter().any(|w| w.contains('@')))
        .count()
}

/// Counts the recipients of the Sendmail lines with ` to=` and `stat=` without our parser (one per address listed
/// in `to=`), leaving out notifications (queue ids with `from=<>`, or named as `QID: QID2: DSN:`), the local
/// submission queue (`sm-msp-queue`) and `stat=queued` (queued without a try); plus one expiry per
/// `DSN: Cannot send message for ...` line (each such message in these files has one recipient still deferred).
fn sendmail_count(log: &str) -> usize {
    let queue_id = |l: &str| -> Option<String> {
        let i = l.find("]: ")?;
        l[i + 3..].split_once(": ").map(|(q, _)| q.to_string())
    };
    let mut notifications: HashSet<String> =
        log.lines().filter(|l| l.contains(": from=<>,")).filter_map(queue_id).collect();
    for l in log.lines().filter(|l| l.contains(": DSN: ")) {
        if let Some(i) = l.find("]: ") {
            let parts: Vec<&str> = l[i + 3..].split(": ").collect();
            if parts.len() >= 3 {
                notifications.insert(parts[1].to_string());
            }
        }
    }
    log.lines()
        .filter(|l| (l.contains(" sendmail[") || l.contains(" sm-mta[")) && l.contains(" to=") && l.contains("stat="))
        .filter(|l| !l.contains("stat=queued"))
        .filter(|l| queue_id(l).is_none_or(|q| !notifications.contains(&q)))
        .map(|l| {
            let to = &l[l.find(" to=").unwrap_or(0) + 4..];
            to[..to.find(", ").unwrap_or(to.len())].split(',').filter(|t| !t.trim().is_empty()).count()
        })
        .sum::<usize>()
        + log.lines().filter(|l| l.contains(": DSN: Cannot send message for")).count()
}

/// Runs `classify FILE --stats --log-format FORMAT`, checks the attempts against the independent count and the
/// accounting, and returns the rows and the accounting line.
fn check(path: &Path, format: &str) -> (Vec<HashMap<String, String>>, usize) {
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    let file = path.file_name().unwrap().to_str().unwrap();
    let run = bounces(&[
        "classify",
        path.to_str().unwrap(),
        "--format",
        "csv",
        "--stats",
        "--log-format",
        format,
        "--year",
        "2005",
    ])
    .ok();
    let want = if format == "exim" { exim_count(&text) } else { sendmail_count(&text) };
    let rows = run.csv();
    assert_eq!(rows.len(), want, "{file}\n{}", run.stderr);
    check_accounting(&run.stderr, file, &text);
    eprintln!("{format} {file}: {} attempts", rows.len());
    (rows, want)
}

fn shared_file(folder: &str, file: &str) -> Option<PathBuf> {
    let Some(shared) = shared() else {
        eprintln!("skipped {file}: ../shared is not here");
        return None;
    };
    Some(shared.join("corpus/mta").join(folder).join(file))
}

#[test]
fn exim_shared_corpus() {
    let mut total = 0;
    for file in EXIM_SHARED {
        if let Some(path) = shared_file("exim", file) {
            total += check(&path, "exim").1;
        }
    }
    if shared().is_some() {
        // The corpus has deliveries, deferrals, failures and expiries; not everything may be left out.
        assert!(total > 300, "{total}");
    }
}

#[test]
fn exim_testsuite_outcomes() {
    let Some(path) = shared_file("exim", "exim-testsuite-test-log-0217.log") else {
        return;
    };
    let (rows, _) = check(&path, "exim");
    // The first message: `=>`, `==`, `**` and `->` in one connection, in file order (the times are all equal).
    let first: Vec<(&str, &str)> = rows[..4].iter().map(|x| (x["recipient"].as_str(), x["status"].as_str())).collect();
    assert_eq!(
        first,
        [("a@test.ex", "delivered"), ("b@test.ex", "deferred"), ("c@test.ex", "bounced"), ("d@test.ex", "delivered")]
    );
    assert_eq!(rows[2]["reply_code"], "550");
    // The notifications to CALLER@test.ex (`<= <>`) are left out.
    assert!(rows.iter().all(|x| x["recipient"] != "caller@test.ex"));
}

#[test]
fn sendmail_shared_corpus() {
    for file in SENDMAIL_SHARED {
        if let Some(path) = shared_file("sendmail", file) {
            check(&path, "sendmail");
        }
    }
}

/// CrowdSec's sample (MIT, copied): authentication failures and rejections of incoming mail, which its parser
/// assertions all read as Exim lines (`Success == true`) with no delivery fields: no attempt, nothing malformed.
#[test]
fn crowdsec_exim_fixture() {
    let path = root().join("tests/fixtures/corpus/exim/crowdsec-hub-exim-logs.log");
    let assert =
        std::fs::read_to_string(root().join("tests/fixtures/corpus/exim/crowdsec-hub-exim-logs.parser.assert"))
            .unwrap();
    let parsed =
        assert.lines().filter(|l| l.contains("[\"crowdsecurity/non-syslog\"]") && l.ends_with("Success == true"));
    let (rows, _) = check(&path, "exim");
    assert!(rows.is_empty());
    let run = bounces(&["classify", path.to_str().unwrap(), "--format", "csv", "--stats"]).ok();
    let stats = run.stderr.lines().find(|l| l.contains("crowdsec-hub-exim-logs.log")).unwrap();
    let n: Vec<u64> = stats.split_whitespace().rev().take(4).map(|x| x.parse().unwrap()).collect();
    assert_eq!((n[0], n[1], n[3]), (0, parsed.count() as u64, 12), "detected as Exim, all ignored: {stats}");
    assert!(stats.contains(" exim "), "{stats}");
}

/// The generator's Exim mainlog of the same history as its maillog gives the oracle's exact deactivations and
/// campaign counts.
#[test]
fn generated_exim_mainlog_gives_the_exact_answer() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    if !generate(
        dir,
        &["--contacts", "800", "--campaigns", "10", "--seed", "3", "--formats", "postfix,sending-log,exim"],
    ) {
        return;
    }
    let want = expected(dir);
    assert!(!want.is_empty());
    let args = strs(
        dir,
        &[
            "deactivations",
            "@exim_mainlog",
            "--sends",
            "@sends.csv",
            "--campaigns",
            "@campaigns.csv",
            "--contacts",
            "@contacts.csv",
            "--format",
            "csv",
        ],
    );
    let got = ours(args);
    assert_eq!(got.len(), want.len(), "exim: number of deactivations");
    assert_eq!(got, want, "exim deactivations");
    let args = strs(
        dir,
        &["report", "@exim_mainlog", "--sends", "@sends.csv", "--contacts", "@contacts.csv", "--format", "csv"],
    );
    let got = campaign_columns(bounces(&args).ok().csv());
    assert_eq!(got, campaign_columns(csv_file(&dir.join("expected_campaigns.csv"))), "exim campaign counts");
}

/// A hand-made Sendmail log: delivered; deferred then delivered; deferred then bounced; user unknown with its DSN
/// notification (left out); two recipients on one line; an expiry after deferrals; lines that are not deliveries.
#[test]
fn sendmail_fixture_outcomes() {
    let path = root().join("tests/fixtures/formats/sendmail.log");
    let (rows, _) = check(&path, "sendmail");
    let got: Vec<(String, String, String)> =
        rows.iter().map(|r| (r["recipient"].clone(), r["status"].clone(), r["class"].clone())).collect();
    let want: Vec<(String, String, String)> = [
        ("ann@example.org", "delivered", "delivered"),
        ("bob@example.net", "deferred", "soft"),
        ("cat@example.com", "deferred", "soft"),
        ("dan@example.com", "bounced", "hard"),
        ("eve@example.org", "delivered", "delivered"),
        ("fay@example.org", "delivered", "delivered"),
        ("gus@example.info", "deferred", "soft"),
        ("bob@example.net", "delivered", "delivered"),
        ("cat@example.com", "bounced", "hard"),
        ("gus@example.info", "deferred", "soft"),
        ("gus@example.info", "expired", "soft"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(got, want);
    // Detected without --log-format, and the hard bounces deactivate.
    let run = bounces(&["deactivations", path.to_str().unwrap(), "--format", "csv", "--year", "2025"]).ok();
    let mut deactivated: Vec<(String, String)> =
        run.csv().into_iter().map(|r| (r["email"].clone(), r["cause"].clone())).collect();
    deactivated.sort();
    assert_eq!(
        deactivated,
        [("cat@example.com".to_string(), "hard".to_string()), ("dan@example.com".to_string(), "hard".to_string())]
    );
}
