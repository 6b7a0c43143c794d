//! Every report on the samples, against outputs checked in under `tests/fixtures/expected/`: CSV and JSON decoded
//! and compared as data (so that formatting details of the encoders do not matter), and one table compared as text.
//!
//! The expected files were written by the tool and reviewed against the samples' story (`samples/README.md`); the
//! independent checks of the numbers are in `samples.rs`. After an intended change, regenerate them with
//! `BOUNCES_UPDATE_SNAPSHOTS=1 cargo test snapshots` and review the diff.

use super::samples::MAILLOG;
use super::util::{bounces, csv_rows, root};

/// Runs a command on the samples and compares its output with the checked-in file `name`.
fn check(name: &str, command: &[&str], compare: fn(&str, &str, &str)) {
    let mut args: Vec<&str> = command.to_vec();
    args.extend(MAILLOG);
    let got = bounces(&args).ok().stdout;
    let path = root().join("tests/fixtures/expected").join(name);
    if std::env::var_os("BOUNCES_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    compare(name, &want, &got);
}

fn as_csv(name: &str, want: &str, got: &str) {
    assert_eq!(csv_rows(got), csv_rows(want), "{name}");
}

fn as_json(name: &str, want: &str, got: &str) {
    let decode = |text: &str| -> Vec<serde_json::Value> {
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: {e}: {l}"))).collect()
    };
    assert_eq!(decode(got), decode(want), "{name}");
}

fn as_text(name: &str, want: &str, got: &str) {
    assert_eq!(got, want, "{name}");
}

#[test]
fn report_of_all_campaigns() {
    check("report.csv", &["report", "--format", "csv"], as_csv);
    check("report.json", &["report", "--format", "json"], as_json);
    check("report.txt", &["report"], as_text);
}

#[test]
fn report_of_one_campaign() {
    check("report-c07.csv", &["report", "--campaign", "c07", "--format", "csv"], as_csv);
    check("report-c10.json", &["report", "--campaign", "c10", "--format", "json"], as_json);
}

#[test]
fn deactivations() {
    check("deactivations.csv", &["deactivations", "--format", "csv"], as_csv);
    check("deactivations.json", &["deactivations", "--format", "json"], as_json);
}

#[test]
fn contacts() {
    check(
        "contact.csv",
        &["contact", "nora.bennett@acme-corp.example", "LUCAS.MEYER@web.de", "--format", "csv"],
        as_csv,
    );
}

#[test]
fn classify() {
    check("classify.csv", &["classify", "--format", "csv"], as_csv);
}
