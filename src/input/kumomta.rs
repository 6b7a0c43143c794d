//! KumoMTA log records: one JSON object per line, as KumoMTA's local logger writes them (after decompression).
//!
//! Every record has a `type`. `Delivery`, `Bounce`, `TransientFailure` and `Expiration` are the tries and ends of a
//! delivery; `AdminBounce` (an operator bounced the message out of the queue) is taken as a bounce, its response
//! judged like any other. `Reception`, `Delayed`, `Rejection`, `OOB`, `Feedback` and any other type are well formed
//! but are not tries of ours, and are counted as ignored (out-of-band bounces and feedback loops are not attributed
//! to a send here).
//!
//! KumoMTA has already taken the response apart (`response.code`, `response.enhanced_code`, `response.content`,
//! `response.command`); it is put back together and read by [`Reply::parse`] so that every MTA's responses are
//! cleaned the same way. `id` is the spool id of the message, which ties its tries together across rotated log
//! segments; `queue` is the scheduled queue, named `campaign:tenant@domain` when a campaign is set, and that campaign
//! is the attempt's campaign hint. An `Expiration` record carries KumoMTA's own words (`exceeds max_age`), so, as for
//! the other MTAs, the expiry is given the last deferral's response when the file has one.
//!
//! The file is read in blocks, each block's lines parsed in parallel; a line that is not JSON, or a try without a
//! recipient or a time, is malformed.

use std::borrow::Cow;
use std::io::Read;

use anyhow::Result;
use serde::Deserialize;

use crate::domain::attempt::{Attempt, Source, Status, normalize_address};
use crate::domain::campaign::normalize_message_id;
use crate::domain::name::Name;
use crate::domain::smtp::{Reply, SmtpCommand};
use crate::domain::time::Timestamp;

use super::lines::{self, Parsed, Streamed};
use super::tries::{Expiry, TryQueue};
use super::{FileStats, KeepLines};

/// The record types KumoMTA documents.
const TYPES: &[&str] = &[
    "Reception",
    "Delivery",
    "Bounce",
    "TransientFailure",
    "Expiration",
    "AdminBounce",
    "OOB",
    "Feedback",
    "Rejection",
    "Delayed",
];

/// Whether the first lines look like KumoMTA log records: the first non-empty line is a JSON object with a `type`
/// that KumoMTA documents.
pub fn looks_like(head: &str) -> bool {
    let Some(first) = head.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return false;
    };
    if !first.starts_with('{') {
        return false;
    }
    let Some(at) = first.find("\"type\"") else {
        return false;
    };
    let value = first[at + "\"type\"".len()..].trim_start().trim_start_matches(':').trim_start();
    TYPES.iter().any(|t| value.strip_prefix('"').and_then(|v| v.strip_prefix(t)).is_some_and(|v| v.starts_with('"')))
}

/// The fields of a log record that matter here; the others are skipped.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    sender: Option<Cow<'a, str>>,
    #[serde(default)]
    recipient: Option<Recipients>,
    #[serde(borrow, default)]
    queue: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    response: Option<Response<'a>>,
    #[serde(borrow, default)]
    peer_address: Option<Peer<'a>>,
    #[serde(default)]
    timestamp: Option<f64>,
    #[serde(borrow, default)]
    event_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    headers: Option<Headers<'a>>,
}

/// `headers`, of which only the Message-ID matters. Its value is taken as the map is read, and every other header is
/// skipped unread: a map of every header and value, made for each record, cost more than the rest of the record.
/// Where the logger recorded the header under more than one spelling, the first decides.
#[derive(Default)]
struct Headers<'a> {
    message_id: Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Headers<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Headers<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of headers")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Headers<'de>, A::Error> {
                let mut found: Option<Option<Cow<'de, str>>> = None;
                while let Some(Text(name)) = map.next_key::<Text>()? {
                    match name {
                        Some(name) if found.is_none() && name.eq_ignore_ascii_case("message-id") => {
                            found = Some(map.next_value::<FirstText>()?.0);
                        }
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(Headers { message_id: found.flatten() })
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// A JSON value that is a string (borrowed where it has no escapes), or nothing for any other value.
struct Text<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor { first_of_list: false })
    }
}

/// A header's value: a string, or the first string of a list of them (a header given more than once).
struct FirstText<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for FirstText<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor { first_of_list: true }).map(|Text(t)| FirstText(t))
    }
}

/// Reads [`Text`] and [`FirstText`]: any other value is read through and gives nothing.
struct TextVisitor {
    first_of_list: bool,
}

