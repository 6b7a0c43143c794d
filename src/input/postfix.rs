//! Postfix logs: syslog lines of `postfix/smtp`, `lmtp`, `local`, `virtual`, `pipe`, `error`, `qmgr`, `cleanup`,
//! `pickup` and `bounce`.
//!
//! Postfix writes one message's story across many lines tied by a queue id: `cleanup` gives the message-id, `qmgr`
//! the envelope sender, each delivery agent one line per recipient and try (`to=<..>, dsn=.., status=..`), `qmgr`
//! the expiry, and `removed` when the story is complete. Lines are parsed independently (in parallel, block by
//! block), then joined in log order by host and queue id ([`Joiner`]), which keeps only the messages still in the
//! queue: a log of any size is joined in the memory its queue needs. A queue id that Postfix reuses later starts
//! another message. Non-delivery notifications (sender `<>`) are the MTA's own messages, not a contact's, and are
//! left out.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::domain::attempt::{Attempt, Source, Status, normalize_address};
use crate::domain::smtp::{EnhancedCode, Reply, SmtpCommand};
use crate::domain::time::Timestamp;

use super::KeepLines;
use super::lines::Parsed;
use super::syslog::{LineTime, parse_syslog};

/// What one Postfix line says about a message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// `cleanup`: the message-id.
    MessageId(String),
    /// `qmgr` or `pickup`: the envelope sender (empty for notifications).
    Sender(String),
    /// `qmgr`: the message expired in the queue.
    Expired(String),
    /// `bounce`: this other queue id is a notification the MTA sends itself.
    Notification(QueueId),
    /// A delivery agent's try for one recipient.
    Delivery {
        /// The recipient as logged.
        to: String,
        /// What happened.
        status: Status,
        /// The response.
        reply: Reply,
        /// The receiving host, if any.
        relay: Option<String>,
    },
    /// A hand-off to a local content filter that re-queued the message under another queue id.
    Handoff,
    /// `qmgr`: the message left the queue; its story is complete.
    Removed,
}

/// One Postfix line's record, before the join.
#[derive(Clone, Debug)]
pub struct Record {
    /// When (the year may be missing until the whole file is read).
    pub time: LineTime,
    /// The host that logged it.
    pub host: Arc<str>,
    /// The queue id.
    pub queue_id: QueueId,
    /// What it says.
    pub event: Event,
    /// The line, when proof is kept for it.
    pub line: Option<String>,
}

/// A Postfix queue id, held inline: a log has millions of them, and none is longer than [`QueueId::MAX`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId {
    len: u8,
    bytes: [u8; QueueId::MAX],
}

impl QueueId {
    /// The longest queue id: Postfix's long ids.
    pub const MAX: usize = 20;

    /// The id, if `id` is one: 5 to 16 upper-case hex digits (short ids), or 12 to 20 letters and digits with at
    /// least one digit (long ids).
    pub fn parse(id: &str) -> Option<QueueId> {
        let short =
            (5..=16).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
        let long = (12..=QueueId::MAX).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric())
            && id.bytes().any(|b| b.is_ascii_digit());
        if !(short || long) {
            return None;
        }
        let mut bytes = [0; QueueId::MAX];
        bytes[..id.len()].copy_from_slice(id.as_bytes());
        Some(QueueId { len: id.len() as u8, bytes })
    }

    /// The id as logged.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters and digits are ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The queue id that starts a line's message, and the rest of the message.
fn queue_id(message: &str) -> Option<(QueueId, &str)> {
    let at = super::lines::find_pair(message, b':', b' ')?;
    Some((QueueId::parse(&message[..at])?, &message[at + 2..]))
}

/// The host's name, shared: a log names a few hosts millions of times. Each thread remembers the last few it saw.
fn shared_host(host: &str) -> Arc<str> {
    const REMEMBERED: usize = 32;
    thread_local! {
        static HOSTS: RefCell<Vec<Arc<str>>> = const { RefCell::new(Vec::new()) };
    }
    HOSTS.with_borrow_mut(|hosts| {
        if let Some(h) = hosts.iter().find(|h| ***h == *host) {
            return h.clone();
        }
        if hosts.len() == REMEMBERED {
            hosts.remove(0);
        }
        let h: Arc<str> = Arc::from(host);
        hosts.push(h.clone());
        h
    })
}

/// The value of `key=` in a Postfix `key=value, key=value` list, up to the next `, ` (angle brackets removed).
/// Found by the `=` signs, which are few in a Postfix line, rather than with a substring searcher built each time.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let (bytes, name) = (text.as_bytes(), key.as_bytes().strip_suffix(b"=").unwrap_or(key.as_bytes()));
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'=', &bytes[from..]) {
        let eq = from + i;
        from = eq + 1;
        let Some(at) = eq.checked_sub(name.len()) else { continue };
        if &bytes[at..eq] == name && (at == 0 || bytes[at - 1] == b' ') {
            let value = &text[eq + 1..];
            let end = if value.starts_with('<') {
                value.find('>').map_or(value.len(), |e| e + 1)
            } else {
                super::lines::find_pair(value, b',', b' ').unwrap_or(value.len())
            };
            return Some(&value[..end]);
        }
    }
    None
}

