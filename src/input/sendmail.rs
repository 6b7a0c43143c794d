//! Sendmail logs: syslog lines of `sendmail` or `sm-mta` (`sm-msp-queue`, the local submission queue, is left
//! out), tied together by Sendmail's queue id.
//!
//! A message's story is `QID: from=<..>, size=.., msgid=<..>` (the envelope sender and the message-id), then one
//! line per try listing its recipients: `QID: to=<a@b>,<c@d>, delay=.., mailer=esmtp, relay=host. [ip], dsn=5.1.1,
//! stat=User unknown`. The status is read from `stat=` (`Sent (...)`, `Deferred: ...`, anything else a failure)
//! and the `dsn=` enhanced code; the response is rebuilt from both, since `stat=` often has only the text. When
//! Sendmail returns a message it queues a notification under a new id (`QID: QID2: DSN: User unknown`, sender
//! `<>`): that is the MTA's own mail, not a contact's, and is left out; `DSN: Cannot send message for 5 days`
//! expires the recipients still deferred.
//!
//! The log is read in blocks, each block's lines parsed in parallel; their syslog times get their years in log
//! order (the first line's year given, or inferred from the whole file first), and they are joined by host and
//! queue id in log order (see [`Joiner`]), so memory follows the messages in the queue and not the log.

use rustc_hash::FxHashMap;

use crate::domain::attempt::{Attempt, Source, Status, normalize_address};
use crate::domain::name::Name;
use crate::domain::smtp::{EnhancedCode, Reply};
use crate::domain::time::{Timestamp, YearCounter};
use crate::domain::zone::{Zone, ZoneClock};

use super::lines::{self, Parsed, Streamed};
use super::syslog::{LineTime, parse_syslog};
use super::tries::{Expiry, TryQueue};
use super::{FileStats, KeepLines};

/// What one Sendmail line says about a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `from=<..>, ..., msgid=<..>`: the envelope sender (empty for notifications) and the message-id.
    Sender {
        /// The envelope sender, normalised.
        sender: String,
        /// The `msgid=`, without angle brackets.
        message_id: Option<String>,
        /// The `nrcpts=`: how many recipients the message has.
        recipients: Option<u32>,
    },
    /// `QID2: DSN: ...`: the other queue id is a notification that Sendmail sends itself.
    Notification {
        /// The notification's queue id.
        id: String,
        /// Whether it says the message timed out in the queue (`Cannot send message for ...`).
        expired: bool,
    },
    /// `to=..., stat=...`: one try for one or more recipients.
    Delivery {
        /// The recipients as logged.
        to: Vec<String>,
        /// What happened.
        status: Status,
        /// The response.
        reply: Reply,
        /// The receiving host, if any.
        relay: Option<String>,
    },
}

/// One Sendmail line's record, before the join.
#[derive(Clone, Debug)]
pub struct Record {
    /// When (the year may be missing until the whole file is read).
    pub time: LineTime,
    /// The host that logged it.
    pub host: String,
    /// The queue id.
    pub queue_id: String,
    /// What it says.
    pub event: Event,
    /// The line, when proof is kept for it.
    pub line: Option<String>,
}

/// Whether a line is a Sendmail syslog line, for format detection.
pub fn looks_like(line: &str) -> bool {
    parse_syslog(line).is_some_and(|s| matches!(program(s.program), "sendmail" | "sm-mta" | "sm-msp-queue"))
}

/// The program name without a path (`/usr/sbin/sendmail`, `sendmail/sm-mta`).
fn program(tag: &str) -> &str {
    tag.rsplit('/').next().unwrap_or(tag)
}

/// A Sendmail queue id (`j78ASk4e013165`: 8 to 20 letters and digits) at the start of `s`, before `: `.
fn queue_id(s: &str) -> Option<(&str, &str)> {
    let (id, rest) = s.split_once(": ")?;
    let ok = (8..=20).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
        && id.bytes().any(|b| b.is_ascii_digit());
    ok.then_some((id, rest))
}

/// The value of `key=` in a `key=value, key=value` list, up to the next `, ` (the key must start the text or follow
/// a space).
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = text[from..].find(key) {
        let at = from + i;
        if at == 0 || text.as_bytes()[at - 1] == b' ' {
            let value = &text[at + key.len()..];
            return Some(&value[..value.find(", ").unwrap_or(value.len())]);
        }
        from = at + key.len();
    }
    None
}