impl<'de> serde::de::Visitor<'de> for TextVisitor {
    type Value = Text<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Some(Cow::Borrowed(v))))
    }
    fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
        Ok(Text(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
        Ok(Text(Some(Cow::Owned(v))))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Text<'de>, E> {
        Ok(Text(None))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Text<'de>, E> {
        Ok(Text(None))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Text<'de>, E> {
        Ok(Text(None))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Text<'de>, E> {
        Ok(Text(None))
    }
    fn visit_unit<E>(self) -> Result<Text<'de>, E> {
        Ok(Text(None))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Text<'de>, A::Error> {
        let first = if self.first_of_list { seq.next_element::<Text>()?.and_then(|Text(t)| t) } else { None };
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Text(first))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Text<'de>, A::Error> {
        while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }
}

/// One recipient, or (since 2025.12) the recipients of a batch.
#[derive(Deserialize)]
#[serde(untagged)]
enum Recipients {
    One(String),
    Many(Vec<String>),
}

/// `response`.
#[derive(Deserialize)]
struct Response<'a> {
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    enhanced_code: Option<Enhanced>,
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    command: Option<Cow<'a, str>>,
}

/// `response.enhanced_code`.
#[derive(Deserialize)]
struct Enhanced {
    class: u8,
    subject: u16,
    detail: u16,
}

/// `peer_address`.
#[derive(Deserialize)]
struct Peer<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

/// Reads KumoMTA log records held in `bytes`, whole; `file` is the file's index in the run's list and `stats` its
/// accounting. Never fails on the content: lines that cannot be read are counted as malformed. Each expiry is given
/// the response of the last deferral before it (see [`TryQueue`]); the attempts are in file order.
pub fn parse(bytes: &[u8], file: u32, stats: &mut FileStats, keep: &KeepLines) -> Result<Vec<Attempt>> {
    let mut queue = TryQueue::new(Expiry::LastDeferral);
    let mut attempts = Vec::new();
    read(bytes, file, stats, keep, &mut |_| {}, &mut |batch, _| {
        for a in batch {
            queue.push(a, &mut attempts);
        }
        Ok(())
    })?;
    queue.finish(&mut attempts);
    attempts.sort_by_key(|a| a.source);
    Ok(attempts)
}

/// Reads KumoMTA log records from `reader` in blocks, each block's lines parsed on all cores; `each` gets each
/// block's attempts, in file order, and the latest time of a record read so far. `advanced` is told how many bytes
/// each block held. An expiry carries KumoMTA's own words: giving it the last deferral's response is left to a
/// [`TryQueue`].
pub fn read(
    reader: impl Read + Send,
    file: u32,
    stats: &mut FileStats,
    keep: &KeepLines,
    advanced: &mut (dyn FnMut(u64) + Send),
    each: &mut (dyn FnMut(Vec<Attempt>, Option<Timestamp>) -> Result<()> + Send),
) -> Result<()> {
    let (mut latest, mut batch) = (None, Vec::new());
    let parse = |line_no, line: &str| parse_line(line, Source { file, line: line_no }, keep);
    lines::stream_lines(reader, stats, advanced, parse, |streamed, stats| match streamed {
        Streamed::Record(_, attempts) => {
            stats.used += 1;
            latest = latest.max(attempts.first().map(|a: &Attempt| a.time));
            batch.extend(attempts);
            Ok(())
        }
        Streamed::EndOfBlock => each(std::mem::take(&mut batch), latest),
    })
}

