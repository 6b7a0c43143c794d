//! The bundled samples: the same history as a Postfix log and as the platform's sending log, with the answers
//! derived independently when the samples were written (`samples/expected_*.csv`).

use std::collections::HashMap;

use super::util::{bounces, csv_file, root};

/// The samples' maillog with their campaign data, as the commands take them.
pub(super) const MAILLOG: &[&str] = &[
    "samples/maillog",
    "--sends",
    "samples/sends.csv",
    "--campaigns",
    "samples/campaigns.csv",
    "--contacts",
    "samples/contacts.csv",
];
const SENDING_LOG: &[&str] =
    &["samples/sending-log.csv", "--campaigns", "samples/campaigns.csv", "--contacts", "samples/contacts.csv"];

fn args(cmd: &str, input: &[&str], extra: &[&str]) -> Vec<String> {
    std::iter::once(cmd).chain(input.iter().copied()).chain(extra.iter().copied()).map(String::from).collect()
}

fn expected_deactivations() -> Vec<(String, String, String, String)> {
    csv_file(&root().join("samples/expected_deactivations.csv"))
        .into_iter()
        .map(|r| (r["email"].clone(), r["deactivated_at"].clone(), r["campaign_id"].clone(), r["cause"].clone()))
        .collect()
}

#[test]
fn deactivations_match_the_expected_answer_from_both_logs() {
    for input in [MAILLOG, SENDING_LOG] {
        let run = bounces(&args("deactivations", input, &["--format", "csv"])).ok();
        let got: Vec<_> = run
            .csv()
            .into_iter()
            .map(|r| (r["email"].clone(), r["deactivated_at"].clone(), r["campaign_id"].clone(), r["cause"].clone()))
            .collect();
        assert_eq!(got, expected_deactivations(), "{}", run.describe());
    }
}