/// Parses one line.
pub fn parse_line(line: &str, keep: &KeepLines) -> Parsed<Record> {
    let Some(syslog) = parse_syslog(line) else {
        if line.trim().is_empty() {
            return Parsed::Ignored;
        }
        return Parsed::Malformed("not a syslog line (expected a timestamp, a host and `program[pid]: `)".into());
    };
    if !matches!(program(syslog.program), "sendmail" | "sm-mta") {
        return Parsed::Ignored;
    }
    let Some((qid, rest)) = queue_id(syslog.message) else {
        return Parsed::Ignored;
    };
    let event = if let Some((other, text)) = queue_id(rest) {
        let notice = ["DSN:", "return to sender:", "sender notify:", "postmaster notify:"];
        if !notice.iter().any(|n| text.starts_with(n)) {
            return Parsed::Ignored;
        }
        Event::Notification { id: other.to_string(), expired: text.contains("Cannot send message for") }
    } else if rest.starts_with("from=") {
        let sender = field(rest, "from=").unwrap_or("");
        let message_id = field(rest, "msgid=")
            .map(|m| m.trim().trim_start_matches('<').trim_end_matches('>').to_string())
            .filter(|m| !m.is_empty());
        let recipients = field(rest, "nrcpts=").and_then(|n| n.trim().parse().ok());
        Event::Sender { sender: normalize_address(sender), message_id, recipients }
    } else if rest.starts_with("to=") {
        match delivery(rest) {
            Ok(Some(e)) => e,
            Ok(None) => return Parsed::Ignored,
            Err(why) => return Parsed::Malformed(why),
        }
    } else {
        // `done; delay=..`, `ruleset=check_rcpt, ..., reject=..`, `clone ..`, `Milter ..` and the like.
        return Parsed::Ignored;
    };
    let keep_line = match (&event, keep) {
        (_, KeepLines::None) => false,
        (_, KeepLines::All) => true,
        (Event::Delivery { to, .. }, KeepLines::For(set)) => to.iter().any(|t| set.contains(&normalize_address(t))),
        (Event::Notification { expired, .. }, KeepLines::For(_)) => *expired,
        (Event::Sender { .. }, KeepLines::For(_)) => false,
    };
    Parsed::Used(Record {
        time: syslog.time,
        host: syslog.host.to_string(),
        queue_id: qid.to_string(),
        event,
        line: keep_line.then(|| line.to_string()),
    })
}

/// `to=<a@b>,<c@d>, [ctladdr=..,] delay=.., mailer=.., relay=host. [ip], dsn=X.Y.Z, stat=...`.
fn delivery(rest: &str) -> Result<Option<Event>, String> {
    let to: Vec<String> = field(rest, "to=")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty() && *t != "<>")
        .map(str::to_string)
        .collect();
    if to.is_empty() {
        return Err("delivery line without a recipient".into());
    }
    let Some(at) = rest.find(" stat=") else {
        // A try without a status (`to=.., dsn=2.0.0` of some mailers) says nothing we could settle on.
        return Ok(None);
    };
    let stat = rest[at + " stat=".len()..].trim();
    let dsn = field(rest, "dsn=").and_then(EnhancedCode::parse);
    let lower = stat.to_ascii_lowercase();
    let (status, text) = if let Some(t) = stat.strip_prefix("Sent") {
        let t = t.trim();
        (Status::Delivered, t.strip_prefix('(').map_or(t, |t| t.strip_suffix(')').unwrap_or(t)))
    } else if lower.starts_with("queued") {
        // Queued for a later run without a try (queue-only delivery mode).
        return Ok(None);
    } else if let Some(t) = stat.strip_prefix("Deferred") {
        (Status::Deferred, t.trim_start_matches(':').trim())
    } else {
        let status = match dsn.map(|d| d.class) {
            Some(2) => Status::Delivered,
            Some(4) => Status::Deferred,
            _ => Status::Bounced,
        };
        (status, stat)
    };
    let mut reply = Reply::parse_with_dsn(text, dsn);
    if status == Status::Delivered && reply.code.is_none() {
        // `Sent (...)` quotes the server's 2xx reply without its code.
        reply.code = Some(250);
    }
    let relay = field(rest, "relay=")
        .map(|r| r.split(' ').next().unwrap_or(r).trim_start_matches('[').trim_end_matches([']', '.']))
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    Ok(Some(Event::Delivery { to, status, reply, relay }))
}

