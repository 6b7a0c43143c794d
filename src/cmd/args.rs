//! The flags every command shares, and their conversion into plain configuration, once, at the edge.
//!
//! Nothing below `cmd/` sees a clap type: [`InputArgs::config`] and [`OutputArgs::config`] turn the flags into
//! [`RunConfig`] and [`OutputConfig`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use regex::Regex;

use crate::domain::classify::{Classifier, Rule};
use crate::domain::reason::{HardPolicy, Reason};
use crate::domain::replay::{ReplayPolicy, Thresholds};
use crate::domain::rule_file;
use crate::domain::time::Timestamp;
use crate::domain::zone::Zone;

/// The years `--year` may name: a log from before Unix time, or after 9999, is a typing error.
const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;
use crate::input::{KeepLines, LogFormat, LogOptions, Progress};
use crate::output::Format;

use super::config::Config;

/// Where the logs and the campaign data come from, and how to read them.
#[derive(Args, Debug, Clone, Default)]
pub struct InputArgs {
    /// The platform's sends file (CSV: campaign_id, email, sent_at, message_id): ties log lines to campaigns by
    /// message-id.
    #[arg(long, value_name = "CSV")]
    pub sends: Option<PathBuf>,

    /// The campaigns file (CSV: campaign_id, name, sent_at): names and dates in reports.
    #[arg(long, value_name = "CSV")]
    pub campaigns: Option<PathBuf>,

    /// The contacts file (CSV: email, and engaged or last_engaged_at / last_open_at / last_click_at). Contacts not
    /// in it are unengaged.
    #[arg(long, value_name = "CSV")]
    pub contacts: Option<PathBuf>,

    /// The format of every log file instead of detecting it from each file's first lines.
    #[arg(long, value_name = "FORMAT", value_parser = ["postfix", "exim", "sendmail", "pmta", "kumomta", "sending-log"])]
    pub log_format: Option<String>,

    /// The year of the first line of syslog files, whose timestamps have no year. Without it, a file whose first line
    /// carries its year (RFC 3339) takes that one, and any other file's last line is taken to be at or before the
    /// file's modification time.
    #[arg(long, value_name = "YEAR")]
    pub year: Option<i32>,

    /// The time zone of MTA log times written without an offset (syslog's `Nov 26 03:30:13`, Exim's): a zone name
    /// (`Europe/Berlin`, following its daylight saving time), an offset (`+01:00`, `-0500`) or `UTC` (the default).
    /// Times that state their offset, and CSV exports, are not changed.
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,

    /// A regular expression with a named group `campaign`, matched against the message-id and then the envelope
    /// sender, e.g. `bounce\+(?P<campaign>[^@-]+)@`.
    #[arg(long, value_name = "REGEX")]
    pub campaign_pattern: Option<String>,

    /// A contact who opened or clicked within this many days before a send counts as engaged at that send
    /// (default 90).
    #[arg(long, value_name = "DAYS")]
    pub engaged_within: Option<u32>,

    /// The configuration file (default: bounces.toml in the current folder, if there is one). Flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Show only what happened at or after this time, judged with the history before it (RFC 3339, or a date:
    /// 2026-05-01 is midnight UTC).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Leave out everything at or after this time (RFC 3339, or a date: --until 2026-06-01 ends with May).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// Print the accounting of every input file (lines read, used, ignored, malformed) on stderr.
    #[arg(long)]
    pub stats: bool,

    /// Stop at the first malformed line instead of skipping it.
    #[arg(long)]
    pub strict: bool,
}

/// The platform's deactivation rules.
#[derive(Args, Debug, Clone)]
pub struct ReplayArgs {
    /// Hard bounces that deactivate a contact (0: never; default 1).
    #[arg(long, value_name = "N")]
    pub hard: Option<u32>,

    /// Consecutive soft bounces that deactivate an engaged contact (0: never; default 20).
    #[arg(long, value_name = "N")]
    pub soft_engaged: Option<u32>,

    /// Consecutive soft bounces that deactivate an unengaged contact (0: never; default 10).
    #[arg(long, value_name = "N")]
    pub soft_unengaged: Option<u32>,

