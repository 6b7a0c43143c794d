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
use std::fmt;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::domain::attempt::{Status, normalize_address, push_normalized_address};
use crate::domain::smtp::EnhancedCode;
use crate::domain::time::Timestamp;

use super::KeepLines;
use super::lines::Parsed;
use super::syslog::{LineTime, parse_syslog};

mod join;

pub use crate::domain::name::Name;
pub use join::{Joiner, JoinerState, Message, SHARDS, join};

/// What one Postfix line says about a message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// `cleanup`: the message-id.
    MessageId(String),
    /// `qmgr` or `pickup`: the envelope sender (empty for notifications), normalised, and one string for the lines
    /// that name the same sender.
    Sender(Name),
    /// `qmgr`: the message expired in the queue; the envelope sender.
    Expired(Name),
    /// `bounce`: this other queue id is a notification the MTA sends itself.
    Notification(QueueId),
    /// A delivery agent's try for one recipient.
    Delivery {
        /// What happened.
        status: Status,
        /// The recipient, the receiving host and the response.
        words: DeliveryWords,
    },
    /// A hand-off to a local content filter that re-queued the message under another queue id.
    Handoff,
    /// `qmgr`: the message left the queue; its story is complete.
    Removed,
}

/// A delivery line's recipient, receiving host and response, held in one string: three strings made for every
/// delivery line were three allocations on the thread that parsed it, freed on the one that joined it. The
/// response is kept as logged and taken apart only when its try becomes an attempt
/// ([`Reply::parse_with_dsn`](crate::domain::smtp::Reply::parse_with_dsn)): a message deferred for hours has most
/// of its deferrals folded into one try (see [`Joiner::folding_deferrals`]), and their words are never needed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DeliveryWords {
    /// The recipient, then the host, then the response.
    all: Box<str>,
    to_end: u32,
    relay_end: u32,
    /// The line's `dsn=` code: it stands in where the response has no enhanced code.
    pub dsn: Option<EnhancedCode>,
}

impl DeliveryWords {
    /// Holds `to` (normalised, see [`normalize_address`]), `relay` and the response `text`.
    fn new(to: &str, relay: Option<&str>, text: &str, dsn: Option<EnhancedCode>) -> DeliveryWords {
        let relay = relay.unwrap_or("");
        // Room for the address without its angle brackets, so that the string fills it exactly and is not copied
        // again to fit its box.
        let to = to.strip_prefix('<').and_then(|t| t.strip_suffix('>')).unwrap_or(to);
        let mut all = String::with_capacity(to.len() + relay.len() + text.len());
        push_normalized_address(&mut all, to);
        let to_end = all.len();
        all.push_str(relay);
        let relay_end = all.len();
        all.push_str(text);
        // A line is far shorter than 4 GB (see `lines::MAX_LINE`).
        DeliveryWords { all: all.into_boxed_str(), to_end: to_end as u32, relay_end: relay_end as u32, dsn }
    }

    /// The recipient, normalised once here rather than at every use.
    pub fn to(&self) -> &str {
        &self.all[..self.to_end as usize]
    }

    /// The receiving host, if any.
    pub fn relay(&self) -> Option<&str> {
        Some(&self.all[self.to_end as usize..self.relay_end as usize]).filter(|r| !r.is_empty())
    }

    /// The response, as logged.
    pub fn text(&self) -> &str {
        &self.all[self.relay_end as usize..]
    }
}

/// One Postfix line's record, before the join.
#[derive(Clone, Debug)]
pub struct Record {
    /// When (the year may be missing until the whole file is read).
    pub time: LineTime,
    /// The host that logged it.
    pub host: Host,
    /// The queue id.
    pub queue_id: QueueId,
    /// What it says.
    pub event: Event,
    /// The line, when proof is kept for it.
    pub line: Option<Box<str>>,
}

