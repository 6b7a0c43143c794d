//! More Postfix logs from public test suites. The logs under `../shared/corpus/mta/postfix/` whose licenses (GPL,
//! LGPL, Perl) keep them out of `tests/fixtures/` are read in place, and skipped with a message when `../shared` is
//! absent: each attempt we find agrees, by recipient and status, with a count made from the raw lines. The grok test
//! cases of whyscream/postfix-grok-patterns (BSD-3-Clause, copied) carry expected fields for single delivery lines:
//! our recipient, status, enhanced code and text agree with them.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::corpus::{check_accounting, classify_postfix};
use super::util::{bounces_stdin, root, shared};

/// The queue id of a syslog line: the word after the program's `]: `.
fn queue_id(line: &str) -> Option<&str> {
    let i = line.find("]: ")?;
    line[i + 3..].split_once(": ").map(|(id, _)| id)
}

/// The word after ` status=` (`sent`, `deferred`, `expired`, `undeliverable-but-not-cached`...).
fn status_word(line: &str) -> Option<&str> {
    let i = line.find(" status=")?;
    let rest = &line[i + " status=".len()..];
    Some(&rest[..rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).unwrap_or(rest.len())])
}

/// The recipient of a delivery line, `to=<A@B>` or `to=a@b` (older and `local` lines), lower-cased.
fn recipient(line: &str) -> String {
    let i = line.find(": to=").expect("to=") + ": to=".len();
    let rest = line[i..].trim_start_matches('<');
    rest[..rest.find(['>', ',']).unwrap_or(rest.len())].to_lowercase()
}

/// Our status name for Postfix's word.
fn ours(status: &str) -> &str {
    if status == "sent" { "delivered" } else { status }
}

/// The attempts of a Postfix log as (status, recipient) counts, found by string matching alone:
///
/// - each delivery agent line with ` to=` and `status=sent|deferred|bounced|expired` is one attempt (other words,
///   such as `deliverable` or `undeliverable-but-not-cached`, are address verification, not deliveries);
/// - but not a `status=sent` to a content filter on 127.0.0.1 that answered `queued as` (the message is re-queued
///   under a new id, whose own delivery line is the attempt);
/// - nor the lines of notifications Postfix sends itself: queue ids that a `qmgr` line gives sender `from=<>`, or
///   that a `bounce` line names as a `notification:`;
/// - a `qmgr` line `status=expired` adds one `expired` attempt per recipient of that queue id whose last line so far
///   in the file was `deferred`. In a cut log a flow that started before the first line has no earlier deferral in
///   the file, so its expiry adds nothing here, and nothing in our output either.
fn independent_attempts(log: &str) -> BTreeMap<(String, String), usize> {
    let notifications: HashSet<&str> = log
        .lines()
        .filter(|l| l.contains("/qmgr[") && l.contains(" from=<>,"))
        .filter_map(queue_id)
        .chain(log.lines().filter(|l| l.contains("/bounce[")).filter_map(|l| Some(l.rsplit_once("notification: ")?.1)))
        .map(str::trim)
        .collect();
    let mut last: HashMap<(&str, String), &str> = HashMap::new();
    let mut out = BTreeMap::new();
    for line in log.lines().filter(|l| l.contains("postfix")) {
        let (Some(q), Some(status)) = (queue_id(line), status_word(line)) else { continue };
        if notifications.contains(q) {
            continue;
        }
        if line.contains(": to=") {
            if !["sent", "deferred", "bounced", "expired"].contains(&status)
                || (status == "sent" && line.contains("relay=127.0.0.1[") && line.contains("queued as"))
            {
                continue;
            }
            let to = recipient(line);
            last.insert((q, to.clone()), status);
            *out.entry((ours(status).to_string(), to)).or_default() += 1;
        } else if line.contains("/qmgr[") && status == "expired" {
            for ((id, to), s) in last.iter_mut() {
                if *id == q && *s == "deferred" {
                    *s = "expired";
                    *out.entry(("expired".to_string(), to.clone())).or_default() += 1;
                }
            }
        }
    }
    out
}