    /// The reasons that count as hard bounces, comma-separated (default:
    /// userunknown,hostunknown,hasmoved,notaccept).
    #[arg(long, value_name = "REASONS", value_delimiter = ',')]
    pub hard_reasons: Vec<String>,

    /// Sender-side soft bounces (blocks, reputation, authentication) do not count toward deactivation.
    #[arg(long)]
    pub ignore_sender_faults: bool,

    /// Carry contacts' counters and deactivations, and the messages still queued, from one run to the next: read at
    /// the start (a missing file is a first run) and written, atomically, at the end. Replaying day 1 and then day 2
    /// with the same file gives what one run over both days gives.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// A rules file (TOML, or CSV by its .csv name) tried before the built-in rules; may be repeated, the first
    /// file's rules first. See `bounces rules`.
    #[arg(long, value_name = "FILE")]
    pub rules: Vec<PathBuf>,
}

/// Reads users' rules files, in the order given.
pub fn load_rules(paths: &[PathBuf]) -> Result<Vec<Rule>> {
    let mut rules = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read the rules file", path.display()))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            anyhow::anyhow!("{}: the rules file is not UTF-8 (byte {})", path.display(), e.utf8_error().valid_up_to())
        })?;
        let name = path.display().to_string();
        rules.extend(
            rule_file::parse(&text, rule_file::Syntax::of_name(&name)).map_err(|e| anyhow::anyhow!("{name}: {e}"))?,
        );
    }
    Ok(rules)
}