/// A Postfix queue id, held inline: a log has millions of them, and none is longer than [`QueueId::MAX`].
#[derive(Clone, Copy, Eq, PartialOrd, Ord)]
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
        let scan = QueueId::scan(id.as_bytes());
        if scan.len != id.len() {
            return None;
        }
        QueueId::scanned(id.as_bytes(), scan)
    }

    /// Reads the run of letters and digits at the start of `b`, up to one byte past the longest id, in one pass that
    /// tells as it goes whether it can be a short or a long id.
    fn scan(b: &[u8]) -> IdScan {
        let (mut all, mut any, mut len) = (ID_HEX, 0, 0);
        for &c in b.iter().take(QueueId::MAX + 1) {
            let class = ID_CLASS[usize::from(c)];
            if class & ID_ALNUM == 0 {
                break;
            }
            (all, any, len) = (all & class, any | class, len + 1);
        }
        IdScan { len, hex: all & ID_HEX != 0, digit: any & ID_DIGIT != 0 }
    }

    /// The run [`QueueId::scan`] read at the start of `b`, if it is an id.
    fn scanned(b: &[u8], scan: IdScan) -> Option<QueueId> {
        let n = scan.len;
        let short = (5..=16).contains(&n) && scan.hex;
        let long = (12..=QueueId::MAX).contains(&n) && scan.digit;
        if !(short || long) {
            return None;
        }
        let mut bytes = [0; QueueId::MAX];
        bytes[..n].copy_from_slice(&b[..n]);
        Some(QueueId { len: n as u8, bytes })
    }

    /// The id as logged.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters and digits are ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

/// Compared as three machine words rather than by a call to `memcmp`: the join looks a queue id up for every line.
impl PartialEq for QueueId {
    fn eq(&self, other: &Self) -> bool {
        let words = |id: &QueueId| {
            let b = &id.bytes;
            (
                u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
                u64::from_ne_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
                u32::from_ne_bytes([b[16], b[17], b[18], b[19]]),
            )
        };
        self.len == other.len && words(self) == words(other)
    }
}

impl std::hash::Hash for QueueId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.len.hash(state);
        self.bytes.hash(state);
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

/// A host's name, shared by the lines and messages of that host (see [`Name`]).
pub type Host = Name;

/// A message in the queue: its host and queue id.
pub(crate) type QueueKey = (Host, QueueId);

/// The class of a byte in a queue id: a letter or digit, an upper-case hex digit, a digit. Every Postfix line's id is
/// read byte by byte, and one look in this table per byte costs less than the three tests it stands for.
const ID_CLASS: [u8; 256] = {
    let mut table = [0; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let alnum = if c.is_ascii_alphanumeric() { ID_ALNUM } else { 0 };
        let hex = if c.is_ascii_digit() || (c >= b'A' && c <= b'F') { ID_HEX } else { 0 };
        let digit = if c.is_ascii_digit() { ID_DIGIT } else { 0 };
        table[i] = alnum | hex | digit;
        i += 1;
    }
    table
};
const ID_ALNUM: u8 = 1;
const ID_HEX: u8 = 2;
const ID_DIGIT: u8 = 4;

/// What [`QueueId::scan`] read: the length of the run of letters and digits, whether all are upper-case hex digits
/// (a short id's), and whether one is a digit (as a long id needs).
#[derive(Clone, Copy)]
struct IdScan {
    len: usize,
    hex: bool,
    digit: bool,
}

/// The queue id that starts a line's message, and the rest of the message. Every Postfix line goes through here:
/// the id is read in one pass ([`QueueId::scan`]) and must be followed by `: `.
fn queue_id(message: &str) -> Option<(QueueId, &str)> {
    let b = message.as_bytes();
    let scan = QueueId::scan(b);
    if b.get(scan.len..scan.len + 2) != Some(b": ") {
        return None;
    }
    Some((QueueId::scanned(b, scan)?, &message[scan.len + 2..]))
}

