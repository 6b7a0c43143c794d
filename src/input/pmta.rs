//! PowerMTA accounting files: CSV (RFC 4180) with a header row naming the fields, one row per record.
//!
//! PowerMTA writes one accounting record per recipient and event, and the operator chooses which record types and
//! which fields go into a file (`record-fields`), so columns are found by name, in any order, and custom fields such
//! as `header_X-Job` are welcome. The first column is always `type`: `d` (delivered), `b` (bounced) and `t`
//! (transient failure, a deferral) are delivery tries; `r`, `tq`, `f`, `rb`, `rs` and any other type are well formed
//! but not tries of ours, and are counted as ignored.
//!
//! The server's words are in `dsnDiag` (`smtp;550 5.1.1 user unknown`), the RFC 3463 code in `dsnStatus`
//! (`5.1.1 (bad destination mailbox address)`), the receiving host in `dsnMta` (`mx.example.org (192.0.2.1)`).
//! PowerMTA's own `bounceCat` is deliberately kept out of the verdict: our classifier decides from the server's text,
//! the same way for every MTA. It is used only to recognise an expiry, which PowerMTA writes as a `b` record
//! (`bounceCat` `message-expired`, `dsnStatus` `4.4.7`) whose `dsnDiag` is the last deferral's response.
//!
//! Tries of one message are tied together by `header_Message-Id` (or `envId`): outcomes are settled per message and
//! recipient, so a deferral followed by a delivery is one delivered message. A row with neither stands alone. The
//! file is read as a stream, in blocks that end where a record ends, and a message's deferrals wait in the run's
//! [`super::tries::TryQueue`] for its final record.

use std::borrow::Cow;
use std::io::Read;

use anyhow::Result;

use crate::domain::attempt::{Attempt, Source, Status, normalize_address};
use crate::domain::campaign::normalize_message_id;
use crate::domain::name::Name;
use crate::domain::smtp::{EnhancedCode, Reply};
use crate::domain::time::Timestamp;

use super::columns;
use super::lines::Parsed;
use super::{FileStats, KeepLines};

/// What the file is called in messages.
const WHAT: &str = "PowerMTA accounting file";

/// Whether the first lines look like a PowerMTA accounting file: a CSV header whose first field is `type` and which
/// names the recipient field `rcpt`.
pub fn looks_like(head: &str) -> bool {
    let Some(first) = head.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return false;
    };
    let cells: Vec<String> = first
        .split(',')
        .map(|c| c.trim().trim_start_matches('\u{feff}').trim_matches('"').to_ascii_lowercase())
        .collect();
    cells.first().is_some_and(|c| c == "type") && cells.iter().any(|c| c == "rcpt")
}

/// The column indexes a file gives.
struct Columns {
    kind: usize,
    rcpt: usize,
    time: Option<usize>,
    orig: Option<usize>,
    status: Option<usize>,
    diag: Option<usize>,
    mta: Option<usize>,
    bounce_cat: Option<usize>,
    job: Option<usize>,
    env: Option<usize>,
    message_id: Option<usize>,
}

impl Columns {
    fn find(headers: &csv::StringRecord, stats: &mut FileStats) -> Result<Self> {
        let find = |names: &[&str]| columns::find(headers, names);
        let time = find(&["timelogged", "timequeued"]);
        if time.is_none() {
            stats.warn(
                "no timeLogged or timeQueued column: attempts are dated 1970-01-01 and kept in file order".into(),
            );
        }
        Ok(Columns {
            kind: columns::require(headers, &["type"], &stats.name, WHAT)?,
            rcpt: columns::require(headers, &["rcpt"], &stats.name, WHAT)?,
            time,
            orig: find(&["orig"]),
            status: find(&["dsnstatus"]),
            diag: find(&["dsndiag"]),
            mta: find(&["dsnmta"]),
            bounce_cat: find(&["bouncecat"]),
            job: find(&["jobid"]),
            env: find(&["envid"]),
            message_id: find(&["header_message_id"]),
        })
    }
}

/// Reads a PowerMTA accounting file held in `bytes`, whole; `file` is its index in the run's list and `stats` its
/// accounting. A file without a `type` or `rcpt` column is an error naming the file.
pub fn parse(bytes: &[u8], file: u32, stats: &mut FileStats, keep: &KeepLines) -> Result<Vec<Attempt>> {
    let mut attempts = Vec::new();
    read(bytes, file, stats, keep, &mut |_| {}, &mut |batch, _| {
        attempts.extend(batch);
        Ok(())
    })?;
    Ok(attempts)
}

