//! The platform's campaign data: the sends file (which message went to whom for which campaign), the campaigns file
//! (names and dates) and the contacts file (engagement).
//!
//! Headers are matched case-insensitively with common aliases. A file without a required column is an error naming
//! the file and the column; a bad row is skipped and counted, like a bad log line.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;

use crate::domain::attempt::normalize_address;
use crate::domain::campaign::{MessageIndex, normalize_message_id};
use crate::domain::engagement::ContactEngagement;
use crate::domain::time::Timestamp;

use super::FileStats;
use super::columns::{self, CAMPAIGN, EMAIL};
use super::source::open_input;

/// A campaign from the campaigns file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CampaignInfo {
    /// Its name.
    pub name: String,
    /// When it was sent.
    pub sent_at: Option<Timestamp>,
}

/// What the campaign files say.
#[derive(Clone, Debug, Default)]
pub struct CampaignData {
    /// Campaign id by message-id (without angle brackets), from the sends file.
    pub campaign_by_message_id: MessageIndex,
    /// Campaigns by id, from the campaigns file.
    pub campaigns: HashMap<String, CampaignInfo>,
    /// Engagement by lower-cased email, from the contacts file.
    pub contacts: HashMap<String, ContactEngagement>,
    /// The accounting of each file read.
    pub files: Vec<FileStats>,
}

/// The rows of a part of a sends file, read apart: each message-id's hash and the number of its campaign among the
/// part's.
#[derive(Default)]
struct SendsPart {
    messages: Vec<(u64, u32)>,
    campaigns: Vec<String>,
    numbers: rustc_hash::FxHashMap<String, u32>,
}

impl SendsPart {
    fn push(&mut self, hash: u64, campaign: &str) {
        // A sends file lists a campaign's messages together: most rows name the campaign of the row before.
        let last = self.messages.last().map(|&(_, i)| i).filter(|&i| self.campaigns[i as usize] == campaign);
        let number = match last.or_else(|| self.numbers.get(campaign).copied()) {
            Some(i) => i,
            None => {
                let i = self.campaigns.len() as u32;
                self.campaigns.push(campaign.to_string());
                self.numbers.insert(campaign.to_string(), i);
                i
            }
        };
        self.messages.push((hash, number));
    }
}

/// Reads a CSV file: `columns(header, file name)` finds the columns, then `row(line, cells, columns, stats, part)`
/// reads each row after the header into the part of the file it belongs to, and `apply` takes the parts in file
/// order. The file is read in ranges on all cores ([`columns::read_in_ranges`]): a sends file of millions of rows
/// is never held whole, and reading it on one core was a second of a large run before the logs.
fn each_row<C: Send + Sync, P: Default + Send>(
    path: &Path,
    what: &str,
    columns: impl Fn(&csv::StringRecord, &str) -> Result<C> + Sync,
    row: impl Fn(u64, &csv::StringRecord, &C, &mut FileStats, &mut P) + Sync,
    mut apply: impl FnMut(P) + Send,
) -> Result<FileStats> {
    let input = open_input(path)?;
    let name = input.name.clone();
    let mut stats = FileStats::new(name.clone(), what);
    let rows = |bytes: &[u8], lines_before: u64, cols: &C, fields: usize| -> (FileStats, P) {
        let mut stats = FileStats::new(name.clone(), what);
        let mut part = P::default();
        columns::each_record(
            &mut columns::range_reader(bytes, fields),
            &mut stats,
            lines_before,
            |line, _, record, stats| {
                // Made a StringRecord without a copy; invalid UTF-8 (counted by the block) is read lossily.
                let text = csv::StringRecord::from_byte_record(record)
                    .unwrap_or_else(|invalid| csv::StringRecord::from_byte_record_lossy(invalid.into_byte_record()));
                row(line, &text, cols, stats, &mut part);
                text.into_byte_record()
            },
        );
        (stats, part)
    };
    let header = |cells: &csv::StringRecord, _: &mut FileStats| columns(cells, &name);
    columns::read_in_ranges(input.reader()?, &mut stats, header, rows, |parts, _| {
        parts.into_iter().for_each(&mut apply);
        Ok(())
    })?;
    stats.note_damage(input.damage());
    Ok(stats)
}

/// Rows that repeat the key of an earlier row (a contact's email, a campaign's id): the last row is used, and the
/// user told, since two rows that disagree (engaged and not) are a mistake in the export that decides deactivations.
#[derive(Default)]
struct Repeats {
    count: u64,
    first: Option<u64>,
}

