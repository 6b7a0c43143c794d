//! One run's work shared by the commands: read the campaign data and the logs, attribute campaigns, settle
//! outcomes, replay, and tell the user on stderr what could not be read.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Result, bail};

use crate::domain::attempt::Attempt;
use crate::domain::campaign::CampaignResolver;
use crate::domain::engagement::Engagement;
use crate::domain::outcome::{Outcome, settle};
use crate::domain::replay::{Replay, replay};
use crate::input::campaign_data::{CampaignData, CampaignInfo};
use crate::input::{FileStats, load_logs};
use crate::output::escape_controls;

use super::args::RunConfig;

/// Everything the reports are made from.
pub struct Analysis {
    /// Outcomes in time order.
    pub outcomes: Vec<Outcome>,
    /// Their replay.
    pub replay: Replay,
    /// Campaigns from the campaigns file.
    pub campaigns: HashMap<String, CampaignInfo>,
    /// Engagement from the contacts file.
    pub engagement: Engagement,
    /// The accounting of every input.
    pub files: Vec<FileStats>,
}

/// Reads the campaign data of a run.
pub fn load_campaign_data(config: &RunConfig) -> Result<CampaignData> {
    let mut data = CampaignData::default();
    if let Some(p) = &config.sends {
        data.load_sends(p)?;
    }
    if let Some(p) = &config.campaigns {
        data.load_campaigns(p)?;
    }
    if let Some(p) = &config.contacts {
        data.load_contacts(p)?;
    }
    Ok(data)
}

/// Reads the campaign data and the logs, shows the accounting, and attributes every attempt to its campaign.
pub fn load_attempts(config: &RunConfig) -> Result<(Vec<Attempt>, CampaignData, Vec<FileStats>)> {
    let mut data = load_campaign_data(config)?;
    let mut logs = load_logs(&config.logs, &config.log_options)?;
    let mut files = std::mem::take(&mut data.files);
    files.append(&mut logs.files);
    account(&files, config.stats, config.strict)?;
    if logs.duplicates > 0 {
        let _ = writeln!(
            std::io::stderr(),
            "bounces: note: {} {} more than once (the same file given twice, or overlapping rotated files) and were counted once",
            logs.duplicates,
            if logs.duplicates == 1 { "attempt appeared" } else { "attempts appeared" }
        );
    }
    let resolver =
        CampaignResolver::new(std::mem::take(&mut data.campaign_by_message_id), config.campaign_pattern.clone())
            .map_err(anyhow::Error::msg)?;
    for a in &mut logs.attempts {
        a.campaign = resolver.resolve(a);
    }
    if config.since.is_some() || config.until.is_some() {
        logs.attempts.retain(|a| config.since.is_none_or(|t| a.time >= t) && config.until.is_none_or(|t| a.time < t));
    }
    Ok((logs.attempts, data, files))
}

impl Analysis {
    /// Runs the whole pipeline.
    pub fn run(config: &RunConfig) -> Result<Analysis> {
        let (attempts, mut data, files) = load_attempts(config)?;
        let outcomes = settle(attempts, &config.classifier);
        let engagement = Engagement::new(std::mem::take(&mut data.contacts), config.engaged_within);
        let replay = replay(&outcomes, |email, at| engagement.is_engaged(email, at), config.replay);
        Ok(Analysis { outcomes, replay, campaigns: data.campaigns, engagement, files })
    }
}

/// Shows the accounting (with `--stats`), warns of malformed lines and damaged files, and fails under `--strict`.
pub fn account(files: &[FileStats], show: bool, strict: bool) -> Result<()> {
    if strict {
        // File by file; a damaged file's own warning (a truncated gzip) before the broken line it causes.
        for f in files {
            if let Some(why) = f.warnings.first() {
                bail!("{}: {} (--strict)", f.name, escape_controls(why));
            }
            if let Some((line, why)) = f.malformed_lines.first() {
                bail!("{}:{line}: {} (--strict stops at the first malformed line)", f.name, escape_controls(why));
            }
        }
    }
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    for f in files {
        // Messages quote the input, which is untrusted: a terminal must not run what it carries.
        let name = escape_controls(&f.name);
        for w in &f.warnings {
            let _ = writeln!(err, "bounces: warning: {name}: {}", escape_controls(w));
        }
        for (line, why) in &f.malformed_lines {
            let _ = writeln!(err, "bounces: warning: {name}:{line}: {}", escape_controls(why));
        }
        let more = f.malformed - f.malformed_lines.len() as u64;
        if more > 0 {
            let _ = writeln!(err, "bounces: warning: {name}: {more} more malformed lines");
        }
        if let (n @ 1.., Some(first)) = f.invalid_utf8 {
            let what = if n == 1 { "line is" } else { "lines are" };
            let _ = writeln!(
                err,
                "bounces: note: {name}: {n} {what} not valid UTF-8 (the first is line {first}); their bad bytes were read as U+FFFD"
            );
        }
    }
    if show {
        let _ = writeln!(
            err,
            "{:<40} {:<12} {:>10} {:>10} {:>10} {:>10}",
            "file", "read as", "read", "used", "ignored", "malformed"
        );
        for f in files {
            let _ = writeln!(
                err,
                "{:<40} {:<12} {:>10} {:>10} {:>10} {:>10}",
                escape_controls(&f.name),
                f.kind,
                f.read,
                f.used,
                f.ignored,
                f.malformed
            );
        }
    }
    Ok(())
}