/// Reads a PowerMTA accounting file from `reader` in blocks of whole records, each block's rows turned into
/// attempts on all cores, range by range, while the block before is handled (see [`columns::read_in_ranges`]);
/// `each` gets each block's attempts, in file order, and the latest time of a row read so far. `advanced` is told
/// how many bytes each block held.
pub fn read(
    reader: impl Read + Send,
    file: u32,
    stats: &mut FileStats,
    keep: &KeepLines,
    advanced: &mut (dyn FnMut(u64) + Send),
    each: &mut (dyn FnMut(Vec<Attempt>, Option<Timestamp>) -> Result<()> + Send),
) -> Result<()> {
    let name = stats.name.clone();
    let rows = |bytes: &[u8], lines_before: u64, c: &Columns, fields: usize| -> (FileStats, Vec<Attempt>) {
        let mut part = FileStats::new(name.clone(), "pmta");
        let mut reader = columns::range_reader(bytes, fields);
        let mut record = csv::ByteRecord::new();
        // Rows are seldom shorter than 200 bytes: room for them all at once.
        let mut attempts = Vec::with_capacity(bytes.len() / 200 + 1);
        loop {
            let (line, range) = match columns::next_row(&mut reader, &mut record, &mut part, lines_before) {
                columns::Row::Read(line, range) => (line, range),
                columns::Row::Skipped => continue,
                columns::Row::End => break,
            };
            let raw = || raw_row(bytes, Some(range.start as usize), range.end as usize, &record);
            match attempt(&record, c, Source { file, line }, keep, raw) {
                Parsed::Used(a) => {
                    part.used += 1;
                    attempts.push(a);
                }
                Parsed::Ignored => part.ignored += 1,
                Parsed::Malformed(why) => part.malformed(line, why),
            }
        }
        (part, attempts)
    };
    let mut latest: Option<Timestamp> = None;
    columns::read_in_ranges(reader, stats, Columns::find, rows, |ranges, bytes| {
        advanced(bytes);
        columns::hand_on(ranges, &mut latest, each)
    })
}

/// One row as an attempt from the file's row `source`, with its line as written (`raw`) where it is kept.
fn attempt(
    record: &csv::ByteRecord,
    c: &Columns,
    source: Source,
    keep: &KeepLines,
    raw: impl FnOnce() -> String,
) -> Parsed<Attempt> {
    let mut a = match row(record, c) {
        Parsed::Used(a) => a,
        Parsed::Ignored => return Parsed::Ignored,
        Parsed::Malformed(why) => return Parsed::Malformed(why),
    };
    let keep_line = match keep {
        KeepLines::None => false,
        KeepLines::All => true,
        KeepLines::For(set) => set.contains(&a.recipient),
    };
    if keep_line {
        a.line = Some(raw());
    }
    a.source = source;
    a.message_key = match (&a.message_id, c.env.and_then(|i| cell(record, i))) {
        (Some(mid), _) => format!("pmta/mid/{mid}"),
        (None, Some(env)) => format!("pmta/env/{env}"),
        (None, None) => format!("pmta/{}/{}", source.file, source.line),
    };
    Parsed::Used(a)
}

/// A trimmed, non-empty cell, borrowed from the record unless it is not valid UTF-8 (then with its bad bytes
/// replaced): a row has a dozen cells, and a string made for each was most of the time spent on it.
fn cell(record: &csv::ByteRecord, i: usize) -> Option<Cow<'_, str>> {
    let bytes = record.get(i)?;
    let s = match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s.trim()),
        Err(_) => Cow::Owned(String::from_utf8_lossy(bytes).trim().to_string()),
    };
    (!s.is_empty()).then_some(s)
}

/// The row as written in the file (without its line end), or its cells joined when the position is unknown.
fn raw_row(bytes: &[u8], start: Option<usize>, end: usize, record: &csv::ByteRecord) -> String {
    match start.and_then(|s| bytes.get(s..end.max(s))) {
        Some(raw) => String::from_utf8_lossy(raw).trim_end_matches(['\r', '\n']).to_string(),
        None => record.iter().map(String::from_utf8_lossy).collect::<Vec<_>>().join(","),
    }
}

