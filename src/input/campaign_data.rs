//! The platform's campaign data: the sends file (which message went to whom for which campaign), the campaigns file
//! (names and dates) and the contacts file (engagement).
//!
//! Headers are matched case-insensitively with common aliases. A file without a required column is an error naming
//! the file and the column; a bad row is skipped and counted, like a bad log line.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};

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

/// Reads a CSV file: `columns(header, file name)` finds the columns, then `row(line, cells, columns, stats)` reads
/// each row after the header. Plain files are read as they are parsed: a sends file of millions of rows is never
/// held whole.
fn each_row<C>(
    path: &Path,
    what: &str,
    columns: impl FnOnce(&csv::StringRecord, &str) -> Result<C>,
    mut row: impl FnMut(u64, &csv::StringRecord, &C, &mut FileStats),
) -> Result<FileStats> {
    let input = open_input(path)?;
    let mut stats = FileStats::new(input.name.clone(), what);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(columns::LineEnds::new(input.reader()?));
    let headers = reader.byte_headers().with_context(|| format!("{}:1: cannot read the CSV header", input.name))?;
    let headers = csv::StringRecord::from_byte_record_lossy(headers.clone());
    let cols = columns(&headers, &input.name)?;
    stats.read += 1;
    stats.ignored += 1;
    columns::each_record(&mut reader, &mut stats, |line, _, record, stats| {
        // Checked as UTF-8 in one pass and made a StringRecord without a copy; invalid UTF-8 is read lossily, and
        // counted.
        let text = csv::StringRecord::from_byte_record(record).unwrap_or_else(|invalid| {
            stats.invalid_utf8.0 += 1;
            stats.invalid_utf8.1.get_or_insert(line);
            csv::StringRecord::from_byte_record_lossy(invalid.into_byte_record())
        });
        row(line, &text, &cols, stats);
        text.into_byte_record()
    });
    stats.note_damage(input.damage());
    Ok(stats)
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
        let stats = each_row(
            path,
            "sends",
            |h, name| {
                let campaign = columns::require(h, CAMPAIGN, name, "sends file")?;
                columns::require(h, EMAIL, name, "sends file")?;
                Ok((campaign, columns::find(h, &["message_id", "messageid", "msgid", "message_id_header"])))
            },
            |line, r, cols, stats| {
                let campaign = r.get(cols.0).unwrap_or("").trim();
                if campaign.is_empty() {
                    stats.malformed(line, "empty campaign id".into());
                    return;
                }
                match cols.1.and_then(|i| r.get(i)).map(normalize_message_id).filter(|m| !m.is_empty()) {
                    Some(mid) => {
                        by_mid.insert(mid, campaign);
                        stats.used += 1;
                    }
                    None => stats.ignored += 1,
                }
            },
        )?;
        self.files.push(stats);
        Ok(())
    }

    /// Reads the campaigns file: `campaign_id, name, sent_at`.
    pub fn load_campaigns(&mut self, path: &Path) -> Result<()> {
        let campaigns = &mut self.campaigns;
        let stats = each_row(
            path,
            "campaigns",
            |h, name| {
                Ok((
                    columns::require(h, CAMPAIGN, name, "campaigns file")?,
                    columns::find(h, &["name", "campaign_name", "subject", "title"]),
                    columns::find(h, &["sent_at", "send_time", "sent", "date", "scheduled_at"]),
                ))
            },
            |line, r, cols, stats| {
                let id = r.get(cols.0).unwrap_or("").trim();
                if id.is_empty() {
                    stats.malformed(line, "empty campaign id".into());
                    return;
                }
                let sent_at = cols.2.and_then(|i| r.get(i)).and_then(Timestamp::parse);
                let name = cols.1.and_then(|i| r.get(i)).unwrap_or("").trim().to_string();
                campaigns.insert(id.to_string(), CampaignInfo { name, sent_at });
                stats.used += 1;
            },
        )?;
        self.files.push(stats);
        Ok(())
    }

    /// Reads the contacts file: `email`, and `engaged` or `last_engaged_at` / `last_open_at` / `last_click_at`.
    pub fn load_contacts(&mut self, path: &Path) -> Result<()> {
        let contacts = &mut self.contacts;
        let stats = each_row(
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
            |line, r, (email_col, engaged_col, dates), stats| {
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
                let last = dates.iter().filter_map(|&i| r.get(i)).filter_map(Timestamp::parse).max();
                contacts.insert(email, ContactEngagement { engaged, last_engaged_at: last });
                stats.used += 1;
            },
        )?;
        self.files.push(stats);
        Ok(())
    }
}
