//! Summaries of a replay for reports: counts per campaign, and one campaign in depth.
//!
//! Summaries are plain counts kept in ordered maps, so that the same input always gives the same rows in the same
//! order.

use std::collections::{BTreeMap, HashMap};

use super::attempt::domain_of;
use super::outcome::{Outcome, OutcomeKind};
use super::reason::{Class, Fault, Reason};
use super::replay::{Deactivation, Event, Replay};
use super::template::template_of;
use super::time::Timestamp;

/// Outcome counts of one group of messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Messages seen.
    pub sent: u64,
    /// Delivered.
    pub delivered: u64,
    /// Hard bounces.
    pub hard: u64,
    /// Soft bounces (including expiries).
    pub soft: u64,
    /// Still queued when the log ends.
    pub pending: u64,
    /// Contacts whose deactivation an outcome of this group triggered.
    pub deactivated: u64,
    /// Messages sent to contacts already deactivated.
    pub sent_after_deactivation: u64,
}

impl Counts {
    /// Adds one outcome.
    pub fn add(&mut self, kind: OutcomeKind) {
        self.sent += 1;
        match kind {
            OutcomeKind::Delivered => self.delivered += 1,
            OutcomeKind::Hard => self.hard += 1,
            OutcomeKind::Soft => self.soft += 1,
            OutcomeKind::Pending => self.pending += 1,
        }
    }

    /// Adds one outcome and what replay noticed at it.
    pub fn add_step(&mut self, kind: OutcomeKind, event: Option<Event>) {
        self.add(kind);
        match event {
            Some(Event::Deactivated) => self.deactivated += 1,
            Some(Event::SentAfterDeactivation) => self.sent_after_deactivation += 1,
            None => {}
        }
    }

    /// Adds another group's counts to these.
    pub fn merge(&mut self, other: &Counts) {
        self.sent += other.sent;
        self.delivered += other.delivered;
        self.hard += other.hard;
        self.soft += other.soft;
        self.pending += other.pending;
        self.deactivated += other.deactivated;
        self.sent_after_deactivation += other.sent_after_deactivation;
    }

    /// Bounces (hard and soft) over messages sent; 0 when nothing was sent.
    pub fn bounce_rate(&self) -> f64 {
        if self.sent == 0 { 0.0 } else { (self.hard + self.soft) as f64 / self.sent as f64 }
    }
}

/// One row of a breakdown: a key, its count and an example.
#[derive(Clone, Debug, PartialEq)]
pub struct Breakdown {
    /// What is counted (a reason, a provider, a template).
    pub key: String,
    /// A second key where the breakdown has one (the class of a reason, the fault).
    pub detail: String,
    /// How many bounces.
    pub count: u64,
    /// Share of the campaign's bounces (0 to 1).
    pub share: f64,
    /// One full response as an example.
    pub example: String,
}

/// Counts of one provider or domain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiverCounts {
    /// The provider or domain.
    pub name: String,
    /// Its outcome counts.
    pub counts: Counts,
}

/// One campaign in depth.
#[derive(Clone, Debug, Default)]
pub struct CampaignDetail {
    /// The overall counts.
    pub counts: Counts,
    /// Bounces by class and reason, most frequent first.
    pub by_reason: Vec<Breakdown>,
    /// Bounces by fault, most frequent first.
    pub by_fault: Vec<Breakdown>,
    /// Outcomes by receiving provider.
    pub by_provider: Vec<ReceiverCounts>,
    /// Outcomes by recipient domain, most bounces first.
    pub by_domain: Vec<ReceiverCounts>,
    /// Bounce responses reduced to templates, most frequent first.
    pub top_responses: Vec<Breakdown>,
    /// Indexes (into the replay's deactivations) of the contacts this campaign deactivated.
    pub deactivations: Vec<usize>,
}

