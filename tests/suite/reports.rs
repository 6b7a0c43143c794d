//! Reports in depth: block events, what-if lists, time windows.

use std::fmt::Write as _;

use super::util::bounces;

/// A sending log where Gmail blocks the sender for twenty minutes: twelve recipients refused with the same words,
/// each after two earlier deliveries, plus one real bad address.
fn blocked_log(dir: &std::path::Path) -> String {
    let mut log = String::from("campaign_id,email,timestamp,log\n");
    for i in 0..12 {
        writeln!(log, "c1,user{i:02}@gmail.com,2026-03-02T09:{:02}:00Z,250 ok", i).unwrap();
    }
    for i in 0..12 {
        writeln!(
            log,
            "c2,user{i:02}@gmail.com,2026-03-09T09:{:02}:00Z,FAILED 550 5.7.1 Service unavailable; Client host [192.0.2.{}] blocked using zen.spamhaus.org",
            i + 1,
            i % 2 + 1
        )
        .unwrap();
    }
    writeln!(log, "c2,nobody@example.org,2026-03-09T09:30:00Z,FAILED 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown").unwrap();
    let path = dir.join("sending-log.csv");
    std::fs::write(&path, log).unwrap();
    path.display().to_string()
}

#[test]
fn a_block_event_is_one_event_and_deactivates_no_one_when_sender_faults_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let log = blocked_log(dir.path());
    let run = bounces(&["report", &log, "--campaign", "c2", "--format", "csv"]).ok();
    let events: Vec<_> = run.csv().into_iter().filter(|r| r["section"] == "block_event").collect();
    assert_eq!(events.len(), 1, "{}", run.stdout);
    assert_eq!(events[0]["key"], "Google");
    assert_eq!(events[0]["count"], "12");
    assert!(events[0]["detail"].starts_with("blocked 2026-03-09T09:01:00Z to 2026-03-09T09:12:00Z: 12 recipients"));
    let human = bounces(&["report", &log]).ok().stdout;
    assert_eq!(human.matches("Block events").count(), 1, "{human}");
    // With a soft threshold of 1, the block deactivates all twelve; ignoring sender faults, only the bad address.
    let strict = ["deactivations", &log, "--soft-unengaged", "1", "--format", "csv"];
    assert_eq!(bounces(&strict).ok().csv().len(), 13);
    let mut ignoring = strict.to_vec();
    ignoring.push("--ignore-sender-faults");
    let rows = bounces(&ignoring).ok().csv();
    assert_eq!(rows.iter().map(|r| r["email"].as_str()).collect::<Vec<_>>(), ["nobody@example.org"]);
}

#[test]
fn fewer_recipients_than_the_minimum_are_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let log = blocked_log(dir.path());
    let run = bounces(&["report", &log, "--campaign", "c2", "--format", "csv", "--block-min", "13"]).ok();
    assert!(run.csv().iter().all(|r| r["section"] != "block_event"));
    let run = bounces(&["report", &log, "--campaign", "c2", "--format", "csv", "--block-window", "0"]).ok();
    assert!(run.csv().iter().all(|r| r["section"] != "block_event"), "a minute apart is more than 0 minutes");
}

#[test]
fn deactivations_diff_shows_what_other_thresholds_add_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let base = ["deactivations", "samples/sending-log.csv", "--contacts", "samples/contacts.csv", "--format", "csv"];
    let old = dir.path().join("old.csv");
    let run = bounces(&base).ok();
    std::fs::write(&old, &run.stdout).unwrap();
    let before = run.csv();
    // Same rules: nothing changes.
    let mut same = base.to_vec();
    same.extend(["--diff", old.to_str().unwrap()]);
    let rows = bounces(&same).ok().csv();
    assert!(rows.is_empty(), "{rows:?}");
    // Hard bounces no longer deactivate: every hard deactivation is removed, and nothing is added.
    let mut what_if = same.clone();
    what_if.extend(["--hard", "0"]);
    let rows = bounces(&what_if).ok().csv();
    let hard: Vec<&str> = before.iter().filter(|r| r["cause"] == "hard").map(|r| r["email"].as_str()).collect();
    assert!(!hard.is_empty());
    let removed: Vec<&str> = rows.iter().filter(|r| r["change"] == "removed").map(|r| r["email"].as_str()).collect();
    let mut hard_sorted = hard.clone();
    hard_sorted.sort_unstable();
    assert_eq!(removed, hard_sorted);
    assert!(rows.iter().all(|r| r["change"] == "removed" && r["was_cause"] == "hard"));
    // A lower soft threshold adds contacts.
    let mut lower = same.clone();
    lower.extend(["--soft-unengaged", "3", "--soft-engaged", "3"]);
    let rows = bounces(&lower).ok().csv();
    assert!(rows.iter().any(|r| r["change"] == "added" && r["cause"] == "soft_threshold"), "{rows:?}");
}

#[test]
fn since_lists_only_what_happened_in_the_window_with_the_history_before_it() {
    let all = bounces(&["deactivations", "samples/maillog", "--contacts", "samples/contacts.csv", "--format", "csv"]);
    let all = all.ok().csv();
    let since = "2026-05-01T00:00:00Z";
    let run = bounces(&[
        "deactivations",
        "samples/maillog",
        "--contacts",
        "samples/contacts.csv",
        "--format",
        "csv",
        "--since",
        since,
    ]);
    let recent = run.ok().csv();
    let want: Vec<_> = all.iter().filter(|r| r["deactivated_at"].as_str() >= since).cloned().collect();
    assert!(!want.is_empty() && want.len() < all.len());
    // Exactly the later part of the full list: the soft run that began before the window still counts.
    assert_eq!(recent, want);
}
