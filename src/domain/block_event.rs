//! Block events: one provider refusing the sender, seen as one event instead of hundreds of bounces.
//!
//! When Gmail blocklists a sending IP, every Gmail recipient of the next hour bounces with the same words. Counted
//! one by one these look like hundreds of bad addresses; they are one problem of the sender's, with one fix. An
//! event is a run of sender-fault bounces (blocks, reputation, authentication, policy) with the same response
//! template at the same provider, no two more than a window apart, reaching a minimum of distinct recipients.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};

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
    /// Bounces in the event.
    pub bounces: usize,
    /// Distinct recipients.
    pub recipients: usize,
    /// The campaigns they belong to (known ones), sorted.
    pub campaigns: Vec<String>,
    /// One full response.
    pub example: String,
    /// The indexes of its outcomes in the slice given.
    pub outcomes: Vec<usize>,
}

/// Finds the block events among `outcomes` (in time order), earliest first.
pub fn block_events<O: Borrow<Outcome>>(outcomes: &[O], policy: BlockPolicy) -> Vec<BlockEvent> {
    // Candidates grouped by provider, reason and template; each group's indexes stay in time order.
    let mut groups: BTreeMap<(&'static str, Reason, String), Vec<usize>> = BTreeMap::new();
    for (i, o) in outcomes.iter().map(Borrow::borrow).enumerate() {
        if matches!(o.kind, OutcomeKind::Hard | OutcomeKind::Soft) && o.verdict.fault == Fault::Sender {
            let provider = o.provider.as_str();
            groups.entry((provider, o.verdict.reason, template_of(&o.reply.text))).or_default().push(i);
        }
    }
    let mut events = Vec::new();
    for ((provider, reason, template), indexes) in groups {
        let mut run: Vec<usize> = Vec::new();
        for i in indexes.into_iter().chain(std::iter::once(usize::MAX)) {
            let split = match (run.last(), outcomes.get(i).map(Borrow::borrow)) {
                (Some(&prev), Some(o)) => o.time.millis() - outcomes[prev].borrow().time.millis() > policy.window_ms,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if split {
                if let Some(event) = event_of(outcomes, &run, provider, reason, &template, policy) {
                    events.push(event);
                }
                run.clear();
            }
            if i != usize::MAX {
                run.push(i);
            }
        }
    }
    events.sort_by(|a, b| (a.first, a.provider, &a.template).cmp(&(b.first, b.provider, &b.template)));
    events
}

fn event_of<O: Borrow<Outcome>>(
    outcomes: &[O],
    run: &[usize],
    provider: &'static str,
    reason: Reason,
    template: &str,
    policy: BlockPolicy,
) -> Option<BlockEvent> {
    let outcome = |i: usize| -> &Outcome { outcomes[i].borrow() };
    let recipients: BTreeSet<&str> = run.iter().map(|&i| outcome(i).recipient.as_str()).collect();
    if recipients.len() < policy.min_recipients.max(1) {
        return None;
    }
    let campaigns: BTreeSet<&str> = run.iter().filter_map(|&i| outcome(i).campaign.as_deref()).collect();
    let (first, last) = (outcome(run[0]).time, outcome(run[run.len() - 1]).time);
    Some(BlockEvent {
        provider,
        reason,
        template: template.to_string(),
        first,
        last,
        bounces: run.len(),
        recipients: recipients.len(),
        campaigns: campaigns.into_iter().map(String::from).collect(),
        example: outcome(run[0]).reply.display(),
        outcomes: run.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::attempt::Source;
    use crate::domain::classify::Classifier;
    use crate::domain::smtp::Reply;

    fn outcome(c: &Classifier, minute: i64, to: &str, text: &str) -> Outcome {
        let reply = Reply::parse(text);
        let verdict = c.classify(&reply);
        let t = Timestamp::from_millis(1_780_000_000_000 + minute * 60_000);
        Outcome {
            time: t,
            first_time: t,
            recipient: to.into(),
            campaign: Some("c1".into()),
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
        assert_eq!((events[0].provider, events[0].recipients, events[0].bounces), ("Google", 8, 8));
        assert_eq!(events[0].reason, Reason::Blocked);
        assert_eq!(events[0].campaigns, vec!["c1".to_string()]);
        assert_eq!(events[1].recipients, 6);
        assert!(block_events(&v, BlockPolicy { min_recipients: 9, ..BlockPolicy::default() }).is_empty());
    }
}
