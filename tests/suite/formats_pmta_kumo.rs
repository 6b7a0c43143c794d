//! PowerMTA accounting files and KumoMTA JSON log records: hand-written fixtures with exact attempts and accounting
//! (`tests/fixtures/formats/`), the public examples of the shared corpus against an independent count
//! (`tests/fixtures/corpus/{pmta,kumomta}/`), and the generator's exact deactivations and campaign counts.

use std::path::Path;

use super::oracle::{campaign_columns, expected, generate, ours, strs};
use super::util::{bounces, csv_file, root};

/// An attempt as compared here: recipient, campaign, status, reply code, reason.
type Row = [String; 5];
/// A file's accounting: read, used, ignored, malformed.
type Counts = (u64, u64, u64, u64);

/// The accounting line of `file` in `--stats` output: (read, used, ignored, malformed).
fn accounting(stderr: &str, file: &str) -> Counts {
    let line =
        stderr.lines().rfind(|l| l.contains(file) && !l.starts_with("bounces:")).unwrap_or_else(|| panic!("{stderr}"));
    let n: Vec<u64> = line.split_whitespace().rev().take(4).map(|x| x.parse().unwrap()).collect();
    (n[3], n[2], n[1], n[0])
}

/// Runs `classify FILE --format csv --stats` and checks that every line is accounted for once.
fn classify(path: &Path, extra: &[&str]) -> (Vec<Row>, Counts, String) {
    let mut args = vec!["classify", path.to_str().unwrap(), "--format", "csv", "--stats"];
    args.extend(extra);
    let run = bounces(&args).ok();
    let name = path.file_name().unwrap().to_str().unwrap();
    let counts = accounting(&run.stderr, name);
    let lines = std::fs::read_to_string(path).unwrap().lines().count() as u64;
    assert_eq!(counts.0, lines, "read = lines\n{}", run.stderr);
    assert_eq!(counts.0, counts.1 + counts.2 + counts.3, "read = used + ignored + malformed\n{}", run.stderr);
    let rows = run
        .csv()
        .into_iter()
        .map(|r| ["recipient", "campaign_id", "status", "reply_code", "reason"].map(|k| r[k].clone()))
        .collect();
    (rows, counts, run.stderr)
}

fn rows(want: &[[&str; 5]]) -> Vec<Row> {
    want.iter().map(|r| r.map(String::from)).collect()
}

/// The attempts both fixtures describe, in time order; only the administrative bounce differs.
fn fixture_attempts(fay: [&'static str; 5]) -> Vec<Row> {
    rows(&[
        ["anna@gmail.com", "spring", "delivered", "250", "delivered"],
        ["bert@outlook.com", "spring", "deferred", "421", "networkerror"],
        ["carla@yahoo.com", "spring", "deferred", "421", "badreputation"],
        ["dan@example.org", "spring", "bounced", "550", "userunknown"],
        ["eve@example.net", "spring", "deferred", "452", "mailboxfull"],
        fay,
        ["bert@outlook.com", "spring", "delivered", "250", "delivered"],
        ["carla@yahoo.com", "spring", "bounced", "554", "suspend"],
        // The expiry carries the last deferral's response (its code), and is an expiry whatever that said.
        ["eve@example.net", "spring", "expired", "452", "expired"],
    ])
}

#[test]
fn pmta_fixture_gives_exact_attempts() {
    let path = root().join("tests/fixtures/formats/pmta-acct.csv");
    let (got, counts, _) = classify(&path, &[]);
    // 9 tries; ignored: the header, a `tq` and an `rb` record.
    assert_eq!(counts, (12, 9, 3, 0));
    // No diagnostic: the bounce is judged from dsnStatus.
    assert_eq!(got, fixture_attempts(["fay@example.com", "spring", "bounced", "", "hostunknown"]));
    let (again, _, _) = classify(&path, &["--log-format", "pmta"]);
    assert_eq!(again, got);
}

#[test]
fn kumomta_fixture_gives_exact_attempts() {
    let path = root().join("tests/fixtures/formats/kumomta.jsonl");
    let (got, counts, stderr) = classify(&path, &[]);
    // 9 tries; ignored: Reception, Feedback, OOB; malformed: the cut-off last line.
    assert_eq!(counts, (13, 9, 3, 1));
    assert!(stderr.contains("kumomta.jsonl:13: not a KumoMTA JSON log record"), "{stderr}");
    assert_eq!(got, fixture_attempts(["fay@example.com", "spring", "bounced", "551", "contenterror"]));
    let (again, _, _) = classify(&path, &["--log-format", "kumomta"]);
    assert_eq!(again, got);
}

#[test]
fn fixtures_settle_into_the_same_deactivations() {
    let pmta = root().join("tests/fixtures/formats/pmta-acct.csv");
    let kumo = root().join("tests/fixtures/formats/kumomta.jsonl");
    for path in [&pmta, &kumo] {
        let run = bounces(&["deactivations", path.to_str().unwrap(), "--format", "csv"]).ok();
        let emails: Vec<String> = run.csv().into_iter().map(|r| r["email"].clone()).collect();
        // Hard bounces only: bert was deferred then delivered, eve expired (soft), carla's disabled mailbox is soft.
        assert!(emails.contains(&"dan@example.org".to_string()), "{}", run.describe());
        assert!(!emails.iter().any(|e| e == "bert@outlook.com" || e == "eve@example.net"), "{}", run.describe());
    }
}

#[test]
fn pmta_without_a_recipient_column_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acct.csv");
    std::fs::write(&path, "type,timeLogged,orig\nd,2025-11-20 09:00:15+0000,a@b.example\n").unwrap();
    let run = bounces(&["classify", path.to_str().unwrap(), "--log-format", "pmta"]).code(2);
    assert!(run.stderr.contains("acct.csv:1: the PowerMTA accounting file needs a column 'rcpt'"), "{}", run.stderr);
}

