//! Joining Postfix records into attempts, message by message, as the log is read.
//!
//! Postfix tells one message's story across many lines tied by a host's queue id. The joiner keeps only the
//! messages still in the queue, so a log of any size is joined in the memory its queue needs; a message's state is
//! dropped when `qmgr` logs `removed`. Messages do not depend on one another, so the queue is split into parts
//! joined side by side. A retried message keeps its tries small, and runs that only settle messages fold repeated
//! deferrals. The joiner also says how early an outcome still to come can be, which lets outcomes be replayed
//! while the log is read, and, when asked, how early a try still to come can be, which lets `classify` write tries
//! in time order as it reads.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::domain::attempt::{Attempt, Source, Status};
use crate::domain::smtp::{EnhancedCode, Reply, SmtpCommand};
use crate::domain::time::Timestamp;

use super::{Event, Host, Name, QueueId, QueueKey, Record};

/// Joins Postfix records into attempts as they come, message by message, so that memory holds only the messages
/// still in the queue: a message's state is dropped when `qmgr` logs `removed`. Records must come in log order
/// (each file in order, rotated files oldest first); queue ids that Postfix reuses start a new message.
///
/// Messages do not depend on one another (a notification names the queue id it concerns, and is joined with it),
/// so the queue is split into [`SHARDS`] parts by host and queue id, joined side by side ([`Joiner::push_all`]).
/// The number of parts is fixed, not the number of threads, so that the order of the attempts handed over is the
/// same on every machine.
#[derive(Debug)]
pub struct Joiner {
    shards: Vec<Shard>,
}

/// The number of parts the queue is joined in.
pub const SHARDS: usize = 8;

/// The part of the queue that holds a host's queue id.
fn shard_of(host: &str, queue_id: &QueueId) -> usize {
    use std::hash::BuildHasher;
    (rustc_hash::FxBuildHasher.hash_one((host, queue_id)) >> 32) as usize % SHARDS
}

/// The part of the queue a record concerns: a notification's is that of the message it names.
fn shard_of_record(record: &Record) -> usize {
    match &record.event {
        Event::Notification(id) => shard_of(&record.host, id),
        _ => shard_of(&record.host, &record.queue_id),
    }
}

/// One part of the queue, joined in log order.
#[derive(Debug, Default)]
struct Shard {
    /// Each message in its own allocation: held inline, the table's slots were 300 bytes each, and a platform's
    /// queue of hundreds of thousands of deferred messages made every lookup and every growth of the table go
    /// through that much memory.
    open: FxHashMap<QueueKey, Box<Open>>,
    /// Queue ids (with their host) of notifications the MTA sends itself.
    notifications: FxHashSet<QueueKey>,
    /// Each open message's place in the order of its floor and of its earliest try.
    marks: Marks,
    /// The serial number of the next message started (see [`Open::serial`]).
    next_serial: u64,
    /// Whether deferrals are folded (see [`Joiner::folding_deferrals`]).
    fold: bool,
    /// Whether the replies of deliveries are left unread (see [`Joiner::reading_delivery_replies`]).
    skip_delivery_replies: bool,
}

/// The orders a part of the queue keeps its messages in, beside the messages themselves.
#[derive(Debug, Default)]
struct Marks {
    /// The open messages that have tries, by a time no outcome of theirs still to come can be before (see
    /// [`Open::floor`]): the lowest bounds what can still settle. An entry may be lower than its message's floor
    /// has since become; it is raised when it is the lowest (see [`Shard::earliest_outcome`]).
    /// Keyed by a serial number rather than the queue key: many messages share a second, and telling them apart by
    /// host and queue id compared strings on every step of the tree.
    floors: BTreeMap<(Timestamp, u64), QueueKey>,
    /// The open messages that have tries, by their earliest try, when asked for (see [`Joiner::tracking_tries`]).
    firsts: Option<BTreeSet<(Timestamp, u64)>>,
}

/// One message in the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The host that logged it.
    pub host: String,
    /// Its queue id.
    pub queue_id: String,
    /// The key of its attempts.
    pub key: String,
    /// Its message-id header.
    pub message_id: Option<String>,
    /// Its envelope sender.
    pub sender: Option<String>,
    /// Whether it is a notification the MTA sends itself.
    pub notification: bool,
    /// The time of its first line.
    #[serde(default)]
    pub first: Timestamp,
    /// Its tries so far.
    pub attempts: Vec<Attempt>,
    /// Recipients whose last try was a deferral: an expiry settles them.
    pub deferred: Vec<usize>,
}

/// One message in the queue as the joiner holds it. A deferred message is retried for days, and a platform has
/// thousands of them in the queue at once, so its tries are kept small: what all of them share (sender,
/// message-id, key) once, and their recipients, reply texts and relays once each. Attempts are made whole when
/// the message leaves the queue.
#[derive(Debug)]
struct Open {
    host: Host,
    queue_id: QueueId,
    key: String,
    first: Timestamp,
    message_id: Option<String>,
    /// Shared with the parsed lines that named it (see [`super::Event::Sender`]).
    sender: Option<Name>,
    notification: bool,
    recipients: Few<String>,
    texts: Few<String>,
    relays: Few<String>,
    tries: Few<Try>,
    /// Tries (indexes) that were a recipient's last and a deferral: an expiry settles them.
    deferred: Few<usize>,
    /// The time of its entry in [`Marks::floors`], if it has one.
    floor: Option<Timestamp>,
    /// The time of its earliest try, if it has one: its entry in [`Marks::firsts`] when they are tracked.
    first_try: Option<Timestamp>,
    /// Tells its entry in [`Marks::floors`] from those of other messages with the same floor.
    serial: u64,
}

