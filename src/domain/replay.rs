//! Replay: walking each contact's outcomes in time order, as the sending platform does, to find who must be
//! deactivated and why.
//!
//! A delivery ends the run of consecutive soft bounces; a soft bounce extends it, and the contact is deactivated when
//! the run reaches the threshold for its engagement (20 engaged, 10 unengaged by default); hard bounces are counted
//! in total and deactivate at their own threshold (1). Pending messages change nothing. A message sent to a contact
//! that is already deactivated is flagged, since it hurts the sender's reputation. A threshold of 0 never deactivates.

use serde::{Deserialize, Serialize};

use super::engagement::{ContactEngagement, Engagement};
use super::name::Name;
use super::outcome::{Outcome, OutcomeKind};
use super::reason::{Fault, Reason};
use super::time::Timestamp;

/// The three thresholds of the platform's rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// Hard bounces (in total) that deactivate a contact.
    pub hard: u32,
    /// Consecutive soft bounces that deactivate an engaged contact.
    pub soft_engaged: u32,
    /// Consecutive soft bounces that deactivate an unengaged contact.
    pub soft_unengaged: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { hard: 1, soft_engaged: 20, soft_unengaged: 10 }
    }
}

/// How replay counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayPolicy {
    /// The thresholds.
    pub thresholds: Thresholds,
    /// Sender-side soft bounces (blocks, reputation, authentication) do not count toward deactivation.
    pub ignore_sender_faults: bool,
}

/// Why a contact was deactivated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// It reached the hard-bounce threshold.
    Hard,
    /// It reached the consecutive soft-bounce threshold.
    SoftThreshold,
}

impl Cause {
    /// The name used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Hard => "hard",
            Cause::SoftThreshold => "soft_threshold",
        }
    }
}

/// A contact's deactivation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deactivation {
    /// The contact.
    pub email: String,
    /// The time of the outcome that triggered it.
    pub at: Timestamp,
    /// That outcome's campaign.
    #[serde(default, with = "crate::domain::name::optional_campaign")]
    pub campaign: Option<Name>,
    /// Hard bounces or the soft threshold.
    pub cause: Cause,
    /// Hard bounces at that moment.
    pub hard_bounces: u32,
    /// Consecutive soft bounces at that moment.
    pub consecutive_soft: u32,
    /// Whether the contact counted as engaged at that send.
    pub engaged: bool,
    /// The reason of the triggering bounce.
    pub reason: Reason,
    /// The server's response that triggered it: the proof.
    pub response: String,
    /// The index of the triggering outcome in the replayed slice; `None` for a deactivation carried over from an
    /// earlier run (`--state`).
    #[serde(skip)]
    pub outcome: Option<usize>,
}

/// Something replay noticed at one outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// This outcome deactivated the contact.
    Deactivated,
    /// The contact was already deactivated when this message was sent.
    SentAfterDeactivation,
}

impl Event {
    /// The name used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Deactivated => "deactivated",
            Event::SentAfterDeactivation => "sent_after_deactivation",
        }
    }
}

/// The contact's counters after one outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// Consecutive soft bounces after this outcome.
    pub consecutive_soft: u32,
    /// Hard bounces so far.
    pub hard_bounces: u32,
    /// Whether the contact counted as engaged at this send.
    pub engaged: bool,
    /// Whether this soft bounce counted (not when sender faults are ignored).
    pub counted: bool,
    /// What happened, if anything.
    pub event: Option<Event>,
}

/// A contact's state between outcomes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactState {
    /// Consecutive soft bounces.
    pub consecutive_soft: u32,
    /// Hard bounces in total.
    pub hard_bounces: u32,
    /// The index of its deactivation in [`Replay::deactivations`], if deactivated.
    pub deactivation: Option<usize>,
}

/// Every contact's counters, by email: what a replay ends with, and what a run carries to the next. Hashed with
/// FxHash, as the replay's own map (see [`Replayer`]).
pub type Contacts = rustc_hash::FxHashMap<String, ContactState>;

