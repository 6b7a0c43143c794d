//! Exim's main log (`mainlog`): one line per event, tied together by Exim's message id.
//!
//! A message's story is `<=` (arrival: envelope sender and `id=` message-id), then per recipient and try `=>` or
//! `->` (delivered; `->` is another address delivered in the same connection), `==` (deferred), `**` (failed; with
//! `retry timeout exceeded` it is an expiry of earlier deferrals), and finally `Completed`. Everything else (SMTP
//! connections, rejections of incoming mail, queue runs) is well formed but not about delivery. Exim writes the
//! year (and, with `log_timezone`, the offset), so unlike syslog no year has to be inferred.
//!
//! The log is read in blocks, each block's lines parsed in parallel, then joined in log order by message id: the
//! arrival is kept until `Completed`, and a recipient's deferrals until its final try, so memory follows the
//! messages in the queue and not the log. Exim ids carry the time and the process id, so they are unique on a
//! server for decades; the join spans every Exim file of the run, so that rotated logs (a deferral in `mainlog.1`,
//! the bounce in `mainlog`) give one history. Bounce notifications that Exim sends itself arrive as `<= <>`: they
//! are the MTA's mail, not a contact's, and are left out.

use rustc_hash::FxHashMap;

use crate::domain::attempt::{Attempt, Source, Status, normalize_address};
use crate::domain::name::Name;
use crate::domain::smtp::Reply;
use crate::domain::time::Timestamp;
use crate::domain::zone::Zone;

use super::lines::{self, Parsed, Streamed, find_pair, find_str};
use super::tries::{Expiry, TryQueue};
use super::{FileStats, KeepLines};

/// What one Exim line says about a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `<=`: the message arrived.
    Arrival {
        /// The envelope sender, normalised (empty for a notification, `<>`).
        sender: String,
        /// The `id=` message-id, without angle brackets.
        message_id: Option<String>,
    },
    /// `Completed`: Exim is done with the message.
    Completed,
    /// `=>`, `->`, `==` or `**`: one try for one recipient.
    Delivery {
        /// The recipient, normalised (see [`normalize_address`]): the original address (`<orig>`) where Exim logs
        /// one, else the address. Normalised as the line is parsed, on all cores, rather than in the join.
        to: String,
        /// What happened.
        status: Status,
        /// The response: the `C="..."` confirmation of a delivery, the error text of a deferral or failure.
        reply: Reply,
        /// The receiving host (`H=name [ip]`), if any.
        relay: Option<String>,
    },
}

/// One Exim line's record, before the join.
#[derive(Clone, Debug)]
pub struct Record {
    /// When, in UTC.
    pub time: Timestamp,
    /// The Exim message id.
    pub id: String,
    /// What it says.
    pub event: Event,
    /// The line, when proof is kept for it.
    pub line: Option<String>,
}

/// Whether a line looks like Exim's main log, for format detection: an Exim timestamp followed by a message id or
/// by one of the lines Exim writes without one.
pub fn looks_like(line: &str) -> bool {
    let Some((_, rest)) = frame(line, &Zone::Utc) else {
        return false;
    };
    if message_id(rest).is_some() {
        return true;
    }
    const PHRASES: [&str; 10] = [
        "H=",
        "authenticator failed",
        "queue run",
        "daemon started",
        "SMTP connection",
        "SMTP call from",
        "no host name found",
        "no IP address found",
        "SMTP protocol synchronization error",
        "rejected",
    ];
    PHRASES.iter().any(|p| rest.contains(p))
}