/// Runs `classify --stats` on a log of the shared corpus and compares with the independent count. Returns the log's
/// text and the run's standard error, or `None` (with a message) when `../shared` is absent.
fn check_shared(file: &str, year: &str) -> Option<(String, String)> {
    let Some(shared) = shared() else {
        eprintln!("skipped: ../shared/corpus/mta/postfix/{file} is not here");
        return None;
    };
    let (text, run) = classify_postfix(&shared.join("corpus/mta/postfix").join(file), year);
    let mut found: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in run.csv() {
        *found.entry((r["status"].clone(), r["recipient"].clone())).or_default() += 1;
    }
    let want = independent_attempts(&text);
    assert_eq!(found, want, "{file}\n{}", run.stderr);
    let n: usize = want.values().sum();
    eprintln!("{file}: {n} attempts, as counted from its lines");
    check_accounting(&run.stderr, file, &text);
    Some((text, run.stderr))
}

/// The number of attempts with each status.
fn by_status(log: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for ((status, _), n) in independent_attempts(log) {
        *out.entry(status).or_default() += n;
    }
    out
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(s, n)| (s.to_string(), *n)).collect()
}

/// smtpd rejects (`NOQUEUE: reject:` and a few with a queue id) are another server refusing mail it receives, not
/// deliveries: no attempt. Its `# failJSON:` comments and blank lines are the malformed lines.
#[test]
fn fail2ban_smtpd_rejects() {
    let file = "fail2ban-tests-files-logs-postfix.log";
    let Some((text, stderr)) = check_shared(file, "2005") else { return };
    assert_eq!(by_status(&text), counts(&[]));
    let not_syslog = text.lines().filter(|l| l.trim().is_empty() || l.starts_with('#')).count();
    let line = stderr.lines().rfind(|l| l.contains(file) && !l.starts_with("bounces:")).unwrap();
    assert!(line.ends_with(&format!(" {not_syslog}")), "{line}: {not_syslog} comment and blank lines");
}

/// Curated flows with `2013 Jun 16 16:05:06.123` times: sent, bounced with its notification, six deferrals then an
/// expiry, and a second flow of six deferrals then a delivery. Its one blank line is malformed.
#[test]
fn fgforrest_single_client() {
    let Some((text, _)) = check_shared("fgforrest-postfix-deliverability-analytics-backup-single-client.log", "2013")
    else {
        return;
    };
    assert_eq!(by_status(&text), counts(&[("bounced", 1), ("deferred", 12), ("delivered", 2), ("expired", 1)]));
}

/// A cut of a production log. Its lines carry 382 `sent`, 1018 `deferred`, 90 `bounced`, but 244 sent, 763
/// deferred and 9 bounced of them are the retries of the 90 notifications Postfix sends itself (sender `<>`), which
/// are not a contact's mail; its 9 `qmgr ... status=expired` lines each settle one deferred recipient.
#[test]
fn fgforrest_real_log_cut() {
    let Some((text, _)) =
        check_shared("fgforrest-postfix-deliverability-analytics-real-mail.log.2-lines22001-28000.log", "2013")
    else {
        return;
    };
    assert_eq!(by_status(&text), counts(&[("bounced", 81), ("deferred", 255), ("delivered", 138), ("expired", 9)]));
}

/// Postfix of 2005: no `dsn=` and no `delays=` yet. The 35 deliveries still count (without an enhanced code).
#[test]
fn parse_syslog_mail_postfix_2005() {
    let Some((text, _)) = check_shared("parse-syslog-mail-t-logs-postfix-plain.log", "2005") else { return };
    assert_eq!(by_status(&text), counts(&[("delivered", 35)]));
}

/// A `bounced` without `dsn=` counts; the `cleanup` header reject is this server refusing a message it receives.
#[test]
fn parse_syslog_mail_cpan_rt_28807() {
    let Some((text, _)) = check_shared("parse-syslog-mail-t-cpan-rt-28807.log", "2007") else { return };
    assert_eq!(by_status(&text), counts(&[("bounced", 1)]));
}