/// Joins records (with their sources and resolved times) into attempts, whole, in file order (see [`Joiner`]).
pub fn join(mut records: Vec<(Source, Timestamp, Record)>) -> Vec<Attempt> {
    records.sort_by_key(|(source, time, _)| (*time, *source));
    let mut joiner = Joiner::new();
    let mut attempts = Vec::new();
    for (source, time, record) in records {
        joiner.push(source, time, record, &mut attempts);
    }
    joiner.finish(&mut attempts);
    attempts.sort_by(|a, b| (a.source, &a.recipient).cmp(&(b.source, &b.recipient)));
    attempts
}

/// What is known of a message in flight, by host and queue id.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// The envelope sender and message-id, from its `from=` line.
    sender: Option<(String, Option<String>)>,
    /// Whether it is a notification Sendmail sends itself (named by a `DSN:` line, or from `<>`).
    notification: bool,
    /// Its `nrcpts=`.
    recipients: Option<u32>,
    /// How many of its recipients have had their final try.
    settled: u32,
    /// The recipients whose last try was a deferral: an expiry notification settles them.
    deferred: Vec<String>,
}

/// Sendmail's messages in flight, as its log is read in order: a message's `from=` line gives its tries their
/// sender and message-id, a recipient's deferrals wait for its final try, and an expiry notification settles the
/// recipients still deferred. Sendmail logs no end of a message: one is forgotten once as many recipients as its
/// `nrcpts=` have had their final try, so memory follows the messages in the queue.
#[derive(Debug)]
pub struct Joiner {
    messages: FxHashMap<(String, String), Message>,
    /// The deferrals waiting for their final try. An expiry repeats the last deferral's response and relay.
    tries: TryQueue,
}

impl Default for Joiner {
    fn default() -> Self {
        Joiner::new()
    }
}

impl Joiner {
    /// Nothing in flight.
    pub fn new() -> Self {
        Joiner { messages: FxHashMap::default(), tries: TryQueue::new(Expiry::LastDeferralAndRelay) }
    }

    /// Takes a record at its resolved time, in log order; hands `out` the tries of recipients that are settled.
    pub fn push(&mut self, source: Source, time: Timestamp, record: Record, out: &mut Vec<Attempt>) {
        let Record { host, queue_id, event, line, time: _ } = record;
        let key = (host, queue_id);
        match event {
            Event::Sender { sender, message_id, recipients } => {
                let m = self.messages.entry(key).or_default();
                m.notification |= sender.is_empty();
                m.sender = Some((sender, message_id));
                m.recipients = recipients;
            }
            Event::Notification { id, expired } => {
                self.messages.entry((key.0.clone(), id)).or_default().notification = true;
                let Some(m) = self.messages.get_mut(&key).filter(|_| expired) else { return };
                let deferred = std::mem::take(&mut m.deferred);
                m.settled += deferred.len() as u32;
                let message_key = format!("sendmail/{}/{}", key.0, key.1);
                for recipient in deferred {
                    // The response and relay are the last deferral's (see `Expiry`).
                    let expiry = self.attempt(&key, time, source, recipient, Status::Expired, Reply::default());
                    self.tries.push(Attempt { message_key: message_key.clone(), line: line.clone(), ..expiry }, out);
                }
                self.forget_if_done(&key);
            }
            Event::Delivery { to, status, reply, relay } => {
                let m = self.messages.entry(key.clone()).or_default();
                let notification = m.notification;
                for raw in &to {
                    let recipient = normalize_address(raw);
                    m.deferred.retain(|r| *r != recipient);
                    match status {
                        Status::Deferred => m.deferred.push(recipient.clone()),
                        _ => m.settled += 1,
                    }
                }
                if !notification {
                    for raw in to {
                        let a = self.attempt(&key, time, source, normalize_address(&raw), status, reply.clone());
                        self.tries.push(Attempt { relay: relay.clone(), line: line.clone(), ..a }, out);
                    }
                }
                self.forget_if_done(&key);
            }
        }
    }

    /// A try of the message `key` to `recipient`, with no relay and no line kept.
    fn attempt(
        &self,
        key: &(String, String),
        time: Timestamp,
        source: Source,
        recipient: String,
        status: Status,
        reply: Reply,
    ) -> Attempt {
        let (sender, message_id) = match self.messages.get(key).and_then(|m| m.sender.as_ref()) {
            Some((s, m)) => (Some(Name::sender(s)), m.clone()),
            None => (None, None),
        };
        Attempt {
            time,
            source,
            recipient,
            sender,
            message_id,
            message_key: format!("sendmail/{}/{}", key.0, key.1),
            campaign_hint: None,
            campaign: None,
            status,
            reply,
            relay: None,
            line: None,
            tries: 1,
        }
    }