/// A list of an [`Open`] message that nearly always has one item (its recipients, reply texts, relays, tries),
/// held in the message itself until it has more: each line of a message in the queue goes through them, long after
/// the message was last in the cache, and a list in its own allocation was one more place in memory to wait for,
/// and a string's more.
type Few<T> = SmallVec<[T; 1]>;

/// One try of an [`Open`] message; its recipient, text and relay are indexes into the message's lists.
#[derive(Clone, Debug)]
struct Try {
    time: Timestamp,
    source: Source,
    recipient: u32,
    status: Status,
    code: Option<u16>,
    enhanced: Option<EnhancedCode>,
    command: Option<SmtpCommand>,
    text: u32,
    /// Whether the text is the response as logged, with `enhanced` the line's `dsn=` code and no code or command
    /// yet: it is taken apart when the try is made an attempt (see [`super::DeliveryWords`]). Tries from the state
    /// file are taken apart already.
    raw: bool,
    relay: Option<u32>,
    line: Option<Box<str>>,
    /// The times and sources of the earlier deferrals folded into this one (see [`Joiner::folding_deferrals`]),
    /// all before its own: it stands for the latest of them.
    folded: Vec<(Timestamp, Source)>,
}

/// A try's response: as logged (the text and the line's `dsn=` code), or taken apart already (a try from the state
/// file).
enum Words<'a> {
    Logged(&'a str, Option<EnhancedCode>),
    Parsed(&'a Reply),
}

impl<'a> Words<'a> {
    /// Code, enhanced code, command, text, and whether the text is as logged (see [`Try::raw`]).
    fn parts(&self) -> (Option<u16>, Option<EnhancedCode>, Option<SmtpCommand>, &'a str, bool) {
        match *self {
            Words::Logged(text, dsn) => (None, dsn, None, text, true),
            Words::Parsed(r) => (r.code, r.enhanced, r.command, &r.text, false),
        }
    }
}

/// A try made a whole attempt, with the strings it takes from its message: the recipient, (sender, message-id,
/// key), the reply text and the relay. Its reply is read unless `read_reply` is false, when it has only the try's
/// enhanced code (see [`Joiner::reading_delivery_replies`]).
fn whole_attempt(
    t: &Try,
    recipient: String,
    (sender, message_id, message_key): (Option<Name>, Option<String>, String),
    text: String,
    relay: Option<String>,
    read_reply: bool,
) -> Attempt {
    Attempt {
        time: t.time,
        source: t.source,
        recipient,
        sender,
        message_id,
        message_key,
        campaign_hint: None,
        campaign: None,
        status: t.status,
        reply: if !read_reply {
            Reply { enhanced: t.enhanced, ..Reply::default() }
        } else if t.raw {
            Reply::parse_with_dsn(&text, t.enhanced)
        } else {
            Reply { code: t.code, enhanced: t.enhanced, text, command: t.command }
        },
        relay,
        line: t.line.as_deref().map(str::to_string),
        tries: t.folded.len() as u32 + 1,
    }
}

/// The index of `value` in `list`, added at the end if it is not among the last few: a message's tries repeat the
/// same few texts and relays, and looking further back would cost more than a copy saves.
fn index_of(list: &mut Few<String>, value: &str) -> u32 {
    let from = list.len().saturating_sub(8);
    match list[from..].iter().rposition(|v| v == value) {
        Some(i) => (from + i) as u32,
        None => {
            list.push(value.to_string());
            (list.len() - 1) as u32
        }
    }
}

impl Open {
    /// The earliest time an outcome of this message still to come can have: for each recipient, its first final
    /// try, or else (it may yet be left pending, settled at its last try) its last try. None without tries: their
    /// lines are still to be read. Tries only move it later, except one logged out of time order.
    fn floor(&self) -> Option<Timestamp> {
        (0..self.recipients.len() as u32)
            .filter_map(|r| {
                let mut first_final: Option<Timestamp> = None;
                let mut last: Option<Timestamp> = None;
                for t in self.tries.iter().filter(|t| t.recipient == r) {
                    if t.status.is_final() {
                        first_final = Some(first_final.map_or(t.time, |f| f.min(t.time)));
                    }
                    last = last.max(Some(t.time));
                }
                first_final.or(last)
            })
            .min()
    }

    /// The try, made a whole attempt with what the message knows now.
    fn attempt(&self, t: &Try) -> Attempt {
        whole_attempt(
            t,
            self.recipients[t.recipient as usize].clone(),
            (self.sender.clone(), self.message_id.clone(), self.key.clone()),
            self.texts[t.text as usize].clone(),
            t.relay.map(|r| self.relays[r as usize].clone()),
            true,
        )
    }

    /// Its tries as attempts, into `out`. Each string the message holds is moved into the last attempt that uses
    /// it and copied only into those before: most messages have one or two tries. The replies of deliveries are
    /// read unless `skip_delivery_replies` (see [`Joiner::reading_delivery_replies`]).
    fn into_attempts(mut self, out: &mut Vec<Attempt>, skip_delivery_replies: bool) {
        fn take_or_clone(s: &mut String, last: bool) -> String {
            if last { std::mem::take(s) } else { s.clone() }
        }
        for i in 0..self.tries.len() {
            if !self.stands_for_its_folds(i) {
                out.extend(self.unfolded(&self.tries[i]));
                continue;
            }
            let (t, later) = (&self.tries[i], &self.tries[i + 1..]);
            let last = later.is_empty();
            let recipient = take_or_clone(
                &mut self.recipients[t.recipient as usize],
                later.iter().all(|u| u.recipient != t.recipient),
            );
            let (message_id, key) = if last {
                (self.message_id.take(), std::mem::take(&mut self.key))
            } else {
                (self.message_id.clone(), self.key.clone())
            };
            let shared = (self.sender.clone(), message_id, key);
            let text = take_or_clone(&mut self.texts[t.text as usize], later.iter().all(|u| u.text != t.text));
            let relay =
                t.relay.map(|r| take_or_clone(&mut self.relays[r as usize], later.iter().all(|u| u.relay != Some(r))));
            let read_reply = !(skip_delivery_replies && t.status == Status::Delivered);
            out.push(whole_attempt(t, recipient, shared, text, relay, read_reply));
        }
    }

    /// Whether try `i` made one attempt settles as its folded tries would one by one: they come together in time
    /// order among the recipient's tries, and not first. Not so only where lines came out of time order.
    fn stands_for_its_folds(&self, i: usize) -> bool {
        let t = &self.tries[i];
        let Some(&low) = t.folded.iter().min() else { return true };
        let high = (t.time, t.source);
        let mut earlier = false;
        for (j, other) in self.tries.iter().enumerate() {
            if j == i || other.recipient != t.recipient {
                continue;
            }
            let key = (other.time, other.source);
            if (low..=high).contains(&key) {
                return false;
            }
            earlier |= key < low;
        }
        earlier
    }

    /// A folded try as the tries it stands for, in time order.
    fn unfolded(&self, t: &Try) -> Vec<Attempt> {
        let mut keys = t.folded.clone();
        keys.push((t.time, t.source));
        keys.sort();
        keys.into_iter().map(|(time, source)| Attempt { time, source, tries: 1, ..self.attempt(t) }).collect()
    }

    /// The index of a recipient, added if new. Every recipient is looked for, not only the last few: an expiry
    /// must know whose last try was a deferral.
    fn recipient(&mut self, recipient: &str) -> u32 {
        match self.recipients.iter().position(|r| r == recipient) {
            Some(i) => i as u32,
            None => {
                self.recipients.push(recipient.to_string());
                (self.recipients.len() - 1) as u32
            }
        }
    }

    /// Adds a try to the recipient at `recipient` (see [`Open::recipient`]) standing for `tries` of the log's.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        recipient: u32,
        time: Timestamp,
        source: Source,
        status: Status,
        reply: Words,
        relay: Option<&str>,
        line: Option<Box<str>>,
        tries: u32,
    ) {
        let (code, enhanced, command, text, raw) = reply.parts();
        let text = index_of(&mut self.texts, text);
        let relay = relay.map(|r| index_of(&mut self.relays, r));
        self.tries.push(Try {
            time,
            source,
            recipient,
            status,
            code,
            enhanced,
            command,
            text,
            raw,
            relay,
            line,
            folded: vec![(time, source); tries.saturating_sub(1) as usize],
        });
    }

    /// Whether a deferral to the recipient at `index`, with no line kept, can be folded into the try `k` (that
    /// recipient's last, a deferral with no line kept either). The recipient's first try is never folded into: it
    /// gives the outcome's first time.
    fn folds_into(&self, k: usize, index: u32) -> bool {
        self.tries[k].line.is_none() && self.tries[..k].iter().any(|earlier| earlier.recipient == index)
    }

    /// Try `k` takes a later deferral's reply and relay: the words of the latest deferral are those an outcome
    /// still to come can need (a message left pending, or expired, is judged by them). The text and relay it held
    /// are overwritten where no other try shares them, so that a message deferred for days with changing words
    /// holds one text, not all of them, and makes no new string for it.
    fn reword(&mut self, k: usize, text: &str, dsn: Option<EnhancedCode>, relay: Option<&str>) {
        fn overwrite(s: &mut String, with: &str) {
            if s != with {
                s.clear();
                s.push_str(with);
            }
        }
        let shares =
            |tries: &[Try], same: &dyn Fn(&Try) -> bool| tries.iter().enumerate().any(|(j, u)| j != k && same(u));
        let (old_text, old_relay) = (self.tries[k].text, self.tries[k].relay);
        let text = if shares(&self.tries, &|u| u.text == old_text) {
            index_of(&mut self.texts, text)
        } else {
            overwrite(&mut self.texts[old_text as usize], text);
            old_text
        };
        let relay = match (relay, old_relay) {
            (None, _) => None,
            (Some(r), Some(old)) if !shares(&self.tries, &|u| u.relay == Some(old)) => {
                overwrite(&mut self.relays[old as usize], r);
                Some(old)
            }
            (Some(r), _) => Some(index_of(&mut self.relays, r)),
        };
        let t = &mut self.tries[k];
        (t.code, t.enhanced, t.command, t.text, t.raw, t.relay) = (None, dsn, None, text, true, relay);
    }

    /// As the state file keeps it.
    fn to_message(&self) -> Message {
        let mut attempts = Vec::with_capacity(self.tries.len());
        // Where each try's attempt (the latest, for a folded one) lands in `attempts`.
        let mut at = Vec::with_capacity(self.tries.len());
        for t in &self.tries {
            attempts.extend(self.unfolded(t));
            at.push(attempts.len() - 1);
        }
        let deferred = self.deferred.iter().map(|&k| at[k]).collect();
        Message {
            host: self.host.to_string(),
            queue_id: self.queue_id.to_string(),
            key: self.key.clone(),
            message_id: self.message_id.clone(),
            sender: self.sender.as_deref().map(str::to_string),
            notification: self.notification,
            first: self.first,
            // Folded tries one by one, so that a later run settles them exactly whatever order its lines come in.
            attempts,
            deferred,
        }
    }

    /// From the state file; `queue_id` is its queue id, checked.
    fn from_message(m: Message, queue_id: QueueId) -> Open {
        let mut open = Open {
            host: Name::host(&m.host),
            queue_id,
            key: m.key,
            first: m.first,
            message_id: m.message_id,
            sender: m.sender.as_deref().map(Name::sender),
            notification: m.notification,
            recipients: Few::new(),
            texts: Few::new(),
            relays: Few::new(),
            tries: Few::new(),
            deferred: m.deferred.into(),
            floor: None,
            first_try: None,
            serial: 0,
        };
        for a in m.attempts {
            let recipient = open.recipient(&a.recipient);
            open.push(
                recipient,
                a.time,
                a.source,
                a.status,
                Words::Parsed(&a.reply),
                a.relay.as_deref(),
                a.line.map(String::into_boxed_str),
                a.tries,
            );
        }
        open
    }
}