#[test]
fn pmta_corpus_agrees_with_an_independent_count() {
    let path = root().join("tests/fixtures/corpus/pmta/tuck1s-sparkypmtatracking-acct_etl-example.csv");
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let kind = reader.headers().unwrap().iter().position(|h| h == "type").unwrap();
    let tries = reader.records().filter(|r| matches!(r.as_ref().unwrap().get(kind), Some("d" | "b" | "t"))).count();
    assert_eq!(tries, 7);
    let (got, counts, stderr) = classify(&path, &[]);
    assert_eq!(got.len(), tries, "{stderr}");
    assert_eq!(counts.3, 0, "{stderr}");
    // This export has no time columns: said once, not per row.
    assert!(stderr.contains("no timeLogged or timeQueued column"), "{stderr}");
}

#[test]
fn kumomta_corpus_agrees_with_an_independent_count() {
    let path = root().join("tests/fixtures/corpus/kumomta/kumomta-docs-log-record-examples.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let records: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let tries: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| matches!(r["type"].as_str(), Some("Delivery" | "Bounce" | "TransientFailure" | "Expiration")))
        .collect();
    // A try names its recipient (one, or an array of them); a docs excerpt that leaves it out cannot be one.
    let recipients = |r: &serde_json::Value| match &r["recipient"] {
        serde_json::Value::String(_) => 1,
        serde_json::Value::Array(a) => a.len(),
        _ => 0,
    };
    let attempts: usize = tries.iter().map(|r| recipients(r)).sum();
    let without = tries.iter().filter(|r| recipients(r) == 0).count();
    assert_eq!((tries.len(), attempts, without), (2, 1, 1));
    let (got, counts, stderr) = classify(&path, &[]);
    assert_eq!(got.len(), attempts, "{stderr}");
    assert_eq!(counts.3 as usize, without, "{stderr}");
    assert!(stderr.contains("TransientFailure record without a recipient"), "{stderr}");
}

/// The generator's history as PowerMTA and KumoMTA logs gives exactly the expected deactivations and campaign counts.
#[test]
fn generated_history_gives_the_exact_answer_from_pmta_and_kumomta() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    if !generate(
        dir,
        &["--contacts", "800", "--campaigns", "10", "--seed", "5", "--formats", "postfix,sending-log,pmta,kumomta"],
    ) {
        return;
    }
    let want = expected(dir);
    assert!(!want.is_empty());
    let campaigns = campaign_columns(csv_file(&dir.join("expected_campaigns.csv")));
    for log in ["@pmta-acct.csv", "@kumomta.jsonl"] {
        let data = ["--sends", "@sends.csv", "--campaigns", "@campaigns.csv", "--contacts", "@contacts.csv"];
        let mut args = vec!["deactivations", log];
        args.extend(data);
        args.extend(["--format", "csv"]);
        let got = ours(strs(dir, &args));
        assert_eq!(got.len(), want.len(), "{log}: number of deactivations");
        assert_eq!(got, want, "{log}: deactivations");
        args[0] = "report";
        let run = bounces(&strs(dir, &args)).ok();
        assert_eq!(campaign_columns(run.csv()), campaigns, "{log}: campaign counts");
    }
}

#[test]
fn a_kumomta_expiry_takes_the_last_deferral_from_an_earlier_rotated_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("kumo-1.jsonl"), dir.path().join("kumo-2.jsonl"));
    let deferral = r#"{"type":"TransientFailure","id":"m1","recipient":"a@x.example","queue":"c7:t@x.example","response":{"code":452,"enhanced_code":{"class":4,"subject":2,"detail":2},"content":"over quota"},"timestamp":1763629432}"#;
    let expiry = r#"{"type":"Expiration","id":"m1","recipient":"a@x.example","queue":"c7:t@x.example","response":{"code":551,"content":"exceeds max_age"},"timestamp":1764067091}"#;
    std::fs::write(&a, format!("{deferral}\n")).unwrap();
    std::fs::write(&b, format!("{expiry}\n")).unwrap();
    let run = bounces(&["contact", "a@x.example", b.to_str().unwrap(), a.to_str().unwrap(), "--format", "csv"]).ok();
    let row = &run.csv()[0];
    let got = [&row["outcome"], &row["reason"], &row["fault"], &row["response"]];
    assert_eq!(got, ["soft", "expired", "recipient", "452 4.2.2 over quota"]);
}