/// Parses one line.
pub fn parse_line(line: &str, keep: &KeepLines) -> Parsed<Record> {
    let Some(syslog) = parse_syslog(line) else {
        return Parsed::Malformed("not a syslog line (expected a timestamp, a host and `program[pid]: `)".into());
    };
    if !syslog.program.starts_with("postfix") {
        return Parsed::Ignored;
    }
    let daemon = syslog.program.rsplit('/').next().unwrap_or("");
    let Some((qid, rest)) = queue_id(syslog.message) else {
        return Parsed::Ignored;
    };
    let event = match daemon {
        "cleanup" => match rest.strip_prefix("message-id=") {
            Some(mid) => Event::MessageId(mid.trim().trim_start_matches('<').trim_end_matches('>').to_string()),
            None => return Parsed::Ignored,
        },
        "qmgr" | "oqmgr" if rest == "removed" => Event::Removed,
        "qmgr" | "pickup" | "oqmgr" => match field(rest, "from=") {
            Some(from) => {
                let sender = normalize_address(from);
                if field(rest, "status=") == Some("expired") { Event::Expired(sender) } else { Event::Sender(sender) }
            }
            None => return Parsed::Ignored,
        },
        "bounce" => match rest.rsplit_once("notification: ") {
            Some((_, id)) => match QueueId::parse(id.trim_end()) {
                Some(id) => Event::Notification(id),
                None => return Parsed::Ignored,
            },
            None => return Parsed::Ignored,
        },
        _ => {
            if !rest.starts_with("to=") {
                return Parsed::Ignored;
            }
            match delivery(rest) {
                Ok(Some(e)) => e,
                Ok(None) => return Parsed::Ignored,
                Err(why) => return Parsed::Malformed(why),
            }
        }
    };
    let keep_line = match (&event, keep) {
        (_, KeepLines::None) => false,
        (_, KeepLines::All) => true,
        (Event::Delivery { to, .. }, KeepLines::For(set)) => set.contains(&normalize_address(to)),
        (Event::Expired(_), KeepLines::For(_)) => true,
        _ => false,
    };
    Parsed::Used(Record {
        time: syslog.time,
        host: shared_host(syslog.host),
        queue_id: qid,
        event,
        line: keep_line.then(|| line.to_string()),
    })
}

/// A delivery agent's `to=<..>, relay=.., dsn=.., status=.. (text)`.
fn delivery(rest: &str) -> Result<Option<Event>, String> {
    let to = field(rest, "to=").ok_or("delivery line without a recipient")?;
    let status_at = memchr::memmem::find(rest.as_bytes(), b" status=").ok_or("delivery line without status=")?;
    let after = &rest[status_at + " status=".len()..];
    let word_end = after.find([' ', ',']).unwrap_or(after.len());
    let status = match &after[..word_end] {
        "sent" => Status::Delivered,
        "deferred" => Status::Deferred,
        "bounced" => Status::Bounced,
        "expired" => Status::Expired,
        // Address verification probes and the like are not deliveries.
        _ => return Ok(None),
    };
    let tail = after[word_end..].trim_start_matches([',', ' ']);
    let text = match tail.strip_prefix('(') {
        Some(t) => t.rfind(')').map_or(t, |e| &t[..e]),
        None => tail,
    };
    let relay = field(rest, "relay=")
        .map(|r| r.split(['[', ':']).next().unwrap_or(r))
        .filter(|r| !r.is_empty() && *r != "none")
        .map(str::to_string);
    if status == Status::Delivered && is_local_handoff(relay.as_deref(), text) {
        return Ok(Some(Event::Handoff));
    }
    let mut reply = Reply::parse(text);
    if reply.enhanced.is_none() {
        reply.enhanced = field(rest, "dsn=").and_then(EnhancedCode::parse);
    }
    Ok(Some(Event::Delivery { to: to.to_string(), status, reply, relay }))
}

/// A `status=sent` to a content filter on this host, which re-queues the message: not a delivery to the recipient.
fn is_local_handoff(relay: Option<&str>, text: &str) -> bool {
    let local = relay.is_some_and(|r| {
        r == "127.0.0.1" || r == "::1" || r.eq_ignore_ascii_case("localhost") || r.starts_with("127.")
    });
    local && text.contains("queued as")
}

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

/// A message in the queue: its host and queue id.
type QueueKey = (Arc<str>, QueueId);

