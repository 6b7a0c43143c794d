//! From attempts to outcomes: what finally happened to each message for each recipient.
//!
//! A message deferred five times and then delivered is one delivery; deferred and then expired is one soft bounce;
//! only deferrals is pending (still queued when the log ends), which is not a bounce. An outcome's time is the time
//! of the line that settled it. Outcomes come out in time order, ties broken by file and line, so that everything
//! after this point is deterministic whatever order the inputs were read in.

use std::cell::RefCell;

use serde::Serialize;

use super::attempt::{Attempt, Source, Status, domain_of};
use super::classify::{Classifier, Verdict};
use super::provider::{Provider, provider_of};
use super::reason::{Class, Fault, Reason};
use super::smtp::Reply;
use super::time::Timestamp;

/// The final state of one message to one recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    /// Accepted by the receiving server.
    Delivered,
    /// Refused for good for a hard reason.
    Hard,
    /// Refused for a soft reason, or expired.
    Soft,
    /// Only deferrals seen: still in the queue when the log ends.
    Pending,
}

impl OutcomeKind {
    /// The lower-case name used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Delivered => "delivered",
            OutcomeKind::Hard => "hard",
            OutcomeKind::Soft => "soft",
            OutcomeKind::Pending => "pending",
        }
    }
}

/// One message to one recipient, settled.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// When it was settled (for a pending message: its last try).
    pub time: Timestamp,
    /// Its first try, the best estimate of when it was sent.
    pub first_time: Timestamp,
    /// The recipient, lower-cased.
    pub recipient: String,
    /// The campaign, where known.
    pub campaign: Option<String>,
    /// Delivered, hard, soft or pending.
    pub kind: OutcomeKind,
    /// The classifier's verdict on the deciding response.
    pub verdict: Verdict,
    /// The deciding response (for an expiry: the last deferral's).
    pub reply: Reply,
    /// The receiving provider, from the receiving server's name where the log gives it, else from the domain. Kept
    /// instead of the server's name: an outcome is kept for every message of a run.
    pub provider: Provider,
    /// The line that settled it.
    pub source: Source,
    /// How many tries it took.
    pub attempts: u32,
    /// The log lines of its tries, in order, when the run keeps them.
    pub proof: Vec<String>,
}

/// Groups attempts by message and recipient and settles each group. Attempts must carry their campaign already.
pub fn settle(mut attempts: Vec<Attempt>, classifier: &Classifier) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    settle_into(&mut attempts, classifier, &mut outcomes);
    outcomes.sort_by_key(|a| (a.time, a.source));
    outcomes
}

/// Settles attempts that hold whole messages (every try of a message to a recipient) into `out`, unsorted, and
/// empties `attempts` (its room stays, to be used again).
pub fn settle_into(attempts: &mut Vec<Attempt>, classifier: &Classifier, outcomes: &mut Vec<Outcome>) {
    // Indexes sorted by a hash of message and recipient first, so that strings are compared only within a group (or
    // between the rare groups whose hashes collide) and attempts are not moved while sorting; the order of the groups
    // does not matter, as outcomes are sorted by time at the end. The index and the slots are each thread's, kept
    // with their room from call to call: fresh ones for every batch were memory the system faulted in each time.
    thread_local! {
        static SCRATCH: RefCell<SettleScratch> = const { RefCell::new((Vec::new(), Vec::new())) };
    }
    SCRATCH.with_borrow_mut(|(order, slots)| {
        order.clear();
        order.extend(attempts.iter().enumerate().map(|(i, a)| (group_hash(a), i as u32)));
        order.sort_unstable_by(|&(ha, ia), &(hb, ib)| {
            let (a, b) = (&attempts[ia as usize], &attempts[ib as usize]);
            ha.cmp(&hb)
                .then_with(|| (&a.message_key, &a.recipient).cmp(&(&b.message_key, &b.recipient)))
                .then_with(|| (a.time, a.source).cmp(&(b.time, b.source)))
                .then_with(|| ia.cmp(&ib))
        });
        slots.clear();
        slots.extend(attempts.drain(..).map(Some));
        let mut group: Vec<Attempt> = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let (hash, first) = order[i];
            group.clear();
            while let Some(&(h, index)) = order.get(i) {
                let same = h == hash && {
                    let (a, b) = (slots[index as usize].as_ref(), group.first().or(slots[first as usize].as_ref()));
                    a.zip(b).is_some_and(|(a, b)| a.message_key == b.message_key && a.recipient == b.recipient)
                };
                if !same {
                    break;
                }
                if let Some(a) = slots[index as usize].take() {
                    group.push(a);
                }
                i += 1;
            }
            if group.is_empty() {
                i += 1;
                continue;
            }
            outcomes.push(settle_one(&mut group, classifier));
        }
        slots.clear();
    });
}

/// What [`settle_into`] sorts: (group hash, index) of each attempt, and the attempts, taken one by one.
type SettleScratch = (Vec<(u64, u32)>, Vec<Option<Attempt>>);

/// A hash of the message key and the recipient, eight bytes at a step: every attempt is hashed, and a byte at a step
/// (FNV-1a, as first written) was a fifth of the settling. Stable across runs and platforms; attempts whose hashes
/// collide are told apart by their strings.
fn group_hash(a: &Attempt) -> u64 {
    let h = words_hash(0, a.message_key.as_bytes());
    words_hash(h.rotate_left(7) ^ 0xff, a.recipient.as_bytes())
}