/// Parses one line into its attempts (one per recipient).
fn parse_line(line: &str, source: Source, keep: &KeepLines) -> Parsed<Vec<Attempt>> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Parsed::Ignored;
    }
    let record: Record = match serde_json::from_str(trimmed) {
        Ok(r) => r,
        Err(e) => return Parsed::Malformed(format!("not a KumoMTA JSON log record: {e}")),
    };
    let status = match &*record.kind {
        "Delivery" => Status::Delivered,
        "Bounce" | "AdminBounce" => Status::Bounced,
        "TransientFailure" => Status::Deferred,
        "Expiration" => Status::Expired,
        _ => return Parsed::Ignored,
    };
    let recipients: Vec<String> = match &record.recipient {
        Some(Recipients::One(r)) => vec![normalize_address(r)],
        Some(Recipients::Many(rs)) => rs.iter().map(|r| normalize_address(r)).collect(),
        None => Vec::new(),
    };
    if recipients.is_empty() || recipients.iter().any(|r| !r.contains('@')) {
        return Parsed::Malformed(format!("{} record without a recipient address", record.kind));
    }
    let time = match record.event_time.as_deref().and_then(Timestamp::parse).or_else(|| {
        record
            .timestamp
            .filter(|t| t.is_finite() && t.abs() < 1e12)
            .map(|t| Timestamp::from_millis((t * 1000.0) as i64))
    }) {
        Some(t) => t,
        None => return Parsed::Malformed(format!("{} record without a valid event_time or timestamp", record.kind)),
    };
    let keep_line = match keep {
        KeepLines::None => false,
        KeepLines::All => true,
        KeepLines::For(set) => recipients.iter().any(|r| set.contains(r)),
    };
    let reply = record.response.as_ref().map(reply).unwrap_or_default();
    let relay = record
        .peer_address
        .as_ref()
        .and_then(|p| p.name.as_deref())
        .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|n| !n.is_empty());
    let message_key = match record.id.as_deref().map(str::trim).filter(|i| !i.is_empty()) {
        Some(id) => format!("kumo/{id}"),
        None => format!("kumo/{}/{}", source.file, source.line),
    };
    let attempt = Attempt {
        time,
        source,
        recipient: String::new(),
        sender: record.sender.as_deref().map(|s| Name::sender(&normalize_address(s))),
        message_id: record.headers.and_then(|h| h.message_id).and_then(|m| message_id(&m)),
        message_key,
        campaign_hint: record.queue.as_deref().and_then(campaign_of_queue).map(str::to_string),
        campaign: None,
        status,
        reply,
        relay,
        line: keep_line.then(|| line.to_string()),
        tries: 1,
    };
    Parsed::Used(recipients.into_iter().map(|recipient| Attempt { recipient, ..attempt.clone() }).collect())
}

/// The response put back together as the server said it (`552 5.2.2 text`) and taken apart the common way.
fn reply(r: &Response) -> Reply {
    let mut raw = String::new();
    if let Some(code) = r.code.filter(|c| (200..600).contains(c)) {
        raw.push_str(&code.to_string());
        raw.push(' ');
    }
    if let Some(e) = &r.enhanced_code
        && matches!(e.class, 2 | 4 | 5)
        && e.subject < 1000
        && e.detail < 1000
    {
        raw.push_str(&format!("{}.{}.{} ", e.class, e.subject, e.detail));
    }
    raw.push_str(r.content.as_deref().unwrap_or(""));
    let mut reply = Reply::parse(&raw);
    reply.command = r.command.as_deref().and_then(SmtpCommand::from_words).or(reply.command);
    reply
}

/// The `Message-ID` header, when the logger is configured to record it.
fn message_id(text: &str) -> Option<String> {
    let id = normalize_message_id(text);
    (!id.is_empty()).then(|| id.to_string())
}