/// The hard/soft policy `--hard-reasons` gives (the default when empty).
pub fn hard_policy(reasons: &[String]) -> Result<HardPolicy> {
    if reasons.is_empty() {
        return Ok(HardPolicy::default());
    }
    let reasons = reasons
        .iter()
        .map(|s| {
            s.parse::<Reason>().map_err(|e| anyhow::anyhow!("--hard-reasons: {e}; `bounces rules reasons` lists them"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(HardPolicy::new(reasons))
}

/// The classifier of a run: users' rules, then the built-in ones.
pub fn classifier(rules_files: &[PathBuf], hard_reasons: &[String]) -> Result<Classifier> {
    let mut rules = load_rules(rules_files)?;
    rules.extend(rule_file::builtin());
    Classifier::new(rules, hard_policy(hard_reasons)?).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Where and how to print.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Output format: table for people, csv or json (JSON Lines) for programs.
    #[arg(long, short = 'f', value_name = "FORMAT", default_value = "table", value_parser = ["table", "csv", "json"])]
    pub format: String,

    /// Write to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// In CSV, leave cells that start like a spreadsheet formula (=, +, -, @) as they are.
    #[arg(long)]
    pub raw_csv: bool,
}

/// Everything a run needs to read its inputs and replay them.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Log files in the order given.
    pub logs: Vec<PathBuf>,
    /// How to read them.
    pub log_options: LogOptions,
    /// The sends file.
    pub sends: Option<PathBuf>,
    /// The campaigns file.
    pub campaigns: Option<PathBuf>,
    /// The contacts file.
    pub contacts: Option<PathBuf>,
    /// The campaign pattern.
    pub campaign_pattern: Option<Regex>,
    /// Days an open or click keeps a contact engaged.
    pub engaged_within: u32,
    /// How replay counts.
    pub replay: ReplayPolicy,
    /// The classifier.
    pub classifier: Classifier,
    /// The state file carried between runs.
    pub state: Option<PathBuf>,
    /// The rules files, users' rules before the built-in ones.
    pub rule_files: Vec<PathBuf>,
    /// Attempts before this time are left out.
    pub since: Option<Timestamp>,
    /// Attempts at or after this time are left out.
    pub until: Option<Timestamp>,
    /// Print the accounting.
    pub stats: bool,
    /// Fail on the first malformed line.
    pub strict: bool,
}

/// The zone `--tz` names: an offset or UTC, else a zone of the system's tz database (or the copy built in).
fn zone(name: &str) -> Result<Zone> {
    if let Some(z) = Zone::fixed(name) {
        return Ok(z);
    }
    match jiff::tz::TimeZone::get(name.trim()) {
        Ok(tz) => Ok(Zone::rules(tz)),
        Err(_) => bail!(
            "--tz '{name}' is not a time zone: give a name of the tz database (`Europe/Berlin`, `America/New_York`), \
             an offset (`+01:00`, `-0500`) or `UTC`"
        ),
    }
}

impl InputArgs {
    /// The plain configuration of a run over `logs`.
    pub fn config(&self, logs: Vec<PathBuf>, replay: Option<&ReplayArgs>, keep: KeepLines) -> Result<RunConfig> {
        let file = Config::load(self.config.as_deref())?;
        let (fi, fr) = (&file.inputs, &file.replay);
        let logs = if logs.is_empty() { fi.logs.clone() } else { logs };
        let progress = progress_bar(&logs);
        let campaign_pattern = self.campaign_pattern.clone().or_else(|| fi.campaign_pattern.clone());
        let campaign_pattern = match &campaign_pattern {
            Some(p) => Some(
                Regex::new(p).with_context(|| format!("--campaign-pattern '{p}' is not a valid regular expression"))?,
            ),
            None => None,
        };
        if let Some(p) = &campaign_pattern
            && !p.capture_names().any(|n| n == Some("campaign"))
        {
            bail!("--campaign-pattern '{p}' needs a named group: (?P<campaign>...)");
        }
        let defaults = ReplayArgs {
            hard: None,
            soft_engaged: None,
            soft_unengaged: None,
            hard_reasons: vec![],
            ignore_sender_faults: false,
            state: None,
            rules: vec![],
        };
        let r = replay.unwrap_or(&defaults);
        // Flags first, then the file, then the defaults.
        let rules = if r.rules.is_empty() { fr.rules.clone() } else { r.rules.clone() };
        let hard_reasons = if r.hard_reasons.is_empty() { fr.hard_reasons.clone() } else { r.hard_reasons.clone() };
        let classifier = classifier(&rules, &hard_reasons)?;
        let (since, until) =
            (parse_time("--since", self.since.as_deref())?, parse_time("--until", self.until.as_deref())?);
        if let (Some(s), Some(u)) = (since, until)
            && s >= u
        {
            bail!("--since ({s}) is not before --until ({u}): nothing can be in that window");
        }
        let log_format = self.log_format.clone().or_else(|| fi.log_format.clone());
        let (sends, campaigns, contacts) = (
            self.sends.clone().or_else(|| fi.sends.clone()),
            self.campaigns.clone().or_else(|| fi.campaigns.clone()),
            self.contacts.clone().or_else(|| fi.contacts.clone()),
        );
        // Standard input is read as a stream, once: a second `-` would read nothing.
        let stdin = logs.iter().chain([&sends, &campaigns, &contacts].into_iter().flatten());
        if stdin.filter(|p| p.as_os_str() == "-").count() > 1 {
            bail!("standard input (`-`) can be read only once, but it is given more than once");
        }
        let year = self.year.or(fi.year);
        if let Some(y) = year.filter(|y| !(YEARS.contains(y))) {
            bail!("--year {y} is not a year a log can be from ({} to {})", YEARS.start(), YEARS.end());
        }
        let zone = match self.tz.as_deref().or(fi.tz.as_deref()) {
            Some(name) => zone(name)?,
            None => Zone::Utc,
        };
        Ok(RunConfig {
            logs,
            log_options: LogOptions {
                format: log_format
                    .as_deref()
                    .map(|f| f.parse::<LogFormat>())
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                year,
                zone,
                keep,
                now: now(),
                carry: None,
                keep_carry: false,
                fold_deferrals: false,
                skip_delivery_replies: false,
                progress,
                bound_tries: false,
            },
            sends,
            campaigns,
            contacts,
            campaign_pattern,
            engaged_within: self.engaged_within.or(fi.engaged_within).unwrap_or(90),
            replay: ReplayPolicy {
                thresholds: Thresholds {
                    hard: r.hard.or(fr.hard).unwrap_or(1),
                    soft_engaged: r.soft_engaged.or(fr.soft_engaged).unwrap_or(20),
                    soft_unengaged: r.soft_unengaged.or(fr.soft_unengaged).unwrap_or(10),
                },
                ignore_sender_faults: r.ignore_sender_faults || fr.ignore_sender_faults,
            },
            classifier,
            state: r.state.clone().or_else(|| fr.state.clone()),
            rule_files: rules,
            since,
            until,
            stats: self.stats,
            strict: self.strict,
        })
    }
}

/// A progress bar on standard error for logs that take more than a few seconds to read (over 256 MB), only when
/// standard error is a terminal. It clears itself when the bytes it expects have been read.
fn progress_bar(logs: &[PathBuf]) -> Progress {
    use std::io::IsTerminal;
    let total: u64 = logs.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    if total < 256 << 20 || !std::io::stderr().is_terminal() {
        return Progress::default();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} reading logs {bar:30} {bytes}/{total_bytes} {bytes_per_sec}, {eta} left",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Progress::new(move |n| {
        bar.inc(n);
        if bar.position() >= total {
            bar.finish_and_clear();
        }
    })
}

/// A time given on the command line.
fn parse_time(flag: &str, value: Option<&str>) -> Result<Option<Timestamp>> {
    value
        .map(|v| {
            Timestamp::parse(v).ok_or_else(|| {
                anyhow::anyhow!(
                    "{flag} '{v}' is not a time: give RFC 3339 (2026-05-01T09:00:00Z) or a date (2026-05-01)"
                )
            })
        })
        .transpose()
}

/// The current time, read once at the edge.
pub fn now() -> Timestamp {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Timestamp::from_millis(d.as_millis() as i64)
}

/// Where and how to print, as plain values.
#[derive(Clone, Debug)]
pub struct OutputConfig {
    /// The format.
    pub format: Format,
    /// The file, or standard output.
    pub path: Option<PathBuf>,
    /// Leave formula-like CSV cells alone.
    pub raw_csv: bool,
}

impl RunConfig {
    /// Every file the run reads: logs, campaign data, rules and the state file.
    pub fn input_paths(&self) -> impl Iterator<Item = &Path> {
        let data = [&self.sends, &self.campaigns, &self.contacts, &self.state];
        self.logs.iter().chain(self.rule_files.iter()).chain(data.into_iter().flatten()).map(PathBuf::as_path)
    }
}

impl OutputConfig {
    /// Refuses an output file that is one of the run's inputs (`extra` are inputs the command reads besides the
    /// run's own): writing it would destroy the data before, or after, it is read.
    pub fn refuse_inputs<'a>(&self, config: &'a RunConfig, extra: impl IntoIterator<Item = &'a Path>) -> Result<()> {
        let Some(out) = &self.path else { return Ok(()) };
        // Compared by where they really are; a file not made yet (a first run's state file) by its folder's.
        let real = |p: &Path| {
            std::fs::canonicalize(p).ok().or_else(|| {
                let folder = p.parent().filter(|f| !f.as_os_str().is_empty()).unwrap_or(Path::new("."));
                Some(std::fs::canonicalize(folder).ok()?.join(p.file_name()?))
            })
        };
        let Some(out_real) = real(out) else { return Ok(()) };
        for input in config.input_paths().chain(extra) {
            if input.as_os_str() != "-" && real(input).is_some_and(|p| p == out_real) {
                bail!(
                    "the output file {} is also an input of this run; writing it would destroy that input: give another -o",
                    out.display()
                );
            }
        }
        Ok(())
    }
}

impl OutputArgs {
    /// The plain configuration.
    pub fn config(&self) -> Result<OutputConfig> {
        Ok(OutputConfig {
            format: self.format.parse().map_err(anyhow::Error::msg)?,
            path: self.output.clone(),
            raw_csv: self.raw_csv,
        })
    }
}

/// Lower-cased, trimmed emails.
pub fn email_set<'a>(emails: impl IntoIterator<Item = &'a String>) -> HashSet<String> {
    emails.into_iter().map(|e| crate::domain::attempt::normalize_address(e)).collect()
}
