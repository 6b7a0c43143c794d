//! One run's work shared by the commands: read the campaign data and the logs, attribute campaigns, settle
//! outcomes, replay, and tell the user on stderr what could not be read.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Result, bail};

use crate::domain::attempt::Attempt;
use crate::domain::campaign::CampaignResolver;
use crate::domain::engagement::Engagement;
use crate::domain::outcome::{Outcome, OutcomeKind, settle_into};
use crate::domain::replay::{Replay, replay_from};
use crate::domain::time::Timestamp;
use crate::input::campaign_data::{CampaignData, CampaignInfo};
use crate::input::postfix::JoinerState;
use crate::input::state::{self, StateFile};
use crate::input::{FileStats, KeepLines, read_logs};
use crate::output::escape_controls;

use super::args::{RunConfig, now};

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
    /// The start of the window shown (`--since`): outcomes before it are replayed but not reported.
    pub since: Option<Timestamp>,
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

/// Reads the campaign data, then the logs, and hands `each` the attempts in batches of whole messages, attributed
/// to their campaigns; shows the accounting. Attempts at or after `--until` are left out: nothing later can change
/// what happened before it. `--since` is applied by each command to what it shows, since the history before it
/// still counts (a soft bounce before the window is part of the run that a bounce inside it extends).
pub fn read_attempts(
    config: &RunConfig,
    mut data: CampaignData,
    each: &mut (dyn FnMut(Vec<Attempt>) + Send),
) -> Result<(CampaignData, Vec<FileStats>, JoinerState)> {
    let resolver =
        CampaignResolver::new(std::mem::take(&mut data.campaign_by_message_id), config.campaign_pattern.clone())
            .map_err(anyhow::Error::msg)?;
    let read = read_logs(&config.logs, &config.log_options, &mut |mut batch| {
        for a in &mut batch {
            a.campaign = resolver.resolve(a);
        }
        if let Some(until) = config.until {
            batch.retain(|a| a.time < until);
        }
        each(batch);
    })?;
    let mut files = std::mem::take(&mut data.files);
    files.extend(read.files);
    account(&files, config.stats, config.strict)?;
    if read.duplicates > 0 {
        let _ = writeln!(
            std::io::stderr(),
            "bounces: note: {} {} more than once (the same file given twice, or overlapping rotated files) and were counted once",
            read.duplicates,
            if read.duplicates == 1 { "attempt appeared" } else { "attempts appeared" }
        );
    }
    Ok((data, files, read.carry))
}

/// [`read_attempts`], keeping every attempt.
pub fn load_attempts(config: &RunConfig) -> Result<(Vec<Attempt>, CampaignData, Vec<FileStats>)> {
    let mut attempts = Vec::new();
    let data = load_campaign_data(config)?;
    let (data, files, _) = read_attempts(config, data, &mut |batch| attempts.extend(batch))?;
    Ok((attempts, data, files))
}

impl Analysis {
    /// Runs the whole pipeline.
    pub fn run(config: &RunConfig) -> Result<Analysis> {
        // Each batch is settled as it comes and dropped: memory holds outcomes, not attempts. A delivery's response
        // text is kept only where the run shows proof.
        let keep_text = config.log_options.keep != KeepLines::None;
        let data = load_campaign_data(config)?;
        // One outcome per message sent: the sends file says how many to expect, which spares the vector's doubling.
        let mut outcomes = Vec::with_capacity(data.campaign_by_message_id.len() + 1024);
        let previous = config.state.as_deref().map(state::load).transpose()?;
        let mut config = config.clone();
        config.log_options.postfix_carry = previous.as_ref().map(|s| s.postfix.clone());
        let config = &config;
        let (mut data, files, carry) = read_attempts(config, data, &mut |batch| {
            let from = outcomes.len();
            settle_into(batch, &config.classifier, &mut outcomes);
            if !keep_text {
                for o in &mut outcomes[from..] {
                    if o.kind == OutcomeKind::Delivered {
                        o.reply.text = String::new();
                    }
                }
            }
        })?;
        outcomes.sort_by_key(|o| (o.time, o.source));
        let engagement = Engagement::new(std::mem::take(&mut data.contacts), config.engaged_within);
        let carried = previous.as_ref().map(StateFile::carried).unwrap_or_default();
        let replay = replay_from(carried, &outcomes, |email, at| engagement.is_engaged(email, at), config.replay);
        if let Some(path) = &config.state {
            state::save(path, &StateFile::new(&replay.contacts, &replay.deactivations, carry, now()))?;
        }
        Ok(Analysis { outcomes, replay, campaigns: data.campaigns, engagement, files, since: config.since })
    }

    /// Whether a time is inside the window shown.
    pub fn shown(&self, time: Timestamp) -> bool {
        self.since.is_none_or(|s| time >= s)
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
