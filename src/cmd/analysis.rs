//! One run's work shared by the commands: read the campaign data and the logs, attribute campaigns, settle
//! outcomes, replay, and tell the user on stderr what could not be read.
//!
//! Outcomes are replayed as the logs are read, in time order (see [`InOrder`]), and then dropped unless the command
//! asked to keep them ([`Keep`]): the counts per campaign and every contact's counters are all most reports need,
//! so memory follows the contacts and the messages in flight rather than the size of the logs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::domain::attempt::Attempt;
use crate::domain::block_event::{BlockDetector, BlockEvent, BlockPolicy};
use crate::domain::campaign::CampaignResolver;
use crate::domain::engagement::Engagement;
use crate::domain::in_order::InOrder;
use crate::domain::name::Name;
use crate::domain::outcome::{Outcome, OutcomeKind, settle_into};
use crate::domain::replay::{ContactState, Replay, Replayer};
use crate::domain::summary::Counts;
use crate::domain::time::Timestamp;
use crate::input::Carry;
use crate::input::campaign_data::{CampaignData, CampaignInfo};
use crate::input::state::{self, StateFile};
use crate::input::{EachBatch, FileStats, KeepLines, read_logs};
use crate::output::escape_controls;

use super::args::{RunConfig, now};

/// Which outcomes a command needs kept, besides the counts every run keeps.
#[derive(Clone, Debug)]
pub enum Keep {
    /// None: the replay's deactivations and counters are enough.
    Nothing,
    /// One campaign's outcomes (`None`: those of unknown campaign).
    Campaign(Option<String>),
    /// The outcomes of these contacts.
    Contacts(HashSet<String>),
}

impl Keep {
    fn wants(&self, o: &Outcome) -> bool {
        match self {
            Keep::Nothing => false,
            Keep::Campaign(c) => o.campaign.as_deref() == c.as_deref(),
            Keep::Contacts(emails) => emails.contains(&o.recipient),
        }
    }
}

/// Everything the reports are made from.
pub struct Analysis {
    /// The outcomes the command asked to keep, in time order. Each in its own allocation: a campaign's report keeps
    /// every outcome of the campaign, and a vector of them whole, 200 bytes each, doubled its room as it grew and
    /// held the old and the new room at once while moving them.
    pub outcomes: Vec<Box<Outcome>>,
    /// The block events, when the command asked for them, earliest first.
    pub events: Vec<BlockEvent>,
    /// The replay: every contact's counters, every deactivation, and one step per outcome kept.
    pub replay: Replay,
    /// Outcome counts per campaign (`None`: campaign unknown), of the outcomes shown.
    pub counts: BTreeMap<Option<Name>, Counts>,
    /// The first try of each campaign's first outcome.
    pub first_seen: HashMap<Option<Name>, Timestamp>,
    /// Campaigns from the campaigns file.
    pub campaigns: HashMap<String, CampaignInfo>,
    /// Engagement from the contacts file.
    pub engagement: Engagement,
    /// The accounting of every input.
    pub files: Vec<FileStats>,
    /// The start of the window shown (`--since`): outcomes before it are replayed but not reported.
    pub since: Option<Timestamp>,
    /// What a `--state` file carried into this run for the contacts the command asked for ([`Keep::Contacts`]).
    pub earlier: Option<Earlier>,
    /// The state to carry to the next run (`--state`) and where: saved by [`Analysis::save_state`] once the command's
    /// output is written, so that a run that fails can be run again without its lines counting twice.
    state: Option<(PathBuf, StateFile)>,
}

