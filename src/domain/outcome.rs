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
use super::name::Name;
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
    pub campaign: Option<Name>,
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
    // does not matter, as outcomes are sorted by time at the end. Each group is settled where its attempts lie, by
    // their indexes: an attempt is some 260 bytes, and moving every one out of the batch and again into its group
    // wrote twice as much memory as the batch holds. The index is each thread's, kept with its room from call to
    // call: a fresh one for every batch was memory the system faulted in each time.
    thread_local! {
        static ORDER: RefCell<Vec<(u64, u32)>> = const { RefCell::new(Vec::new()) };
    }
    ORDER.with_borrow_mut(|order| {
        order.clear();
        order.extend(attempts.iter().enumerate().map(|(i, a)| (group_hash(a), i as u32)));
        order.sort_unstable_by(|&(ha, ia), &(hb, ib)| {
            let (a, b) = (&attempts[ia as usize], &attempts[ib as usize]);
            ha.cmp(&hb)
                .then_with(|| (&a.message_key, &a.recipient).cmp(&(&b.message_key, &b.recipient)))
                .then_with(|| (a.time, a.source).cmp(&(b.time, b.source)))
                .then_with(|| ia.cmp(&ib))
        });
        let mut start = 0;
        while start < order.len() {
            let (hash, first) = order[start];
            let first = &attempts[first as usize];
            let end = start
                + order[start..]
                    .iter()
                    .take_while(|&&(h, i)| {
                        let a = &attempts[i as usize];
                        h == hash && a.message_key == first.message_key && a.recipient == first.recipient
                    })
                    .count();
            outcomes.push(settle_one(attempts, &order[start..end], classifier));
            start = end;
        }
    });
    attempts.clear();
}

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

/// The outcome of one group: the tries of a message to a recipient, in time order, as (hash, index into
/// `attempts`) pairs from [`settle_into`]'s order. The strings the outcome keeps are taken out of the attempts.
fn settle_one(attempts: &mut [Attempt], order: &[(u64, u32)], classifier: &Classifier) -> Outcome {
    let group = || order.iter().map(|&(_, i)| i as usize);
    // The first final try settles the message; later lines for it (a duplicate, a notification) change nothing.
    let last = group().position(|i| attempts[i].status.is_final()).unwrap_or(order.len() - 1);
    let (settled, decided) = (group().take(last + 1), order[last].1 as usize);
    let d = &attempts[decided];
    let (time, source, status) = (d.time, d.source, d.status);
    let (kind, verdict) = judge(status, &d.reply, classifier);
    let provider = provider_of(domain_of(&d.recipient), d.relay.as_deref());
    let proof = settled.clone().filter_map(|i| attempts[i].line.take()).collect();
    let campaign = attempts[decided].campaign.take().or_else(|| group().find_map(|i| attempts[i].campaign.clone()));
    Outcome {
        time,
        first_time: attempts[order[0].1 as usize].time,
        recipient: std::mem::take(&mut attempts[decided].recipient),
        campaign,
        kind,
        verdict,
        reply: std::mem::take(&mut attempts[decided].reply),
        provider,
        source,
        attempts: settled.map(|i| attempts[i].tries).sum(),
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
            campaign: Some(Name::campaign("c1")),
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