/// The envelope sender `raw`, normalised (see [`normalize_address`]), shared with the lines before that named it.
/// Four in ten Postfix lines name a sender (`pickup`, then `qmgr` at every try), and a platform sends a campaign's
/// messages from one or a few addresses: each thread remembers the last few, so that most of these lines take a
/// copy of a name (see [`Name`]) instead of a new string.
fn shared_sender(raw: &str) -> Name {
    const REMEMBERED: usize = 16;
    thread_local! {
        static SENDERS: RefCell<Vec<(Box<str>, Name)>> = const { RefCell::new(Vec::new()) };
    }
    SENDERS.with_borrow_mut(|senders| {
        // Newest first: a platform sends one campaign after another.
        if let Some((_, s)) = senders.iter().rev().find(|(r, _)| **r == *raw) {
            return s.clone();
        }
        if senders.len() == REMEMBERED {
            senders.remove(0);
        }
        let s = Name::sender(&normalize_address(raw));
        senders.push((Box::from(raw), s.clone()));
        s
    })
}

/// The value of `key=` in a Postfix `key=value, key=value` list, up to the next `, ` (or the whole `<...>`).
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
            return Some(&value[..value_len(value)]);
        }
    }
    None
}

/// The length of the value at the start of `value` in a `key=value, key=value` list: up to the next `, `, or the
/// whole `<...>` of an address (which may hold `, ` itself).
fn value_len(value: &str) -> usize {
    if value.starts_with('<') {
        memchr::memchr(b'>', value.as_bytes()).map_or(value.len(), |e| e + 1)
    } else {
        super::lines::find_pair(value, b',', b' ').unwrap_or(value.len())
    }
}

/// Parses one line.
pub fn parse_line(line: &str, keep: &KeepLines) -> Parsed<Record> {
    let Some(syslog) = parse_syslog(line) else {
        return Parsed::Malformed("not a syslog line (expected a timestamp, a host and `program[pid]: `)".into());
    };
    if !syslog.program.starts_with("postfix") {
        return Parsed::Ignored;
    }
    let program = syslog.program;
    let daemon = &program[program.bytes().rposition(|c| c == b'/').map_or(0, |i| i + 1)..];
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
                let sender = shared_sender(from);
                // Nearly every such line is a `(queue active)` one; an expiry ends `status=expired, returned to sender`.
                let expired = !rest.ends_with("(queue active)") && field(rest, "status=") == Some("expired");
                if expired { Event::Expired(sender) } else { Event::Sender(sender) }
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
        (Event::Delivery { words, .. }, KeepLines::For(set)) => set.contains(words.to()),
        (Event::Expired(_), KeepLines::For(_)) => true,
        _ => false,
    };
    Parsed::Used(Record {
        time: syslog.time,
        host: Name::host(syslog.host),
        queue_id: qid,
        event,
        line: keep_line.then(|| Box::from(line)),
    })
}

/// The fields of a delivery line that say what happened, up to its `status=`.
#[derive(Debug, Default, PartialEq, Eq)]
struct DeliveryFields<'a> {
    to: Option<&'a str>,
    relay: Option<&'a str>,
    dsn: Option<&'a str>,
    /// What follows `status=`: the status word and the response.
    status: Option<&'a str>,
}