/// Parses one line; its time, if written without an offset, is the wall clock of `zone`.
pub fn parse_line(line: &str, keep: &KeepLines, zone: &Zone) -> Parsed<Record> {
    if line.trim().is_empty() {
        return Parsed::Ignored;
    }
    let Some((time, rest)) = frame(line, zone) else {
        return Parsed::Malformed("not an Exim log line (expected `YYYY-MM-DD HH:MM:SS` and a message)".into());
    };
    let Some((id, rest)) = message_id(rest) else {
        return Parsed::Ignored;
    };
    let (marker, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let event = match marker {
        "<=" => arrival(rest),
        "=>" | "->" | "==" | "**" => match delivery(marker, rest) {
            Ok(Some(e)) => e,
            Ok(None) => return Parsed::Ignored,
            Err(why) => return Parsed::Malformed(why),
        },
        "Completed" if rest.is_empty() => Event::Completed,
        // `*>`: a delivery suppressed by -N or a fake transport; `Frozen`, `removed by` and the rest.
        _ => return Parsed::Ignored,
    };
    let keep_line = match (&event, keep) {
        (_, KeepLines::None) => false,
        (_, KeepLines::All) => true,
        (Event::Delivery { to, .. }, KeepLines::For(set)) => set.contains(to),
        (Event::Arrival { .. } | Event::Completed, KeepLines::For(_)) => false,
    };
    Parsed::Used(Record { time, id: id.to_string(), event, line: keep_line.then(|| line.to_string()) })
}

/// The time and the message of a line: `YYYY-MM-DD HH:MM:SS[.fff] [+ZZZZ] [[pid]] message`, also with a syslog
/// `host exim[pid]: ` between the time and the message, or before the time (journal exports).
fn frame<'a>(line: &'a str, zone: &Zone) -> Option<(Timestamp, &'a str)> {
    let line = if starts_with_date(line) {
        line
    } else {
        let (_, rest) = line.split_once(' ')?;
        let (tag, rest) = rest.split_once(": ")?;
        if !tag.starts_with("exim") {
            return None;
        }
        rest
    };
    if !starts_with_date(line) {
        return None;
    }
    let b = line.as_bytes();
    let mut end = 19;
    if b.get(19) == Some(&b'.') {
        let n = b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        end = 20 + n;
    }
    let mut rest = match line.get(end..)? {
        "" => "",
        r => r.strip_prefix(' ')?,
    };
    let rb = rest.as_bytes();
    if rb.len() >= 5
        && matches!(rb[0], b'+' | b'-')
        && rb[1..5].iter().all(u8::is_ascii_digit)
        && rb.get(5).is_none_or(|c| *c == b' ')
    {
        // The time and its offset, as they stand in the line.
        end += 6;
        rest = rest.get(6..).unwrap_or("");
    }
    let time = match Timestamp::parse_zoned(line.get(..end)?)? {
        (t, true) => t,
        // `log_timezone` unset: the server's wall clock.
        (t, false) => zone.to_utc(t),
    };
    // The process id, with log_selector +pid.
    if let Some(inner) = rest.strip_prefix('[')
        && let Some((pid, after)) = inner.split_once("] ")
        && !pid.is_empty()
        && pid.bytes().all(|c| c.is_ascii_digit())
    {
        rest = after;
    }
    // A syslog tag between Exim's time and its message (`mx1 exim[29786]: ...`).
    // The tag is looked for only behind a host: most lines have none, and a search for ": " went through them whole.
    if let Some((host, after)) = rest.split_once(' ')
        && after.starts_with("exim")
        && !host.contains('=')
        && let Some((tag, message)) = after.split_once(": ")
        && tag.starts_with("exim")
        && tag.ends_with(']')
        && !tag.contains(' ')
    {
        rest = message;
    }
    Some((time, rest))
}

/// Whether `s` starts with `YYYY-MM-DD HH:MM:SS`.
fn starts_with_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':'
}

/// An Exim message id at the start of `s`, followed by a space: the old form `1vM0WT-0000GA-35` (6-6-2 base 62
/// digits) or the new form of Exim 4.97 `10HmaX-000000005vi-0000` (6-11-4): the id and the rest. Checked byte by
/// byte at the places the two forms put their dashes, as every line is.
fn message_id(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let shape = |len: usize, second_dash: usize| {
        b.get(len) == Some(&b' ')
            && b[..len]
                .iter()
                .enumerate()
                .all(|(i, c)| if i == 6 || i == second_dash { *c == b'-' } else { c.is_ascii_alphanumeric() })
    };
    let len = [(16, 13), (23, 18)].into_iter().find(|&(len, dash)| shape(len, dash))?.0;
    Some((&s[..len], &s[len + 1..]))
}

