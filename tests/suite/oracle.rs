//! The generator's exact answer: `../shared/bench/gen.py` writes a Postfix log and a sending log of the same
//! history with the deactivations and campaign counts a correct analyser must find. Skipped, with a message, when
//! `../shared` is absent.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use super::util::{bounces, csv_file, shared};

pub(super) type Deactivations = BTreeMap<String, (String, String, String)>;

pub(super) fn generate(out: &Path, extra: &[&str]) -> bool {
    let Some(shared) = shared() else {
        eprintln!("skipped: ../shared/bench/gen.py is not here");
        return false;
    };
    let status = Command::new("python3")
        .arg(shared.join("bench/gen.py"))
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .expect("python3 runs");
    assert!(status.status.success(), "gen.py failed: {}", String::from_utf8_lossy(&status.stderr));
    true
}

pub(super) fn expected(dir: &Path) -> Deactivations {
    csv_file(&dir.join("expected_contacts.csv"))
        .into_iter()
        .filter(|r| r["status"] == "deactivated")
        .map(|r| {
            (
                r["email"].clone(),
                (r["deactivated_at"].clone(), r["deactivated_campaign"].clone(), r["deactivation_cause"].clone()),
            )
        })
        .collect()
}

pub(super) fn ours(args: Vec<String>) -> Deactivations {
    let run = bounces(&args).ok();
    run.csv()
        .into_iter()
        .map(|r| (r["email"].clone(), (r["deactivated_at"].clone(), r["campaign_id"].clone(), r["cause"].clone())))
        .collect()
}

pub(super) fn strs(dir: &Path, parts: &[&str]) -> Vec<String> {
    parts
        .iter()
        .map(|p| if let Some(f) = p.strip_prefix('@') { dir.join(f).display().to_string() } else { p.to_string() })
        .collect()
}

/// The year of the first campaign, which the maillog's first line is in.
fn first_year(dir: &Path) -> String {
    csv_file(&dir.join("campaigns.csv"))[0]["sent_at"][..4].to_string()
}

fn check(dir: &Path, thresholds: &[&str]) {
    let want = expected(dir);
    assert!(!want.is_empty());
    let year = first_year(dir);
    let log = if dir.join("maillog.gz").exists() { "@maillog.gz" } else { "@maillog" };
    let mut args = strs(
        dir,
        &[
            "deactivations",
            log,
            "--sends",
            "@sends.csv",
            "--contacts",
            "@contacts.csv",
            "--format",
            "csv",
            "--year",
            &year,
        ],
    );
    args.extend(thresholds.iter().map(|s| s.to_string()));
    let got = ours(args);
    assert_eq!(got.len(), want.len(), "maillog: number of deactivations");
    assert_eq!(got, want, "maillog deactivations");

    let mut args = strs(dir, &["deactivations", "@sending-log.csv", "--contacts", "@contacts.csv", "--format", "csv"]);
    args.extend(thresholds.iter().map(|s| s.to_string()));
    assert_eq!(ours(args), want, "sending-log deactivations");

    let mut args = strs(
        dir,
        &["report", log, "--sends", "@sends.csv", "--contacts", "@contacts.csv", "--format", "csv", "--year", &year],
    );
    args.extend(thresholds.iter().map(|s| s.to_string()));
    let got = campaign_columns(bounces(&args).ok().csv());
    let want = campaign_columns(csv_file(&dir.join("expected_campaigns.csv")));
    assert_eq!(got, want, "campaign counts");
}

/// The columns the oracle's campaign file and our report share, in its order.
pub(super) fn campaign_columns(rows: Vec<std::collections::HashMap<String, String>>) -> Vec<Vec<String>> {
    rows.into_iter()
        .map(|r| {
            ["campaign_id", "sent", "delivered", "soft_bounces", "hard_bounces", "deactivated"]
                .iter()
                .map(|k| r[*k].clone())
                .collect()
        })
        .collect()
}

#[test]
fn generated_history_gives_the_exact_answer() {
    let dir = tempfile::tempdir().unwrap();
    if generate(dir.path(), &["--contacts", "2000", "--campaigns", "24"]) {
        check(dir.path(), &[]);
    }
}

#[test]
fn other_seeds_gzip_and_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    if generate(dir.path(), &["--contacts", "800", "--campaigns", "14", "--seed", "7", "--gzip"]) {
        check(dir.path(), &[]);
    }
    let dir = tempfile::tempdir().unwrap();
    if generate(
        dir.path(),
        &[
            "--contacts",
            "800",
            "--campaigns",
            "12",
            "--seed",
            "bounce",
            "--hard",
            "2",
            "--soft-engaged",
            "6",
            "--soft-unengaged",
            "4",
        ],
    ) {
        check(dir.path(), &["--hard", "2", "--soft-engaged", "6", "--soft-unengaged", "4"]);
    }
}