impl Repeats {
    /// A row at `line` repeats an earlier row's key.
    fn add(&mut self, line: u64) {
        self.count += 1;
        self.first.get_or_insert(line);
    }

    /// Warns in `stats` of the rows that repeat `what` of an earlier row, if any.
    fn warn(&self, stats: &mut FileStats, what: &str) {
        if let Some(first) = self.first {
            let rows =
                if self.count == 1 { "1 row repeats".to_string() } else { format!("{} rows repeat", self.count) };
            stats.warn(format!(
                "{rows} {what} of an earlier row (the first at line {first}); the last row of each is used"
            ));
        }
    }
}

/// Parses a boolean as exports write it.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "t" | "engaged" => Some(true),
        "false" | "no" | "n" | "0" | "f" | "unengaged" | "" => Some(false),
        _ => None,
    }
}

impl CampaignData {
    /// Reads the sends file: `campaign_id, email, sent_at, message_id`.
    pub fn load_sends(&mut self, path: &Path) -> Result<()> {
        let by_mid = &mut self.campaign_by_message_id;
        let mut stats = each_row(
            path,
            "sends",
            |h, name| {
                let campaign = columns::require(h, CAMPAIGN, name, "sends file")?;
                columns::require(h, EMAIL, name, "sends file")?;
                // The message-id ties a message in the logs to its campaign: without it no row can be used.
                let message_id = columns::require(
                    h,
                    &["message_id", "messageid", "msgid", "message_id_header"],
                    name,
                    "sends file",
                )?;
                Ok((campaign, Some(message_id)))
            },
            |line, r, cols, stats, part: &mut SendsPart| {
                let campaign = r.get(cols.0).unwrap_or("").trim();
                if campaign.is_empty() {
                    stats.malformed(line, "empty campaign id".into());
                    return;
                }
                match cols.1.and_then(|i| r.get(i)).map(normalize_message_id).filter(|m| !m.is_empty()) {
                    Some(mid) => {
                        part.push(MessageIndex::hash(mid), campaign);
                        stats.used += 1;
                    }
                    None => stats.ignored += 1,
                }
            },
            |part| {
                for (hash, campaign) in part.messages {
                    by_mid.insert_hashed(hash, &part.campaigns[campaign as usize]);
                }
            },
        )?;
        let contradicted = self.campaign_by_message_id.seal();
        if contradicted > 0 {
            let rows = if contradicted == 1 { "1 row gives".to_string() } else { format!("{contradicted} rows give") };
            stats.warn(format!(
                "{rows} a message-id a campaign that a later row changes; the campaign of the last row is used"
            ));
        }
        self.files.push(stats);
        Ok(())
    }

    /// Reads the campaigns file: `campaign_id, name, sent_at`.
    pub fn load_campaigns(&mut self, path: &Path) -> Result<()> {
        let campaigns = &mut self.campaigns;
        let mut repeats = Repeats::default();
        let mut stats = each_row(
            path,
            "campaigns",
            |h, name| {
                Ok((
                    columns::require(h, CAMPAIGN, name, "campaigns file")?,
                    columns::find(h, &["name", "campaign_name", "subject", "title"]),
                    columns::find(h, &["sent_at", "send_time", "sent", "date", "scheduled_at"]),
                ))
            },
            |line, r, cols, stats, part: &mut Vec<(u64, String, CampaignInfo)>| {
                let id = r.get(cols.0).unwrap_or("").trim();
                if id.is_empty() {
                    stats.malformed(line, "empty campaign id".into());
                    return;
                }
                let sent_at = cols.2.and_then(|i| r.get(i)).and_then(Timestamp::parse);
                let name = cols.1.and_then(|i| r.get(i)).unwrap_or("").trim().to_string();
                part.push((line, id.to_string(), CampaignInfo { name, sent_at }));
                stats.used += 1;
            },
            |part| {
                for (line, id, info) in part {
                    if campaigns.insert(id, info).is_some() {
                        repeats.add(line);
                    }
                }
            },
        )?;
        repeats.warn(&mut stats, "a campaign id");
        self.files.push(stats);
        Ok(())
    }

