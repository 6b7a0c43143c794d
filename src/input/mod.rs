//! Reading inputs into domain values: opening files, detecting their format, one parser per log format, the
//! campaign CSVs, and the accounting of every line read.
//!
//! Every line of every input is counted as used, ignored (well formed but not about delivery) or malformed, so that
//! nothing is lost silently. This layer never prints: warnings travel in [`FileStats`] for the command to show.

pub mod campaign_data;
pub mod columns;
pub mod dedupe;
pub mod exim;
pub mod kumomta;
pub mod lines;
pub mod pmta;
pub mod postfix;
pub mod sending_log;
pub mod sendmail;
pub mod source;
pub mod syslog;

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Result, bail};

use crate::domain::attempt::{Attempt, Source};
use crate::domain::time::Timestamp;

use lines::Parsed;

/// A sending-log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Postfix syslog lines.
    Postfix,
    /// Exim's main log.
    Exim,
    /// Sendmail (`sendmail`, `sm-mta`) syslog lines.
    Sendmail,
    /// The platform's CSV export: `campaign_id,email,timestamp,log`.
    SendingLog,
    /// PowerMTA accounting CSV (`type,timeLogged,...,rcpt,dsnStatus,dsnDiag,...`).
    Pmta,
    /// KumoMTA JSON log records, one per line.
    Kumomta,
}

impl LogFormat {
    /// Every format's command-line name, in the order help text lists them.
    pub const NAMES: &'static [&'static str] = &["postfix", "exim", "sendmail", "pmta", "kumomta", "sending-log"];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Postfix => "postfix",
            LogFormat::Exim => "exim",
            LogFormat::Sendmail => "sendmail",
            LogFormat::SendingLog => "sending-log",
            LogFormat::Pmta => "pmta",
            LogFormat::Kumomta => "kumomta",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "postfix" => Ok(LogFormat::Postfix),
            "exim" => Ok(LogFormat::Exim),
            "sendmail" => Ok(LogFormat::Sendmail),
            "sending-log" => Ok(LogFormat::SendingLog),
            "pmta" => Ok(LogFormat::Pmta),
            "kumomta" => Ok(LogFormat::Kumomta),
            _ => Err(format!("unknown log format '{s}' ({})", LogFormat::NAMES.join(", "))),
        }
    }
}

/// Which log lines to keep as proof.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum KeepLines {
    /// None: reports that do not show proof keep memory small.
    #[default]
    None,
    /// Every line.
    All,
    /// Only those about these recipients (lower-cased).
    For(HashSet<String>),
}

/// How to read the logs.
#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    /// The format of every log, instead of detecting each file's.
    pub format: Option<LogFormat>,
    /// The year of the first line of each syslog file without years.
    pub year: Option<i32>,
    /// Which lines to keep as proof.
    pub keep: KeepLines,
    /// The time to count syslog years back from when a file has no modification time (standard input).
    pub now: Timestamp,
}

/// The accounting of one input file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileStats {
    /// The file as named by the user.
    pub name: String,
    /// What the file was read as (`postfix`, `pmta`, `kumomta`, `sending-log`, `sends`, ...).
    pub kind: String,
    /// Lines (CSV: rows, header included) read.
    pub read: u64,
    /// Lines that gave a record.
    pub used: u64,
    /// Lines well formed but not about delivery.
    pub ignored: u64,
    /// Lines that could not be read.
    pub malformed: u64,
    /// The first malformed lines: line number and why.
    pub malformed_lines: Vec<(u64, String)>,
    /// Other problems with the file as a whole.
    pub warnings: Vec<String>,
    /// Lines that were not valid UTF-8 (read with the bad bytes replaced by U+FFFD), and the first of them.
    pub invalid_utf8: (u64, Option<u64>),
}

/// How many malformed lines of a file are kept for messages.
const MALFORMED_KEPT: usize = 5;