    /// Forgets a message once as many recipients as it has have had their final try, none still deferred.
    fn forget_if_done(&mut self, key: &(String, String)) {
        if self.messages.get(key).is_some_and(|m| m.deferred.is_empty() && m.recipients.is_some_and(|n| m.settled >= n))
        {
            self.messages.remove(key);
        }
    }

    /// The earliest time an outcome still to come from what is held can have (see [`TryQueue::earliest_outcome`]).
    pub fn earliest_outcome(&self) -> Option<Timestamp> {
        self.tries.earliest_outcome()
    }

    /// The earliest try held (see [`TryQueue::earliest_try`]).
    pub fn earliest_try(&self) -> Option<Timestamp> {
        self.tries.earliest_try()
    }

    /// Hands `out` the tries of recipients still deferred, as pending.
    pub fn finish(self, out: &mut Vec<Attempt>) {
        self.tries.finish(out);
    }

    /// What a state file keeps for the next run: the messages in flight and the deferrals held.
    pub fn state(&self) -> JoinerState {
        let mut messages: Vec<QueuedMessage> = self
            .messages
            .iter()
            .map(|((host, queue_id), m)| QueuedMessage {
                host: host.clone(),
                queue_id: queue_id.clone(),
                message: m.clone(),
            })
            .collect();
        messages.sort_by(|a, b| (&a.host, &a.queue_id).cmp(&(&b.host, &b.queue_id)));
        JoinerState { messages, deferred: self.tries.held() }
    }

    /// A joiner that goes on from what an earlier run left.
    pub fn from_state(state: JoinerState) -> Self {
        let mut joiner = Joiner::new();
        for q in state.messages {
            joiner.messages.insert((q.host, q.queue_id), q.message);
        }
        joiner.tries = joiner.tries.with_held(state.deferred);
        joiner
    }
}

/// Sendmail's messages in flight at the end of a run, as a state file keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JoinerState {
    /// The messages in flight.
    #[serde(default)]
    pub messages: Vec<QueuedMessage>,
    /// The deferrals waiting for their final try.
    #[serde(default)]
    pub deferred: Vec<Attempt>,
}

/// A message in flight with its host and queue id.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueuedMessage {
    /// The host that logged it.
    pub host: String,
    /// Its queue id.
    pub queue_id: String,
    /// What is known of it.
    pub message: Message,
}

/// A record with its source and its time, the year resolved.
pub type Dated = (Source, Timestamp, Record);