/// One part of the queue, joined in log order.
#[derive(Debug, Default)]
struct Shard {
    open: FxHashMap<QueueKey, Open>,
    /// Queue ids (with their host) of notifications the MTA sends itself.
    notifications: FxHashSet<QueueKey>,
    /// The open messages that have tries, by a time no outcome of theirs still to come can be before (see
    /// [`Open::floor`]): the lowest bounds what can still settle. An entry may be lower than its message's floor
    /// has since become; it is raised when it is the lowest (see [`Shard::oldest_open`]).
    floors: BTreeSet<(Timestamp, QueueKey)>,
    /// Whether identical deferrals are folded (see [`Joiner::folding_deferrals`]).
    fold: bool,
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
    host: Arc<str>,
    queue_id: QueueId,
    key: String,
    first: Timestamp,
    message_id: Option<String>,
    sender: Option<String>,
    notification: bool,
    recipients: Vec<String>,
    texts: Vec<String>,
    relays: Vec<String>,
    tries: Vec<Try>,
    /// Tries (indexes) that were a recipient's last and a deferral: an expiry settles them.
    deferred: Vec<usize>,
    /// The time of its entry in [`Shard::floors`], if it has one.
    floor: Option<Timestamp>,
}

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
    relay: Option<u32>,
    line: Option<Box<str>>,
    /// The times and lines of the identical deferrals folded into this one (see [`Joiner::folding_deferrals`]),
    /// all before its own: it stands for the latest of them.
    folded: Vec<(Timestamp, Source)>,
}

/// The index of `value` in `list`, added at the end if it is not among the last few: a message's tries repeat the
/// same few texts and relays, and looking further back would cost more than a copy saves.
fn index_of(list: &mut Vec<String>, value: &str) -> u32 {
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
        Attempt {
            time: t.time,
            source: t.source,
            recipient: self.recipients[t.recipient as usize].clone(),
            sender: self.sender.clone(),
            message_id: self.message_id.clone(),
            message_key: self.key.clone(),
            campaign_hint: None,
            campaign: None,
            status: t.status,
            reply: Reply {
                code: t.code,
                enhanced: t.enhanced,
                text: self.texts[t.text as usize].clone(),
                command: t.command,
            },
            relay: t.relay.map(|r| self.relays[r as usize].clone()),
            line: t.line.as_deref().map(str::to_string),
            tries: t.folded.len() as u32 + 1,
        }
    }

    /// Its tries as attempts, into `out`.
    fn into_attempts(self, out: &mut Vec<Attempt>) {
        for (i, t) in self.tries.iter().enumerate() {
            if self.stands_for_its_folds(i) {
                out.push(self.attempt(t));
            } else {
                out.extend(self.unfolded(t));
            }
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

    /// Adds a try.
    fn push(&mut self, attempt: Attempt) {
        let Attempt { time, source, recipient, status, reply, relay, line, tries, .. } = attempt;
        let recipient = self.recipient(&recipient);
        let text = index_of(&mut self.texts, &reply.text);
        let relay = relay.map(|r| index_of(&mut self.relays, &r));
        self.tries.push(Try {
            time,
            source,
            recipient,
            status,
            code: reply.code,
            enhanced: reply.enhanced,
            command: reply.command,
            text,
            relay,
            line: line.map(String::into_boxed_str),
            folded: vec![(time, source); tries.saturating_sub(1) as usize],
        });
    }

    /// Whether a deferral to the recipient at `index`, with this reply and relay and no line kept, says the same as
    /// the try `k` (that recipient's last, a deferral) and can be folded into it. The recipient's first try is
    /// never folded into: it gives the outcome's first time.
    fn folds_into(&self, k: usize, index: u32, reply: &Reply, relay: Option<&str>) -> bool {
        let t = &self.tries[k];
        t.line.is_none()
            && t.code == reply.code
            && t.enhanced == reply.enhanced
            && t.command == reply.command
            && self.texts[t.text as usize] == reply.text
            && t.relay.map(|r| self.relays[r as usize].as_str()) == relay
            && self.tries[..k].iter().any(|earlier| earlier.recipient == index)
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
            sender: self.sender.clone(),
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
            host: Arc::from(m.host),
            queue_id,
            key: m.key,
            first: m.first,
            message_id: m.message_id,
            sender: m.sender,
            notification: m.notification,
            recipients: Vec::new(),
            texts: Vec::new(),
            relays: Vec::new(),
            tries: Vec::new(),
            deferred: m.deferred,
            floor: None,
        };
        for a in m.attempts {
            open.push(a);
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
            joiner.shards[shard_of(&host, &queue_id)].notifications.insert((Arc::from(host), queue_id));
        }
        for m in state.open {
            let queue_id = id(&m.queue_id)?;
            let shard = &mut joiner.shards[shard_of(&m.host, &queue_id)];
            let mut open = Open::from_message(m, queue_id);
            let key = (open.host.clone(), queue_id);
            open.floor = open.floor();
            if let Some(floor) = open.floor {
                shard.floors.insert((floor, key.clone()));
            }
            shard.open.insert(key, open);
        }
        Ok(joiner)
    }

    /// A joiner that folds a deferral saying the same as the recipient's last try (a deferral too, not the first)
    /// into that try, as [`Attempt::tries`] says, when `fold` is set and no line is kept for it. A deferred message
    /// is retried every few minutes for days with the same reply: for a run that only settles messages, the tries
    /// in between are a count, and the queue then holds a few tries a message instead of hundreds.
    pub fn folding_deferrals(mut self, fold: bool) -> Self {
        for shard in &mut self.shards {
            shard.fold = fold;
        }
        self
    }

    /// A time before which no outcome still to come from the messages in the queue can be: for each recipient
    /// of each, its first final try, or else its last try (see `Open::floor`). Messages without tries yet add
    /// nothing: their lines are still to be read.
    pub fn oldest_open(&mut self) -> Option<Timestamp> {
        self.shards.iter_mut().filter_map(Shard::oldest_open).min()
    }

    /// What the next run needs to go on from here.
    pub fn state(&self) -> JoinerState {
        let mut open: Vec<Message> = self.shards.iter().flat_map(|s| s.open.values().map(Open::to_message)).collect();
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
        self.push_parts(&mut parts, out);
    }

    /// [`Joiner::push_all`] for records already split by [`Joiner::part_of`], each part in log order: `parts` (one
    /// vector a part) are emptied and keep their room, to be filled again with the next records.
    pub fn push_parts(&mut self, parts: &mut [Vec<(Source, Timestamp, Record)>], out: &mut Vec<Attempt>) {
        use rayon::prelude::*;
        assert_eq!(parts.len(), SHARDS, "one vector for each part of the queue");
        let joined: Vec<Vec<Attempt>> = self
            .shards
            .par_iter_mut()
            .zip(parts.par_iter_mut())
            .map(|(shard, records)| {
                let mut out = Vec::with_capacity(records.len() / 3);
                for (source, time, record) in records.drain(..) {
                    shard.push(source, time, record, &mut out);
                }
                out
            })
            .collect();
        out.reserve(joined.iter().map(Vec::len).sum());
        for part in joined {
            out.extend(part);
        }
    }

    /// The attempts of the messages still in the queue when the logs end.
    pub fn finish(self, out: &mut Vec<Attempt>) {
        self.finish_in_batches(&mut |batch| out.extend(batch));
    }

    /// The attempts of the messages still in the queue when the logs end, handed to `each` a few thousand messages
    /// at a time: a log that ends with a large queue is not made whole attempts all at once.
    pub fn finish_in_batches(self, each: &mut dyn FnMut(Vec<Attempt>)) {
        const MESSAGES: usize = 4096;
        let mut open: Vec<Open> = self.shards.into_iter().flat_map(|s| s.open.into_values()).collect();
        open.sort_by(|a, b| a.key.cmp(&b.key));
        let mut batch = Vec::new();
        for (n, m) in open.into_iter().enumerate() {
            m.into_attempts(&mut batch);
            if (n + 1) % MESSAGES == 0 {
                each(std::mem::take(&mut batch));
            }
        }
        each(batch);
    }
}