/// `<= sender ... id=MESSAGE-ID ...`.
fn arrival(rest: &str) -> Event {
    let sender = rest.split(' ').next().unwrap_or("");
    let message_id = rest
        .split(' ')
        .find_map(|w| w.strip_prefix("id="))
        .map(|m| m.trim_start_matches('<').trim_end_matches('>').to_string())
        .filter(|m| !m.is_empty());
    Event::Arrival { sender: normalize_address(sender), message_id }
}

/// A delivery line after its marker: `rcpt [(parent)] [<orig>] [fields] [: text]`.
fn delivery(marker: &str, rest: &str) -> Result<Option<Event>, String> {
    let rest = rest.trim_start();
    let (first, mut tail) = rest.split_once(' ').unwrap_or((rest, ""));
    if first.is_empty() {
        return Err(format!("`{marker}` line without a recipient"));
    }
    // `** a@b: text`: the text follows the address directly (`:blackhole:` is a pseudo-address, not that).
    let mut text_follows = first.ends_with(':') && !first.starts_with(':');
    let address = if text_follows { first.trim_end_matches(':') } else { first };
    let mut original = None;
    if !text_follows {
        loop {
            let (word, after) = tail.split_once(' ').unwrap_or((tail, ""));
            if word.starts_with('(') && word.trim_end_matches(':').ends_with(')') {
                text_follows = word.ends_with(':');
                tail = after;
                if text_follows {
                    break;
                }
            } else if word.starts_with('<') && word.trim_end_matches(':').ends_with('>') {
                text_follows = word.ends_with(':');
                original = Some(word.trim_end_matches(':'));
                tail = after;
                break;
            } else {
                break;
            }
        }
    }
    let recipient = original.unwrap_or(address);
    if !recipient.contains('@') {
        // `** mua_wrapper is set but ...` and the like: not about an address.
        return Ok(None);
    }
    let (status, text_start) = match marker {
        "=>" | "->" => (Status::Delivered, tail.len()),
        "==" => {
            let from = find_str(tail, "defer (").map_or(0, |i| i + "defer (".len());
            let start = find_pair(&tail[from..], b':', b' ').map_or(tail.len(), |i| from + i + 2);
            (Status::Deferred, if text_follows { 0 } else { start })
        }
        _ => {
            let start = if text_follows { 0 } else { find_pair(tail, b':', b' ').map_or(0, |i| i + 2) };
            let expired = tail[start..].trim_end().ends_with("retry timeout exceeded");
            (if expired { Status::Expired } else { Status::Bounced }, start)
        }
    };
    let fields = &tail[..text_start.min(tail.len())];
    let relay = host(fields);
    let reply = if status == Status::Delivered {
        confirmation(tail).map_or_else(|| Reply { code: Some(250), ..Reply::default() }, |c| Reply::parse(&c))
    } else {
        Reply::parse(tail.get(text_start..).unwrap_or(""))
    };
    Ok(Some(Event::Delivery { to: normalize_address(recipient), status, reply, relay }))
}

/// The host name of `H=name [ip]` among the fields (the address when there is no name).
fn host(fields: &str) -> Option<String> {
    let at = if fields.starts_with("H=") { 0 } else { find_str(fields, " H=")? + 1 };
    let value = fields[at + 2..].split(' ').next().unwrap_or("");
    let value = value.trim_end_matches(':').trim_start_matches('[').trim_end_matches(']');
    (!value.is_empty()).then(|| value.to_string())
}

/// The `C="..."` confirmation of a delivery, with Exim's `\"` and `\\` escapes undone.
fn confirmation(tail: &str) -> Option<String> {
    let at = if tail.starts_with("C=\"") { 0 } else { find_str(tail, " C=\"")? + 1 };
    let mut out = String::new();
    let mut chars = tail[at + 3..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().unwrap_or('\\')),
            '"' => break,
            c => out.push(c),
        }
    }
    Some(out)
}