/// Reads a Sendmail log from `reader` in blocks, each block's lines parsed on all cores; their syslog times get
/// their years in log order, the file's first line being in `first_year`. `each` gets each block's records with
/// their sources and times, in log order, to be joined by a [`Joiner`] that spans the run's Sendmail files, and the
/// latest time of a line read so far. `advanced` is told how many bytes each block held.
pub fn read(
    reader: impl std::io::Read + Send,
    file: u32,
    (first_year, zone): (i32, &Zone),
    stats: &mut FileStats,
    keep: &KeepLines,
    advanced: &mut (dyn FnMut(u64) + Send),
    each: &mut (dyn FnMut(Vec<Dated>, Option<Timestamp>) -> anyhow::Result<()> + Send),
) -> anyhow::Result<()> {
    let mut years = YearCounter::new(first_year);
    let mut zone = ZoneClock::new(zone);
    let (mut latest, mut records) = (None, Vec::new());
    lines::stream_lines(
        reader,
        stats,
        advanced,
        |_, line| parse_line(line, keep),
        |streamed, stats| match streamed {
            Streamed::Record(line, r) => match r.time.resolve(&mut years, &mut zone) {
                Ok(time) => {
                    stats.used += 1;
                    latest = latest.max(Some(time));
                    records.push((Source { file, line }, time, r));
                    Ok(())
                }
                Err(why) => {
                    stats.malformed(line, why);
                    Ok(())
                }
            },
            Streamed::EndOfBlock => each(std::mem::take(&mut records), latest),
        },
    )
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

    fn delivery(line: &str) -> (Vec<String>, Status, Reply, Option<String>) {
        match used(line).event {
            Event::Delivery { to, status, reply, relay } => (to, status, reply, relay),
            e => panic!("{line}: {e:?}"),
        }
    }

    #[test]
    fn senders_and_notifications() {
        let r = used(
            "Aug  8 12:28:47 ns2 sm-mta[13165]: j78ASk4e013165: from=<Kweek@glurpp.baf>, size=786, class=0, nrcpts=1, msgid=<200508081028.j78ASkKG011031@blanditiis.crunch.zap>, proto=ESMTP, daemon=MTA-v4, relay=mx1.glurpp.baf [62.210.95.136]",
        );
        assert_eq!((r.host.as_str(), r.queue_id.as_str()), ("ns2", "j78ASk4e013165"));
        assert_eq!(
            r.event,
            Event::Sender {
                sender: "kweek@glurpp.baf".into(),
                message_id: Some("200508081028.j78ASkKG011031@blanditiis.crunch.zap".into()),
                recipients: Some(1)
            }
        );
        assert_eq!(
            used("Jan  6 02:37:32 Jupiter sendmail[809]: j061bW9V000809: from=maddingue, size=2039, class=0").event,
            Event::Sender { sender: "maddingue".into(), message_id: None, recipients: None }
        );
        assert_eq!(
            used("Mar 24 16:52:58 fence sendmail[1]: j2OFquVD026245: j2OFquVE026245: DSN: User unknown").event,
            Event::Notification { id: "j2OFquVE026245".into(), expired: false }
        );
        assert_eq!(
            used(
                "Mar 29 16:52:58 fence sendmail[1]: j2OFquVD026245: j2TFquVE026299: DSN: Cannot send message for 5 days"
            )
            .event,
            Event::Notification { id: "j2TFquVE026299".into(), expired: true }
        );
    }

    #[test]
    fn deliveries() {
        let (to, status, reply, relay) = delivery(
            "Jan  6 02:37:43 Jupiter sendmail[814]: j061bXn5000812: to=<cpan-testers@perl.org>, delay=00:00:10, xdelay=00:00:10, mailer=esmtp, pri=30373, relay=mx.develooper.com. [63.251.223.176], dsn=2.0.0, stat=Sent (Queued! <200501060137.j061bW9V000809@jupiter.maddingue.net>)",
        );
        assert_eq!(
            (to, status, relay.as_deref()),
            (vec!["<cpan-testers@perl.org>".to_string()], Status::Delivered, Some("mx.develooper.com"))
        );
        assert_eq!(reply.text, "Queued! <200501060137.j061bW9V000809@jupiter.maddingue.net>");
        assert_eq!(reply.code, Some(250));
        assert_eq!(reply.enhanced.map(|e| e.to_string()).as_deref(), Some("2.0.0"));
        let (to, status, reply, _) = delivery(
            "Nov 20 09:00:01 mx sendmail[2]: 5AK90001abc123: to=<a@x.org>,<B@x.org>, ctladdr=<n@news.example> (1/1), delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=120, relay=mx.x.org. [192.0.2.1], dsn=4.3.0, stat=Deferred: 451 4.3.0 Temporary failure",
        );
        assert_eq!(
            (to.len(), status, reply.code, reply.text.as_str()),
            (2, Status::Deferred, Some(451), "Temporary failure")
        );
        let (_, status, reply, _) = delivery(
            "Nov 20 09:00:01 mx sm-mta[2]: 5AK90001abc123: to=<a@x.org>, delay=00:00:01, mailer=esmtp, pri=120, relay=mx.x.org, dsn=4.0.0, stat=Deferred: Connection timed out with mx.x.org.",
        );
        assert_eq!(
            (status, reply.code, reply.text.as_str()),
            (Status::Deferred, None, "Connection timed out with mx.x.org.")
        );
        let (_, status, reply, _) = delivery(
            "Nov 20 09:00:01 mx sendmail[2]: 5AK90001abc123: to=<u@x.org>, delay=00:00:01, mailer=esmtp, pri=120, relay=mx.x.org. [192.0.2.1], dsn=5.1.1, stat=User unknown",
        );
        assert_eq!((status, reply.code, reply.text.as_str()), (Status::Bounced, None, "User unknown"));
        assert_eq!(reply.enhanced.map(|e| e.to_string()).as_deref(), Some("5.1.1"));
        let (_, status, ..) = delivery(
            "Nov 20 09:00:01 mx sendmail[2]: 5AK90001abc123: to=<u@x.org>, mailer=esmtp, stat=Service unavailable",
        );
        assert_eq!(status, Status::Bounced);
    }

    #[test]
    fn other_lines() {
        for ignored in [
            "Aug  8 12:28:48 ns2 sm-mta[13198]: j78ASk4e013165: done; delay=00:00:01, ntries=1",
            "Mar 24 16:52:57 fence sendmail[26245]: j2OFquVD026245: ruleset=check_rcpt, arg1=<f@d.fap>, relay=mx2.laboris.fr [123.456.789.1], reject=553 5.1.8 <f@d.fap>... Domain of sender address a@b.co does not exist",
            "Jan  4 20:47:07 Jupiter sendmail[415]: starting daemon (8.12.9): SMTP+queueing@01:00:00",
            "Aug  8 12:28:48 ns2 sm-mta[13198]: j78ASk4e013165: to=kweek@glurpp, delay=00:00:01, xdelay=00:00:01, mailer=cyrusv2, pri=31046, relay=localhost, dsn=2.0.0",
            "Aug  8 12:28:48 ns2 sm-msp-queue[1]: j78ASk4e013165: to=a@b, stat=Sent",
            "Aug  8 12:28:48 ns2 postfix/smtp[1]: 6E4F7A6E69: to=<a@b>, status=sent",
            "",
        ] {
            assert!(matches!(parse_line(ignored, &KeepLines::None), Parsed::Ignored), "{ignored}");
        }
        assert!(matches!(parse_line("garbage", &KeepLines::None), Parsed::Malformed(_)));
        assert!(matches!(
            parse_line("Aug  8 12:28:48 ns2 sendmail[1]: j78ASk4e013165: to=, stat=Sent", &KeepLines::None),
            Parsed::Malformed(_)
        ));
        assert!(looks_like("Aug  8 12:28:48 ns2 sm-mta[13198]: j78ASk4e013165: done"));
        assert!(!looks_like("Aug  8 12:28:48 ns2 postfix/qmgr[1]: A: removed"));
    }

    #[test]
    fn join_expires_deferred_recipients_and_skips_notifications() {
        let lines = [
            "Nov 20 09:00:00 mx sendmail[1]: 5AK90001abc123: from=<b@n.example>, size=1, nrcpts=2, msgid=<m1@n.example>",
            "Nov 20 09:00:01 mx sendmail[1]: 5AK90001abc123: to=<a@y.example>,<c@y.example>, relay=mx.y.example. [192.0.2.1], dsn=4.2.2, stat=Deferred: 452 4.2.2 over quota",
            "Nov 20 10:00:01 mx sendmail[1]: 5AK90001abc123: to=<c@y.example>, relay=mx.y.example. [192.0.2.1], dsn=2.0.0, stat=Sent (ok)",
            "Nov 25 09:00:01 mx sendmail[1]: 5AK90001abc123: 5AP90001abc999: DSN: Cannot send message for 5 days",
            "Nov 25 09:00:01 mx sendmail[1]: 5AP90001abc999: from=<>, size=3000, nrcpts=1",
            "Nov 25 09:00:02 mx sendmail[1]: 5AP90001abc999: to=<b@n.example>, relay=bounce-in. [192.0.2.25], dsn=2.0.0, stat=Sent (ok)",
        ];
        let records = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let r = used(l);
                let LineTime::Yearless(t) = r.time else { panic!() };
                (Source { file: 0, line: i as u64 + 1 }, t.in_year(2025).unwrap(), r)
            })
            .collect();
        let attempts = join(records);
        let got: Vec<(&str, Status)> = attempts.iter().map(|a| (a.recipient.as_str(), a.status)).collect();
        assert_eq!(
            got,
            [
                ("a@y.example", Status::Deferred),
                ("c@y.example", Status::Deferred),
                ("c@y.example", Status::Delivered),
                ("a@y.example", Status::Expired)
            ]
        );
        assert_eq!(attempts[3].reply.code, Some(452));
        assert_eq!(attempts[3].message_id.as_deref(), Some("m1@n.example"));
        assert!(attempts.iter().all(|a| a.message_key == "sendmail/mx/5AK90001abc123"));

        // Read in order, both messages are forgotten once all their recipients are settled.
        let mut joiner = Joiner::new();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let r = used(l);
            let LineTime::Yearless(t) = r.time else { panic!() };
            joiner.push(Source { file: 0, line: i as u64 + 1 }, t.in_year(2025).unwrap(), r, &mut out);
            let held = if i < 3 { 1 } else { 0 };
            assert_eq!(joiner.earliest_outcome().is_some(), i == 1 || i == 2, "a's deferral held until its expiry");
            assert!(joiner.messages.len() <= 1 + held, "line {}: {:?}", i + 1, joiner.messages.keys());
        }
        assert!(joiner.messages.is_empty(), "{:?}", joiner.messages.keys());
        assert_eq!(out.len(), 4);
    }
}