/// The campaign of a scheduled queue name. KumoMTA names queues `campaign:tenant@domain`, `campaign:@domain`,
/// `tenant@domain` or `domain` (each optionally followed by `!routing_domain`): only a `:` before the `@` sets off a
/// campaign; the other forms have none.
pub fn campaign_of_queue(queue: &str) -> Option<&str> {
    let (local, _) = queue.split_once('@')?;
    let (campaign, _) = local.split_once(':')?;
    let campaign = campaign.trim();
    (!campaign.is_empty()).then_some(campaign)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (Vec<Attempt>, FileStats) {
        let mut stats = FileStats::new("k.jsonl".into(), "kumomta");
        let a = parse(text.as_bytes(), 1, &mut stats, &KeepLines::All).unwrap();
        (a, stats)
    }

    #[test]
    fn detection() {
        assert!(looks_like("{\"type\":\"Reception\",\"id\":\"x\"}\n"));
        assert!(looks_like("\n{\"id\": \"x\", \"type\": \"Delayed\", \"response\": {}}"));
        assert!(!looks_like("{\"type\":\"Other\"}"));
        assert!(!looks_like("type,orig,rcpt"));
        assert!(!looks_like(""));
    }

    #[test]
    fn records_become_attempts() {
        let (a, stats) = run(concat!(
            r#"{"type":"Reception","id":"m1","recipient":"a@x.example","queue":"c7:t@x.example","timestamp":1}"#,
            "\n",
            r#"{"type":"TransientFailure","id":"m1","sender":"B@n.example","recipient":"A@x.example","queue":"c7:t@x.example","response":{"code":452,"enhanced_code":{"class":4,"subject":2,"detail":2},"content":"over quota","command":"RCPT TO:<a@x.example>\r\n"},"peer_address":{"name":"mx.x.example.","addr":"192.0.2.1"},"timestamp":1763629432,"event_time":"2025-11-20T09:03:52.691532723Z","headers":{"Message-ID":"<m1@n.example>"}}"#,
            "\n",
            r#"{"type":"Expiration","id":"m1","recipient":"a@x.example","queue":"c7:t@x.example","response":{"code":551,"enhanced_code":{"class":5,"subject":4,"detail":7},"content":"exceeds max_age","command":null},"peer_address":null,"timestamp":1764067091}"#,
            "\n",
            r#"{"type":"Delivery","id":"m2","recipient":["c@y.example","d@y.example"],"queue":"y.example","response":{"code":250,"enhanced_code":null,"content":"OK","command":"."},"timestamp":1764067091}"#,
            "\n{not json\n\n",
            r#"{"type":"Bounce","id":"m3","response":{"code":550},"timestamp":1}"#,
            "\n",
            r#"{"type":"AdminBounce","id":"m4","recipient":"e@z.example","queue":"x","response":{"code":551,"content":"Administrative bounce"},"timestamp":"soon"}"#,
            "\n",
        ));
        assert_eq!((stats.read, stats.used, stats.ignored, stats.malformed), (8, 3, 2, 3));
        assert_eq!(stats.malformed_lines.iter().map(|m| m.0).collect::<Vec<_>>(), [5, 7, 8]);
        assert!(stats.malformed_lines[1].1.contains("without a recipient"), "{:?}", stats.malformed_lines);
        let t = &a[0];
        assert_eq!((t.recipient.as_str(), t.status, t.reply.code), ("a@x.example", Status::Deferred, Some(452)));
        assert_eq!((t.reply.text.as_str(), t.reply.command), ("over quota", Some(SmtpCommand::RcptTo)));
        assert_eq!((t.relay.as_deref(), t.sender.as_deref()), (Some("mx.x.example"), Some("b@n.example")));
        assert_eq!((t.message_id.as_deref(), t.campaign_hint.as_deref()), (Some("m1@n.example"), Some("c7")));
        assert_eq!((t.time.rfc3339(), t.time.civil().ms), ("2025-11-20T09:03:52Z".to_string(), 691));
        assert_eq!((t.source, t.message_key.as_str()), (Source { file: 1, line: 2 }, "kumo/m1"));
        let e = &a[1];
        assert_eq!((e.status, e.reply.code, e.time), (Status::Expired, Some(452), Timestamp::from_secs(1_764_067_091)));
        assert_eq!(e.relay, None);
        assert_eq!(a[2].recipient, "c@y.example");
        assert_eq!(
            (a[3].recipient.as_str(), a[3].status, a[3].campaign_hint.as_deref()),
            ("d@y.example", Status::Delivered, None)
        );
        assert_eq!(a[3].reply.command, Some(SmtpCommand::EndOfData));
    }

    #[test]
    fn the_message_id_header_in_its_forms() {
        let line = |headers: &str| {
            format!(
                r#"{{"type":"Delivery","id":"m1","recipient":"a@x.example","timestamp":1,"response":{{"code":250}},"headers":{headers}}}"#
            )
        };
        let id = |headers: &str| {
            let (a, stats) = run(&line(headers));
            assert_eq!((stats.used, stats.malformed), (1, 0), "{headers}");
            a[0].message_id.clone()
        };
        assert_eq!(id(r#"{"Subject":"Hi","message-id":"<m1@n.example>"}"#).as_deref(), Some("m1@n.example"));
        assert_eq!(id(r#"{"Message-ID":["<m2@n.example>","<m3@n.example>"]}"#).as_deref(), Some("m2@n.example"));
        assert_eq!(id(r#"{"Message-ID":"<m\u0034@n.example>"}"#).as_deref(), Some("m4@n.example"), "an escape");
        // Two spellings: the first decides, whatever order a map would have kept them in.
        assert_eq!(
            id(r#"{"Message-Id":"<a@n.example>","MESSAGE-ID":"<b@n.example>"}"#).as_deref(),
            Some("a@n.example")
        );
        assert_eq!(id(r#"{"X":{"y":[1,null,true]},"Message-ID":7}"#), None);
        assert_eq!(id(r#"{}"#), None);
        assert_eq!(id("null"), None);
        let (_, stats) = run(&line(r#"{"Message-ID":}"#));
        assert_eq!(stats.malformed, 1, "a header map that is not JSON");
    }

    #[test]
    fn queue_names() {
        assert_eq!(campaign_of_queue("c0001:news@gmail.com"), Some("c0001"));
        assert_eq!(campaign_of_queue("spring:@example.com!smarthost.example"), Some("spring"));
        assert_eq!(campaign_of_queue("tenant@example.com"), None);
        assert_eq!(campaign_of_queue("example.com"), None);
        assert_eq!(campaign_of_queue("[IPv6:::1]"), None);
    }
}