/// One row as an attempt; its source, key and line are filled in by the caller.
fn row(record: &csv::ByteRecord, c: &Columns) -> Parsed<Attempt> {
    let get = |i: Option<usize>| i.and_then(|i| cell(record, i));
    let kind = get(Some(c.kind)).unwrap_or_default();
    let is = |a: &str, b: &str| kind.eq_ignore_ascii_case(a) || kind.eq_ignore_ascii_case(b);
    let status = if is("d", "delivery") {
        Status::Delivered
    } else if is("b", "bounce") {
        Status::Bounced
    } else if is("t", "transient") {
        Status::Deferred
    } else if kind.is_empty() {
        return Parsed::Malformed(format!("empty record type in column {}", c.kind + 1));
    } else {
        return Parsed::Ignored;
    };
    let recipient = normalize_address(&get(Some(c.rcpt)).unwrap_or_default());
    if recipient.is_empty() || !recipient.contains('@') {
        return Parsed::Malformed(format!("no recipient address in column {} (rcpt)", c.rcpt + 1));
    }
    let time = match c.time {
        None => Timestamp::default(),
        Some(i) => {
            let raw = get(Some(i)).unwrap_or_default();
            match parse_time(&raw) {
                Some(t) => t,
                None => {
                    return Parsed::Malformed(format!(
                        "time '{raw}' in column {} is neither `2025-11-20 09:00:15+0000` nor a Unix time",
                        i + 1
                    ));
                }
            }
        }
    };
    let dsn_status = get(c.status).unwrap_or_default();
    let diag = get(c.diag).unwrap_or_default();
    let reply = reply(&diag, &dsn_status);
    let status = if status == Status::Bounced && is_expiry(get(c.bounce_cat).as_deref(), &dsn_status, &diag) {
        Status::Expired
    } else {
        status
    };
    Parsed::Used(Attempt {
        time,
        source: Source::default(),
        recipient,
        sender: c.orig.map(|i| Name::sender(&normalize_address(&get(Some(i)).unwrap_or_default()))),
        message_id: get(c.message_id).map(|m| normalize_message_id(&m).to_string()).filter(|m| !m.is_empty()),
        message_key: String::new(),
        campaign_hint: get(c.job).map(Cow::into_owned),
        campaign: None,
        status,
        reply,
        relay: get(c.mta).and_then(|m| relay(&m)),
        line: None,
        tries: 1,
    })
}

/// `timeLogged` as PowerMTA writes it: `2025-11-20 09:00:15+0000`, RFC 3339, or (its default) a Unix `time_t`.
fn parse_time(raw: &str) -> Option<Timestamp> {
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = raw.parse().ok()?;
        return (secs < 1 << 40).then(|| Timestamp::from_secs(secs));
    }
    Timestamp::parse(raw)
}

/// The response of a row: `dsnDiag` without its diagnostic type (`smtp;`), or `dsnStatus` when there is no
/// diagnostic; the enhanced code comes from `dsnStatus` when the diagnostic has none.
fn reply(diag: &str, dsn_status: &str) -> Reply {
    let status_code = dsn_status.split_whitespace().next().and_then(EnhancedCode::parse);
    let diag = strip_diagnostic_type(diag);
    if diag.is_empty() {
        let words = dsn_status.split_once(' ').map_or("", |(_, w)| w).trim();
        let words = words.strip_prefix('(').and_then(|w| w.strip_suffix(')')).unwrap_or(words);
        Reply { text: words.to_string(), enhanced: status_code, ..Reply::default() }
    } else {
        Reply::parse_with_dsn(diag, status_code)
    }
}

/// Drops an RFC 3464 diagnostic type such as `smtp;` in front of the response.
fn strip_diagnostic_type(diag: &str) -> &str {
    match diag.split_once(';') {
        Some((kind, rest)) if !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
            rest.trim()
        }
        _ => diag.trim(),
    }
}

/// Whether a `b` record is an expiry: PowerMTA's category `message-expired`, the status `4.4.7`/`5.4.7` (delivery
/// time expired), or words saying so.
fn is_expiry(bounce_cat: Option<&str>, dsn_status: &str, diag: &str) -> bool {
    if bounce_cat.is_some_and(|c| c.eq_ignore_ascii_case("message-expired")) {
        return true;
    }
    let code = dsn_status.split_whitespace().next().and_then(EnhancedCode::parse);
    if code.is_some_and(|e| e.subject == 4 && e.detail == 7) {
        return true;
    }
    let text = format!("{dsn_status} {diag}").to_ascii_lowercase();
    ["delivery time expired", "message expired", "expired in queue", "message has expired"]
        .iter()
        .any(|w| text.contains(w))
}