impl FileStats {
    /// Empty accounting for a file.
    pub fn new(name: String, kind: &str) -> Self {
        FileStats { name, kind: kind.into(), ..Default::default() }
    }

    /// Counts a malformed line.
    pub fn malformed(&mut self, line: u64, why: String) {
        self.malformed += 1;
        if self.malformed_lines.len() < MALFORMED_KEPT {
            self.malformed_lines.push((line, why));
        }
    }

    /// Notes a problem with the file as a whole.
    pub fn warn(&mut self, why: String) {
        self.warnings.push(why);
    }

    /// Counts the lines of the file's bytes that are not valid UTF-8.
    pub fn count_invalid_utf8(&mut self, bytes: &[u8]) {
        self.invalid_utf8 = lines::invalid_utf8_lines(bytes);
    }
}

/// The logs of a run, read.
#[derive(Debug, Default)]
pub struct Logs {
    /// Every attempt found, in no particular order.
    pub attempts: Vec<Attempt>,
    /// The accounting of each file, in the order given.
    pub files: Vec<FileStats>,
    /// Attempts found in more than one file (the same file given twice, overlapping rotated files) and counted once.
    pub duplicates: u64,
}

/// Detects a log's format from its first lines.
pub fn detect(bytes: &[u8]) -> Option<LogFormat> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(64 << 10)]);
    if kumomta::looks_like(&head) {
        return Some(LogFormat::Kumomta);
    }
    if pmta::looks_like(&head) {
        return Some(LogFormat::Pmta);
    }
    let mut lines = head.lines().map(str::trim).filter(|l| !l.is_empty()).take(50);
    let first = lines.next()?;
    let lower = first.to_ascii_lowercase();
    if lower.contains(',') && lower.contains("log") && (lower.contains("email") || lower.contains("recipient")) {
        return Some(LogFormat::SendingLog);
    }
    let lines: Vec<&str> = std::iter::once(first).chain(lines).collect();
    if lines.iter().any(|l| syslog::parse_syslog(l).is_some_and(|s| s.program.starts_with("postfix"))) {
        return Some(LogFormat::Postfix);
    }
    if lines.iter().any(|l| sendmail::looks_like(l)) {
        return Some(LogFormat::Sendmail);
    }
    lines.iter().any(|l| exim::looks_like(l)).then_some(LogFormat::Exim)
}

/// Counts the parsed lines of a file in its accounting and gives the records with their sources.
fn account<R>(parsed: Vec<(u64, Parsed<R>)>, file: u32, stats: &mut FileStats) -> Vec<(Source, R)> {
    let mut records = Vec::with_capacity(parsed.len());
    for (line, p) in parsed {
        stats.read += 1;
        match p {
            Parsed::Used(r) => {
                stats.used += 1;
                records.push((Source { file, line }, r));
            }
            Parsed::Ignored => stats.ignored += 1,
            Parsed::Malformed(why) => stats.malformed(line, why),
        }
    }
    records
}

