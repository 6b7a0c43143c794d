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
//! Lines are parsed independently (in parallel); their syslog times get their years from the whole file
//! ([`super::syslog::resolve_years`]); then they are joined by host and queue id after a sort.

use std::collections::HashSet;

use crate::domain::attempt::{Attempt, Source, Status, normalize_address};
use crate::domain::smtp::{EnhancedCode, Reply};
use crate::domain::time::Timestamp;

use super::KeepLines;
use super::lines::Parsed;
use super::syslog::{LineTime, parse_syslog};

/// What one Sendmail line says about a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `from=<..>, ..., msgid=<..>`: the envelope sender (empty for notifications) and the message-id.
    Sender {
        /// The envelope sender, normalised.
        sender: String,
        /// The `msgid=`, without angle brackets.
        message_id: Option<String>,
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
        Event::Sender { sender: normalize_address(sender), message_id }
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
    let mut reply = Reply::parse(text);
    if reply.enhanced.is_none() {
        reply.enhanced = dsn;
    }
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

/// Joins the records of all Sendmail files (with their sources and resolved times) into attempts.
pub fn join(mut records: Vec<(Source, Timestamp, Record)>) -> Vec<Attempt> {
    let notifications: HashSet<(String, String)> = records
        .iter()
        .filter_map(|(_, _, r)| match &r.event {
            Event::Notification { id, .. } => Some((r.host.clone(), id.clone())),
            _ => None,
        })
        .collect();
    records.sort_by(|a, b| (&a.2.host, &a.2.queue_id, a.1, a.0).cmp(&(&b.2.host, &b.2.queue_id, b.1, b.0)));
    let mut attempts = Vec::new();
    let mut rest = records.as_mut_slice();
    while !rest.is_empty() {
        let n = rest.iter().take_while(|r| r.2.host == rest[0].2.host && r.2.queue_id == rest[0].2.queue_id).count();
        let (group, tail) = rest.split_at_mut(n);
        let is_notification = notifications.contains(&(group[0].2.host.clone(), group[0].2.queue_id.clone()))
            || group.iter().any(|r| matches!(&r.2.event, Event::Sender { sender, .. } if sender.is_empty()));
        if !is_notification {
            join_queue_id(group, &mut attempts);
        }
        rest = tail;
    }
    attempts
}

/// The records of one host and queue id, in time order.
fn join_queue_id(group: &mut [(Source, Timestamp, Record)], out: &mut Vec<Attempt>) {
    let (sender, message_id) = group
        .iter()
        .find_map(|(_, _, r)| match &r.event {
            Event::Sender { sender, message_id } => Some((Some(sender.clone()), message_id.clone())),
            _ => None,
        })
        .unwrap_or((None, None));
    // Recipients whose last try was a deferral: an expiry notification settles them.
    let mut deferred: Vec<usize> = Vec::new();
    for (source, time, record) in group.iter_mut() {
        match &mut record.event {
            Event::Sender { .. } => {}
            Event::Notification { expired, .. } => {
                if !*expired {
                    continue;
                }
                for &k in &deferred {
                    let mut expiry = out[k].clone();
                    expiry.time = *time;
                    expiry.source = *source;
                    expiry.status = Status::Expired;
                    expiry.line = record.line.clone();
                    out.push(expiry);
                }
                deferred.clear();
            }
            Event::Delivery { to, status, reply, relay } => {
                for raw in to.iter() {
                    let recipient = normalize_address(raw);
                    deferred.retain(|&k| out[k].recipient != recipient);
                    if *status == Status::Deferred {
                        deferred.push(out.len());
                    }
                    out.push(Attempt {
                        time: *time,
                        source: *source,
                        recipient,
                        sender: sender.clone(),
                        message_id: message_id.clone(),
                        message_key: format!("sendmail/{}/{}", record.host, record.queue_id),
                        campaign_hint: None,
                        campaign: None,
                        status: *status,
                        reply: reply.clone(),
                        relay: relay.clone(),
                        line: record.line.clone(),
                        tries: 1,
                    });
                }
            }
        }
    }
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
                message_id: Some("200508081028.j78ASkKG011031@blanditiis.crunch.zap".into())
            }
        );
        assert_eq!(
            used("Jan  6 02:37:32 Jupiter sendmail[809]: j061bW9V000809: from=maddingue, size=2039, class=0").event,
            Event::Sender { sender: "maddingue".into(), message_id: None }
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
    }
}