/// RFC 3339 times, long queue ids and amavis re-injection: 364 `status=sent` lines, of which 180 are hand-offs to
/// amavis on 127.0.0.1 and 12 deliver notifications; 172 deliveries and one bounce remain.
#[test]
fn pixelpark_amavis_reinjection() {
    let Some((text, _)) = check_shared("pixelpark-postfix-logsums-test-mail.log-queue-lines.log", "2023") else {
        return;
    };
    assert_eq!(by_status(&text), counts(&[("bounced", 1), ("delivered", 172)]));
}

/// One YAML document of the grok test cases: its name, `data` and `results`.
struct Doc {
    name: String,
    data: String,
    results: HashMap<String, String>,
}

/// A YAML scalar as these files write it: plain, or double-quoted with `\"` and `\\` escapes.
fn scalar(s: &str) -> String {
    let s = s.trim();
    match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => s.to_string(),
    }
}

/// The documents: each starts with `--- # test/NAME.yaml`, has top-level `data:` and `results:` keys, and the
/// results are `    key: value` lines (comments start with `#`). Nothing else in the file needs a YAML parser.
fn documents(yaml: &str) -> Vec<Doc> {
    let mut docs: Vec<Doc> = Vec::new();
    let mut in_results = false;
    for line in yaml.lines() {
        if let Some(name) = line.strip_prefix("--- # ") {
            docs.push(Doc { name: name.trim().to_string(), data: String::new(), results: HashMap::new() });
            in_results = false;
            continue;
        }
        let Some(doc) = docs.last_mut() else { continue };
        if line.trim_start().starts_with('#') {
            continue;
        }
        if let Some(data) = line.strip_prefix("data:") {
            doc.data = scalar(data);
            in_results = false;
        } else if line.starts_with("results:") {
            in_results = true;
        } else if in_results && line.starts_with(' ') {
            let (key, value) = line.trim().split_once(':').expect("key: value");
            doc.results.insert(key.to_string(), scalar(value));
        } else {
            in_results = false;
        }
    }
    docs
}

/// The value of `key=` in Postfix's `key=value, ` list.
fn kv<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let i = text.find(&format!("{key}="))?;
    let v = &text[i + key.len() + 1..];
    Some(v[..v.find(',').unwrap_or(v.len())].trim())
}

/// Whether the words of `ours` appear in `theirs`, in order (a response's text without the `host X said:` prefix,
/// the `550-5.7.1` codes of a multi-line reply and the `(in reply to ...)` tail is such a subsequence).
fn words_in_order(ours: &str, theirs: &str) -> bool {
    let mut theirs = theirs.split_whitespace();
    ours.split_whitespace().all(|w| theirs.any(|t| t == w))
}

/// Lines whose `dsn=` and reply disagree: the grok test cases for TLS features give `dsn=2.1.5` with the reply
/// `250 2.0.0 Ok`. Our enhanced code is the server's own (2.0.0), which goes with its reply code; Postfix's `dsn=` is
/// used only when the reply has none (as it also can be rewritten, e.g. 4.x.x for a 550 5.x.x under `soft_bounce`).
const DSN_IS_NOT_THE_REPLYS: &[&str] = &[
    "test/tls_features_0001.yaml",
    "test/tls_features_0002.yaml",
    "test/tls_features_0003.yaml",
    "test/tls_features_0004.yaml",
    "test/tls_features_0005.yaml",
    "test/tls_features_0006.yaml",
];