/// What the joiner holds between two runs (`--state`): the messages still in the queue, so that a message whose
/// lines span two runs' logs is joined as one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinerState {
    /// The messages in the queue, by key.
    pub open: Vec<Message>,
    /// Queue ids (with their host) of notifications still in the queue.
    pub notifications: Vec<(String, String)>,
}

impl Default for Joiner {
    fn default() -> Self {
        Joiner { shards: (0..SHARDS).map(|_| Shard::default()).collect() }
    }
}

impl Joiner {
    /// An empty joiner.
    pub fn new() -> Self {
        Joiner::default()
    }

    /// A joiner that goes on from what an earlier run left; an error names a queue id that is not one.
    pub fn from_state(state: JoinerState) -> Result<Self, String> {
        let id = |id: &str| QueueId::parse(id).ok_or_else(|| format!("`{id}` is not a Postfix queue id"));
        let mut joiner = Joiner::new();
        for (host, queue_id) in state.notifications {
            let queue_id = id(&queue_id)?;
            joiner.shards[shard_of(&host, &queue_id)].notifications.insert((Name::host(&host), queue_id));
        }
        for m in state.open {
            let queue_id = id(&m.queue_id)?;
            let shard = &mut joiner.shards[shard_of(&m.host, &queue_id)];
            let mut open = Open::from_message(m, queue_id);
            let key = (open.host.clone(), queue_id);
            open.floor = open.floor();
            open.first_try = open.tries.iter().flat_map(|t| t.folded.iter().map(|f| f.0).chain([t.time])).min();
            open.serial = shard.next_serial;
            shard.next_serial += 1;
            if let Some(floor) = open.floor {
                shard.marks.floors.insert((floor, open.serial), key.clone());
            }
            shard.open.insert(key, Box::new(open));
        }
        Ok(joiner)
    }

