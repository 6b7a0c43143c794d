//! The body of every fuzz target, one function each, shared by the targets in `fuzz_targets/` (run by libFuzzer on
//! nightly) and by the integration test `fuzz_regressions` (on stable), which runs every input kept in
//! `fuzz/regressions/TARGET/` through the same function. Each runs the input through one entry point, then the pure
//! core (settle and replay) over whatever attempts came out, checking invariants on the way: the accounting adds up
//! and no contact is deactivated twice. Errors are fine; a panic is a finding.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::LazyLock;

use bounces::domain::attempt::{Attempt, Source};
use bounces::domain::classify::Classifier;
use bounces::domain::outcome::settle;
use bounces::domain::pattern_set::PatternSet;
use bounces::domain::reason::HardPolicy;
use bounces::domain::replay::{ReplayPolicy, Thresholds, replay};
use bounces::domain::rule_file::{self, Syntax};
use bounces::domain::smtp::{EnhancedCode, Reply};
use bounces::domain::template::template_of;
use bounces::domain::time::Timestamp;
use bounces::domain::zone::Zone;
use bounces::input::campaign_data::CampaignData;
use bounces::input::lines::{Parsed, parse_lines};
use bounces::input::{
    FileStats, KeepLines, LogOptions, detect, exim, kumomta, load_logs, pmta, postfix, sending_log, sendmail, syslog,
};

/// A target's body.
pub type Target = fn(&[u8]);

/// The targets, by name: the names of `fuzz_targets/*.rs` and of the directories of `fuzz/regressions`.
pub const TARGETS: &[(&str, Target)] = &[
    ("postfix", postfix),
    ("exim", exim),
    ("sendmail", sendmail),
    ("pmta", pmta),
    ("kumomta", kumomta),
    ("sending_log", sending_log),
    ("campaign_csv", campaign_csv),
    ("reply", reply),
    ("classify", classify),
    ("rule_file", rule_file),
    ("load_logs", load_logs_target),
    ("pattern_set", pattern_set),
];

/// The built-in classifier, built once (its regexes are costly).
static CLASSIFIER: LazyLock<Classifier> = LazyLock::new(Classifier::builtin);

/// The zone of the logs' wall-clock times: not UTC, so that placing them is exercised too.
static ZONE: Zone = Zone::Fixed(-5 * 3_600_000);

/// A fixed "now" for syslog years.
fn now() -> Timestamp {
    Timestamp::from_secs(1_790_000_000)
}

/// A scratch file for the entry points that take paths, one per process.
fn scratch(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("bounces-fuzz-{what}-{}", std::process::id()))
}

/// Settles and replays attempts with small thresholds, and checks the accounting and replay invariants.
fn settle_and_replay(attempts: Vec<Attempt>, stats: &FileStats) {
    assert_eq!(stats.read, stats.used + stats.ignored + stats.malformed, "{stats:?}");
    let outcomes = settle(attempts, &CLASSIFIER);
    let policy = ReplayPolicy {
        thresholds: Thresholds { hard: 2, soft_engaged: 3, soft_unengaged: 2 },
        ignore_sender_faults: false,
    };
    let r = replay(&outcomes, |e, _| e.len() % 2 == 0, policy);
    assert_eq!(r.steps.len(), outcomes.len());
    let mut seen = std::collections::HashSet::new();
    for d in &r.deactivations {
        assert!(seen.insert(d.email.clone()), "deactivated twice: {}", d.email);
    }
}

/// Parses every line with `parse` and counts them as `load_logs` does: the used records with their sources (odd
/// lines in file 1, even ones in file 0, so that joins see two files).
fn lines<R: Send>(
    data: &[u8],
    stats: &mut FileStats,
    parse: impl Fn(&str, &KeepLines) -> Parsed<R> + Sync,
) -> Vec<(Source, R)> {
    let mut out = Vec::new();
    for (line, p) in parse_lines(data, |_, l| parse(l, &KeepLines::All)) {
        stats.read += 1;
        match p {
            Parsed::Used(r) => {
                stats.used += 1;
                out.push((Source { file: (line % 2) as u32, line }, r));
            }
            Parsed::Ignored => stats.ignored += 1,
            Parsed::Malformed(why) => stats.malformed(line, why),
        }
    }
    out
}

/// A year for syslog lines from the first byte, on one input in three (otherwise inferred from "now").
fn year(data: &[u8]) -> Option<i32> {
    data.first().map(|b| 1969 + i32::from(*b) * 4).filter(|_| data.len().is_multiple_of(3))
}

/// Postfix syslog lines: parsed, years resolved, joined per queue id, settled, replayed.
pub fn postfix(data: &[u8]) {
    let mut stats = FileStats::new("fuzz".into(), "postfix");
    let records = lines(data, &mut stats, postfix::parse_line);
    let records = records.into_iter().map(|(s, r)| (s, r.time, r)).collect();
    let records = syslog::resolve_years(records, year(data), now(), &ZONE, &mut stats);
    // Joined part by part with repeated deferrals folded, as `report` reads a log without proof, the same outcomes
    // as joined one record after the other with every try.
    let bare: Vec<_> = records.iter().cloned().map(|(s, t, r)| (s, t, postfix::Record { line: None, ..r })).collect();
    let mut joiner = postfix::Joiner::new().folding_deferrals(true);
    let mut folded = Vec::new();
    for chunk in bare.chunks(7) {
        joiner.push_all(chunk.to_vec(), &mut folded);
        let _ = joiner.earliest_outcome();
    }
    joiner.finish(&mut folded);
    let every = settle(postfix::join(bare), &CLASSIFIER);
    assert_eq!(format!("{:?}", settle(folded, &CLASSIFIER)), format!("{every:?}"));
    settle_and_replay(postfix::join(records), &stats);
}