/// The result of a replay.
#[derive(Clone, Debug, Default)]
pub struct Replay {
    /// One step per outcome, in the same order.
    pub steps: Vec<Step>,
    /// Deactivations in time order.
    pub deactivations: Vec<Deactivation>,
    /// Every contact's final state.
    pub contacts: Contacts,
}

/// What an earlier run leaves for the next: every contact's counters and the deactivations so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Carried {
    /// Counters by contact; a deactivated contact's `deactivation` indexes `deactivations`.
    pub contacts: Contacts,
    /// Deactivations in time order (their `outcome` is `None`).
    pub deactivations: Vec<Deactivation>,
}

/// Replays outcomes, which must be in time order; `engaged` says whether a contact counts as engaged at a time.
pub fn replay(outcomes: &[Outcome], engaged: impl Fn(&str, Timestamp) -> bool, policy: ReplayPolicy) -> Replay {
    replay_from(Carried::default(), outcomes, engaged, policy)
}

/// Replays outcomes after what an earlier run carried over, so that replaying a history in parts gives what one
/// replay of the whole gives.
pub fn replay_from(
    carried: Carried,
    outcomes: &[Outcome],
    engaged: impl Fn(&str, Timestamp) -> bool,
    policy: ReplayPolicy,
) -> Replay {
    let mut replayer = Replayer::new(carried, policy);
    let steps = outcomes
        .iter()
        .enumerate()
        .map(|(index, o)| replayer.push(o, engaged(&o.recipient, o.first_time), Some(index)))
        .collect();
    Replay { steps, ..replayer.finish() }
}

/// A replay fed one outcome at a time, in time order, for runs that do not keep every outcome: the counters of
/// every contact and the deactivations are kept, the outcomes are not.
#[derive(Debug)]
pub struct Replayer {
    policy: ReplayPolicy,
    deactivations: Vec<Deactivation>,
    /// Looked up once for every outcome replayed, on the one core the replay runs on: hashed with FxHash, which costs
    /// a fraction of the standard library's SipHash on short keys (the addresses come from the user's own logs, which
    /// need no protection against crafted collisions).
    contacts: rustc_hash::FxHashMap<String, Known>,
}

/// A contact as the replay holds it: its counters, and what the contacts file says of it once looked up (see
/// [`Replayer::push_judged`]).
#[derive(Debug, Default)]
struct Known {
    state: ContactState,
    file: Option<ContactEngagement>,
}

impl Replayer {
    /// A replay that goes on from what an earlier run carried over.
    pub fn new(carried: Carried, policy: ReplayPolicy) -> Self {
        let contacts =
            carried.contacts.into_iter().map(|(email, state)| (email, Known { state, file: None })).collect();
        Replayer { policy, deactivations: carried.deactivations, contacts }
    }

    /// Replays the next outcome, sent to a contact that was `engaged` or not; `index` is what a deactivation it
    /// triggers records as its outcome. Returns the contact's counters after it.
    pub fn push(&mut self, outcome: &Outcome, engaged: bool, index: Option<usize>) -> Step {
        self.apply(outcome, |_| engaged, index)
    }

    /// [`Replayer::push`], with whether the contact was engaged judged from the contacts file at the outcome's first
    /// try. What the file says of a contact is looked up when the replay first meets it and kept with its counters:
    /// the replay runs on one core, and two lookups in maps of every contact for each outcome, each missing the
    /// cache, were the most of its time on a sending log.
    pub fn push_judged(&mut self, outcome: &Outcome, engagement: &Engagement, index: Option<usize>) -> Step {
        let at = outcome.first_time;
        self.apply(
            outcome,
            |file| engagement.judge(*file.get_or_insert_with(|| engagement.of(&outcome.recipient)), at),
            index,
        )
    }