/// Folds `bytes` into `h` eight bytes at a step (little-endian words, the last one padded with zeros, then the
/// length), each step a multiply that spreads every bit of the word over the hash.
fn words_hash(mut h: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut step = |w: u64| h = (h.rotate_left(23) ^ w).wrapping_mul(K);
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        step(u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]));
    }
    let mut last = [0u8; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    step(u64::from_le_bytes(last));
    step(bytes.len() as u64);
    h ^ (h >> 29)
}

/// What one try means: its outcome kind and verdict. The log's status decides a delivery and an expiry; the words
/// decide the reason of a bounce, and its class where they can (the code where they cannot).
pub fn judge(status: Status, reply: &Reply, classifier: &Classifier) -> (OutcomeKind, Verdict) {
    match status {
        Status::Delivered => (OutcomeKind::Delivered, classifier.status_verdict(Reason::Delivered, Fault::Unknown)),
        Status::Deferred => (OutcomeKind::Pending, classifier.classify(reply)),
        Status::Expired => {
            let fault = if reply.text.is_empty() && reply.code.is_none() {
                Fault::Network
            } else {
                classifier.classify(reply).fault
            };
            (OutcomeKind::Soft, classifier.status_verdict(Reason::Expired, fault))
        }
        Status::Bounced => {
            let mut v = classifier.classify(reply);
            if !matches!(v.class, Class::Hard | Class::Soft) {
                // The MTA says it bounced even though the words do not read like it: the code decides.
                v.class = classifier.policy().class_of(Reason::Undefined, reply.code_class().or(Some(5)));
            }
            let kind = if v.class == Class::Hard { OutcomeKind::Hard } else { OutcomeKind::Soft };
            (kind, v)
        }
    }
}

fn settle_one(group: &mut [Attempt], classifier: &Classifier) -> Outcome {
    // The first final try settles the message; later lines for it (a duplicate, a notification) change nothing.
    let last = group.iter().position(|a| a.status.is_final()).unwrap_or(group.len() - 1);
    let decided = &group[last];
    let (time, source, status) = (decided.time, decided.source, decided.status);
    let (kind, verdict) = judge(status, &decided.reply, classifier);
    let provider = provider_of(domain_of(&group[last].recipient), group[last].relay.as_deref());
    let proof = group[..=last].iter_mut().filter_map(|a| a.line.take()).collect();
    Outcome {
        time,
        first_time: group[0].time,
        recipient: std::mem::take(&mut group[last].recipient),
        campaign: group[last].campaign.take().or_else(|| group.iter().find_map(|a| a.campaign.clone())),
        kind,
        verdict,
        reply: std::mem::take(&mut group[last].reply),
        provider,
        source,
        attempts: group[..=last].iter().map(|a| a.tries).sum(),
        proof,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(key: &str, secs: i64, status: Status, reply: &str) -> Attempt {
        Attempt {
            time: Timestamp::from_secs(secs),
            source: Source { file: 0, line: secs as u64 },
            recipient: "a@example.org".into(),
            sender: None,
            message_id: None,
            message_key: key.into(),
            campaign_hint: None,
            campaign: Some("c1".into()),
            status,
            reply: Reply::parse(reply),
            relay: None,
            line: Some(format!("line {secs}")),
            tries: 1,
        }
    }

    #[test]
    fn deferrals_then_delivery_is_one_delivery() {
        let c = Classifier::builtin();
        let out = settle(
            vec![
                attempt("q1", 3, Status::Delivered, "250 ok"),
                attempt("q1", 1, Status::Deferred, "450 4.2.0 Greylisted"),
                attempt("q1", 2, Status::Deferred, "450 4.2.0 Greylisted"),
            ],
            &c,
        );
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].kind, out[0].attempts, out[0].time.millis()), (OutcomeKind::Delivered, 3, 3000));
        assert_eq!(out[0].first_time, Timestamp::from_secs(1));
        assert_eq!(out[0].proof, ["line 1", "line 2", "line 3"]);
    }

    #[test]
    fn expiry_is_one_soft_bounce_and_deferrals_alone_are_pending() {
        let c = Classifier::builtin();
        let out = settle(
            vec![
                attempt("q1", 1, Status::Deferred, "452 4.2.2 Mailbox over quota"),
                attempt("q1", 9, Status::Expired, "452 4.2.2 Mailbox over quota"),
                attempt("q2", 5, Status::Deferred, "421 4.7.0 Try again later"),
            ],
            &c,
        );
        assert_eq!(out.iter().map(|o| o.kind).collect::<Vec<_>>(), [OutcomeKind::Pending, OutcomeKind::Soft]);
        assert_eq!(out[1].verdict.reason, Reason::Expired);
        assert_eq!(out[1].verdict.fault, Fault::Recipient);
    }

    #[test]
    fn bounces_are_classified_by_their_words() {
        let c = Classifier::builtin();
        let out = settle(
            vec![
                attempt("q1", 1, Status::Bounced, "552 5.2.2 Mailbox full"),
                attempt(
                    "q2",
                    2,
                    Status::Bounced,
                    "550 5.1.1 <a@example.org>: Recipient address rejected: User unknown",
                ),
            ],
            &c,
        );
        assert_eq!((out[0].kind, out[0].verdict.reason), (OutcomeKind::Soft, Reason::MailboxFull));
        assert_eq!((out[1].kind, out[1].verdict.reason), (OutcomeKind::Hard, Reason::UserUnknown));
    }
}