/// The in-depth summary of one campaign (`None`: the messages of unknown campaign), of the outcomes settled at or
/// after `since`.
pub fn campaign_detail<O: std::borrow::Borrow<Outcome>>(
    outcomes: &[O],
    replay: &Replay,
    campaign: Option<&str>,
    since: Option<Timestamp>,
) -> CampaignDetail {
    let mut detail = CampaignDetail::default();
    let mut reasons: HashMap<(Class, Reason), (u64, String)> = HashMap::new();
    let mut faults: HashMap<Fault, (u64, String)> = HashMap::new();
    let mut templates: HashMap<String, (u64, String)> = HashMap::new();
    let mut providers: BTreeMap<&'static str, Counts> = BTreeMap::new();
    let mut domains: HashMap<String, Counts> = HashMap::new();
    for (outcome, step) in outcomes.iter().map(std::borrow::Borrow::borrow).zip(&replay.steps) {
        if outcome.campaign.as_deref() != campaign || since.is_some_and(|t| outcome.time < t) {
            continue;
        }
        detail.counts.add_step(outcome.kind, step.event);
        let domain = domain_of(&outcome.recipient);
        providers.entry(outcome.provider.as_str()).or_default().add(outcome.kind);
        domains.entry(domain.to_string()).or_default().add(outcome.kind);
        if !matches!(outcome.kind, OutcomeKind::Hard | OutcomeKind::Soft) {
            continue;
        }
        let text = outcome.reply.display();
        let class = if outcome.kind == OutcomeKind::Hard { Class::Hard } else { Class::Soft };
        reasons.entry((class, outcome.verdict.reason)).or_insert_with(|| (0, text.clone())).0 += 1;
        faults.entry(outcome.verdict.fault).or_insert_with(|| (0, text.clone())).0 += 1;
        templates.entry(template_of(&text)).or_insert_with(|| (0, text)).0 += 1;
    }
    let bounces = detail.counts.hard + detail.counts.soft;
    let share = |n: u64| {
        if bounces == 0 { 0.0 } else { n as f64 / bounces as f64 }
    };
    detail.by_reason = sorted(reasons.into_iter().map(|((class, reason), (n, ex))| Breakdown {
        key: reason.as_str().into(),
        detail: class.as_str().into(),
        count: n,
        share: share(n),
        example: ex,
    }));
    detail.by_fault = sorted(faults.into_iter().map(|(fault, (n, ex))| Breakdown {
        key: fault.as_str().into(),
        detail: String::new(),
        count: n,
        share: share(n),
        example: ex,
    }));
    detail.top_responses = sorted(templates.into_iter().map(|(t, (n, ex))| Breakdown {
        key: t,
        detail: String::new(),
        count: n,
        share: share(n),
        example: ex,
    }));
    detail.by_provider =
        providers.into_iter().map(|(name, counts)| ReceiverCounts { name: name.into(), counts }).collect();
    let mut by_domain: Vec<ReceiverCounts> =
        domains.into_iter().map(|(name, counts)| ReceiverCounts { name, counts }).collect();
    by_domain.sort_by(|a, b| {
        (b.counts.hard + b.counts.soft, b.counts.sent, &a.name).cmp(&(
            a.counts.hard + a.counts.soft,
            a.counts.sent,
            &b.name,
        ))
    });
    detail.by_domain = by_domain;
    detail.deactivations = replay
        .deactivations
        .iter()
        .enumerate()
        .filter(|(_, d): &(usize, &Deactivation)| d.campaign.as_deref() == campaign && since.is_none_or(|t| d.at >= t))
        .map(|(i, _)| i)
        .collect();
    detail
}

/// Most frequent first, then by key, so that equal counts keep a stable order.
fn sorted(rows: impl Iterator<Item = Breakdown>) -> Vec<Breakdown> {
    let mut v: Vec<Breakdown> = rows.collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.detail.cmp(&b.detail)).then_with(|| a.key.cmp(&b.key)));
    v
}