/// What an earlier run left (`--state`) for the contacts a command asked for: their history before the logs of
/// this run is no longer in them, and only its counters tell it.
#[derive(Debug)]
pub struct Earlier {
    /// The state file.
    pub path: PathBuf,
    /// When the earlier run wrote it.
    pub written_at: String,
    /// The counters of each contact asked for that the file names; a deactivation indexes
    /// [`Replay::deactivations`], where those carried over come first.
    pub contacts: HashMap<String, ContactState>,
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
/// to their campaigns, with the time before which nothing later settles (see [`read_logs`]); shows the accounting.
/// Attempts at or after `--until` are left out: nothing later can change what happened before it. `--since` is
/// applied by each command to what it shows, since the history before it still counts (a soft bounce before the
/// window is part of the run that a bounce inside it extends).
pub fn read_attempts(
    config: &RunConfig,
    mut data: CampaignData,
    each: &mut EachBatch<'_>,
) -> Result<(CampaignData, Vec<FileStats>, Carry)> {
    let resolver =
        CampaignResolver::new(std::mem::take(&mut data.campaign_by_message_id), config.campaign_pattern.clone())
            .map_err(anyhow::Error::msg)?;
    let read = read_logs(&config.logs, &config.log_options, &mut |parts, settled| {
        for batch in parts.iter_mut() {
            resolve_all(&resolver, batch);
            if let Some(until) = config.until {
                batch.retain(|a| a.time < until);
            }
        }
        each(parts, settled)
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

/// Attributes a batch's attempts to their campaigns on all cores ([`CampaignResolver::resolve_all`]), in pieces
/// that hold whole messages but for the one a piece boundary cuts, which is resolved once in each piece alike.
fn resolve_all(resolver: &CampaignResolver, batch: &mut [Attempt]) {
    use rayon::prelude::*;
    batch.par_chunks_mut(4096).for_each(|chunk| resolver.resolve_all(chunk));
}

impl Analysis {
    /// Runs the whole pipeline, keeping the outcomes `keep` names, and finding block events by `blocks`, if given.
    pub fn run(config: &RunConfig, keep: &Keep, blocks: Option<BlockPolicy>) -> Result<Analysis> {
        // Each batch is settled as it comes and dropped; its outcomes wait in `in_order` until nothing can come
        // before them, then are replayed and counted, and dropped unless kept. A delivery's response text is kept
        // only where the run shows proof.
        let keep_text = config.log_options.keep != KeepLines::None;
        let mut data = load_campaign_data(config)?;
        let engagement = Engagement::new(std::mem::take(&mut data.contacts), config.engaged_within);
        let previous = config.state.as_deref().map(state::load).transpose()?;
        let mut config = config.clone();
        config.log_options.carry = previous.as_ref().map(|s| s.carry.clone());
        config.log_options.keep_carry = config.state.is_some();
        // Outcomes need only how many times a deferral was repeated, not each repeat; with `--until`, the repeats
        // after it must be told apart from those before.
        config.log_options.fold_deferrals = config.until.is_none();
        // A delivery's reply is shown only as proof; without proof, it is not read at all (Postfix).
        config.log_options.skip_delivery_replies = !keep_text;
        let config = &config;
        let carried = previous.as_ref().map(StateFile::carried).unwrap_or_default();
        let earlier = match (keep, &config.state, &previous) {
            (Keep::Contacts(wanted), Some(path), Some(file)) => Some(Earlier {
                path: path.clone(),
                written_at: file.written_at.clone(),
                contacts: wanted.iter().filter_map(|e| Some((e.clone(), carried.contacts.get(e)?.clone()))).collect(),
            }),
            _ => None,
        };
        let mut replayer = Replayer::new(carried, config.replay);
        let mut in_order = InOrder::new();
        let mut outcomes = Vec::new();
        let mut steps = Vec::new();
        let mut counts: BTreeMap<Option<Name>, Counts> = BTreeMap::new();
        let mut first_seen: HashMap<Option<Name>, Timestamp> = HashMap::new();
        let mut settler = PartSettler::default();
        let mut detector = blocks.map(BlockDetector::new);
        let mut replay = |o: Outcome| {
            let kept = keep.wants(&o);
            let shown = config.since.is_none_or(|t| o.time >= t);
            if let Some(d) = detector.as_mut() {
                d.push(&o, shown);
            }
            let step = replayer.push_judged(&o, &engagement, kept.then_some(outcomes.len()));
            if shown {
                match counts.get_mut(&o.campaign) {
                    Some(c) => c.add_step(o.kind, step.event),
                    None => counts.entry(o.campaign.clone()).or_default().add_step(o.kind, step.event),
                }
            }
            if !first_seen.contains_key(&o.campaign) {
                first_seen.insert(o.campaign.clone(), o.first_time);
            }
            if kept {
                outcomes.push(Box::new(o));
                steps.push(step);
            }
        };
        let (mut data, files, carry) = read_attempts(config, data, &mut |parts, settled| {
            let batch_outcomes = settler.settle(parts, &config.classifier);
            in_order.reserve(batch_outcomes.iter().map(Vec::len).sum());
            for mut o in batch_outcomes.iter_mut().flat_map(|part| part.drain(..)) {
                if !keep_text && o.kind == OutcomeKind::Delivered {
                    o.reply.text = String::new();
                }
                in_order.push(o);
            }
            if let Some(t) = settled {
                in_order.release_before(t, &mut replay);
            }
            Ok(())
        })?;
        in_order.finish(&mut replay);
        if in_order.late() > 0 {
            let _ = writeln!(
                std::io::stderr(),
                "bounces: warning: {} messages settled more than an hour before lines read earlier (clocks far apart?); they were replayed in the order read",
                in_order.late()
            );
        }
        let replay = Replay { steps, ..replayer.finish() };
        let state = config
            .state
            .as_ref()
            .map(|path| (path.clone(), StateFile::new(&replay.contacts, &replay.deactivations, carry, now())));
        let campaigns = std::mem::take(&mut data.campaigns);
        let events = detector.map(BlockDetector::finish).unwrap_or_default();
        Ok(Analysis {
            outcomes,
            events,
            replay,
            counts,
            first_seen,
            campaigns,
            engagement,
            files,
            since: config.since,
            earlier,
            state,
        })
    }

    /// Saves the state for the next run (`--state`), if asked for: to be called once the output is written.
    pub fn save_state(&self) -> Result<()> {
        match &self.state {
            Some((path, file)) => state::save(path, file),
            None => Ok(()),
        }
    }

    /// Whether a time is inside the window shown.
    pub fn shown(&self, time: Timestamp) -> bool {
        self.since.is_none_or(|s| time >= s)
    }
}

/// Settles batches of whole messages on all cores: each batch is settled in a fixed number of parts by message (so
/// that the result does not depend on the number of threads), each part settled and classified on its own, and the
/// outcomes returned part after part. A batch that comes in parts (the Postfix joiner's, see [`EachBatch`]) is
/// settled in them; one that comes whole is cut into parts by message first. Reading and joining the log is one
/// thread's work; this spreads the rest. The parts and their outcomes keep their room from batch to batch: fresh
/// room for every batch was memory the system had to fault in again each time.
#[derive(Default)]
struct PartSettler {
    parts: Vec<Vec<Attempt>>,
    outcomes: Vec<Vec<Outcome>>,
}

impl PartSettler {
    /// The number of parts a batch that comes whole is cut into.
    const PARTS: usize = 8;

    /// Settles the batch `parts`, which it empties; the outcomes are to be taken out of the vectors returned.
    fn settle(
        &mut self,
        parts: &mut [Vec<Attempt>],
        classifier: &crate::domain::classify::Classifier,
    ) -> &mut [Vec<Outcome>] {
        use rayon::prelude::*;
        let total: usize = parts.iter().map(Vec::len).sum();
        if total < 256 {
            self.outcomes.resize_with(self.outcomes.len().max(1), Vec::new);
            for part in parts {
                settle_into(part, classifier, &mut self.outcomes[0]);
            }
            return &mut self.outcomes[..1];
        }
        let parts = match parts {
            [batch] => Self::cut(&mut self.parts, batch),
            parts => parts,
        };
        self.outcomes.resize_with(self.outcomes.len().max(parts.len()), Vec::new);
        parts.par_iter_mut().zip(self.outcomes.par_iter_mut()).for_each(|(part, out)| {
            out.reserve(part.len());
            settle_into(part, classifier, out);
        });
        &mut self.outcomes[..parts.len()]
    }

    /// A batch that comes whole, cut into [`Self::PARTS`] parts by message, which it empties into `parts`.
    fn cut<'a>(parts: &'a mut Vec<Vec<Attempt>>, batch: &mut Vec<Attempt>) -> &'a mut [Vec<Attempt>] {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let hasher = BuildHasherDefault::<rustc_hash::FxHasher>::default();
        parts.resize_with(Self::PARTS, Vec::new);
        for part in parts.iter_mut() {
            part.reserve(batch.len() / Self::PARTS + 16);
        }
        for a in batch.drain(..) {
            parts[(hasher.hash_one(&a.message_key) % Self::PARTS as u64) as usize].push(a);
        }
        parts
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
        for n in &f.notes {
            let _ = writeln!(err, "bounces: note: {name}: {}", escape_controls(n));
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
