//! Duplicate input: the same file given twice, or rotated files that overlap (`maillog.1` copied before rotation
//! finished, an export run twice over the same days), must not count a try twice.
//!
//! Two attempts are the same try when everything a log line says about it is the same: time, recipient, status,
//! response, relay, sender, message-id, campaign named by the log, and the message the try belongs to. The message
//! is named by the MTA (Postfix host and queue id, Exim id, Sendmail host and queue id, KumoMTA spool id, PowerMTA
//! message-id or envelope id), which is the same in every copy of a file. Where the parser has nothing better than
//! the file and line (each sending-log row, a PowerMTA row without an id), that key differs between copies and the
//! content alone is compared.
//!
//! Copies are matched one to one across files: the k-th occurrence of a try in one file is the same try as the k-th
//! occurrence in another, and a try is kept as many times as the file holding it most often holds it. Two identical
//! rows inside one file are therefore never merged (the platform may really have sent twice within the second), while
//! a file given twice, or the overlap of two rotated files, is counted once.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::domain::attempt::Attempt;

/// Whether a message key was made from the file index and line (`sending-log/FILE/LINE`, `pmta/FILE/LINE`,
/// `kumo/FILE/LINE`) because the record named no message: such a key ties nothing together.
pub fn is_positional(key: &str) -> bool {
    let file_and_line = |rest: &str| {
        rest.split_once('/')
            .is_some_and(|(f, l)| [f, l].iter().all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
    };
    ["sending-log/", "pmta/", "kumo/"].iter().any(|p| key.strip_prefix(p).is_some_and(file_and_line))
}

/// The part of a message key that names the message across copies of a file: the key itself, or nothing when it
/// was made from the file and line, which differ between copies.
fn message_identity(key: &str) -> &str {
    if is_positional(key) { "" } else { key }
}

/// A 128-bit digest of what identifies a try: two SipHashes with different prefixes, so that two different tries
/// are merged only with a negligible chance (about 2^-128 per pair).
fn digest(a: &Attempt) -> u128 {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        a.time.hash(&mut h);
        a.recipient.hash(&mut h);
        a.status.hash(&mut h);
        a.reply.code.hash(&mut h);
        a.reply.enhanced.hash(&mut h);
        a.reply.text.hash(&mut h);
        a.reply.command.hash(&mut h);
        a.relay.hash(&mut h);
        a.sender.hash(&mut h);
        a.message_id.hash(&mut h);
        a.campaign_hint.hash(&mut h);
        message_identity(&a.message_key).hash(&mut h);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// Removes copies of tries across files, batch by batch, remembering what it has seen: attempts can be handed to it
/// as the logs are read.
#[derive(Debug, Default)]
pub struct Deduper {
    /// For each try: how often each file has held it so far.
    per_file: HashMap<(u128, u32), u32>,
    /// For each try: how many copies are kept.
    kept: HashMap<u128, u32>,
    /// Copies removed so far.
    pub removed: u64,
}

impl Deduper {
    /// Removes from `attempts` the tries seen more often across files than in any one of them; the copy kept is the
    /// first in reading order.
    pub fn filter(&mut self, attempts: &mut Vec<Attempt>) {
        let before = attempts.len();
        attempts.retain(|a| {
            let d = digest(a);
            let n = self.per_file.entry((d, a.source.file)).or_default();
            *n += 1;
            let k = self.kept.entry(d).or_default();
            if *n > *k {
                *k = *n;
                true
            } else {
                false
            }
        });
        self.removed += (before - attempts.len()) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Copies removed from one batch.
    fn dedupe(attempts: &mut Vec<Attempt>) -> u64 {
        let mut deduper = Deduper::default();
        deduper.filter(attempts);
        deduper.removed
    }
    use crate::domain::attempt::{Source, Status};
    use crate::domain::smtp::Reply;
    use crate::domain::time::Timestamp;

    fn attempt(file: u32, line: u64, key: &str, to: &str, secs: i64) -> Attempt {
        Attempt {
            time: Timestamp::from_secs(secs),
            source: Source { file, line },
            recipient: to.into(),
            sender: None,
            message_id: None,
            message_key: key.into(),
            campaign_hint: Some("c1".into()),
            campaign: None,
            status: Status::Bounced,
            reply: Reply::parse("550 5.1.1 user unknown"),
            relay: None,
            line: None,
            tries: 1,
        }
    }

    #[test]
    fn copies_across_files_are_counted_once() {
        let mut a = vec![
            attempt(0, 2, "sending-log/0/2", "a@x", 10),
            attempt(0, 3, "sending-log/0/3", "b@x", 10),
            attempt(1, 2, "sending-log/1/2", "a@x", 10),
            attempt(1, 3, "sending-log/1/3", "c@x", 11),
        ];
        assert_eq!(dedupe(&mut a), 1);
        let kept: Vec<(u32, &str)> = a.iter().map(|a| (a.source.file, a.recipient.as_str())).collect();
        assert_eq!(kept, [(0, "a@x"), (0, "b@x"), (1, "c@x")]);
    }

    #[test]
    fn repeats_inside_one_file_are_kept() {
        // The same row twice in one file, and that file given twice: two tries, not one and not four.
        let mut a = vec![
            attempt(0, 2, "sending-log/0/2", "a@x", 10),
            attempt(0, 3, "sending-log/0/3", "a@x", 10),
            attempt(1, 2, "sending-log/1/2", "a@x", 10),
            attempt(1, 3, "sending-log/1/3", "a@x", 10),
        ];
        assert_eq!(dedupe(&mut a), 2);
        assert_eq!(a.len(), 2);
        let mut one = a[..1].to_vec();
        one.push(attempt(0, 5, "sending-log/0/5", "a@x", 10));
        assert_eq!(dedupe(&mut one), 0);
    }

    #[test]
    fn distinct_messages_are_never_merged() {
        // Same recipient, time and response, but two queue ids (two messages): both kept.
        let mut a = vec![attempt(0, 1, "mta1/AAA/0", "a@x", 10), attempt(1, 1, "mta1/BBB/0", "a@x", 10)];
        assert_eq!(dedupe(&mut a), 0);
        // A different time, campaign or response is a different try.
        let mut b = attempt(1, 1, "sending-log/1/1", "a@x", 10);
        b.campaign_hint = Some("c2".into());
        let mut c = attempt(1, 2, "sending-log/1/2", "a@x", 10);
        c.reply = Reply::parse("250 ok");
        let mut a =
            vec![attempt(0, 1, "sending-log/0/1", "a@x", 10), b, c, attempt(1, 3, "sending-log/1/3", "a@x", 11)];
        assert_eq!(dedupe(&mut a), 0);
        // PowerMTA rows are compared by content when they have no id, by id when they have one.
        assert_eq!(message_identity("pmta/3/17"), "");
        assert_eq!(message_identity("pmta/mid/m1@x"), "pmta/mid/m1@x");
        assert_eq!(message_identity("exim/1vM0WT-0000GA-35"), "exim/1vM0WT-0000GA-35");
        // A Postfix host called `pmta` keeps its queue id.
        assert_eq!(message_identity("pmta/8C18DEE50C/0"), "pmta/8C18DEE50C/0");
    }
}