impl Shard {
    /// The lowest floor of the messages in this part, raising entries that have become too low on the way.
    fn oldest_open(&mut self) -> Option<Timestamp> {
        while let Some((low, key)) = self.floors.first().cloned() {
            let floor = self.open.get(&key).and_then(Open::floor);
            if floor == Some(low) {
                return Some(low);
            }
            debug_assert!(floor.is_none_or(|f| f > low), "an entry above its message's floor");
            self.floors.pop_first();
            if let Some(m) = self.open.get_mut(&key) {
                m.floor = floor;
            }
            if let Some(f) = floor {
                self.floors.insert((f, key));
            }
        }
        None
    }

    /// A message leaves the queue.
    fn closed(&mut self, m: &Open) {
        if let Some(floor) = m.floor {
            self.floors.remove(&(floor, (m.host.clone(), m.queue_id)));
        }
    }

    /// A try at `time` was added to `m`: its entry is lowered to it, or made, if need be.
    fn tried(floors: &mut BTreeSet<(Timestamp, QueueKey)>, m: &mut Open, time: Timestamp) {
        if m.floor.is_some_and(|f| f <= time) {
            return;
        }
        let key = (m.host.clone(), m.queue_id);
        if let Some(old) = m.floor {
            floors.remove(&(old, key.clone()));
        }
        floors.insert((time, key));
        m.floor = Some(time);
    }