impl<'a> DeliveryFields<'a> {
    /// Reads the `key=value, ` list of a delivery line (`to=<..>, orig_to=<..>, relay=.., delay=.., delays=..,
    /// dsn=.., status=.. (text)`) in one pass, key after key, each value up to its `, ` (an address up to its `>`).
    /// None for a line that does not follow that form, which [`DeliveryFields::searched`] then reads.
    fn listed(rest: &'a str) -> Option<DeliveryFields<'a>> {
        let b = rest.as_bytes();
        let mut fields = DeliveryFields::default();
        let mut at = 0;
        while at < b.len() {
            // Keys are a few letters: found byte by byte, faster here than memchr's set-up.
            let eq = at + b[at..].iter().position(|&c| c == b'=' || c == b' ' || c == b',')?;
            if b[eq] != b'=' {
                return None;
            }
            let (key, value) = (&rest[at..eq], &rest[eq + 1..]);
            if key == "status" {
                fields.status = Some(value);
                return Some(fields);
            }
            let end = value_len(value);
            let slot = match key {
                "to" => &mut fields.to,
                "relay" => &mut fields.relay,
                "dsn" => &mut fields.dsn,
                _ => &mut None,
            };
            slot.get_or_insert(&value[..end]);
            if !value[end..].starts_with(", ") {
                return None;
            }
            at = eq + 1 + end + 2;
        }
        None
    }

    /// Finds each field wherever `key=` appears after a space, as [`field`] does: for lines whose list
    /// [`DeliveryFields::listed`] cannot read.
    fn searched(rest: &'a str) -> DeliveryFields<'a> {
        let status = memchr::memmem::find(rest.as_bytes(), b" status=").map(|at| &rest[at + " status=".len()..]);
        DeliveryFields { to: field(rest, "to="), relay: field(rest, "relay="), dsn: field(rest, "dsn="), status }
    }
}

/// A delivery agent's `to=<..>, relay=.., dsn=.., status=.. (text)`.
fn delivery(rest: &str) -> Result<Option<Event>, String> {
    let fields = DeliveryFields::listed(rest).unwrap_or_else(|| DeliveryFields::searched(rest));
    let to = fields.to.ok_or("delivery line without a recipient")?;
    if to.trim_matches(['<', '>', ' ']).is_empty() {
        return Err("delivery line with an empty recipient (`to=<>`)".into());
    }
    let after = fields.status.ok_or("delivery line without status=")?;
    let word_end = memchr::memchr2(b' ', b',', after.as_bytes()).unwrap_or(after.len());
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
        Some(t) => memchr::memrchr(b')', t.as_bytes()).map_or(t, |e| &t[..e]),
        None => tail,
    };
    let relay = fields
        .relay
        .map(|r| memchr::memchr2(b'[', b':', r.as_bytes()).map_or(r, |end| &r[..end]))
        .filter(|r| !r.is_empty() && *r != "none");
    if status == Status::Delivered && is_local_handoff(relay, text) {
        return Ok(Some(Event::Handoff));
    }
    let words = DeliveryWords::new(to, relay, text, fields.dsn.and_then(EnhancedCode::parse));
    Ok(Some(Event::Delivery { status, words }))
}

/// A `status=sent` to a content filter on this host, which re-queues the message: not a delivery to the recipient.
fn is_local_handoff(relay: Option<&str>, text: &str) -> bool {
    let local = relay.is_some_and(|r| {
        r == "127.0.0.1" || r == "::1" || r.eq_ignore_ascii_case("localhost") || r.starts_with("127.")
    });
    local && text.contains("queued as")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::attempt::{Attempt, Source};
    use crate::domain::smtp::Reply;

    /// The queue id as first read: the text up to the first `: `, if it is an id by the rules written out on their
    /// own (5 to 16 upper-case hex digits, or 12 to 20 letters and digits with a digit).
    fn queue_id_by_search(message: &str) -> Option<(QueueId, &str)> {
        let at = message.find(": ")?;
        let id = &message[..at];
        let short =
            (5..=16).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
        let long = (12..=20).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric())
            && id.bytes().any(|b| b.is_ascii_digit());
        let parsed = QueueId::parse(id);
        assert_eq!(parsed.is_some(), short || long, "{id:?}");
        Some((parsed?, &message[at + 2..]))
    }

    proptest::proptest! {
        #[test]
        fn a_queue_id_read_in_one_pass_is_the_text_before_the_first_colon(
            id in "[0-9A-Fa-z]{0,22}",
            sep in proptest::sample::select(vec![": ", ":", " ", ": : ", "x: ", ""]),
            tail in "[ a-z0-9:=<>@.]{0,12}",
        ) {
            let message = format!("{id}{sep}{tail}");
            proptest::prop_assert_eq!(queue_id(&message), queue_id_by_search(&message));
        }
    }

    #[test]
    fn queue_ids_short_and_long() {
        assert_eq!(
            queue_id("6E4F7A6E69: removed").map(|(q, r)| (q.to_string(), r)),
            Some(("6E4F7A6E69".into(), "removed"))
        );
        assert_eq!(queue_id("4TzWnF0bN9z9vKx: removed").map(|(q, _)| q.to_string()), Some("4TzWnF0bN9z9vKx".into()));
        // Too short, lower-case without being long, no digit in a long one, or one byte too long.
        for message in
            ["ABCD: x", "abcdef12: x", "abcdefghijklmnop: x", "123456789012345678901: x", "6E4F7A6E69 removed"]
        {
            assert_eq!(queue_id(message), None, "{message}");
        }
    }