    /// A joiner that folds a deferral into the recipient's last try when that is a deferral too (not the first),
    /// as [`Attempt::tries`] says, when `fold` is set and no line is kept for either. The try then stands for both,
    /// with the later one's time and reply. An outcome needs only a recipient's first try (its first time), its
    /// first final try or else its last (which decides it), and how many tries there were: the deferrals in
    /// between are a count. A deferred message is retried every few minutes for days, often with words that change
    /// from try to try (an id, a time); for a run that only settles messages the queue then holds two tries a
    /// recipient instead of hundreds, and makes one attempt of them instead of many.
    pub fn folding_deferrals(mut self, fold: bool) -> Self {
        for shard in &mut self.shards {
            shard.fold = fold;
        }
        self
    }

    /// A joiner that leaves the reply of a delivery unread (only its `dsn=` code) when `read` is false. A delivery is
    /// settled by its status alone, and a run that shows no delivery's words (a report, a suppression list) had
    /// taken apart, nine times in ten, a reply it then dropped. A message still in the queue is kept for the next run
    /// with every reply read (see [`Joiner::state`]).
    pub fn reading_delivery_replies(mut self, read: bool) -> Self {
        for shard in &mut self.shards {
            shard.skip_delivery_replies = !read;
        }
        self
    }

    /// A joiner that keeps its messages in the order of their earliest tries, for [`Joiner::earliest_try`]: a run
    /// that shows tries in time order needs it, others need not pay for it.
    pub fn tracking_tries(mut self, track: bool) -> Self {
        for shard in &mut self.shards {
            shard.marks.firsts =
                track.then(|| shard.open.values().filter_map(|m| Some((m.first_try?, m.serial))).collect());
        }
        self
    }