#[test]
fn whyscream_grok_cases_agree_with_their_captures() {
    let yaml = std::fs::read_to_string(
        root().join("tests/fixtures/corpus/postfix/whyscream-postfix-grok-patterns-test-cases.yaml"),
    )
    .unwrap();
    let docs = documents(&yaml);
    assert_eq!(docs.len(), 191);
    let deliveries: Vec<&Doc> = docs.iter().filter(|d| d.data.contains("to=") && d.data.contains(" status=")).collect();
    // Each line gets its own second and host, so that rows map back to documents and queue ids do not join.
    let input: String = deliveries
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let kind = d.name.trim_start_matches("test/").split('_').next().unwrap();
            // The TLS feature cases are tested against POSTFIX_SMTP.
            let program = if kind == "tls" { "smtp" } else { kind };
            assert!(["smtp", "lmtp", "local", "virtual", "pipe", "error", "discard"].contains(&program), "{}", d.name);
            format!("Jan  1 00:00:{i:02} host{i} postfix/{program}[1]: {}\n", d.data)
        })
        .collect();
    let run = bounces_stdin(
        &["classify", "-", "--format", "csv", "--stats", "--log-format", "postfix", "--year", "2020"],
        Some(input.as_bytes()),
    )
    .ok();
    check_accounting(&run.stderr, "<stdin>", &input);
    let rows: HashMap<usize, HashMap<String, String>> =
        run.csv().into_iter().map(|r| (r["time"]["2020-01-01T00:00:".len()..][..2].parse().unwrap(), r)).collect();
    let (mut attempts, mut none, mut dsn_agree, mut text_agree) = (0, Vec::new(), 0, 0);
    for (i, d) in deliveries.iter().enumerate() {
        let status = d.results.get("postfix_status").map_or_else(|| status_word(&d.data).unwrap(), String::as_str);
        let handoff = d.data.contains("relay=127.0.0.1[") && d.data.contains("queued as");
        if !["sent", "deferred", "bounced", "expired"].contains(&status) || handoff {
            // `undeliverable-but-not-cached` answers an address verification probe; a `sent` to 127.0.0.1 that
            // answers `queued as` hands the message to a content filter. Neither is a delivery attempt.
            assert!(!rows.contains_key(&i), "{}: {:?}", d.name, rows[&i]);
            none.push(d.name.as_str());
            continue;
        }
        let r = rows.get(&i).unwrap_or_else(|| panic!("{}: no attempt\n{}", d.name, run.describe()));
        attempts += 1;
        let keyvalues = &d.results["postfix_keyvalue_data"];
        let to = kv(keyvalues, "to").unwrap().trim_start_matches('<').trim_end_matches('>').to_lowercase();
        assert_eq!((r["recipient"].as_str(), r["status"].as_str()), (to.as_str(), ours(status)), "{}", d.name);
        if let Some(dsn) = kv(keyvalues, "dsn") {
            if DSN_IS_NOT_THE_REPLYS.contains(&d.name.as_str()) {
                assert_ne!(r["enhanced_status"], dsn, "{}", d.name);
                assert!(d.data.contains(&format!("250 {} ", r["enhanced_status"])), "{}: {r:?}", d.name);
            } else {
                assert_eq!(r["enhanced_status"], dsn, "{}", d.name);
                dsn_agree += 1;
            }
        }
        let response = d.results.iter().find(|(k, _)| k.ends_with("_response")).map(|(_, v)| v);
        if let Some(response) = response {
            // A multi-line reply is flattened by Postfix into `550-5.7.1 part 550-5.7.1 part 550 5.7.1 part`; our
            // text leaves the codes out, so it is the response's words in order rather than a piece of it.
            let multi_line = response.split_whitespace().any(|w| w.len() > 4 && w.as_bytes()[3] == b'-');
            let text = &r["text"];
            assert!(!text.is_empty(), "{}: {r:?}", d.name);
            assert!(
                response.contains(text.as_str()) || (multi_line && words_in_order(text, response)),
                "{}: {text:?} is not in {response:?}",
                d.name
            );
            text_agree += 1;
        }
    }
    eprintln!(
        "whyscream: {} delivery documents of {}: {attempts} attempts ({dsn_agree} with the same dsn, {text_agree} \
         texts within the response), no attempt for {none:?}, dsn differs for {DSN_IS_NOT_THE_REPLYS:?}",
        deliveries.len(),
        docs.len()
    );
    assert_eq!((deliveries.len(), attempts, dsn_agree, text_agree), (22, 19, 13, 12));
    assert_eq!(none, ["test/error_0002.yaml", "test/lmtp_0001.yaml", "test/smtp_0001.yaml"]);
}
