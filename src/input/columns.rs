//! Finding columns in CSV headers by name, case-insensitively and with the aliases exports use
//! (`email`, `email_address`, `Email Address`, `recipient`).

use anyhow::{Result, bail};

use super::FileStats;
use super::lines::MAX_LINE;

/// Normalises a header cell: lower case, spaces and dashes as underscores, BOM and quotes removed.
fn normalize(cell: &str) -> String {
    cell.trim().trim_start_matches('\u{feff}').trim_matches('"').trim().to_lowercase().replace([' ', '-'], "_")
}

/// The index of the first header cell matching any alias.
pub fn find(headers: &csv::StringRecord, aliases: &[&str]) -> Option<usize> {
    let cells: Vec<String> = headers.iter().map(normalize).collect();
    aliases.iter().find_map(|a| cells.iter().position(|c| c == a))
}

/// Like [`find`], but a missing column is an error naming the file, the column and the header seen.
pub fn require(headers: &csv::StringRecord, aliases: &[&str], file: &str, what: &str) -> Result<usize> {
    match find(headers, aliases) {
        Some(i) => Ok(i),
        None => bail!(
            "{file}:1: the {what} needs a column '{}' (also accepted: {}); the header is: {}",
            aliases[0],
            aliases[1..].join(", "),
            headers.iter().collect::<Vec<_>>().join(",")
        ),
    }
}

/// What [`next_row`] found.
pub enum Row {
    /// A row, now in the record: its line number and byte range.
    Read(u64, std::ops::Range<u64>),
    /// A row that was counted as malformed.
    Skipped,
    /// The end of the input (or an I/O error, counted as a malformed row).
    End,
}

/// Reads the next row after the header into `record`, counting it as read: a row the CSV reader cannot read, or one
/// longer than [`MAX_LINE`], is counted as malformed and skipped. One reader for every CSV input, so that all of them
/// account for their rows alike. `lines_before` is how many lines of the file come before what `reader` reads (a
/// block of a file read in blocks); line numbers are the file's.
pub fn next_row<R: std::io::Read>(
    reader: &mut csv::Reader<R>,
    record: &mut csv::ByteRecord,
    stats: &mut FileStats,
    lines_before: u64,
) -> Row {
    let line = lines_before + reader.position().line() + 1;
    let start = reader.position().byte();
    match reader.read_byte_record(record) {
        Ok(false) => Row::End,
        Ok(true) => {
            stats.read += 1;
            let line = record.position().map_or(line, |p| lines_before + p.line());
            let bytes = record.position().map_or(start, |p| p.byte())..reader.position().byte();
            let length = bytes.end - bytes.start;
            if length > MAX_LINE as u64 {
                stats.malformed(line, format!("row of {length} bytes is longer than the limit of {MAX_LINE}"));
                return Row::Skipped;
            }
            Row::Read(line, bytes)
        }
        Err(e) => {
            stats.read += 1;
            stats.malformed(line, format!("unreadable CSV row: {e}"));
            if matches!(e.kind(), csv::ErrorKind::Io(_)) { Row::End } else { Row::Skipped }
        }
    }
}

/// Reads the rows after the header one by one with [`next_row`], handing every readable row to `row` with its line
/// number and its byte range. `row` owns the record, to make it a `StringRecord` without copying it, and gives it
/// back to be filled again.
pub fn each_record<R: std::io::Read>(
    reader: &mut csv::Reader<R>,
    stats: &mut FileStats,
    mut row: impl FnMut(u64, std::ops::Range<u64>, csv::ByteRecord, &mut FileStats) -> csv::ByteRecord,
) {
    let mut record = csv::ByteRecord::new();
    loop {
        match next_row(reader, &mut record, stats, 0) {
            Row::Read(line, bytes) => record = row(line, bytes, record, stats),
            Row::Skipped => {}
            Row::End => break,
        }
    }
}

/// Email column names.
pub const EMAIL: &[&str] =
    &["email", "email_address", "e_mail", "emailaddress", "recipient", "rcpt", "address", "contact"];
/// Campaign id column names.
pub const CAMPAIGN: &[&str] = &["campaign_id", "campaign", "campaignid", "job_id", "jobid"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_errors() {
        let h = csv::StringRecord::from(vec!["\u{feff}Campaign ID", "Email Address", "x"]);
        assert_eq!(find(&h, EMAIL), Some(1));
        assert_eq!(find(&h, CAMPAIGN), Some(0));
        let err = require(&h, &["log", "response"], "f.csv", "sending log").unwrap_err().to_string();
        assert!(err.starts_with("f.csv:1: the sending log needs a column 'log'"), "{err}");
    }
}