    /// A time before which no try of the messages in the queue is, when they are tracked ([`Joiner::tracking_tries`]):
    /// the earliest try of any of them. Tries still to be read come later in the log. None when no message in the
    /// queue has a try, or when tries are not tracked.
    pub fn earliest_try(&self) -> Option<Timestamp> {
        self.shards.iter().filter_map(|s| s.marks.firsts.as_ref()?.first().map(|&(t, _)| t)).min()
    }

    /// A time before which no outcome still to come from the messages in the queue can be: for each recipient
    /// of each, its first final try, or else its last try (see `Open::floor`). Messages without tries yet add
    /// nothing: their lines are still to be read. The parts are looked at side by side: a retried message with many
    /// recipients or tries can leave an entry to raise (see `Shard::tried`), and on a large queue that is work for all
    /// cores.
    pub fn earliest_outcome(&mut self) -> Option<Timestamp> {
        use rayon::prelude::*;
        self.shards.par_iter_mut().filter_map(Shard::earliest_outcome).min()
    }

    /// What the next run needs to go on from here.
    pub fn state(&self) -> JoinerState {
        let mut open: Vec<Message> = self.shards.iter().flat_map(|s| s.open.values().map(|m| m.to_message())).collect();
        open.sort_by(|a, b| a.key.cmp(&b.key));
        let mut notifications: Vec<(String, String)> = self
            .shards
            .iter()
            .flat_map(|s| s.notifications.iter().map(|(host, id)| (host.to_string(), id.to_string())))
            .collect();
        notifications.sort();
        JoinerState { open, notifications }
    }

    /// Adds one record; the attempts of messages that end with it go to `out`.
    pub fn push(&mut self, source: Source, time: Timestamp, record: Record, out: &mut Vec<Attempt>) {
        self.shards[shard_of_record(&record)].push(source, time, record, out);
    }

    /// Which of the [`SHARDS`] parts of the queue a record goes to (see [`Joiner::push_parts`]).
    pub fn part_of(record: &Record) -> usize {
        shard_of_record(record)
    }

    /// Adds records in log order, each part of the queue on its own core; the attempts of messages that end with
    /// them go to `out`, part by part.
    pub fn push_all(&mut self, records: Vec<(Source, Timestamp, Record)>, out: &mut Vec<Attempt>) {
        let mut parts: Vec<Vec<(Source, Timestamp, Record)>> = (0..SHARDS).map(|_| Vec::new()).collect();
        for r in records {
            parts[shard_of_record(&r.2)].push(r);
        }
        let mut joined = Vec::new();
        self.push_parts(&mut parts, &mut joined);
        for part in &mut joined {
            out.append(part);
        }
    }

    /// [`Joiner::push_all`] for records already split by [`Joiner::part_of`], each part in log order, with the
    /// attempts of each part of the queue into its own vector of `out` (made [`SHARDS`] long): a message's attempts
    /// are then all in one vector, which can be settled on its own (see [`crate::input::EachBatch`]). `parts` (one
    /// vector a part) are emptied and keep their room, to be filled again with the next records.
    pub fn push_parts(&mut self, parts: &mut [Vec<(Source, Timestamp, Record)>], out: &mut Vec<Vec<Attempt>>) {
        use rayon::prelude::*;
        assert_eq!(parts.len(), SHARDS, "one vector for each part of the queue");
        out.resize_with(SHARDS, Vec::new);
        self.shards.par_iter_mut().zip(parts.par_iter_mut()).zip(out.par_iter_mut()).for_each(
            |((shard, records), joined)| {
                joined.reserve(records.len());
                for (source, time, record) in records.drain(..) {
                    shard.push(source, time, record, joined);
                }
            },
        );
    }

    /// The attempts of the messages still in the queue when the logs end.
    pub fn finish(self, out: &mut Vec<Attempt>) {
        let Ok(()) = self.finish_in_batches(&mut |batch| {
            out.extend(batch);
            Ok::<(), std::convert::Infallible>(())
        });
    }

