//! Block events: one provider refusing the sender, seen as one event instead of hundreds of bounces.
//!
//! When Gmail blocklists a sending IP, every Gmail recipient of the next hour bounces with the same words. Counted
//! one by one these look like hundreds of bad addresses; they are one problem of the sender's, with one fix. An
//! event is a run of sender-fault bounces (blocks, reputation, authentication, policy) with the same response
//! template at the same provider, no two more than a window apart, reaching a minimum of distinct recipients.
//!
//! Events are found as the outcomes are replayed, in time order ([`BlockDetector`]): only the runs still open are
//! held, so that a report's memory does not grow with the number of sender-fault bounces in the logs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::name::Name;
use super::outcome::{Outcome, OutcomeKind};
use super::reason::{Fault, Reason};
use super::template::template_of;
use super::time::Timestamp;

/// When bounces make an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockPolicy {
    /// The longest gap, in milliseconds, between two bounces of one event.
    pub window_ms: i64,
    /// The fewest distinct recipients an event has.
    pub min_recipients: usize,
}

impl Default for BlockPolicy {
    fn default() -> Self {
        BlockPolicy { window_ms: 60 * 60 * 1000, min_recipients: 5 }
    }
}

/// One block event.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockEvent {
    /// The receiving provider.
    pub provider: &'static str,
    /// The reason its bounces were given.
    pub reason: Reason,
    /// The response, as a template.
    pub template: String,
    /// The first bounce.
    pub first: Timestamp,
    /// The last bounce.
    pub last: Timestamp,
    /// Distinct recipients.
    pub recipients: usize,
    /// One full response.
    pub example: String,
    /// Its bounces by campaign (`None`: campaign unknown): how many, and how many of them are in the window shown.
    pub by_campaign: BTreeMap<Option<Name>, (usize, usize)>,
}

impl BlockEvent {
    /// Bounces in the event.
    pub fn bounces(&self) -> usize {
        self.by_campaign.values().map(|&(n, _)| n).sum()
    }

    /// The campaigns its bounces belong to (known ones), sorted.
    pub fn campaigns(&self) -> impl Iterator<Item = &str> {
        self.by_campaign.keys().flatten().map(Name::as_str)
    }

    /// Whether it has a bounce in the window shown, of the campaign given (`None`: of any).
    pub fn shown_for(&self, campaign: Option<Option<&str>>) -> bool {
        self.by_campaign.iter().any(|(c, &(_, shown))| shown > 0 && campaign.is_none_or(|want| c.as_deref() == want))
    }

    /// How many of its bounces belong to a campaign (`None`: campaign unknown).
    pub fn bounces_of(&self, campaign: Option<&str>) -> usize {
        self.by_campaign.iter().filter(|(c, _)| c.as_deref() == campaign).map(|(_, &(n, _))| n).sum()
    }
}

/// Whether an outcome is a bounce the sender caused, of which events are made.
fn is_sender_bounce(o: &Outcome) -> bool {
    matches!(o.kind, OutcomeKind::Hard | OutcomeKind::Soft) && o.verdict.fault == Fault::Sender
}

/// Finds block events in outcomes handed over one by one in time order, holding only the runs that a later bounce
/// can still extend: a run whose last bounce is more than a window before the latest outcome is closed, and kept as
/// an event if it has enough recipients.
#[derive(Debug)]
pub struct BlockDetector {
    policy: BlockPolicy,
    /// The open run of each provider, reason and template.
    runs: HashMap<(&'static str, Reason, String), Run>,
    events: Vec<BlockEvent>,
    /// When the runs were last looked through for closed ones.
    swept: Option<Timestamp>,
}

/// A run of bounces with the same provider, reason and template, no two more than a window apart.
#[derive(Debug)]
struct Run {
    first: Timestamp,
    last: Timestamp,
    recipients: BTreeSet<String>,
    by_campaign: BTreeMap<Option<Name>, (usize, usize)>,
    example: String,
}

impl Run {
    fn start(o: &Outcome) -> Run {
        Run {
            first: o.time,
            last: o.time,
            recipients: BTreeSet::new(),
            by_campaign: BTreeMap::new(),
            example: o.reply.display(),
        }
    }

    fn add(&mut self, o: &Outcome, shown: bool) {
        self.last = o.time;
        if !self.recipients.contains(&o.recipient) {
            self.recipients.insert(o.recipient.clone());
        }
        let counts = match self.by_campaign.get_mut(&o.campaign) {
            Some(c) => c,
            None => self.by_campaign.entry(o.campaign.clone()).or_default(),
        };
        counts.0 += 1;
        counts.1 += usize::from(shown);
    }
}

impl BlockDetector {
    /// A detector with no runs.
    pub fn new(policy: BlockPolicy) -> Self {
        BlockDetector { policy, runs: HashMap::new(), events: Vec::new(), swept: None }
    }

    /// Takes the next outcome in time order; `shown` says whether it is in the window a report shows. Outcomes other
    /// than sender-fault bounces are passed over.
    pub fn push(&mut self, o: &Outcome, shown: bool) {
        if !is_sender_bounce(o) {
            return;
        }
        self.sweep(o.time);
        let key = (o.provider.as_str(), o.verdict.reason, template_of(&o.reply.text));
        let window = self.policy.window_ms;
        match self.runs.get_mut(&key) {
            Some(run) if o.time.millis() - run.last.millis() <= window => run.add(o, shown),
            _ => {
                let mut run = Run::start(o);
                run.add(o, shown);
                if let Some((key, old)) = self.runs.remove_entry(&key) {
                    self.close(key, old);
                }
                self.runs.insert(key, run);
            }
        }
    }