    /// Reads the contacts file: `email`, and `engaged` or `last_engaged_at` / `last_open_at` / `last_click_at`.
    pub fn load_contacts(&mut self, path: &Path) -> Result<()> {
        let contacts = &mut self.contacts;
        let mut repeats = Repeats::default();
        let mut stats = each_row(
            path,
            "contacts",
            |h, name| {
                let email_col = columns::require(h, EMAIL, name, "contacts file")?;
                let engaged_col = columns::find(h, &["engaged", "is_engaged", "engagement"]);
                let dates: Vec<usize> = [
                    "last_engaged_at",
                    "last_open_at",
                    "last_opened_at",
                    "last_click_at",
                    "last_clicked_at",
                    "last_activity_at",
                ]
                .iter()
                .filter_map(|a| columns::find(h, &[a]))
                .collect();
                if engaged_col.is_none() && dates.is_empty() {
                    anyhow::bail!(
                        "{name}:1: the contacts file needs a column 'engaged' (true/false) or 'last_engaged_at', 'last_open_at' or 'last_click_at'"
                    );
                }
                Ok((email_col, engaged_col, dates))
            },
            |line, r, (email_col, engaged_col, dates), stats, part: &mut Vec<(u64, String, ContactEngagement)>| {
                let email = normalize_address(r.get(*email_col).unwrap_or(""));
                if !email.contains('@') {
                    stats.malformed(line, "no email address".into());
                    return;
                }
                let engaged = match engaged_col.and_then(|i| r.get(i)) {
                    Some(v) => match parse_bool(v) {
                        Some(b) => Some(b),
                        None => {
                            stats.malformed(line, format!("engaged value '{v}' is not true/false, yes/no or 1/0"));
                            return;
                        }
                    },
                    None => None,
                };
                // An empty date is never engaged; one that cannot be read must not pass for that.
                let mut last = None;
                for value in dates.iter().filter_map(|&i| r.get(i)).map(str::trim).filter(|v| !v.is_empty()) {
                    match Timestamp::parse(value) {
                        Some(t) => last = last.max(Some(t)),
                        None => {
                            let why = format!("engagement date '{value}' is not an RFC 3339 time or a YYYY-MM-DD date");
                            stats.malformed(line, why);
                            return;
                        }
                    }
                }
                part.push((line, email, ContactEngagement { engaged, last_engaged_at: last }));
                stats.used += 1;
            },
            |part| {
                for (line, email, engagement) in part {
                    if contacts.insert(email, engagement).is_some() {
                        repeats.add(line);
                    }
                }
            },
        )?;
        repeats.warn(&mut stats, "an email");
        self.files.push(stats);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A sends file of several blocks, each read in several ranges: rows keep their line numbers and a message-id
    /// given twice keeps its last campaign, as when the file was read row by row.
    #[test]
    fn a_sends_file_read_in_parts_keeps_its_order_and_its_lines() {
        let rows = 60_000;
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let mut text = Vec::from(&b"campaign_id,email,sent_at,message_id\r\n"[..]);
        for i in 0..rows {
            let campaign = if i == 25_000 { String::new() } else { format!("c{:02}", i / 3_000) };
            let email: &[u8] = if i == 31_000 { b"bad\xff@example.com" } else { b"someone@example.com" };
            text.extend(format!("{campaign},").as_bytes());
            text.extend(email);
            text.extend(format!(",2025-11-20T09:00:00Z,<m{i}.0123456789abcdef@news.example.com>\r\n").as_bytes());
        }
        // Message 7 again, last, for another campaign.
        text.extend(b"c99,someone@example.com,2025-11-21T09:00:00Z,<m7.0123456789abcdef@news.example.com>\r\n");
        assert!(text.len() > 2 * crate::input::lines::STREAM_BLOCK, "more than two blocks");
        file.write_all(&text).unwrap();
        let mut data = CampaignData::default();
        data.load_sends(file.path()).unwrap();
        let stats = &data.files[0];
        assert_eq!((stats.read, stats.used, stats.ignored, stats.malformed), (rows + 2, rows, 1, 1));
        // Row i is on line i + 2.
        assert_eq!(stats.malformed_lines, vec![(25_002, "empty campaign id".to_string())]);
        assert_eq!(stats.invalid_utf8, (1, Some(31_002)));
        let index = &mut data.campaign_by_message_id;
        index.seal();
        assert_eq!(index.get("m7.0123456789abcdef@news.example.com"), Some("c99"));
        assert_eq!(index.get("m8.0123456789abcdef@news.example.com"), Some("c00"));
        assert_eq!(index.get("m59999.0123456789abcdef@news.example.com"), Some("c19"));
        assert_eq!(index.get("m25000.0123456789abcdef@news.example.com"), None);
    }

    /// An empty file has no header: the error names the column it lacks.
    #[test]
    fn an_empty_sends_file_lacks_its_columns() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let err = CampaignData::default().load_sends(file.path()).unwrap_err().to_string();
        assert!(err.contains(":1: the sends file needs a column 'campaign_id'"), "{err}");
    }
}