    /// The attempts of the messages still in the queue when the logs end, handed to `each` a few thousand messages
    /// at a time: a log that ends with a large queue is not made whole attempts all at once. An error from `each`
    /// stops it, and is returned.
    pub fn finish_in_batches<E>(self, each: &mut dyn FnMut(Vec<Attempt>) -> Result<(), E>) -> Result<(), E> {
        self.finish_with(false, each)
    }

    /// [`Joiner::finish_in_batches`] for a run whose queue goes on in the next run (`--state`): only the deferrals
    /// of the messages still in the queue are handed over (they are pending), not their final tries. The messages
    /// are carried whole, and settled by the run that reads their removal: handed over here as well, a bounce
    /// logged before the end of one run and its message's removal after it counted in both runs.
    pub fn finish_deferrals_in_batches<E>(self, each: &mut dyn FnMut(Vec<Attempt>) -> Result<(), E>) -> Result<(), E> {
        self.finish_with(true, each)
    }

    /// The messages still in the queue as attempts, in batches; with `deferrals_only`, only their deferrals.
    fn finish_with<E>(
        self,
        deferrals_only: bool,
        each: &mut dyn FnMut(Vec<Attempt>) -> Result<(), E>,
    ) -> Result<(), E> {
        const MESSAGES: usize = 4096;
        let skip_delivery_replies = self.shards.first().is_some_and(|s| s.skip_delivery_replies);
        let mut open: Vec<Box<Open>> = self.shards.into_iter().flat_map(|s| s.open.into_values()).collect();
        open.sort_by(|a, b| a.key.cmp(&b.key));
        let mut batch = Vec::new();
        for (n, mut m) in open.into_iter().enumerate() {
            if deferrals_only {
                m.tries.retain(|t| !t.status.is_final());
            }
            m.into_attempts(&mut batch, skip_delivery_replies);
            if (n + 1) % MESSAGES == 0 {
                each(std::mem::take(&mut batch))?;
            }
        }
        each(batch)
    }
}

impl Shard {
    /// The lowest floor of the messages in this part (see [`Joiner::earliest_outcome`]), raising entries that have
    /// become too low on the way.
    fn earliest_outcome(&mut self) -> Option<Timestamp> {
        while let Some((&(low, serial), key)) = self.marks.floors.first_key_value() {
            let m = self.open.get_mut(key);
            let floor = m.as_ref().and_then(|m| m.floor());
            if floor == Some(low) {
                return Some(low);
            }
            debug_assert!(floor.is_none_or(|f| f > low), "an entry above its message's floor");
            if let Some(m) = m {
                m.floor = floor;
            }
            let Some((_, key)) = self.marks.floors.pop_first() else { break };
            if let Some(f) = floor {
                self.marks.floors.insert((f, serial), key);
            }
        }
        None
    }

    /// A message leaves the queue.
    fn closed(&mut self, m: &Open) {
        if let Some(floor) = m.floor {
            self.marks.floors.remove(&(floor, m.serial));
        }
        if let (Some(firsts), Some(first)) = (&mut self.marks.firsts, m.first_try) {
            firsts.remove(&(first, m.serial));
        }
    }

    /// A try at `time` was added to `m` (it is among its tries already): its entries are moved to it, or made, if
    /// need be.
    ///
    /// A small message's floor entry is set to its floor at once, here, where the message is at hand: a retried
    /// message's entry would otherwise be left below its floor, to be raised by [`Shard::earliest_outcome`], which
    /// has to look the message up again, long after it left the cache. A large message's floor takes a pass over
    /// all its tries, so its entry is only lowered here (a try can only lower the floor below `time`), and raised
    /// when it is the lowest.
    fn tried(marks: &mut Marks, m: &mut Open, time: Timestamp) {
        /// Recipients times tries up to which a message's floor is worked out at every try.
        const EXACT: usize = 64;
        let Marks { floors, firsts } = marks;
        if m.first_try.is_none_or(|f| time < f) {
            if let Some(firsts) = firsts {
                if let Some(old) = m.first_try {
                    firsts.remove(&(old, m.serial));
                }
                firsts.insert((time, m.serial));
            }
            m.first_try = Some(time);
        }
        let floor = if m.recipients.len() * m.tries.len() <= EXACT {
            m.floor()
        } else {
            Some(m.floor.map_or(time, |f| f.min(time)))
        };
        if floor == m.floor {
            return;
        }
        let key = match m.floor.and_then(|old| floors.remove(&(old, m.serial))) {
            Some(key) => key,
            None => (m.host.clone(), m.queue_id),
        };
        if let Some(f) = floor {
            floors.insert((f, m.serial), key);
        }
        m.floor = floor;
    }

    /// A message whose first line is at `time`. Its key names the host, the queue id and that time, so that a queue id
    /// Postfix reuses later is another message, and the same message read from two copies of a file is the same.
    fn start(&mut self, key: &QueueKey, time: Timestamp) -> Open {
        let notification = self.notifications.contains(key);
        self.next_serial += 1;
        let (host, queue_id) = key;
        Open {
            host: host.clone(),
            queue_id: *queue_id,
            key: message_key(host, queue_id, time.millis()),
            first: time,
            message_id: None,
            sender: None,
            notification,
            recipients: Few::new(),
            texts: Few::new(),
            relays: Few::new(),
            tries: Few::new(),
            deferred: Few::new(),
            floor: None,
            first_try: None,
            serial: self.next_serial,
        }
    }

