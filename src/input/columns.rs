//! Finding columns in CSV headers by name, case-insensitively and with the aliases exports use
//! (`email`, `email_address`, `Email Address`, `recipient`).

use anyhow::{Result, bail};

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