/// Reads every log file into one history. Files are numbered in the order of their names, whatever the order they
/// were given in, and that number is the `file` of each [`Source`]: attempts at the same time are then ordered the
/// same way in every run, so the result does not depend on the order of the arguments.
pub fn load_logs(paths: &[PathBuf], options: &LogOptions) -> Result<Logs> {
    let mut logs = Logs::default();
    let mut postfix_records = Vec::new();
    let mut exim_records = Vec::new();
    let mut sendmail_records = Vec::new();
    let mut paths: Vec<&PathBuf> = paths.iter().collect();
    paths.sort();
    for (index, path) in paths.into_iter().enumerate() {
        let input = source::read_input(path)?;
        let format = match options.format.or_else(|| detect(&input.bytes)) {
            Some(f) => f,
            None if input.bytes.iter().all(u8::is_ascii_whitespace) => LogFormat::Postfix,
            None => bail!(
                "{}: cannot tell the log format from its first lines; give it with --log-format ({})",
                input.name,
                LogFormat::NAMES.join(", ")
            ),
        };
        let mut stats = FileStats::new(input.name.clone(), format.as_str());
        if let Some(why) = &input.truncated {
            stats.warn(why.clone());
        }
        stats.count_invalid_utf8(&input.bytes);
        let file = index as u32;
        match format {
            LogFormat::SendingLog => {
                logs.attempts.extend(sending_log::parse(&input.bytes, file, &mut stats, &options.keep)?)
            }
            LogFormat::Pmta => logs.attempts.extend(pmta::parse(&input.bytes, file, &mut stats, &options.keep)?),
            LogFormat::Kumomta => logs.attempts.extend(kumomta::parse(&input.bytes, file, &mut stats, &options.keep)?),
            LogFormat::Postfix => {
                let parsed = lines::parse_lines(&input.bytes, |_, line| postfix::parse_line(line, &options.keep));
                let records = account(parsed, file, &mut stats)
                    .into_iter()
                    .map(|(source, r): (Source, postfix::Record)| (source, r.time, r))
                    .collect();
                postfix_records.extend(syslog::resolve_years(
                    records,
                    options.year,
                    input.modified.unwrap_or(options.now),
                    &mut stats,
                ));
            }
            LogFormat::Sendmail => {
                let parsed = lines::parse_lines(&input.bytes, |_, line| sendmail::parse_line(line, &options.keep));
                let records = account(parsed, file, &mut stats)
                    .into_iter()
                    .map(|(source, r): (Source, sendmail::Record)| (source, r.time, r))
                    .collect();
                sendmail_records.extend(syslog::resolve_years(
                    records,
                    options.year,
                    input.modified.unwrap_or(options.now),
                    &mut stats,
                ));
            }
            LogFormat::Exim => {
                let parsed = lines::parse_lines(&input.bytes, |_, line| exim::parse_line(line, &options.keep));
                exim_records.extend(account(parsed, file, &mut stats));
            }
        }
        logs.files.push(stats);
    }
    logs.attempts.extend(postfix::join(postfix_records));
    logs.attempts.extend(exim::join(exim_records));
    logs.attempts.extend(sendmail::join(sendmail_records));
    logs.duplicates = dedupe::dedupe(&mut logs.attempts);
    Ok(logs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert_eq!(
            detect(b"campaign_id,email,timestamp,log\nc1,a@b,2026-01-01T00:00:00Z,250 ok\n"),
            Some(LogFormat::SendingLog)
        );
        assert_eq!(detect(b"Nov 20 09:00:00 mta1 postfix/qmgr[1]: A: removed\n"), Some(LogFormat::Postfix));
        assert_eq!(
            detect(b"2025-11-20 09:00:01 1vM0WT-0000GA-35 <= b@n.example H=localhost [127.0.0.1] P=esmtp S=1\n"),
            Some(LogFormat::Exim)
        );
        assert_eq!(
            detect(b"Aug  8 12:28:47 ns2 sm-mta[13165]: j78ASk4e013165: from=<k@g.baf>, size=786\n"),
            Some(LogFormat::Sendmail)
        );
        assert_eq!(detect(b"\x00\x01garbage"), None);
        assert_eq!(
            detect(
                b"type,timeLogged,orig,rcpt,dsnStatus,dsnDiag\nd,2025-11-20 09:00:15+0000,a@b,c@d,2.0.0,smtp;250 ok\n"
            ),
            Some(LogFormat::Pmta)
        );
        assert_eq!(detect(b"{\"type\":\"Delivery\",\"id\":\"1\",\"recipient\":\"a@b\"}\n"), Some(LogFormat::Kumomta));
        for name in LogFormat::NAMES {
            assert_eq!(name.parse::<LogFormat>().map(LogFormat::as_str), Ok(*name));
        }
    }
}
