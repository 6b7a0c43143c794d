//! The tries of logs that write one record per try and recipient (PowerMTA, KumoMTA), held until they settle.
//!
//! Such a log tells a message's end only by its final record: a deferral is followed, minutes or days later, by
//! another deferral, a delivery, a bounce or an expiry, with the other messages' records in between. To read such a
//! log as a stream, the deferrals of each message and recipient are held here until the final record comes, and are
//! then handed on with it, so that the batch holding them settles the recipient's message whole; what is still held
//! when the logs end is handed on last, as pending. Nothing then settles before the last try of a recipient still
//! held, which is what lets the reader promise a time before which its outcomes are final.

use rustc_hash::FxHashMap;

use crate::domain::attempt::{Attempt, Status};
use crate::domain::time::Timestamp;

use super::dedupe::is_positional;

/// What an expiry says, where the log writes the MTA's own words for it (`retry timeout exceeded`, `exceeds
/// max_age`) rather than a server's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Expiry {
    /// Its own record's response (PowerMTA repeats the last deferral's response in it).
    #[default]
    Own,
    /// The response of the recipient's last deferral before it (KumoMTA).
    LastDeferral,
    /// The response of the last deferral, and its relay when the expiry names none (Exim).
    LastDeferralAndRelay,
}

/// Deferred tries waiting for their message's final try, by message key and recipient.
#[derive(Debug, Default)]
pub struct TryQueue {
    open: FxHashMap<(String, String), Vec<Attempt>>,
    expiry: Expiry,
}

impl TryQueue {
    /// An empty queue, whose expiries say what `expiry` tells.
    pub fn new(expiry: Expiry) -> Self {
        TryQueue { open: FxHashMap::default(), expiry }
    }

    /// Adds a try, in the order of the log. A final try hands `out` the recipient's held tries and itself; a
    /// deferral is held, unless its key was made from its line (it can join nothing, and is handed on alone).
    pub fn push(&mut self, attempt: Attempt, out: &mut Vec<Attempt>) {
        if is_positional(&attempt.message_key) {
            out.push(attempt);
            return;
        }
        if attempt.status == Status::Deferred {
            self.open.entry((attempt.message_key.clone(), attempt.recipient.clone())).or_default().push(attempt);
            return;
        }
        let mut attempt = attempt;
        // The key is lent to the lookup and given back, not copied.
        let key = (std::mem::take(&mut attempt.message_key), std::mem::take(&mut attempt.recipient));
        let held = if self.open.is_empty() { None } else { self.open.remove(&key) };
        (attempt.message_key, attempt.recipient) = key;
        let Some(mut held) = held else {
            out.push(attempt);
            return;
        };
        if attempt.status == Status::Expired
            && let Some(last) = held.last()
        {
            match self.expiry {
                Expiry::Own => {}
                Expiry::LastDeferral => attempt.reply = last.reply.clone(),
                Expiry::LastDeferralAndRelay => {
                    attempt.reply = last.reply.clone();
                    attempt.relay = attempt.relay.take().or_else(|| last.relay.clone());
                }
            }
        }
        held.push(attempt);
        out.append(&mut held);
    }

    /// The earliest time an outcome still to come from the tries held can have: the last try of a recipient held
    /// (its final try is later, or it stays pending at its last try). None when nothing is held.
    pub fn earliest_outcome(&self) -> Option<Timestamp> {
        self.open.values().filter_map(|tries| tries.iter().map(|a| a.time).max()).min()
    }

    /// The earliest try held: no try still to come from what is held is before it (tries still to be read come
    /// later in the log). None when nothing is held.
    pub fn earliest_try(&self) -> Option<Timestamp> {
        self.open.values().flat_map(|tries| tries.iter().map(|a| a.time).min()).min()
    }

    /// How many recipients' tries are held.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Hands `out` every try still held, recipient after recipient in the order of their first try.
    pub fn finish(self, out: &mut Vec<Attempt>) {
        out.extend(self.held());
    }

    /// A copy of every try still held, in the order [`TryQueue::finish`] hands them on: what a state file keeps
    /// for the next run.
    pub fn held(&self) -> Vec<Attempt> {
        let mut held: Vec<&Vec<Attempt>> = self.open.values().collect();
        held.sort_by(|a, b| (a[0].source, &a[0].recipient).cmp(&(b[0].source, &b[0].recipient)));
        held.into_iter().flatten().cloned().collect()
    }

    /// The queue holding, besides, the deferrals an earlier run left ([`TryQueue::held`]), in their order.
    pub fn with_held(mut self, held: Vec<Attempt>) -> Self {
        for a in held {
            self.open.entry((a.message_key.clone(), a.recipient.clone())).or_default().push(a);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::attempt::Source;
    use crate::domain::smtp::Reply;

    fn try_(key: &str, to: &str, line: u64, status: Status, reply: &str) -> Attempt {
        Attempt {
            time: Timestamp::from_secs(line as i64 * 60),
            source: Source { file: 0, line },
            recipient: to.into(),
            sender: None,
            message_id: None,
            message_key: key.into(),
            campaign_hint: None,
            campaign: None,
            status,
            reply: Reply::parse(reply),
            relay: None,
            line: None,
            tries: 1,
        }
    }

    #[test]
    fn deferrals_wait_for_their_final_try() {
        let mut q = TryQueue::new(Expiry::LastDeferral);
        let mut out = Vec::new();
        q.push(try_("kumo/m1", "a@x", 1, Status::Deferred, "452 4.2.2 mailbox full"), &mut out);
        q.push(try_("kumo/m1", "b@x", 2, Status::Deferred, "451 try later"), &mut out);
        q.push(try_("kumo/0/3", "c@x", 3, Status::Deferred, "451 try later"), &mut out);
        assert_eq!(out.iter().map(|a| a.source.line).collect::<Vec<_>>(), [3], "a line-made key joins nothing");
        assert_eq!((q.len(), q.earliest_outcome()), (2, Some(Timestamp::from_secs(60))));
        q.push(try_("kumo/m1", "a@x", 4, Status::Deferred, "452 4.2.2 mailbox still full"), &mut out);
        assert_eq!(q.earliest_outcome(), Some(Timestamp::from_secs(120)), "a's last try is now later than b's");
        q.push(try_("kumo/m1", "a@x", 5, Status::Expired, ""), &mut out);
        let a: Vec<_> =
            out[1..].iter().map(|a| (a.source.line, a.recipient.as_str(), a.message_key.as_str())).collect();
        assert_eq!(a, [(1, "a@x", "kumo/m1"), (4, "a@x", "kumo/m1"), (5, "a@x", "kumo/m1")]);
        assert_eq!(out[3].reply.text, "mailbox still full", "the expiry says the last deferral's words");
        q.finish(&mut out);
        assert_eq!(out.last().map(|a| a.recipient.as_str()), Some("b@x"), "still pending at the end");
    }
}