/// Joins records (with their sources) into attempts, whole: each message's tries, a recipient's deferrals with its
/// final try (see [`Joiner`] and [`TryQueue`]).
pub fn join(mut records: Vec<(Source, Record)>) -> Vec<Attempt> {
    records.sort_by_key(|(source, r)| (r.time, *source));
    let mut joiner = Joiner::new();
    let mut attempts = Vec::new();
    for (source, record) in records {
        joiner.push(source, record, &mut attempts);
    }
    joiner.finish(&mut attempts);
    attempts
}

/// Exim's messages in flight, as its log is read in order: the arrival of each message not yet completed gives its
/// tries their sender and message-id, and a recipient's deferrals wait for its final try. The arrivals are dropped at
/// `Completed`, so memory follows the messages in the queue.
#[derive(Debug)]
pub struct Joiner {
    /// For each message not completed: its sender and message-id, or None for a notification (`<= <>`), which is the
    /// MTA's mail and not a contact's.
    arrivals: FxHashMap<String, Option<(String, Option<String>)>>,
    /// The deferrals waiting for their final try. An expiry (`retry timeout exceeded`) repeats the last deferral.
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
        Joiner { arrivals: FxHashMap::default(), tries: TryQueue::new(Expiry::LastDeferralAndRelay) }
    }

    /// Takes a record, in log order; hands `out` the tries of recipients that are settled.
    pub fn push(&mut self, source: Source, record: Record, out: &mut Vec<Attempt>) {
        let Record { time, id, event, line } = record;
        let (to, status, reply, relay) = match event {
            Event::Arrival { sender, message_id } => {
                let contact = !sender.is_empty();
                self.arrivals.insert(id, contact.then_some((sender, message_id)));
                return;
            }
            Event::Completed => {
                self.arrivals.remove(&id);
                return;
            }
            Event::Delivery { to, status, reply, relay } => (to, status, reply, relay),
        };
        let (sender, message_id) = match self.arrivals.get(&id) {
            Some(None) => return,
            Some(Some((sender, message_id))) => (Some(Name::sender(sender)), message_id.clone()),
            None => (None, None),
        };
        let attempt = Attempt {
            time,
            source,
            recipient: to,
            sender,
            message_id,
            message_key: ["exim/", id.as_str()].concat(),
            campaign_hint: None,
            campaign: None,
            status,
            reply,
            relay,
            line,
            tries: 1,
        };
        self.tries.push(attempt, out);
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

    /// What a state file keeps for the next run: the messages not completed and the deferrals held.
    pub fn state(&self) -> JoinerState {
        let mut arrivals: Vec<Arrival> = self
            .arrivals
            .iter()
            .map(|(id, a)| Arrival {
                id: id.clone(),
                sender: a.as_ref().map(|(s, _)| s.clone()),
                message_id: a.as_ref().and_then(|(_, m)| m.clone()),
            })
            .collect();
        arrivals.sort_by(|a, b| a.id.cmp(&b.id));
        JoinerState { arrivals, deferred: self.tries.held() }
    }

    /// A joiner that goes on from what an earlier run left.
    pub fn from_state(state: JoinerState) -> Self {
        let mut joiner = Joiner::new();
        for a in state.arrivals {
            joiner.arrivals.insert(a.id, a.sender.map(|s| (s, a.message_id)));
        }
        joiner.tries = joiner.tries.with_held(state.deferred);
        joiner
    }
}

/// Exim's messages in flight at the end of a run, as a state file keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JoinerState {
    /// The messages not completed.
    #[serde(default)]
    pub arrivals: Vec<Arrival>,
    /// The deferrals waiting for their final try.
    #[serde(default)]
    pub deferred: Vec<Attempt>,
}

/// A message's arrival: its Exim id, envelope sender (none for a notification) and message-id.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Arrival {
    /// The Exim message id.
    pub id: String,
    /// The envelope sender; none for a notification (`<= <>`).
    pub sender: Option<String>,
    /// The `id=` message-id.
    pub message_id: Option<String>,
}

