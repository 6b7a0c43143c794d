//! Real-world Postfix logs from public test suites (copied into `tests/fixtures/corpus/` with their licenses; see
//! its README): every line is accounted for, and the attempts found agree with an independent count.

use std::collections::HashSet;

use super::util::{bounces, root};

/// Counts the delivery-agent status lines of a log without our parser: lines with ` to=<` and ` status=WORD`,
/// leaving out notifications (messages whose qmgr line says `from=<>`) and hand-offs to a local content filter.
fn independent_count(log: &str) -> usize {
    let queue_id = |l: &str| -> Option<String> {
        let i = l.find("]: ")?;
        let rest = &l[i + 3..];
        rest.split_once(": ").map(|(id, _)| id.to_string())
    };
    let notifications: HashSet<String> =
        log.lines().filter(|l| l.contains("/qmgr[") && l.contains(" from=<>,")).filter_map(queue_id).collect();
    log.lines()
        .filter(|l| l.contains("postfix") && l.contains(": to="))
        .filter(|l| {
            ["sent", "deferred", "bounced", "expired"]
                .iter()
                .any(|s| l.contains(&format!(" status={s} ")) || l.ends_with(&format!(" status={s}")))
        })
        .filter(|l| !(l.contains("relay=127.0.0.1[") && l.contains("queued as")))
        .filter(|l| queue_id(l).is_none_or(|q| !notifications.contains(&q)))
        .count()
}

/// A Postfix log's text and `bounces classify` run on it as CSV with the accounting.
pub(super) fn classify_postfix(path: &std::path::Path, year: &str) -> (String, super::util::Run) {
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    let args = ["classify", path.to_str().unwrap(), "--format", "csv", "--stats", "--log-format", "postfix"];
    let run = bounces(&[&args[..], &["--year", year]].concat()).ok();
    (text, run)
}

fn check(file: &str) {
    let path = root().join("tests/fixtures/corpus/postfix").join(file);
    let (text, run) = classify_postfix(&path, "2020");
    assert_eq!(run.csv().len(), independent_count(&text), "{file}\n{}", run.stderr);
    check_accounting(&run.stderr, file, &text);
}

/// The accounting adds up: read = used + ignored + malformed = the file's lines.
pub(super) fn check_accounting(stderr: &str, file: &str, text: &str) {
    let line =
        stderr.lines().rfind(|l| l.contains(file) && !l.starts_with("bounces:")).unwrap_or_else(|| panic!("{stderr}"));
    let n: Vec<u64> = line.split_whitespace().rev().take(4).map(|x| x.parse().unwrap()).collect();
    let (malformed, ignored, used, read) = (n[0], n[1], n[2], n[3]);
    assert_eq!(read, text.lines().count() as u64, "{line}");
    assert_eq!(read, used + ignored + malformed, "{line}");
}

#[test]
fn infohtreasure_verbose_log() {
    check("infohtreasure-postfix-maillog-dump-mailog2-lines1-1700.log");
}

#[test]
fn modoboa_log_with_templated_days() {
    // As shipped, its day field is a template placeholder: every line is malformed, none is lost, nothing panics.
    let file = "modoboa-maillog-tests-mail.log";
    let path = root().join("tests/fixtures/corpus/postfix").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let run =
        bounces(&["classify", path.to_str().unwrap(), "--format", "csv", "--stats", "--log-format", "postfix"]).ok();
    check_accounting(&run.stderr, file, &text);
    assert!(run.stderr.contains(&format!("{file}:1: not a syslog line")), "{}", run.stderr);
    // Filled in as its own test suite does, it is an ordinary log with amavis re-injection.
    let filled = text.replace("%(day)s", "Jun 10");
    let run = super::util::bounces_stdin(
        &["classify", "-", "--format", "csv", "--stats", "--year", "2020"],
        Some(filled.as_bytes()),
    )
    .ok();
    assert_eq!(run.csv().len(), independent_count(&filled), "{}", run.describe());
    check_accounting(&run.stderr, "<stdin>", &filled);
}

#[test]
fn crowdsec_mixed_timestamps() {
    check("crowdsec-hub-postfix-logs.log");
}

/// The DataDog samples carry expected fields: the queue id, the status and the recipient of each delivery line.
#[test]
fn datadog_samples_agree_with_their_expected_fields() {
    let yaml = std::fs::read_to_string(
        root().join("tests/fixtures/corpus/postfix/datadog-integrations-core-postfix_tests.yaml"),
    )
    .unwrap();
    let samples: Vec<&str> =
        yaml.lines().filter_map(|l| l.trim().strip_prefix("sample: \"")).map(|l| l.trim_end_matches('"')).collect();
    assert!(samples.len() >= 5);
    let deliveries: Vec<&&str> = samples.iter().filter(|s| s.contains(" status=")).collect();
    let input = samples.join("\n") + "\n";
    let run = super::util::bounces_stdin(
        &["classify", "-", "--format", "csv", "--year", "2020", "--log-format", "postfix"],
        Some(input.as_bytes()),
    )
    .ok();
    let rows = run.csv();
    assert_eq!(rows.len(), deliveries.len(), "{}", run.describe());
    for r in &rows {
        let line = deliveries
            .iter()
            .find(|d| d.contains(&format!("to={},", r["recipient"])) || d.contains(&format!("to=<{}>", r["recipient"])))
            .unwrap_or_else(|| panic!("{r:?}"));
        let status = match r["status"].as_str() {
            "delivered" => "sent",
            s => s,
        };
        assert!(line.contains(&format!("status={status}")), "{line} vs {r:?}");
    }
}