    /// A message whose first line is at `time`. Its key names the host, the queue id and that time, so that a queue id
    /// Postfix reuses later is another message, and the same message read from two copies of a file is the same.
    fn start(&self, key: &QueueKey, time: Timestamp) -> Open {
        let notification = self.notifications.contains(key);
        let (host, queue_id) = key;
        Open {
            host: host.clone(),
            queue_id: *queue_id,
            key: format!("{host}/{queue_id}/{}", time.millis()),
            first: time,
            message_id: None,
            sender: None,
            notification,
            recipients: Vec::new(),
            texts: Vec::new(),
            relays: Vec::new(),
            tries: Vec::new(),
            deferred: Vec::new(),
            floor: None,
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
                    m.into_attempts(out);
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
        let fresh = match self.open.get(&key) {
            None => true,
            Some(m) if reused(m) => {
                if let Some(old) = self.open.remove(&key) {
                    self.closed(&old);
                    old.into_attempts(out);
                }
                true
            }
            Some(_) => false,
        };
        let m = if fresh {
            let m = self.start(&key, time);
            self.open.entry(key).insert_entry(m).into_mut()
        } else {
            match self.open.get_mut(&key) {
                Some(m) => m,
                None => return,
            }
        };
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
                    expired.line = line.as_deref().map(Box::from);
                    expired.folded = Vec::new();
                    m.tries.push(expired);
                    Shard::tried(&mut self.floors, m, time);
                }
            }
            Event::Delivery { to, status, reply, relay } => {
                if m.notification || m.sender.as_deref() == Some("") {
                    return;
                }
                let recipient = normalize_address(&to);
                let index = m.recipient(&recipient);
                if self.fold && status == Status::Deferred && line.is_none() {
                    let last = m.deferred.iter().copied().find(|&k| m.tries[k].recipient == index);
                    if let Some(k) = last.filter(|&k| m.folds_into(k, index, &reply, relay.as_deref())) {
                        let t = &mut m.tries[k];
                        if (time, source) > (t.time, t.source) {
                            t.folded.push((t.time, t.source));
                            (t.time, t.source) = (time, source);
                        } else {
                            t.folded.push((time, source));
                        }
                        Shard::tried(&mut self.floors, m, time);
                        return;
                    }
                }
                let tries = &m.tries;
                m.deferred.retain(|&k| tries[k].recipient != index);
                if status == Status::Deferred {
                    m.deferred.push(m.tries.len());
                }
                Shard::tried(&mut self.floors, m, time);
                m.push(Attempt {
                    time,
                    source,
                    recipient,
                    sender: None,
                    message_id: None,
                    message_key: String::new(),
                    campaign_hint: None,
                    campaign: None,
                    status,
                    reply,
                    relay,
                    line,
                    tries: 1,
                });
            }
        }
    }
}

/// The times at which a file's lines may have copies in other files: from the start of any file read after it, and
/// up to the end of the files read before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overlap {
    /// The earliest first line of the files read after this one.
    pub later_start: Option<Timestamp>,
    /// The latest line of the files read before this one.
    pub earlier_end: Option<Timestamp>,
}

impl Overlap {
    /// Whether a line at `time` may be a copy of, or have a copy in, another file.
    pub fn contains(&self, time: Timestamp) -> bool {
        self.later_start.is_some_and(|t| time >= t) || self.earlier_end.is_some_and(|t| time <= t)
    }
}

/// Lines given more than once across files (the same file twice, rotated files that overlap), recognised by what
/// they say (time, host, queue id, event) and skipped before the join, so that a message read twice is joined once.
/// As for attempts (see [`super::dedupe`]), copies are matched one to one across files: a line repeated within one
/// file is kept.
#[derive(Debug, Default)]
pub struct LineDeduper {
    per_file: FxHashMap<(u128, u32), u32>,
    kept: FxHashMap<u128, u32>,
    /// Notifications the MTA sends itself: their deliveries are not attempts, so their copies are not counted.
    notifications: FxHashSet<QueueKey>,
    /// Delivery and expiry lines of contacts' messages skipped as copies: the attempts counted once.
    pub skipped: u64,
}

impl LineDeduper {
    /// Whether this record, read from `file`, is new (to be joined) rather than a copy of one already read.
    pub fn is_new(&mut self, time: Timestamp, record: &Record, file: u32) -> bool {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let half = |salt: u8| {
            BuildHasherDefault::<DefaultHasher>::default().hash_one((
                salt,
                time,
                &record.host,
                &record.queue_id,
                &record.event,
            ))
        };
        let digest = (u128::from(half(0)) << 64) | u128::from(half(1));
        match &record.event {
            Event::Notification(id) => {
                self.notifications.insert((record.host.clone(), *id));
            }
            Event::Sender(s) if s.is_empty() => {
                self.notifications.insert((record.host.clone(), record.queue_id));
            }
            _ => {}
        }
        let n = self.per_file.entry((digest, file)).or_default();
        *n += 1;
        let k = self.kept.entry(digest).or_default();
        if *n > *k {
            *k = *n;
            return true;
        }
        // A copied expiry stands for the expiry attempt the join would have made again (one per message here).
        if matches!(record.event, Event::Delivery { .. } | Event::Expired(_))
            && !self.notifications.contains(&(record.host.clone(), record.queue_id))
        {
            self.skipped += 1;
        }
        false
    }
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

    fn used(line: &str) -> Record {
        match parse_line(line, &KeepLines::All) {
            Parsed::Used(r) => r,
            other => panic!("{line}: {other:?}"),
        }
    }