    #[test]
    fn a_delivery_list_read_in_one_pass_finds_what_a_search_for_each_key_finds() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts = vec![std::fs::read_to_string(root.join("samples/maillog")).unwrap()];
        for entry in std::fs::read_dir(root.join("tests/fixtures/corpus/postfix")).unwrap() {
            texts.push(String::from_utf8_lossy(&std::fs::read(entry.unwrap().path()).unwrap()).into_owned());
        }
        texts.push(
            [
                "to=<a@b.example>, orig_to=<alias@b.example>, relay=mx.b.example[192.0.2.1]:25, conn_use=2, delay=1, \
                 delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok dsn=5.1.1 relay=x)",
                "to=<\"odd, local\"@b.example>, relay=none, delay=0.1, delays=0/0/0/0, dsn=4.4.1, status=deferred \
                 (connect to b.example[192.0.2.1]:25: Connection refused)",
                "to=<a@b.example>, relay=local, dsn=5.0.0, status=bounced (unknown user: \"a\")",
                "to=<a@b.example> relay=none, dsn=4.4.1, status=deferred (no comma after the address)",
                "to=<a@b.example>, status=sent (250 ok)",
                "orig_to=<a@b.example>, status=sent (no to)",
                "to=<a@b.example>, relay=none, dsn=4.4.1",
            ]
            .join("\n"),
        );
        let mut lines = 0;
        for line in texts.iter().flat_map(|t| t.lines()) {
            let Some(at) = line.find(": to=<").map(|c| c + 2).or_else(|| line.strip_prefix("to=<").map(|_| 0)) else {
                continue;
            };
            let rest = &line[at..];
            match DeliveryFields::listed(rest) {
                Some(fields) => assert_eq!(fields, DeliveryFields::searched(rest), "{rest}"),
                // Lines cut short (in the YAML test cases), and the odd ones above.
                None => {
                    assert!(!rest.contains(", status=") || rest.contains("no comma"), "not read in one pass: {rest}")
                }
            }
            lines += 1;
        }
        assert!(lines > 700, "{lines}");
        let odd = "to=<a@b.example> relay=none, dsn=4.4.1, status=deferred (no comma after the address)";
        assert_eq!(DeliveryFields::listed(odd), None);
        assert_eq!(DeliveryFields::searched(odd).relay, Some("none"));
    }

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
                    LineTime::Full(t) | LineTime::Local(t) => t,
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
        let Event::Delivery { status, words } = r.event else { panic!() };
        let reply = Reply::parse_with_dsn(words.text(), words.dsn);
        assert_eq!(
            (words.to(), status, words.relay()),
            ("elizabeth@tyrell-corp.com", Status::Bounced, Some("mx2.tyrell-corp.com"))
        );
        assert_eq!(reply.code, Some(550));
        assert_eq!(
            reply.text,
            "<elizabeth@tyrell-corp.com>: Recipient address rejected: User unknown in virtual mailbox table"
        );
        let r = used(
            "Nov 20 09:00:50 mta1 postfix/smtp[1]: 25C92B5BDB: to=<i@iclod.com>, relay=none, delay=0.2, delays=0.13/0.01/0.07/0, dsn=5.4.4, status=bounced (Host or domain name not found. Name service error for name=iclod.com type=MX: Host not found)",
        );
        let Event::Delivery { words, .. } = r.event else { panic!() };
        let reply = Reply::parse_with_dsn(words.text(), words.dsn);
        assert_eq!(
            (reply.code, reply.enhanced.map(|e| e.to_string()), words.relay()),
            (None, Some("5.4.4".into()), None)
        );
    }

    #[test]
    fn lines_naming_one_sender_share_its_string() {
        let sender = |line: &str| match used(line).event {
            Event::Sender(s) | Event::Expired(s) => s,
            other => panic!("{other:?}"),
        };
        let a =
            sender("Nov 20 09:00:00 mta1 postfix/pickup[3011]: 6E4F7A6E69: uid=1001 from=<Bounce+c1@News.example.com>");
        let b = sender(
            "Nov 20 09:00:00 mta1 postfix/qmgr[1187]: 6E4F7A6E69: from=<Bounce+c1@News.example.com>, size=1, nrcpt=1 (queue active)",
        );
        assert_eq!(&*a, "bounce+c1@news.example.com");
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        // Spelled otherwise, the same address once normalised; another address is another string.
        let c = sender(
            "Nov 20 09:00:01 mta1 postfix/qmgr[1187]: 7B2430E483: from=< bounce+c1@news.example.com>, size=1, nrcpt=1 (queue active)",
        );
        let d = sender(
            "Nov 20 09:00:01 mta1 postfix/qmgr[1187]: 7B2430E483: from=<bounce+c2@news.example.com>, status=expired, returned to sender",
        );
        assert_eq!((&*c, &*d), ("bounce+c1@news.example.com", "bounce+c2@news.example.com"));
    }

    #[test]
    fn other_lines() {
        assert_eq!(
            used("Nov 20 09:00:00 mta1 postfix/cleanup[3040]: 6E4F7A6E69: message-id=<c0001.1.3b@news.example.com>")
                .event,
            Event::MessageId("c0001.1.3b@news.example.com".into())
        );
        assert_eq!(used("Nov 20 09:00:00 mta1 postfix/qmgr[1187]: 6E4F7A6E69: from=<Bounce+c0001@news.example.com>, size=48199, nrcpt=1 (queue active)").event, Event::Sender(Name::sender("bounce+c0001@news.example.com")));
        assert_eq!(used("Nov 25 10:29:40 mta1 postfix/qmgr[1187]: FC3B2E263A: from=<b@n.example>, status=expired, returned to sender").event, Event::Expired(Name::sender("b@n.example")));
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
        // No recipient to deactivate: malformed, not a contact with an empty address.
        let empty = "Nov 20 09:00:01 mta1 postfix/smtp[2]: ABCDE12345: to=<>, relay=none, delay=0.2, dsn=5.1.1, \
                     status=bounced (550 5.1.1 user unknown)";
        assert!(matches!(parse_line(empty, &KeepLines::None), Parsed::Malformed(why) if why.contains("to=<>")));
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
        // Equal exactly when the ids are, whatever byte differs (the comparison is by words).
        let ids = [
            "6E4F7A6E69",
            "6E4F7A6E6",
            "6E4F7A6E6A",
            "a1b2c3d4e5f6g7h8i9j0",
            "a1b2c3d4e5f6g7h8i9j1",
            "A1b2c3d4e5f6g7h8",
        ];
        for a in ids {
            for b in ids {
                assert_eq!(QueueId::parse(a) == QueueId::parse(b), a == b, "{a} {b}");
            }
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
            // Words that change from try to try, as an id or a time in them does.
            lines.push(try_line(2 + 10 * n, "r2@y", "deferred", &format!("451 4.7.1 greylisted, try {n}")));
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
            // Each recipient's first try, one standing for its later deferrals, and its final try. The state keeps
            // folded tries one by one; those after it fold again.
            if split == records.len() {
                assert_eq!(folded.len(), 6, "{} tries of {}", folded.len(), every.len());
            } else {
                assert!(folded.len() < every.len(), "{} tries of {}", folded.len(), every.len());
            }
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
        assert_eq!(joiner.earliest_outcome(), Some(last_try));
        // A final try settles the recipient there, whatever comes after.
        let expiry = "Nov 22 09:00:00 mta1 postfix/qmgr[1]: AAAAA1: from=<b@x>, status=expired, returned to sender";
        let (source, time, record) = records_of(&[expiry]).remove(0);
        joiner.push(source, time, record, &mut out);
        assert_eq!(joiner.earliest_outcome(), Some(time));
        assert_eq!(joiner.state().open.len(), 1);
    }
}