#[test]
fn report_matches_the_expected_counts() {
    let run = bounces(&args("report", MAILLOG, &["--format", "csv"])).ok();
    let got = run.csv();
    let expected = csv_file(&root().join("samples/expected_campaigns.csv"));
    assert_eq!(got.len(), expected.len(), "{}", run.describe());
    for (g, e) in got.iter().zip(&expected) {
        for (ours, theirs) in [
            ("campaign_id", "campaign_id"),
            ("sent", "sent"),
            ("delivered", "delivered"),
            ("soft_bounces", "soft_bounces"),
            ("hard_bounces", "hard_bounces"),
            ("pending", "pending"),
            ("deactivated", "deactivated"),
        ] {
            assert_eq!(g[ours], e[theirs], "{ours} of {}", e["campaign_id"]);
        }
        assert!(g["name"].starts_with("Weekly newsletter"), "{g:?}");
    }
    // The sending log exports only settled messages: the same counts less the pending ones.
    let run = bounces(&args("report", SENDING_LOG, &["--format", "json"])).ok();
    let rows: Vec<serde_json::Value> =
        run.stdout.lines().map(|l| serde_json::from_str(l).expect("JSON Lines")).collect();
    for (g, e) in rows.iter().zip(&expected) {
        let n = |k: &str| e[k].parse::<i64>().unwrap();
        assert_eq!(g["campaign_id"], e["campaign_id"].as_str());
        assert_eq!(g["sent"], n("sent") - n("pending"));
        assert_eq!(g["hard_bounces"], n("hard_bounces"));
        assert_eq!(g["soft_bounces"], n("soft_bounces"));
        assert_eq!(g["pending"], 0);
        assert_eq!(g["deactivated"], n("deactivated"));
        assert!(g["bounce_rate"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn thresholds_can_be_changed() {
    // With 3 consecutive soft bounces for everyone, more contacts go, and the soft-threshold ones say so.
    let run =
        bounces(&args("deactivations", MAILLOG, &["--format", "csv", "--soft-engaged", "3", "--soft-unengaged", "3"]))
            .ok();
    let rows = run.csv();
    assert!(rows.len() > expected_deactivations().len(), "{}", run.describe());
    assert!(rows.iter().filter(|r| r["cause"] == "soft_threshold").all(|r| r["consecutive_soft"] == "3"));
    // Hard bounces that never deactivate.
    let run = bounces(&args("deactivations", MAILLOG, &["--format", "csv", "--hard", "0"])).ok();
    assert!(run.csv().iter().all(|r| r["cause"] == "soft_threshold"), "{}", run.describe());
}

#[test]
fn campaign_in_depth() {
    let run = bounces(&args("report", MAILLOG, &["--campaign", "c07", "--format", "csv"])).ok();
    let rows = run.csv();
    let find = |section: &str, key: &str| {
        rows.iter()
            .find(|r| r["section"] == section && r["key"] == key)
            .unwrap_or_else(|| panic!("{section}/{key}\n{}", run.describe()))
    };
    assert_eq!(find("summary", "soft_bounces")["count"], "13");
    // The block event at Gmail: sender-side, all at one provider.
    assert_eq!(find("fault", "sender")["count"], "10");
    assert_eq!(find("provider", "Google")["count"], "10");
    let table = bounces(&args("report", MAILLOG, &["--campaign", "c07"])).ok();
    for title in ["Bounces by reason", "By receiving provider", "Top bounce responses", "deactivated no contacts"] {
        assert!(table.stdout.contains(title), "{title}\n{}", table.stdout);
    }
    let c10 = bounces(&args("report", MAILLOG, &["--campaign", "c10"])).ok();
    assert!(c10.stdout.contains("Contacts this campaign deactivated"), "{}", c10.stdout);
    assert!(c10.stdout.contains("nora.bennett@acme-corp.example"), "{}", c10.stdout);
    bounces(&args("report", MAILLOG, &["--campaign", "c99"])).code(1);
}

#[test]
fn contact_shows_history_proof_and_status() {
    let run = bounces(
        &args("contact", MAILLOG, &[])
            .into_iter()
            .chain(["Nora.Bennett@acme-corp.example".to_string()])
            .collect::<Vec<_>>(),
    )
    .ok();
    assert!(run.stdout.contains("status: deactivated at 2026-05-04T09:02:01Z by campaign c10"), "{}", run.stdout);
    assert!(run.stdout.contains("10 consecutive soft bounces"), "{}", run.stdout);
    // The server's own words, as logged.
    assert!(run.stdout.contains("postfix/smtp["), "{}", run.stdout);
    let csv = bounces(&args("contact", MAILLOG, &["nora.bennett@acme-corp.example", "--format", "csv"])).ok().csv();
    assert_eq!(csv.len(), 10);
    let counts: Vec<&str> = csv.iter().map(|r| r["consecutive_soft"].as_str()).collect();
    assert_eq!(counts, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
    assert_eq!(csv[9]["event"], "deactivated");
    assert!(csv.iter().all(|r| r["proof"].contains("nora.bennett@acme-corp.example")));
    // A delivery resets the count (lucas: 9 soft, a delivery, then 2 more).
    let lucas = bounces(&args("contact", MAILLOG, &["lucas.meyer@web.de", "--format", "csv"])).ok().csv();
    let counts: Vec<&str> = lucas.iter().map(|r| r["consecutive_soft"].as_str()).collect();
    assert_eq!(counts, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "1", "2"]);
    bounces(&args("contact", MAILLOG, &["nobody@nowhere.example"])).code(1);
}

#[test]
fn classify_attempts_and_text() {
    let run = bounces(&args("classify", MAILLOG, &["--format", "csv"])).ok();
    let rows = run.csv();
    let mut by_status: HashMap<&str, usize> = HashMap::new();
    for r in &rows {
        *by_status.entry(r["status"].as_str()).or_default() += 1;
    }
    // Every smtp status line of a contact's message (notifications to the bounce address excluded).
    let log = std::fs::read_to_string(root().join("samples/maillog")).unwrap();
    let independent = |status: &str| {
        log.lines().filter(|l| l.contains(&format!("status={status} ")) && !l.contains("to=<bounce+")).count()
    };
    assert_eq!(by_status["delivered"], independent("sent"));
    assert_eq!(by_status["deferred"], independent("deferred"));
    assert_eq!(by_status["bounced"], independent("bounced"));
    let text = super::util::bounces_stdin(
        &["classify", "--text", "--format", "csv"],
        Some(b"FAILED 550 5.1.1 user unknown\n250 ok\n452 4.2.2 Mailbox over quota\n"),
    )
    .ok();
    let got: Vec<(String, String)> =
        text.csv().into_iter().map(|r| (r["class"].clone(), r["reason"].clone())).collect();
    assert_eq!(
        got,
        [
            ("hard".into(), "userunknown".into()),
            ("delivered".into(), "delivered".into()),
            ("soft".into(), "mailboxfull".into())
        ]
    );
}