    /// The lines' records, numbered from 1, in 2025.
    fn records_of<S: AsRef<str>>(lines: &[S]) -> Vec<(Source, Timestamp, Record)> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let r = used(l.as_ref());
                let time = match r.time {
                    LineTime::Yearless(t) => t.in_year(2025).unwrap(),
                    LineTime::Full(t) => t,
                };
                (Source { file: 0, line: i as u64 + 1 }, time, r)
            })
            .collect()
    }

    #[test]
    fn delivery_lines() {
        let r = used(
            "Nov 20 09:01:31 mta1 postfix/smtp[3347]: 8C18DEE50C: to=<Elizabeth@Tyrell-corp.com>, relay=mx2.tyrell-corp.com[198.51.100.41]:25, delay=0.34, delays=0.07/0/0.14/0.12, dsn=5.1.1, status=bounced (host mx2.tyrell-corp.com[198.51.100.41] said: 550 5.1.1 <elizabeth@tyrell-corp.com>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))",
        );
        let Event::Delivery { to, status, reply, relay } = r.event else { panic!() };
        assert_eq!(
            (to.as_str(), status, relay.as_deref()),
            ("<Elizabeth@Tyrell-corp.com>", Status::Bounced, Some("mx2.tyrell-corp.com"))
        );
        assert_eq!(reply.code, Some(550));
        assert_eq!(
            reply.text,
            "<elizabeth@tyrell-corp.com>: Recipient address rejected: User unknown in virtual mailbox table"
        );
        let r = used(
            "Nov 20 09:00:50 mta1 postfix/smtp[1]: 25C92B5BDB: to=<i@iclod.com>, relay=none, delay=0.2, delays=0.13/0.01/0.07/0, dsn=5.4.4, status=bounced (Host or domain name not found. Name service error for name=iclod.com type=MX: Host not found)",
        );
        let Event::Delivery { reply, relay, .. } = r.event else { panic!() };
        assert_eq!((reply.code, reply.enhanced.map(|e| e.to_string()), relay), (None, Some("5.4.4".into()), None));
    }

    #[test]
    fn other_lines() {
        assert_eq!(
            used("Nov 20 09:00:00 mta1 postfix/cleanup[3040]: 6E4F7A6E69: message-id=<c0001.1.3b@news.example.com>")
                .event,
            Event::MessageId("c0001.1.3b@news.example.com".into())
        );
        assert_eq!(used("Nov 20 09:00:00 mta1 postfix/qmgr[1187]: 6E4F7A6E69: from=<Bounce+c0001@news.example.com>, size=48199, nrcpt=1 (queue active)").event, Event::Sender("bounce+c0001@news.example.com".into()));
        assert_eq!(used("Nov 25 10:29:40 mta1 postfix/qmgr[1187]: FC3B2E263A: from=<b@n.example>, status=expired, returned to sender").event, Event::Expired("b@n.example".into()));
        assert_eq!(used("Nov 20 09:00:01 mta1 postfix/qmgr[1187]: 6E4F7A6E69: removed").event, Event::Removed);
        assert_eq!(
            used("Nov 20 09:01:31 mta1 postfix/bounce[3900]: 8C18DEE50C: sender non-delivery notification: 7811399F30")
                .event,
            Event::Notification(QueueId::parse("7811399F30").unwrap())
        );
        for ignored in [
            "Nov 20 09:00:15 mta1 postfix/smtpd[3408]: connect from localhost[127.0.0.1]",
            "Nov 20 09:00:26 mta2 postfix/anvil[3601]: statistics: max connection rate 3/60s for (smtp:127.0.0.1) at Nov 20 09:00:26",
            "Nov 20 09:00:26 mta2 dovecot[1]: 6E4F7A6E69: to=<a@b>, status=sent",
        ] {
            assert!(matches!(parse_line(ignored, &KeepLines::None), Parsed::Ignored), "{ignored}");
        }
        assert!(matches!(
            parse_line("Nov 20 09:00:26 mta2 postfix/smtp[1]: 6E4F7A6E69: to=<a@b>, relay=x", &KeepLines::None),
            Parsed::Malformed(_)
        ));
        assert!(matches!(parse_line("\u{1}\u{2}binary", &KeepLines::None), Parsed::Malformed(_)));
    }

    #[test]
    fn join_skips_notifications_and_expires_deferred_recipients() {
        let lines = [
            "Nov 20 09:00:00 mta1 postfix/cleanup[1]: AAAAA1: message-id=<m1@x>",
            "Nov 20 09:00:00 mta1 postfix/qmgr[1]: AAAAA1: from=<b@x>, size=1, nrcpt=1 (queue active)",
            "Nov 20 09:00:01 mta1 postfix/smtp[1]: AAAAA1: to=<a@y>, relay=mx.y[192.0.2.1]:25, dsn=4.2.2, status=deferred (host mx.y[192.0.2.1] said: 452 4.2.2 over quota (in reply to RCPT TO command))",
            "Nov 25 09:00:01 mta1 postfix/qmgr[1]: AAAAA1: from=<b@x>, status=expired, returned to sender",
            "Nov 25 09:00:01 mta1 postfix/bounce[1]: AAAAA1: sender non-delivery notification: BBBBB2",
            "Nov 25 09:00:01 mta1 postfix/qmgr[1]: BBBBB2: from=<>, size=1, nrcpt=1 (queue active)",
            "Nov 25 09:00:02 mta1 postfix/smtp[1]: BBBBB2: to=<b@x>, relay=mx.x[192.0.2.2]:25, dsn=2.0.0, status=sent (250 ok)",
        ];
        let attempts = join(records_of(&lines));
        assert_eq!(attempts.len(), 2);
        assert_eq!(attempts[1].status, Status::Expired);
        assert_eq!(attempts[1].reply.code, Some(452));
        assert_eq!(attempts[1].message_id.as_deref(), Some("m1@x"));
        assert_eq!(attempts[1].line.as_deref(), Some(lines[3]));
        assert_eq!(attempts[0].sender.as_deref(), Some("b@x"));
    }

    #[test]
    fn an_expiry_settles_only_recipients_still_deferred_however_many() {
        let mut lines = vec![
            "Nov 20 09:00:00 mta1 postfix/cleanup[1]: AAAAA1: message-id=<m1@x>".to_string(),
            "Nov 20 09:00:00 mta1 postfix/qmgr[1]: AAAAA1: from=<b@x>, size=1, nrcpt=12 (queue active)".to_string(),
        ];
        let try_line = |n: usize, status: &str, reply: &str| {
            format!(
                "Nov 20 09:0{}:00 mta1 postfix/smtp[1]: AAAAA1: to=<r{n}@y>, relay=mx.y[192.0.2.1]:25, dsn=4.2.2, status={status} ({reply})",
                1 + n % 5
            )
        };
        for n in 0..12 {
            lines.push(try_line(n, "deferred", "452 4.2.2 over quota"));
        }
        // The first recipient gets through after eleven others were tried: the expiry must not settle it.
        lines.push(try_line(0, "sent", "250 ok"));
        lines.push(
            "Nov 25 09:00:01 mta1 postfix/qmgr[1]: AAAAA1: from=<b@x>, status=expired, returned to sender".into(),
        );
        lines.push("Nov 25 09:00:01 mta1 postfix/qmgr[1]: AAAAA1: removed".into());
        let records = records_of(&lines);
        // Joined in two runs through the state, and in one: the same attempts.
        let whole = join(records.clone());
        let mut first = Joiner::new();
        let mut out = Vec::new();
        for (source, time, record) in records[..9].iter().cloned() {
            first.push(source, time, record, &mut out);
        }
        let mut second = Joiner::from_state(first.state()).unwrap();
        for (source, time, record) in records[9..].iter().cloned() {
            second.push(source, time, record, &mut out);
        }
        second.finish(&mut out);
        assert_eq!(out, whole);
        let expired: Vec<&str> =
            whole.iter().filter(|a| a.status == Status::Expired).map(|a| a.recipient.as_str()).collect();
        assert_eq!(expired.len(), 11);
        assert!(!expired.contains(&"r0@y"));
        assert!(whole.iter().all(|a| a.message_id.as_deref() == Some("m1@x") && a.sender.as_deref() == Some("b@x")));
    }

    #[test]
    fn joining_part_by_part_gives_the_attempts_of_one_by_one() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/maillog")).unwrap();
        let lines: Vec<&str> =
            text.lines().filter(|l| matches!(parse_line(l, &KeepLines::All), Parsed::Used(_))).collect();
        let records = records_of(&lines);
        assert!(records.len() > 100);
        let one_by_one = join(records.clone());
        let mut joiner = Joiner::new();
        let mut parts = Vec::new();
        for chunk in records.chunks(37) {
            joiner.push_all(chunk.to_vec(), &mut parts);
        }
        joiner.finish(&mut parts);
        let order = |v: &mut Vec<Attempt>| {
            v.sort_by(|a, b| (a.time, a.source, &a.recipient).cmp(&(b.time, b.source, &b.recipient)))
        };
        let mut expected = one_by_one;
        order(&mut expected);
        order(&mut parts);
        assert_eq!(parts, expected);
    }

    #[test]
    fn queue_ids_are_checked_and_kept_inline() {
        for id in ["6E4F7A6E69", "4Z0p1q2R3s4T5u", "ABCDEF0123456789", "a1b2c3d4e5f6g7h8i9j0"] {
            assert_eq!(QueueId::parse(id).map(|q| q.to_string()).as_deref(), Some(id));
        }
        for not in ["", "6E4F", "6e4f7a6e69", "statistics", "a1b2c3d4e5f6g7h8i9j0k", "NOQUEUE"] {
            assert_eq!(QueueId::parse(not), None, "{not}");
        }
        let state = JoinerState { open: Vec::new(), notifications: vec![("mta1".into(), "not an id".into())] };
        assert!(Joiner::from_state(state).unwrap_err().contains("`not an id`"));
    }

    #[test]
    fn folded_deferrals_settle_as_every_try() {
        use crate::domain::classify::Classifier;
        use crate::domain::outcome::settle;
        let mut lines = vec![
            "Nov 20 09:00:00 mta1 postfix/cleanup[1]: AAAAA1: message-id=<m1@x>".to_string(),
            "Nov 20 09:00:00 mta1 postfix/qmgr[1]: AAAAA1: from=<b@x>, size=1, nrcpt=2 (queue active)".to_string(),
        ];
        let try_line = |minute: usize, to: &str, status: &str, reply: &str| {
            format!(
                "Nov 20 {:02}:{:02}:00 mta1 postfix/smtp[1]: AAAAA1: to=<{to}>, relay=mx.y[192.0.2.1]:25, dsn=4.2.2, status={status} ({reply})",
                9 + minute / 60,
                minute % 60
            )
        };
        for n in 0..6 {
            lines.push(try_line(1 + 10 * n, "r1@y", "deferred", "452 4.2.2 over quota"));
            lines.push(try_line(2 + 10 * n, "r2@y", "deferred", "451 4.7.1 greylisted"));
        }
        lines.push(try_line(70, "r1@y", "deferred", "421 4.4.2 timed out"));
        lines.push(try_line(71, "r1@y", "deferred", "421 4.4.2 timed out"));
        lines.push(try_line(72, "r2@y", "sent", "250 ok"));
        lines.push(
            "Nov 25 09:00:01 mta1 postfix/qmgr[1]: AAAAA1: from=<b@x>, status=expired, returned to sender".into(),
        );
        lines.push("Nov 25 09:00:01 mta1 postfix/qmgr[1]: AAAAA1: removed".into());
        // As a run that keeps no proof reads them.
        let mut records = records_of(&lines);
        for (_, _, record) in &mut records {
            record.line = None;
        }
        let joined = |fold: bool, split: usize| {
            let mut out = Vec::new();
            let mut joiner = Joiner::new().folding_deferrals(fold);
            for (source, time, record) in records[..split].iter().cloned() {
                joiner.push(source, time, record, &mut out);
            }
            let mut joiner = Joiner::from_state(joiner.state()).unwrap().folding_deferrals(fold);
            for (source, time, record) in records[split..].iter().cloned() {
                joiner.push(source, time, record, &mut out);
            }
            joiner.finish(&mut out);
            out
        };
        let every = joined(false, records.len());
        let classifier = Classifier::builtin();
        let expected = settle(every.clone(), &classifier);
        assert_eq!(expected.iter().map(|o| o.attempts).collect::<Vec<_>>(), [7, 9]);
        for split in [records.len(), 9] {
            let folded = joined(true, split);
            // The state keeps folded tries one by one; those after it fold again.
            let most = if split == records.len() { every.len() / 2 } else { every.len() };
            assert!(folded.len() < most, "{} tries of {}", folded.len(), every.len());
            assert_eq!(folded.iter().map(|a| a.tries).sum::<u32>() as usize, every.len());
            let outcomes = settle(folded, &classifier);
            assert_eq!(format!("{outcomes:?}"), format!("{expected:?}"));
        }
    }

    #[test]
    fn a_message_deferred_for_days_holds_back_only_its_last_try() {
        let mut lines = vec![
            "Nov 20 09:00:00 mta1 postfix/cleanup[1]: AAAAA1: message-id=<m1@x>".to_string(),
            "Nov 20 09:00:00 mta1 postfix/qmgr[1]: AAAAA1: from=<b@x>, size=1, nrcpt=1 (queue active)".to_string(),
        ];
        // Deferred every hour for two days, while other messages are delivered and leave the queue.
        for hour in 0..48 {
            let (day, h) = (20 + hour / 24, hour % 24);
            lines.push(format!("Nov {day} {h:02}:00:01 mta1 postfix/smtp[1]: AAAAA1: to=<a@y>, relay=mx.y[192.0.2.1]:25, dsn=4.2.2, status=deferred (452 4.2.2 over quota)"));
            let id = format!("B{hour:05X}");
            lines.push(format!(
                "Nov {day} {h:02}:30:00 mta1 postfix/qmgr[1]: {id}: from=<b@x>, size=1, nrcpt=1 (queue active)"
            ));
            lines.push(format!("Nov {day} {h:02}:30:01 mta1 postfix/smtp[1]: {id}: to=<c{hour}@y>, relay=mx.y[192.0.2.1]:25, dsn=2.0.0, status=sent (250 ok)"));
            lines.push(format!("Nov {day} {h:02}:30:01 mta1 postfix/qmgr[1]: {id}: removed"));
        }
        let records = records_of(&lines);
        let mut joiner = Joiner::new().folding_deferrals(true);
        let mut out = Vec::new();
        for (source, time, record) in records.iter().cloned() {
            joiner.push(source, time, record, &mut out);
        }
        // Its last try, on the 21st at 23:00, not its first line on the 20th: it may yet be left pending then.
        let last_try = records.iter().rev().find(|(_, _, r)| r.queue_id.as_str() == "AAAAA1").unwrap().1;
        assert_eq!(joiner.oldest_open(), Some(last_try));
        // A final try settles the recipient there, whatever comes after.
        let expiry = "Nov 22 09:00:00 mta1 postfix/qmgr[1]: AAAAA1: from=<b@x>, status=expired, returned to sender";
        let (source, time, record) = records_of(&[expiry]).remove(0);
        joiner.push(source, time, record, &mut out);
        assert_eq!(joiner.oldest_open(), Some(time));
        assert_eq!(joiner.state().open.len(), 1);
    }
}