    /// Replays `outcome`; `engaged` tells from what the file says of the contact, if it was looked up yet, whether
    /// it was engaged.
    fn apply(
        &mut self,
        outcome: &Outcome,
        engaged: impl FnOnce(&mut Option<ContactEngagement>) -> bool,
        index: Option<usize>,
    ) -> Step {
        let t = self.policy.thresholds;
        let known = match self.contacts.get_mut(outcome.recipient.as_str()) {
            Some(known) => known,
            None => self.contacts.entry(outcome.recipient.clone()).or_default(),
        };
        let engaged = engaged(&mut known.file);
        let state = &mut known.state;
        if state.deactivation.is_some() {
            return Step {
                consecutive_soft: state.consecutive_soft,
                hard_bounces: state.hard_bounces,
                engaged,
                counted: false,
                event: Some(Event::SentAfterDeactivation),
            };
        }
        let mut counted = false;
        let mut cause = None;
        match outcome.kind {
            OutcomeKind::Delivered => state.consecutive_soft = 0,
            OutcomeKind::Pending => {}
            OutcomeKind::Hard => {
                state.hard_bounces = state.hard_bounces.saturating_add(1);
                counted = true;
                if t.hard > 0 && state.hard_bounces >= t.hard {
                    cause = Some(Cause::Hard);
                }
            }
            OutcomeKind::Soft => {
                if !(self.policy.ignore_sender_faults && outcome.verdict.fault == Fault::Sender) {
                    counted = true;
                    state.consecutive_soft = state.consecutive_soft.saturating_add(1);
                    let limit = if engaged { t.soft_engaged } else { t.soft_unengaged };
                    if limit > 0 && state.consecutive_soft >= limit {
                        cause = Some(Cause::SoftThreshold);
                    }
                }
            }
        }
        if let Some(cause) = cause {
            state.deactivation = Some(self.deactivations.len());
            self.deactivations.push(Deactivation {
                email: outcome.recipient.clone(),
                at: outcome.time,
                campaign: outcome.campaign.clone(),
                cause,
                hard_bounces: state.hard_bounces,
                consecutive_soft: state.consecutive_soft,
                engaged,
                reason: outcome.verdict.reason,
                response: outcome.reply.display(),
                outcome: index,
            });
        }
        Step {
            consecutive_soft: state.consecutive_soft,
            hard_bounces: state.hard_bounces,
            engaged,
            counted,
            event: cause.map(|_| Event::Deactivated),
        }
    }

