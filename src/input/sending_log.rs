//! The platform's own sending log: CSV with `campaign_id,email,timestamp,log`, one row per message, where `log` is
//! `250 ok` for a delivery or `FAILED <code> [<enhanced>] <text>` for a bounce.
//!
//! The export holds only final outcomes (no deferrals), so each row is one settled message.

use anyhow::{Context, Result};

use crate::domain::attempt::{Attempt, Source, Status, normalize_address};
use crate::domain::smtp::Reply;
use crate::domain::time::Timestamp;

use super::columns::{self, CAMPAIGN, EMAIL};
use super::{FileStats, KeepLines};

/// Reads a sending log held in `bytes`; `file` is its index in the run's list and `stats` its accounting.
pub fn parse(bytes: &[u8], file: u32, stats: &mut FileStats, keep: &KeepLines) -> Result<Vec<Attempt>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(bytes);
    let headers = reader.headers().with_context(|| format!("{}:1: cannot read the CSV header", stats.name))?.clone();
    stats.read += 1;
    stats.ignored += 1;
    let c_email = columns::require(&headers, EMAIL, &stats.name, "sending log")?;
    let c_time = columns::require(
        &headers,
        &["timestamp", "time", "date", "sent_at", "logged_at", "created_at"],
        &stats.name,
        "sending log",
    )?;
    let c_log = columns::require(
        &headers,
        &["log", "response", "server_response", "smtp_response", "status", "message"],
        &stats.name,
        "sending log",
    )?;
    let c_campaign = columns::find(&headers, CAMPAIGN);
    let mut attempts = Vec::new();
    columns::each_record(&mut reader, stats, |line, _, record, stats| {
        let cell = |i: usize| record.get(i).map(String::from_utf8_lossy).unwrap_or_default();
        let email = normalize_address(&cell(c_email));
        let log = cell(c_log);
        let log = log.trim();
        if email.is_empty() || !email.contains('@') {
            stats.malformed(line, format!("no email address in column {}", c_email + 1));
            return;
        }
        let Some(time) = Timestamp::parse(&cell(c_time)) else {
            stats.malformed(line, format!("timestamp '{}' is not RFC 3339 (2026-11-26T03:30:13Z)", cell(c_time)));
            return;
        };
        let reply = Reply::parse(log);
        let failed = log.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("failed"));
        let status = match reply.code_class() {
            _ if failed => Status::Bounced,
            Some(2) => Status::Delivered,
            Some(4 | 5) => Status::Bounced,
            _ => {
                stats.malformed(line, format!("log '{log}' is neither `250 ok` nor `FAILED <code> ...`"));
                return;
            }
        };
        stats.used += 1;
        let campaign = c_campaign.map(|i| cell(i).trim().to_string()).filter(|c| !c.is_empty());
        let keep_line = match keep {
            KeepLines::None => false,
            KeepLines::All => true,
            KeepLines::For(set) => set.contains(&email),
        };
        attempts.push(Attempt {
            time,
            source: Source { file, line },
            line: keep_line
                .then(|| record.iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(",")),
            recipient: email,
            sender: None,
            message_id: None,
            message_key: format!("sending-log/{file}/{line}"),
            campaign_hint: campaign,
            campaign: None,
            status,
            reply,
            relay: None,
            tries: 1,
        });
    });
    Ok(attempts)
}