    /// Adds one record; the attempts of messages that end with it go to `out`.
    fn push(&mut self, source: Source, time: Timestamp, record: Record, out: &mut Vec<Attempt>) {
        let Record { host, queue_id, event, line, .. } = record;
        match event {
            Event::Notification(id) => {
                let key = (host, id);
                if let Some(m) = self.open.get_mut(&key) {
                    m.notification = true;
                }
                self.notifications.insert(key);
                return;
            }
            Event::Removed => {
                let key = (host, queue_id);
                if let Some(m) = self.open.remove(&key) {
                    self.closed(&m);
                    m.into_attempts(out, self.skip_delivery_replies);
                }
                self.notifications.remove(&key);
                return;
            }
            _ => {}
        }
        let key = (host, queue_id);
        // A second message-id for a queue id whose removal was not logged: Postfix reused the id.
        let reused =
            |m: &Open| matches!(event, Event::MessageId(_)) && (m.message_id.is_some() || !m.deferred.is_empty());
        // One lookup for a message already in the queue (nearly every line), rather than a look and then a fetch.
        if let Some(m) = self.open.get_mut(&key).filter(|m| !reused(m)) {
            Shard::apply(m, &mut self.marks, self.fold, event, time, source, line);
            return;
        }
        if let Some(old) = self.open.remove(&key) {
            self.closed(&old);
            old.into_attempts(out, self.skip_delivery_replies);
        }
        let m = self.start(&key, time);
        let m = self.open.entry(key).insert_entry(Box::new(m)).into_mut();
        Shard::apply(m, &mut self.marks, self.fold, event, time, source, line);
    }

    /// What a record other than a notification or a removal says about its message `m`.
    fn apply(
        m: &mut Open,
        marks: &mut Marks,
        fold: bool,
        event: Event,
        time: Timestamp,
        source: Source,
        line: Option<Box<str>>,
    ) {
        match event {
            Event::MessageId(mid) => m.message_id = Some(mid),
            Event::Sender(sender) => m.sender = Some(sender),
            Event::Notification(_) | Event::Removed | Event::Handoff => {}
            Event::Expired(sender) => {
                if m.sender.is_none() {
                    m.sender = Some(sender);
                }
                for k in std::mem::take(&mut m.deferred) {
                    let mut expired = m.tries[k].clone();
                    expired.time = time;
                    expired.source = source;
                    expired.status = Status::Expired;
                    expired.line = line.clone();
                    expired.folded = Vec::new();
                    m.tries.push(expired);
                    Shard::tried(marks, m, time);
                }
            }
            Event::Delivery { status, words } => {
                if m.notification || m.sender.as_deref() == Some("") {
                    return;
                }
                let index = m.recipient(words.to());
                if fold && status == Status::Deferred && line.is_none() {
                    let last = m.deferred.iter().copied().find(|&k| m.tries[k].recipient == index);
                    if let Some(k) = last.filter(|&k| m.folds_into(k, index)) {
                        let (t_time, t_source) = (m.tries[k].time, m.tries[k].source);
                        if (time, source) > (t_time, t_source) {
                            m.reword(k, words.text(), words.dsn, words.relay());
                            let t = &mut m.tries[k];
                            t.folded.push((t_time, t_source));
                            (t.time, t.source) = (time, source);
                        } else {
                            m.tries[k].folded.push((time, source));
                        }
                        Shard::tried(marks, m, time);
                        return;
                    }
                }
                let tries = &m.tries;
                m.deferred.retain(|k| tries[*k].recipient != index);
                if status == Status::Deferred {
                    m.deferred.push(m.tries.len());
                }
                m.push(index, time, source, status, Words::Logged(words.text(), words.dsn), words.relay(), line, 1);
                Shard::tried(marks, m, time);
            }
        }
    }
}

/// A message's key, `host/queue_id/millis`, in one allocation of the right size: one is made for every message, and
/// `format!` grew its string several times.
fn message_key(host: &str, queue_id: &QueueId, millis: i64) -> String {
    use std::fmt::Write;
    let id = queue_id.as_str();
    let mut key = String::with_capacity(host.len() + id.len() + 22);
    key.push_str(host);
    key.push('/');
    key.push_str(id);
    key.push('/');
    // Writing to a String cannot fail.
    let _ = write!(key, "{millis}");
    key
}

