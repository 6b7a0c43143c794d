//! The platform's own sending log: CSV with `campaign_id,email,timestamp,log`, one row per message, where `log` is
//! `250 ok` for a delivery or `FAILED <code> [<enhanced>] <text>` for a bounce.
//!
//! The export holds only final outcomes (no deferrals), so each row is one settled message and nothing has to be
//! joined: the file is read as a stream, a block of whole rows at a time, the rows of a block turned into attempts
//! on all cores. Blocks are cut where rows end, as every CSV input's are ([`columns::read_in_ranges`]), so that a
//! `"` left open by a hand-edited row costs that row, not the file after it. A platform's export can hold millions of rows, so memory must not follow the file: when its rows are in
//! time order (each at most the allowed slack before a row above it, which [`time_order`] checks first), the reader
//! can promise, with each batch, a time before which no row still to come lies, and the outcomes before it are
//! replayed and dropped. An export sorted some other way (by address, say) is still read, but held whole.

use std::io::Read;

use anyhow::Result;

use crate::domain::attempt::{Attempt, Source, Status, normalize_address};
use crate::domain::smtp::Reply;
use crate::domain::time::Timestamp;

use super::columns::{self, CAMPAIGN, EMAIL};
use super::{FileStats, KeepLines};

/// What the file is called in messages.
const WHAT: &str = "sending log";

/// The columns of a sending log, found by name in its header.
#[derive(Clone, Copy, Debug)]
struct Columns {
    email: usize,
    time: usize,
    log: usize,
    campaign: Option<usize>,
}

impl Columns {
    /// Finds the columns in the header; a missing column is an error naming the file, the column and the header.
    fn find(headers: &csv::StringRecord, name: &str) -> Result<Columns> {
        Ok(Columns {
            email: columns::require(headers, EMAIL, name, WHAT)?,
            time: columns::require(
                headers,
                &["timestamp", "time", "date", "sent_at", "logged_at", "created_at"],
                name,
                WHAT,
            )?,
            log: columns::require(
                headers,
                &["log", "response", "server_response", "smtp_response", "status", "message"],
                name,
                WHAT,
            )?,
            campaign: columns::find(headers, CAMPAIGN),
        })
    }

    /// The time a row gives, if it is RFC 3339.
    fn time(&self, record: &csv::ByteRecord) -> Option<Timestamp> {
        Timestamp::parse(&cell(record, self.time))
    }

    /// The attempt a row records, or why the row is malformed.
    fn attempt(&self, record: &csv::ByteRecord, source: Source, keep: &KeepLines) -> Result<Attempt, String> {
        let email = normalize_address(&cell(record, self.email));
        if email.is_empty() || !email.contains('@') {
            return Err(format!("no email address in column {}", self.email + 1));
        }
        let Some(time) = self.time(record) else {
            return Err(format!("timestamp '{}' is not RFC 3339 (2026-11-26T03:30:13Z)", cell(record, self.time)));
        };
        let log = cell(record, self.log);
        let log = log.trim();
        let reply = Reply::parse(log);
        let failed = log.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("failed"));
        let status = match reply.code_class() {
            _ if failed => Status::Bounced,
            Some(2) => Status::Delivered,
            Some(4 | 5) => Status::Bounced,
            _ => return Err(format!("log '{log}' is neither `250 ok` nor `FAILED <code> ...`")),
        };
        let campaign = self.campaign.map(|i| cell(record, i).trim().to_string()).filter(|c| !c.is_empty());
        let keep_line = match keep {
            KeepLines::None => false,
            KeepLines::All => true,
            KeepLines::For(set) => set.contains(&email),
        };
        Ok(Attempt {
            time,
            source,
            line: keep_line
                .then(|| record.iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(",")),
            recipient: email,
            sender: None,
            message_id: None,
            message_key: format!("sending-log/{}/{}", source.file, source.line),
            campaign_hint: campaign,
            campaign: None,
            status,
            reply,
            relay: None,
            tries: 1,
        })
    }
}

/// A cell of a row as text (bad UTF-8 replaced); an absent cell is empty.
fn cell(record: &csv::ByteRecord, i: usize) -> std::borrow::Cow<'_, str> {
    record.get(i).map(String::from_utf8_lossy).unwrap_or_default()
}

/// Reads a sending log from `reader`, the file numbered `file` in the run, accounted in `stats`. The file is read in
/// blocks of whole rows, each block's rows turned into attempts on all cores, range by range, while the block before
/// is handled (see [`columns::read_in_ranges`]); `each` gets each block's attempts, in the order of the rows, and the
/// latest time of a row read so far. `advanced` is told how many bytes each block held.
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
        let mut part = FileStats::new(name.clone(), "sending-log");
        let mut attempts = Vec::with_capacity(bytes.len() / 80 + 1);
        columns::each_record(
            &mut columns::range_reader(bytes, fields),
            &mut part,
            lines_before,
            |line, _, record, part| {
                match c.attempt(&record, Source { file, line }, keep) {
                    Ok(a) => {
                        part.used += 1;
                        attempts.push(a);
                    }
                    Err(why) => part.malformed(line, why),
                }
                record
            },
        );
        (part, attempts)
    };
    let header = |cells: &csv::StringRecord, _: &mut FileStats| Columns::find(cells, &name);
    let mut latest: Option<Timestamp> = None;
    columns::read_in_ranges(reader, stats, header, rows, |ranges, bytes| {
        advanced(bytes);
        columns::hand_on(ranges, &mut latest, each)
    })
}