    /// The replay so far, without steps (they were handed out one by one).
    pub fn finish(self) -> Replay {
        let contacts = self.contacts.into_iter().map(|(email, known)| (email, known.state)).collect();
        Replay { steps: Vec::new(), deactivations: self.deactivations, contacts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::attempt::Source;
    use crate::domain::classify::Verdict;
    use crate::domain::reason::{Class, Reason};

    fn outcome(email: &str, day: i64, kind: OutcomeKind, fault: Fault) -> Outcome {
        let (class, reason) = match kind {
            OutcomeKind::Delivered => (Class::Delivered, Reason::Delivered),
            OutcomeKind::Hard => (Class::Hard, Reason::UserUnknown),
            OutcomeKind::Soft => (Class::Soft, Reason::MailboxFull),
            OutcomeKind::Pending => (Class::Soft, Reason::OnHold),
        };
        Outcome {
            time: Timestamp::from_secs(day * 86_400),
            first_time: Timestamp::from_secs(day * 86_400),
            recipient: email.into(),
            campaign: Some(Name::campaign(&format!("c{day}"))),
            kind,
            verdict: Verdict { class, reason, fault, rule: 0 },
            reply: Default::default(),
            provider: crate::domain::provider::Provider::Other,
            source: Source { file: 0, line: day as u64 },
            attempts: 1,
            proof: vec![],
        }
    }

    fn softs(email: &str, days: std::ops::Range<i64>) -> Vec<Outcome> {
        days.map(|d| outcome(email, d, OutcomeKind::Soft, Fault::Recipient)).collect()
    }

    #[test]
    fn unengaged_deactivated_at_ten_consecutive_soft() {
        let r = replay(&softs("a@x", 1..13), |_, _| false, ReplayPolicy::default());
        assert_eq!(r.deactivations.len(), 1);
        let d = &r.deactivations[0];
        assert_eq!(
            (d.cause, d.consecutive_soft, d.campaign.as_deref(), d.outcome),
            (Cause::SoftThreshold, 10, Some("c10"), Some(9))
        );
        assert_eq!(r.steps[9].event, Some(Event::Deactivated));
        assert_eq!(r.steps[10].event, Some(Event::SentAfterDeactivation));
    }

    #[test]
    fn engagement_from_the_file_is_judged_at_each_send() {
        use std::collections::HashMap;
        // Opened on day 5, engaged for 10 days after: the window ends between the contact's sends, and what the file
        // says, looked up once, is judged again at each of them.
        let file = HashMap::from([
            (
                "a@x".to_string(),
                ContactEngagement { engaged: None, last_engaged_at: Some(Timestamp::from_secs(5 * 86_400)) },
            ),
            ("b@x".to_string(), ContactEngagement { engaged: Some(true), last_engaged_at: None }),
        ]);
        let engagement = Engagement::new(file, 10);
        let policy = ReplayPolicy {
            thresholds: Thresholds { hard: 1, soft_engaged: 4, soft_unengaged: 3 },
            ..Default::default()
        };
        let mut outcomes = softs("a@x", 14..18);
        outcomes.extend(softs("b@x", 14..18));
        outcomes.extend(softs("c@x", 14..18));
        outcomes.sort_by_key(|o| o.time);
        let mut judged = Replayer::new(Carried::default(), policy);
        let steps: Vec<Step> =
            outcomes.iter().enumerate().map(|(i, o)| judged.push_judged(o, &engagement, Some(i))).collect();
        let a: Vec<bool> =
            outcomes.iter().zip(&steps).filter(|(o, _)| o.recipient == "a@x").map(|(_, s)| s.engaged).collect();
        assert_eq!(a, [true, true, false, false]);
        // The same as the flag given outcome by outcome.
        let flagged = replay(&outcomes, |email, at| engagement.is_engaged(email, at), policy);
        assert_eq!(steps, flagged.steps);
        let judged = judged.finish();
        assert_eq!(judged.deactivations, flagged.deactivations);
        assert_eq!(judged.contacts, flagged.contacts);
        // a@x was unengaged by its third soft bounce (day 16), c@x (not in the file) always: both at 3; b@x at 4.
        let who: Vec<(&str, u32)> =
            judged.deactivations.iter().map(|d| (d.email.as_str(), d.consecutive_soft)).collect();
        assert_eq!(who, [("a@x", 3), ("c@x", 3), ("b@x", 4)]);
    }

    #[test]
    fn counters_carried_at_their_limit_stay_there() {
        // A state file's counters at u32::MAX (by hand, or after billions of bounces) neither wrap to 0 nor stop the
        // run: the counts stay at their limit.
        let full = ContactState { consecutive_soft: u32::MAX, hard_bounces: u32::MAX, deactivation: None };
        let carried = Carried { contacts: [("a@x".to_string(), full)].into_iter().collect(), deactivations: vec![] };
        let off = Thresholds { hard: 0, soft_engaged: 0, soft_unengaged: 0 };
        let mut r = Replayer::new(carried, ReplayPolicy { thresholds: off, ignore_sender_faults: false });
        let soft = r.push(&outcome("a@x", 1, OutcomeKind::Soft, Fault::Recipient), false, None);
        let hard = r.push(&outcome("a@x", 2, OutcomeKind::Hard, Fault::Recipient), false, None);
        assert_eq!((soft.consecutive_soft, hard.hard_bounces), (u32::MAX, u32::MAX));
        assert_eq!(hard.consecutive_soft, u32::MAX, "a hard bounce leaves the soft run as it is");
    }

    #[test]
    fn engaged_needs_twenty() {
        let r = replay(&softs("a@x", 1..20), |_, _| true, ReplayPolicy::default());
        assert!(r.deactivations.is_empty());
        assert_eq!(r.contacts["a@x"].consecutive_soft, 19);
        let r = replay(&softs("a@x", 1..21), |_, _| true, ReplayPolicy::default());
        assert_eq!(r.deactivations[0].consecutive_soft, 20);
    }

    #[test]
    fn delivery_resets_and_pending_changes_nothing() {
        let mut o = softs("a@x", 1..10);
        o.push(outcome("a@x", 10, OutcomeKind::Pending, Fault::Unknown));
        o.push(outcome("a@x", 11, OutcomeKind::Delivered, Fault::Unknown));
        o.extend(softs("a@x", 12..21));
        let r = replay(&o, |_, _| false, ReplayPolicy::default());
        assert!(r.deactivations.is_empty());
        assert_eq!(r.steps[9].consecutive_soft, 9);
        assert_eq!(r.steps[10].consecutive_soft, 0);
        assert_eq!(r.contacts["a@x"].consecutive_soft, 9);
    }

    #[test]
    fn hard_deactivates_at_once_and_leaves_soft_count() {
        let mut o = softs("a@x", 1..4);
        o.push(outcome("a@x", 4, OutcomeKind::Hard, Fault::Recipient));
        let r = replay(&o, |_, _| false, ReplayPolicy::default());
        let d = &r.deactivations[0];
        assert_eq!((d.cause, d.hard_bounces, d.consecutive_soft), (Cause::Hard, 1, 3));
    }

    #[test]
    fn thresholds_can_change() {
        let policy = ReplayPolicy {
            thresholds: Thresholds { hard: 2, soft_engaged: 3, soft_unengaged: 0 },
            ..Default::default()
        };
        let o = vec![
            outcome("a@x", 1, OutcomeKind::Hard, Fault::Recipient),
            outcome("a@x", 2, OutcomeKind::Hard, Fault::Recipient),
        ];
        assert_eq!(replay(&o, |_, _| false, policy).deactivations[0].hard_bounces, 2);
        assert!(replay(&softs("a@x", 1..30), |_, _| false, policy).deactivations.is_empty());
        assert_eq!(replay(&softs("a@x", 1..30), |_, _| true, policy).deactivations[0].consecutive_soft, 3);
    }

    #[test]
    fn sender_faults_can_be_ignored() {
        let o: Vec<_> = (1..15).map(|d| outcome("a@x", d, OutcomeKind::Soft, Fault::Sender)).collect();
        assert_eq!(replay(&o, |_, _| false, ReplayPolicy::default()).deactivations.len(), 1);
        let ignore = ReplayPolicy { ignore_sender_faults: true, ..Default::default() };
        let r = replay(&o, |_, _| false, ignore);
        assert!(r.deactivations.is_empty());
        assert!(!r.steps[0].counted);
    }

    #[test]
    fn replaying_in_parts_carries_the_counters() {
        let all = softs("a@x", 1..13);
        let whole = replay(&all, |_, _| false, ReplayPolicy::default());
        let first = replay(&all[..6], |_, _| false, ReplayPolicy::default());
        assert!(first.deactivations.is_empty());
        let carried = Carried { contacts: first.contacts, deactivations: first.deactivations };
        let second = replay_from(carried, &all[6..], |_, _| false, ReplayPolicy::default());
        assert_eq!(second.deactivations.len(), 1);
        let (a, b) = (&whole.deactivations[0], &second.deactivations[0]);
        assert_eq!((a.at, a.cause, a.consecutive_soft), (b.at, b.cause, b.consecutive_soft));
        assert_eq!(second.contacts, whole.contacts);
    }
}