/// Joins the records of a log, in log order, into attempts.
pub fn join(records: Vec<(Source, Timestamp, Record)>) -> Vec<Attempt> {
    let mut joiner = Joiner::new();
    let mut out = Vec::new();
    for (source, time, record) in records {
        joiner.push(source, time, record, &mut out);
    }
    joiner.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_keys_read_as_formatted() {
        for (host, id, millis) in
            [("mta1", "6E4F7A6E69", 1_763_629_201_000), ("h", "3Xq9nM2kLp7v", 0), ("h", "ABCDE", -1)]
        {
            let queue_id = QueueId::parse(id).unwrap();
            assert_eq!(message_key(host, &queue_id, millis), format!("{host}/{queue_id}/{millis}"));
        }
        assert_eq!(message_key("h", &QueueId::parse("ABCDE").unwrap(), i64::MIN), format!("h/ABCDE/{}", i64::MIN));
    }

    /// The lowest floor of the messages in the queue, worked out from scratch.
    fn lowest_floor(joiner: &Joiner) -> Option<Timestamp> {
        joiner.shards.iter().flat_map(|s| s.open.values().filter_map(|m| m.floor())).min()
    }

    /// A record of host `mta1`.
    fn record(queue_id: QueueId, time: Timestamp, event: Event) -> Record {
        Record {
            time: crate::input::syslog::LineTime::Full(time),
            host: Name::host("mta1"),
            queue_id,
            event,
            line: None,
        }
    }

    /// A delivery agent's try.
    fn delivery(status: Status, to: &str, text: &str) -> Event {
        let dsn = EnhancedCode::parse(if status == Status::Delivered { "2.0.0" } else { "5.1.1" });
        Event::Delivery { status, words: super::super::DeliveryWords::new(to, Some("mx"), text, dsn) }
    }

    #[test]
    fn delivery_replies_are_left_unread_when_asked_and_kept_for_the_next_run() {
        let (a, b) = (QueueId::parse("ABCDE1").unwrap(), QueueId::parse("ABCDE2").unwrap());
        let lines = |joiner: &mut Joiner, out: &mut Vec<Attempt>| {
            let mut n = 0;
            let mut push = |id, event| {
                n += 1;
                let time = Timestamp::from_secs(n);
                joiner.push(Source { file: 0, line: n as u64 }, time, record(id, time, event), out);
            };
            push(a, Event::Sender(Name::sender("s@example.com")));
            push(a, delivery(Status::Delivered, "<x@example.org>", "250 2.0.0 Ok: queued as 1"));
            push(a, delivery(Status::Bounced, "<y@example.org>", "550 5.1.1 <y@example.org>: user unknown"));
            push(a, Event::Removed);
            push(b, Event::Sender(Name::sender("s@example.com")));
            push(b, delivery(Status::Delivered, "<z@example.org>", "250 2.0.0 Ok: queued as 2"));
        };
        for read in [true, false] {
            let mut joiner = Joiner::new().reading_delivery_replies(read);
            let mut out = Vec::new();
            lines(&mut joiner, &mut out);
            // The message still in the queue is kept with its reply read, whatever the run reads.
            let state = joiner.state();
            assert_eq!(state.open[0].attempts[0].reply.code, Some(250));
            joiner.finish(&mut out);
            let got: Vec<_> = out.iter().map(|a| (a.recipient.as_str(), a.reply.code, a.reply.text.as_str())).collect();
            if read {
                assert_eq!(
                    got,
                    [
                        ("x@example.org", Some(250), "Ok: queued as 1"),
                        ("y@example.org", Some(550), "<y@example.org>: user unknown"),
                        ("z@example.org", Some(250), "Ok: queued as 2"),
                    ]
                );
            } else {
                // A delivery keeps its `dsn=` code; a bounce's reply is read as ever.
                assert_eq!(
                    got,
                    [
                        ("x@example.org", None, ""),
                        ("y@example.org", Some(550), "<y@example.org>: user unknown"),
                        ("z@example.org", None, ""),
                    ]
                );
                assert_eq!(out[0].reply.enhanced, EnhancedCode::parse("2.0.0"));
            }
        }
    }

    #[test]
    fn earliest_outcome_is_the_lowest_floor_after_every_line() {
        // Messages of one to forty recipients, tried again and again (sometimes out of time order), with and without
        // folding: small ones keep their floor entries exact, large ones have theirs raised when lowest.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for fold in [false, true] {
            let mut joiner = Joiner::new().folding_deferrals(fold);
            let mut out = Vec::new();
            let ids: Vec<QueueId> = (0..12).map(|i| QueueId::parse(&format!("ABCDE{i:02X}")).unwrap()).collect();
            let recipients = [1, 1, 2, 1, 40, 3, 1, 1, 12, 1, 1, 5];
            for line in 0..4000u64 {
                let m = next(ids.len() as u64) as usize;
                let late = if next(10) == 0 { 600 } else { 0 };
                let time = Timestamp::from_secs(line as i64 * 60 - late);
                let event = match next(40) {
                    0 => Event::Removed,
                    1 => Event::Expired(Name::sender("a@example.com")),
                    2 => Event::Sender(Name::sender("a@example.com")),
                    k => {
                        let status = match k % 8 {
                            0 => Status::Delivered,
                            1 => Status::Bounced,
                            _ => Status::Deferred,
                        };
                        let to = format!("r{}@example.com", next(recipients[m]));
                        delivery(status, &to, &format!("4.2.1 try {}", next(3)))
                    }
                };
                joiner.push(Source { file: 0, line: line + 1 }, time, record(ids[m], time, event), &mut out);
                assert_eq!(joiner.earliest_outcome(), lowest_floor(&joiner), "fold {fold}, line {line}");
            }
        }
    }
}