/// Reads a sending log held in `bytes`, whole.
pub fn parse(bytes: &[u8], file: u32, stats: &mut FileStats, keep: &KeepLines) -> Result<Vec<Attempt>> {
    let mut attempts = Vec::new();
    read(bytes, file, stats, keep, &mut |_| {}, &mut |batch, _| {
        attempts.extend(batch);
        Ok(())
    })?;
    Ok(attempts)
}

/// How the rows of a sending log lie in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeOrder {
    /// The earliest time of a row.
    pub earliest: Option<Timestamp>,
    /// Whether every row is at most the slack before the latest row above it: then a reader that has read up to a
    /// time knows no row still to come lies more than the slack before it.
    pub in_order: bool,
}

/// Reads a sending log's time column only, to tell whether it can be streamed (see [`TimeOrder`]); `slack_ms` is
/// how far a row may lie before the latest above it. Rows without a valid time are passed over: they are malformed,
/// and [`read`] reports them.
pub fn time_order(reader: impl Read + Send, name: &str, slack_ms: i64) -> Result<TimeOrder> {
    // Each range's rows in order: its earliest and latest times, and whether each row is within the slack of the
    // latest above it in the range. Ranges are then chained in file order.
    let rows = |bytes: &[u8], lines_before: u64, c: &Columns, fields: usize| {
        let mut ignored = FileStats::default();
        let (mut earliest, mut latest, mut in_order) = (None::<Timestamp>, None::<Timestamp>, true);
        columns::each_record(
            &mut columns::range_reader(bytes, fields),
            &mut ignored,
            lines_before,
            |_, _, record, _| {
                if let Some(time) = c.time(&record) {
                    in_order &= latest.is_none_or(|l| time.millis() >= l.millis().saturating_sub(slack_ms));
                    latest = latest.max(Some(time));
                    earliest = Some(earliest.map_or(time, |e| e.min(time)));
                }
                record
            },
        );
        (ignored, (earliest, latest, in_order))
    };
    let header = |cells: &csv::StringRecord, _: &mut FileStats| Columns::find(cells, name);
    let mut order = TimeOrder { earliest: None, in_order: true };
    let mut latest: Option<Timestamp> = None;
    let mut stats = FileStats::new(name.to_string(), "sending-log");
    columns::read_in_ranges(reader, &mut stats, header, rows, |ranges, _| {
        for (earliest, last, in_order) in ranges {
            let Some(earliest) = earliest else { continue };
            // A range's earliest row must be within the slack of every row above it.
            if !in_order || latest.is_some_and(|l| earliest.millis() < l.millis().saturating_sub(slack_ms)) {
                order.in_order = false;
            }
            latest = latest.max(last);
            order.earliest = Some(order.earliest.map_or(earliest, |e| e.min(earliest)));
        }
        Ok(())
    })?;
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "campaign_id,email,timestamp,log\n";

    fn order(rows: &[&str]) -> TimeOrder {
        let text = format!("{HEADER}{}", rows.join("\n"));
        time_order(text.as_bytes(), "t.csv", 3_600_000).unwrap()
    }

    #[test]
    fn tells_rows_in_time_order() {
        let a = "c1,a@x.example,2026-01-01T10:00:00Z,250 ok";
        let b = "c1,b@x.example,2026-01-01T09:30:00Z,250 ok";
        let c = "c1,c@x.example,2026-01-01T08:00:00Z,250 ok";
        let t = |s: &str| Timestamp::parse(s);
        assert_eq!(order(&[c, a]), TimeOrder { earliest: t("2026-01-01T08:00:00Z"), in_order: true });
        // Half an hour back is within the slack; two hours back is not.
        assert_eq!(order(&[a, b]), TimeOrder { earliest: t("2026-01-01T09:30:00Z"), in_order: true });
        assert_eq!(order(&[a, c]), TimeOrder { earliest: t("2026-01-01T08:00:00Z"), in_order: false });
        // A row without a time is left to the reader to report.
        assert!(order(&[c, "c1,d@x.example,yesterday,250 ok", a]).in_order);
        assert!(time_order("email,log\n".as_bytes(), "t.csv", 0).is_err());
    }

    #[test]
    fn batches_keep_row_order_and_accounting() {
        let mut text = String::from(HEADER);
        // More than two blocks of rows.
        let rows = 2 * crate::input::lines::STREAM_BLOCK / 60 + 7;
        for i in 0..rows {
            let log = if i % 1000 == 3 { "what" } else { "FAILED 550 5.1.1 user unknown" };
            text.push_str(&format!("c1,u{i}@x.example,2026-01-01T00:00:00Z,{log}\n"));
        }
        let mut stats = FileStats::new("t.csv".into(), "sending-log");
        let (mut batches, mut lines, mut bytes) = (0, Vec::new(), 0);
        read(text.as_bytes(), 0, &mut stats, &KeepLines::None, &mut |n| bytes += n, &mut |batch, _| {
            batches += 1;
            lines.extend(batch.iter().map(|a| a.source.line));
            Ok(())
        })
        .unwrap();
        assert!(batches >= 3, "{batches} batches");
        let malformed = (0..rows).filter(|i| i % 1000 == 3).count() as u64;
        assert_eq!(
            (stats.read, stats.used, stats.ignored, stats.malformed),
            (rows as u64 + 1, rows as u64 - malformed, 1, malformed)
        );
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "rows in order");
        assert_eq!(bytes as usize, text.len(), "every byte, the header too");
    }
}