/// The host name of `dsnMta` (`mx.example.org (192.0.2.1)`), or the address when there is no name.
fn relay(mta: &str) -> Option<String> {
    let name = mta.split_whitespace().next().unwrap_or("").trim_end_matches('.');
    let name = name.trim_start_matches(['(', '[']).trim_end_matches([')', ']']);
    (!name.is_empty()).then(|| name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "type,timeLogged,timeQueued,orig,rcpt,dsnAction,dsnStatus,dsnDiag,dsnMta,bounceCat,jobId,envId,header_Message-Id,header_X-Custom\n";

    fn run(body: &str) -> (Vec<Attempt>, FileStats) {
        let mut stats = FileStats::new("acct.csv".into(), "pmta");
        let text = format!("{HEADER}{body}");
        let a = parse(text.as_bytes(), 3, &mut stats, &KeepLines::All).unwrap();
        (a, stats)
    }

    #[test]
    fn detection() {
        assert!(looks_like(HEADER));
        assert!(looks_like("\u{feff}type,orig,rcpt,header_x-id\nd,a@b,c@d,1\n"));
        assert!(!looks_like("campaign_id,email,timestamp,log\n"));
        assert!(!looks_like(""));
    }

    #[test]
    fn rows_become_attempts() {
        let (a, stats) = run(concat!(
            "d,2025-11-20 09:00:15+0000,2025-11-20 09:00:13+0000,b@n.example,Ann@Example.org,relayed,2.0.0 (success),smtp;250 2.0.0 OK,mx.example.org (192.0.2.1),,c1,,<m1@n.example>,x\n",
            "t,2025-11-20 09:01:00+0000,,b@n.example,bob@example.org,delayed,4.2.2 (mailbox full),smtp;452 4.2.2 over quota,mx.example.org (192.0.2.1),quota-issues,c1,,<m2@n.example>,x\n",
            "b,2025-11-25 09:01:00+0000,,b@n.example,bob@example.org,failed,4.4.7 (delivery time expired),smtp;452 4.2.2 over quota,,message-expired,c1,,<m2@n.example>,x\n",
            "b,1763629287,,b@n.example,cy@example.org,failed,5.1.1 (bad destination mailbox address),,,bad-mailbox,c1,env9,,x\n",
            "tq,2025-11-20 09:01:00+0000,,b@n.example,dee@example.org,,,,,,,,,\n",
            "d,2025-11-20 09:01:00+0000,,b@n.example,not-an-address,,,,,,,,,\n",
            "b,yesterday,,b@n.example,e@example.org,failed,5.1.1,,,,,,,\n",
        ));
        assert_eq!((stats.read, stats.used, stats.ignored, stats.malformed), (8, 4, 2, 2));
        assert_eq!(stats.malformed_lines[0].0, 7);
        assert!(stats.warnings.is_empty());
        let d = &a[0];
        assert_eq!((d.recipient.as_str(), d.status, d.reply.code), ("ann@example.org", Status::Delivered, Some(250)));
        assert_eq!(d.time.rfc3339(), "2025-11-20T09:00:15Z");
        assert_eq!((d.relay.as_deref(), d.campaign_hint.as_deref()), (Some("mx.example.org"), Some("c1")));
        assert_eq!((d.message_id.as_deref(), d.message_key.as_str()), (Some("m1@n.example"), "pmta/mid/m1@n.example"));
        assert_eq!(d.source, Source { file: 3, line: 2 });
        assert!(d.line.as_deref().is_some_and(|l| l.starts_with("d,2025-11-20 09:00:15+0000,") && l.ends_with(",x")));
        assert_eq!((a[1].status, a[1].reply.code), (Status::Deferred, Some(452)));
        assert_eq!((a[2].status, a[2].reply.text.as_str()), (Status::Expired, "over quota"));
        assert_eq!(a[1].message_key, a[2].message_key);
        let b = &a[3];
        assert_eq!(
            (b.status, b.reply.code, b.reply.enhanced.map(|e| e.to_string())),
            (Status::Bounced, None, Some("5.1.1".into()))
        );
        assert_eq!(
            (b.reply.text.as_str(), b.message_key.as_str()),
            ("bad destination mailbox address", "pmta/env/env9")
        );
        assert_eq!(b.time, Timestamp::from_secs(1_763_629_287));
    }

    #[test]
    fn a_file_of_many_ranges_keeps_its_line_numbers() {
        // More than a range's worth of rows (see `lines::map_csv_chunks`), some with a line end inside a quoted
        // diagnostic, and a malformed row near the end: every row keeps the line it starts on.
        let mut body = String::new();
        let mut starts = Vec::new();
        let mut line = 2;
        for i in 0..5000 {
            starts.push(line);
            let diag = if i % 7 == 0 { "\"smtp;452 4.2.2 mailbox\nfull\"" } else { "smtp;250 2.0.0 OK" };
            let kind = if i % 7 == 0 { "t" } else { "d" };
            body.push_str(&format!(
                "{kind},2025-11-20 09:00:15+0000,,b@n.example,r{i}@example.org,x,2.0.0 (success),{diag},mx.example.org,,c1,,<m{i}@n.example>,padding-padding-padding-padding-padding-padding-padding\n"
            ));
            line += 1 + u64::from(i % 7 == 0);
        }
        body.push_str("d,never,,b@n.example,z@example.org,,,,,,,,,\n");
        let (a, stats) = run(&body);
        assert!(body.len() > 3 * (256 << 10), "the file spans several ranges");
        assert_eq!((stats.read, stats.used, stats.ignored, stats.malformed), (5002, 5000, 1, 1));
        assert_eq!(stats.malformed_lines[0].0, line);
        assert_eq!(a.iter().map(|a| a.source.line).collect::<Vec<_>>(), starts);
        assert_eq!(a[7].reply.text, "mailbox full", "a quoted line end inside a response");
    }

    #[test]
    fn crlf_line_ends() {
        // The header ends with CR LF: the rows after it are read from just past it, with their own line numbers.
        let text = HEADER.replace('\n', "\r\n")
            + "d,2025-11-20 09:00:15+0000,,b@n.example,a@example.org,relayed,2.0.0 (success),smtp;250 ok,,,c1,,<m1@n.example>,x\r\n"
            + "t,2025-11-20 09:01:00+0000,,b@n.example,b@example.org,delayed,4.2.2 (full),smtp;452 full,,,c1,,<m2@n.example>,x\r\n";
        let mut stats = FileStats::new("acct.csv".into(), "pmta");
        let a = parse(text.as_bytes(), 0, &mut stats, &KeepLines::All).unwrap();
        assert_eq!((stats.read, stats.used, stats.ignored, stats.malformed), (3, 2, 1, 0));
        assert_eq!(
            a.iter().map(|a| (a.source.line, a.recipient.as_str())).collect::<Vec<_>>(),
            [(2, "a@example.org"), (3, "b@example.org")]
        );
        let kept = a[1].line.as_deref().unwrap_or_default();
        assert!(kept.starts_with("t,2025") && kept.ends_with(",x"), "the line kept without its CR LF: {kept:?}");
        // A blank line after the header is passed and counted.
        let text =
            HEADER.replace('\n', "\r\n\r\n") + "d,2025-11-20 09:00:15+0000,,b@n.example,c@example.org,,,,,,,,,\r\n";
        let mut stats = FileStats::new("acct.csv".into(), "pmta");
        let a = parse(text.as_bytes(), 0, &mut stats, &KeepLines::None).unwrap();
        assert_eq!(a.iter().map(|a| a.source.line).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn missing_columns_and_odd_input() {
        let mut stats = FileStats::new("x.csv".into(), "pmta");
        let err = parse(b"type,orig\nd,a@b\n", 0, &mut stats, &KeepLines::None).unwrap_err().to_string();
        assert!(err.starts_with("x.csv:1: the PowerMTA accounting file needs a column 'rcpt'"), "{err}");
        let mut stats = FileStats::new("y.csv".into(), "pmta");
        let a =
            parse(b"type,orig,rcpt\nd,a@b,c@d\n,\n\xff\xfe,\"unterminated\n", 0, &mut stats, &KeepLines::None).unwrap();
        assert_eq!((a.len(), a[0].time), (1, Timestamp::default()));
        assert_eq!(stats.warnings.len(), 1);
        assert_eq!(stats.read, stats.used + stats.ignored + stats.malformed);
        assert_eq!(strip_diagnostic_type("X-PowerMTA; 421 no"), "421 no");
        assert_eq!(strip_diagnostic_type("550 a; b"), "550 a; b");
        assert_eq!(relay("[192.0.2.1]").as_deref(), Some("192.0.2.1"));
        assert_eq!(relay(" "), None);
        assert!(!is_expiry(Some("bad-mailbox"), "5.7.1 (x)", "smtp;550 certificate expired"));
    }
}