/// Reads an Exim main log from `reader` in blocks, each block's lines parsed on all cores; `each` gets each block's
/// records with their sources, in log order, to be joined by a [`Joiner`] that spans the run's Exim files (so that
/// rotated logs give one history), and the latest time of a line read so far. `advanced` is told how many bytes each
/// block held.
pub fn read(
    reader: impl std::io::Read + Send,
    (file, zone): (u32, &Zone),
    stats: &mut FileStats,
    keep: &KeepLines,
    advanced: &mut (dyn FnMut(u64) + Send),
    each: &mut (dyn FnMut(Vec<(Source, Record)>, Option<Timestamp>) -> anyhow::Result<()> + Send),
) -> anyhow::Result<()> {
    let (mut latest, mut records) = (None, Vec::new());
    lines::stream_lines(
        reader,
        stats,
        advanced,
        |_, line| parse_line(line, keep, zone),
        |streamed, stats| match streamed {
            Streamed::Record(line, r) => {
                stats.used += 1;
                latest = latest.max(Some(r.time));
                records.push((Source { file, line }, r));
                Ok(())
            }
            Streamed::EndOfBlock => each(std::mem::take(&mut records), latest),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::smtp::SmtpCommand;

    fn used(line: &str) -> Record {
        match parse_line(line, &KeepLines::All, &Zone::Utc) {
            Parsed::Used(r) => r,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn delivery(line: &str) -> (String, Status, Reply, Option<String>) {
        match used(line).event {
            Event::Delivery { to, status, reply, relay } => (to, status, reply, relay),
            e => panic!("{line}: {e:?}"),
        }
    }

    #[test]
    fn message_ids_in_both_forms() {
        assert_eq!(message_id("1vM0WT-0000GA-35 <= a@b"), Some(("1vM0WT-0000GA-35", "<= a@b")));
        assert_eq!(message_id("10HmaX-000000005vi-0000 => x"), Some(("10HmaX-000000005vi-0000", "=> x")));
        for not in [
            "1vM0WT-0000GA-35",
            "1vM0WT-0000GA-351 x",
            "1vM0WT-0000GA-3 x",
            "1vM0WT_0000GA-35 x",
            "1vM0WT-0000GA-3é x",
            "10HmaX-000000005vi-000 x",
            "Start queue run: pid=1",
            "",
        ] {
            assert_eq!(message_id(not), None, "{not}");
        }
    }

    #[test]
    fn arrivals() {
        let r = used(
            "2025-11-20 09:00:01 1vM0WT-0000GA-35 <= Bounce+c1@news.example.com H=localhost [127.0.0.1] P=esmtp S=48199 id=c0001.1.3b@news.example.com",
        );
        assert_eq!(r.id, "1vM0WT-0000GA-35");
        assert_eq!(r.time, Timestamp::parse("2025-11-20T09:00:01Z").unwrap());
        assert_eq!(
            r.event,
            Event::Arrival {
                sender: "bounce+c1@news.example.com".into(),
                message_id: Some("c0001.1.3b@news.example.com".into())
            }
        );
        let r = used(
            "1999-03-02 09:44:33 10HmaY-000000005vi-0000 <= <> R=10HmaX-000000005vi-0000 U=EXIMUSER P=local S=sss",
        );
        assert_eq!(r.event, Event::Arrival { sender: String::new(), message_id: None });
    }

    #[test]
    fn deliveries() {
        let (to, status, reply, relay) = delivery(
            r#"2025-11-20 09:00:02 1vM0WT-0000GA-35 => a@gmail.com R=dnslookup T=remote_smtp H=gmail-smtp-in.l.google.com [142.250.102.26] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C="250 2.0.0 OK \"quoted\" - gsmtp""#,
        );
        assert_eq!(
            (to.as_str(), status, relay.as_deref()),
            ("a@gmail.com", Status::Delivered, Some("gmail-smtp-in.l.google.com"))
        );
        assert_eq!((reply.code, reply.text.as_str()), (Some(250), "OK \"quoted\" - gsmtp"));
        assert_eq!(reply.enhanced.map(|e| e.to_string()).as_deref(), Some("2.0.0"));
        // The original address, `F=<..>` ignored, `->`, no confirmation.
        let (to, status, reply, relay) = delivery(
            "1999-03-02 09:44:33 10HmbD-000000005vi-0000 -> pm@p.q <postmaster@x.y> F=<CALLER@myhost.test.ex> R=r9 T=t1 H=127.0.0.1 [127.0.0.1]",
        );
        assert_eq!(
            (to.as_str(), status, reply.code, relay.as_deref()),
            ("postmaster@x.y", Status::Delivered, Some(250), Some("127.0.0.1"))
        );
        assert_eq!(
            delivery("1999-03-02 09:44:33 10HmaY-000000005vi-0000 => :blackhole: <CALLER@test.ex> R=null").0,
            "caller@test.ex"
        );
        assert!(matches!(
            parse_line("1999-03-02 09:44:33 10HmaY-000000005vi-0000 *> a@b.c R=r T=t", &KeepLines::None, &Zone::Utc),
            Parsed::Ignored
        ));
    }

    #[test]
    fn deferrals_failures_and_expiries() {
        let (to, status, reply, relay) = delivery(
            "2025-11-20 09:00:02 +0100 [4242] 1vM0WT-0000GA-35 == b@x.y R=dnslookup T=remote_smtp defer (-44) H=mx.x.y [192.0.2.1]: SMTP error from remote mail server after RCPT TO:<b@x.y>: 451 4.7.1 Greylisted",
        );
        assert_eq!((to.as_str(), status, relay.as_deref()), ("b@x.y", Status::Deferred, Some("mx.x.y")));
        assert_eq!(
            (reply.code, reply.command, reply.text.as_str()),
            (Some(451), Some(SmtpCommand::RcptTo), "Greylisted")
        );
        assert_eq!(
            used("2025-11-20 09:00:02 +0100 [4242] 1vM0WT-0000GA-35 == b@x.y R=r defer (-1): x").time,
            Timestamp::parse("2025-11-20T08:00:02Z").unwrap()
        );
        let (_, status, reply, _) = delivery(
            "2025-11-20 09:00:02 1vM0WT-0000GA-35 == c@x.y R=dnslookup T=remote_smtp defer (110): Connection timed out",
        );
        assert_eq!((status, reply.code, reply.text.as_str()), (Status::Deferred, None, "Connection timed out"));
        let (to, status, reply, relay) = delivery(
            "2025-11-20 09:00:02.123 1vM0WT-0000GA-35 ** d@x.y R=dnslookup T=remote_smtp H=mx.x.y [192.0.2.1] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes: SMTP error from remote mail server after RCPT TO:<d@x.y>: 550-5.1.1 No such user\\n550 5.1.1 here",
        );
        assert_eq!((to.as_str(), status, relay.as_deref()), ("d@x.y", Status::Bounced, Some("mx.x.y")));
        assert_eq!((reply.code, reply.text.as_str()), (Some(550), "No such user here"));
        let (_, status, reply, relay) = delivery(
            "1999-03-02 09:44:33 10HmbC-000000005vi-0000 ** userx@myhost.test.ex F=<CALLER@myhost.test.ex> R=smartuser T=lmtp H=127.0.0.1 [127.0.0.1] : SMTP error from remote mail server after RCPT TO:<userx@myhost.test.ex>: 550 Receiver BAD",
        );
        assert_eq!(
            (status, reply.code, reply.text.as_str(), relay.as_deref()),
            (Status::Bounced, Some(550), "Receiver BAD", Some("127.0.0.1"))
        );
        let (to, status, reply, _) =
            delivery("2020-02-22 01:41:08 1j4ZTB-0001Sv-P4 ** noreply@pilgrimbrevet.se: Unrouteable address");
        assert_eq!(
            (to.as_str(), status, reply.text.as_str()),
            ("noreply@pilgrimbrevet.se", Status::Bounced, "Unrouteable address")
        );
        let (to, status, ..) =
            delivery("1999-03-02 09:44:33 10HmaX-000000005vi-0000 ** b@known.ex: retry timeout exceeded");
        assert_eq!((to.as_str(), status), ("b@known.ex", Status::Expired));
    }

    #[test]
    fn other_lines() {
        let completed =
            parse_line("1999-03-02 09:44:33 10HmaX-000000005vi-0000 Completed", &KeepLines::None, &Zone::Utc);
        assert!(matches!(completed, Parsed::Used(Record { event: Event::Completed, .. })), "{completed:?}");
        for ignored in [
            "1999-03-02 09:44:33 10HmaX-000000005vi-0000 Completed with trailing words",
            "1999-03-02 09:44:33 Start queue run: pid=p1234",
            "2022-06-29 15:33:46 H=test.com [1.2.3.4]:53343 F=<info@test.com> rejected RCPT <toto@toto.com>: \"JunkMail\"",
            "2017-12-03 08:32:00 no host name found for IP address 192.0.2.8",
            "1999-03-02 09:44:33 10HmaX-000000005vi-0000 H=V4NET.0.0.1 [V4NET.0.0.1] Network Error",
            "1999-03-02 09:44:33 10HmbH-000000005vi-0000 ** mua_wrapper is set but recipients cannot all be delivered",
            "2019-10-22 03:39:17 mx1.fqdn.local exim[29786]: dovecot_login authenticator failed for (User) [192.0.2.37]",
            "",
        ] {
            assert!(matches!(parse_line(ignored, &KeepLines::None, &Zone::Utc), Parsed::Ignored), "{ignored}");
        }
        for malformed in ["******** SERVER ********", "# failJSON: {}", "2013-13-45 10:00:00 x", "\u{1}\u{2}é"] {
            assert!(matches!(parse_line(malformed, &KeepLines::None, &Zone::Utc), Parsed::Malformed(_)), "{malformed}");
        }
        assert!(matches!(
            parse_line("2025-11-20 09:00:02 1vM0WT-0000GA-35 == ", &KeepLines::None, &Zone::Utc),
            Parsed::Malformed(_)
        ));
        assert!(looks_like(
            "2022-06-29 16:04:19 dovecot_login authenticator failed for ([1.2.3.5]) [1.2.3.4]:55379: 535"
        ));
        assert!(looks_like("1999-03-02 09:44:33 10HmaX-000000005vi-0000 Completed"));
        assert!(!looks_like("Nov 20 09:00:00 mta1 postfix/qmgr[1]: A: removed"));
        assert!(!looks_like("campaign_id,email,timestamp,log"));
    }

    #[test]
    fn join_leaves_out_notifications_and_expires_with_the_last_deferral() {
        let lines = [
            "2025-11-20 09:00:00 1vM0WT-0000GA-35 <= b@n.example H=localhost [127.0.0.1] P=esmtp S=1 id=m1@n.example",
            "2025-11-20 09:00:01 1vM0WT-0000GA-35 == a@y.example R=dnslookup T=remote_smtp defer (-44) H=mx.y.example [192.0.2.1]: SMTP error from remote mail server after RCPT TO:<a@y.example>: 452 4.2.2 over quota",
            "2025-11-25 09:00:01 1vM0WT-0000GA-35 ** a@y.example: retry timeout exceeded",
            "2025-11-25 09:00:01 1vNxyz-0000GB-36 <= <> R=1vM0WT-0000GA-35 U=Debian-exim P=local S=3000",
            "2025-11-25 09:00:01 1vM0WT-0000GA-35 Completed",
            "2025-11-25 09:00:02 1vNxyz-0000GB-36 => b@n.example R=dnslookup T=remote_smtp H=bounce-in [192.0.2.25] C=\"250 ok\"",
        ];
        let records = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match parse_line(l, &KeepLines::All, &Zone::Utc) {
                Parsed::Used(r) => Some((Source { file: 0, line: i as u64 + 1 }, r)),
                _ => None,
            })
            .collect();
        let attempts = join(records);
        assert_eq!(attempts.len(), 2);
        assert_eq!(attempts[0].status, Status::Deferred);
        let expired = &attempts[1];
        assert_eq!(
            (expired.status, expired.reply.code, expired.relay.as_deref()),
            (Status::Expired, Some(452), Some("mx.y.example"))
        );
        assert_eq!(
            (expired.message_id.as_deref(), expired.sender.as_deref()),
            (Some("m1@n.example"), Some("b@n.example"))
        );
        assert_eq!(expired.message_key, attempts[0].message_key);
        assert_eq!(expired.line.as_deref(), Some(lines[2]));
    }
}