    /// Closes the runs that no outcome from `now` on can extend, at most once a window: their recipients need not be
    /// held any longer.
    fn sweep(&mut self, now: Timestamp) {
        let window = self.policy.window_ms;
        if self.swept.is_some_and(|s| now.millis() - s.millis() <= window) {
            return;
        }
        self.swept = Some(now);
        let ended: Vec<_> = self.runs.extract_if(|_, run| now.millis() - run.last.millis() > window).collect();
        for (key, run) in ended {
            self.close(key, run);
        }
    }

    /// Keeps a run that ended as an event, if it has enough recipients.
    fn close(&mut self, (provider, reason, template): (&'static str, Reason, String), run: Run) {
        if run.recipients.len() < self.policy.min_recipients.max(1) {
            return;
        }
        self.events.push(BlockEvent {
            provider,
            reason,
            template,
            first: run.first,
            last: run.last,
            recipients: run.recipients.len(),
            example: run.example,
            by_campaign: run.by_campaign,
        });
    }

    /// The events, earliest first (then by provider, template and reason).
    pub fn finish(mut self) -> Vec<BlockEvent> {
        for (key, run) in std::mem::take(&mut self.runs) {
            self.close(key, run);
        }
        let mut events = self.events;
        events.sort_by(|a, b| {
            (a.first, a.provider, &a.template, a.reason).cmp(&(b.first, b.provider, &b.template, b.reason))
        });
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::attempt::Source;
    use crate::domain::classify::Classifier;
    use crate::domain::smtp::Reply;

    /// The block events among `outcomes` (in time order), all in the window shown.
    fn block_events(outcomes: &[Outcome], policy: BlockPolicy) -> Vec<BlockEvent> {
        let mut detector = BlockDetector::new(policy);
        for o in outcomes {
            detector.push(o, true);
        }
        detector.finish()
    }

    fn outcome(c: &Classifier, minute: i64, to: &str, text: &str) -> Outcome {
        let reply = Reply::parse(text);
        let verdict = c.classify(&reply);
        let t = Timestamp::from_millis(1_780_000_000_000 + minute * 60_000);
        Outcome {
            time: t,
            first_time: t,
            recipient: to.into(),
            campaign: Some(Name::campaign("c1")),
            kind: if verdict.class == crate::domain::reason::Class::Hard {
                OutcomeKind::Hard
            } else {
                OutcomeKind::Soft
            },
            verdict,
            reply,
            provider: crate::domain::provider::provider_of(crate::domain::attempt::domain_of(to), None),
            source: Source::default(),
            attempts: 1,
            proof: Vec::new(),
        }
    }

    #[test]
    fn one_event_per_run_of_the_same_block() {
        let c = Classifier::builtin();
        let block =
            |ip: &str| format!("554 5.7.1 Service unavailable; Client host [{ip}] blocked using zen.spamhaus.org");
        let mut v = Vec::new();
        for i in 0..8 {
            v.push(outcome(&c, i * 5, &format!("u{i}@gmail.com"), &block("192.0.2.1")));
        }
        // A mailbox-full bounce in between is not the sender's fault; a single block at another provider is not an event.
        v.push(outcome(&c, 41, "x@gmail.com", "552 5.2.2 mailbox full"));
        v.push(outcome(&c, 42, "y@yahoo.com", &block("192.0.2.1")));
        // The same block three hours later is a second event.
        for i in 0..6 {
            v.push(outcome(&c, 240 + i, &format!("w{i}@gmail.com"), &block("192.0.2.7")));
        }
        v.sort_by_key(|o| o.time);
        let events = block_events(&v, BlockPolicy::default());
        assert_eq!(events.len(), 2, "{events:#?}");
        assert_eq!((events[0].provider, events[0].recipients, events[0].bounces()), ("Google", 8, 8));
        assert_eq!(events[0].reason, Reason::Blocked);
        assert_eq!(events[0].campaigns().collect::<Vec<_>>(), vec!["c1"]);
        assert_eq!(events[1].recipients, 6);
        assert!(block_events(&v, BlockPolicy { min_recipients: 9, ..BlockPolicy::default() }).is_empty());
    }

    #[test]
    fn runs_that_cannot_grow_are_closed_as_outcomes_come() {
        let c = Classifier::builtin();
        let block = "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org";
        let mut detector = BlockDetector::new(BlockPolicy::default());
        // Six blocks at Gmail, then six at Yahoo: both runs stay open while a bounce an hour on could extend them.
        for i in 0..6 {
            detector.push(&outcome(&c, i, &format!("g{i}@gmail.com"), block), true);
            detector.push(&outcome(&c, 30 + i, &format!("y{i}@yahoo.com"), block), i >= 3);
        }
        assert_eq!(detector.runs.len(), 2);
        // A day later only the new run is held; the two that ended are events already.
        detector.push(&outcome(&c, 24 * 60, "late@gmail.com", block), true);
        assert_eq!((detector.runs.len(), detector.events.len()), (1, 2));
        // A bounce that is not the sender's fault opens no run.
        detector.push(&outcome(&c, 24 * 60 + 1, "full@gmail.com", "552 5.2.2 mailbox full"), true);
        assert_eq!(detector.runs.len(), 1);
        let events = detector.finish();
        assert_eq!(
            events.iter().map(|e| (e.provider, e.recipients)).collect::<Vec<_>>(),
            [("Google", 6), ("Yahoo/AOL", 6)]
        );
        let yahoo = &events[1];
        assert_eq!(yahoo.by_campaign.get(&Some(Name::campaign("c1"))), Some(&(6, 3)));
        assert_eq!((yahoo.bounces_of(Some("c1")), yahoo.bounces_of(None)), (6, 0));
        assert!(yahoo.shown_for(None) && yahoo.shown_for(Some(Some("c1"))) && !yahoo.shown_for(Some(None)));
    }
}