/// Sendmail syslog lines: parsed, years resolved, joined per queue id, settled, replayed.
pub fn sendmail(data: &[u8]) {
    let mut stats = FileStats::new("fuzz".into(), "sendmail");
    let records = lines(data, &mut stats, sendmail::parse_line);
    let records = records.into_iter().map(|(s, r)| (s, r.time, r)).collect();
    let records = syslog::resolve_years(records, year(data), now(), &ZONE, &mut stats);
    settle_and_replay(sendmail::join(records), &stats);
}

/// Exim main log lines: parsed, joined per message id, settled, replayed.
pub fn exim(data: &[u8]) {
    let mut stats = FileStats::new("fuzz".into(), "exim");
    let records = lines(data, &mut stats, |l, k| exim::parse_line(l, k, &ZONE));
    settle_and_replay(exim::join(records), &stats);
}

/// A PowerMTA accounting file.
pub fn pmta(data: &[u8]) {
    let mut stats = FileStats::new("fuzz".into(), "pmta");
    if let Ok(attempts) = pmta::parse(data, 0, &mut stats, &KeepLines::All) {
        settle_and_replay(attempts, &stats);
    }
}

/// KumoMTA JSON log records.
pub fn kumomta(data: &[u8]) {
    let mut stats = FileStats::new("fuzz".into(), "kumomta");
    if let Ok(attempts) = kumomta::parse(data, 0, &mut stats, &KeepLines::All) {
        settle_and_replay(attempts, &stats);
    }
}

/// The platform's sending-log CSV.
pub fn sending_log(data: &[u8]) {
    let mut stats = FileStats::new("fuzz".into(), "sending-log");
    if let Ok(attempts) = sending_log::parse(data, 0, &mut stats, &KeepLines::All) {
        settle_and_replay(attempts, &stats);
    }
}

/// The campaign CSV loaders, which take paths: the input (after its first byte, which picks sends, campaigns or
/// contacts) is written to a file first.
pub fn campaign_csv(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else { return };
    let path = scratch("campaign.csv");
    std::fs::write(&path, body).unwrap();
    let mut d = CampaignData::default();
    let result = match which % 3 {
        0 => d.load_sends(&path),
        1 => d.load_campaigns(&path),
        _ => d.load_contacts(&path),
    };
    if result.is_ok() {
        let f = &d.files[0];
        assert_eq!(f.read, f.used + f.ignored + f.malformed, "{f:?}");
    }
}

/// `Reply::parse` on any text: never fails, and parsing what it shows gives the same class of reply code back (not
/// always the same code: the text may quote another server's wrapped reply of the same class, which is unwrapped).
pub fn reply(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let reply = Reply::parse(&text);
    let _ = reply.code_class();
    let shown = reply.display();
    if reply.code.is_some() {
        let again = Reply::parse(&shown);
        assert_eq!(again.code.map(|c| c / 100), reply.code.map(|c| c / 100), "{text:?} -> {shown:?}");
    }
    let _ = EnhancedCode::parse(&text);
    let _ = EnhancedCode::parse_prefix(&text);
}

/// The built-in classifier on any response, and the template `unclassified` makes of it.
pub fn classify(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let reply = Reply::parse(&text);
    let verdict = CLASSIFIER.classify(&reply);
    let _ = CLASSIFIER.rule(&verdict);
    let _ = template_of(&reply.text);
}

/// The rules-file parser (the first byte picks TOML or CSV), then a classifier built from the rules it accepts,
/// which checks their examples.
pub fn rule_file(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(body) else { return };
    let syntax = if which % 2 == 0 { Syntax::Toml } else { Syntax::Csv };
    let Ok(rules) = rule_file::parse(text, syntax) else { return };
    let n = rules.len();
    if let Ok(c) = Classifier::new(rules, HardPolicy::default()) {
        let _ = c.check_examples(0..n);
    }
}

/// The classifier's text matcher against the regex crate's own set, as an oracle: the input's lines up to a blank
/// line are patterns (at most 16), the rest is the text. Where the regex crate compiles the patterns as a set, the
/// matcher compiles them too, and both find the same patterns matching the text and its lower-cased form.
pub fn pattern_set(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    let (head, text) = input.split_once("\n\n").unwrap_or((&input, ""));
    let patterns: Vec<&str> = head.lines().take(16).collect();
    let Ok(reference) = regex::RegexSet::new(&patterns) else { return };
    let set = PatternSet::new(&patterns).unwrap_or_else(|e| panic!("the regex crate compiles {patterns:?}: {e:?}"));
    for text in [text.to_string(), text.to_lowercase()] {
        let mut bits = vec![0u64; patterns.len().div_ceil(64).max(1)];
        set.matches_into(&text, &mut bits);
        let found: Vec<usize> = (0..patterns.len()).filter(|&i| bits[i / 64] & (1 << (i % 64)) != 0).collect();
        let expected: Vec<usize> = reference.matches(&text).iter().collect();
        assert_eq!(found, expected, "patterns {patterns:?} on {text:?}");
    }
}

/// Format detection and the whole loading path: the input is written to a file (gzip and zstd are recognised by
/// their magic bytes) and given twice, so that duplicate input is removed too.
pub fn load_logs_target(data: &[u8]) {
    let _ = detect(data);
    let path = scratch("log");
    std::fs::write(&path, data).unwrap();
    let options = LogOptions { now: now(), ..LogOptions::default() };
    let Ok(logs) = load_logs(&[path.clone(), path], &options) else { return };
    for f in &logs.files {
        assert_eq!(f.read, f.used + f.ignored + f.malformed, "{f:?}");
    }
    let stats = logs.files[0].clone();
    settle_and_replay(logs.attempts, &stats);
}
