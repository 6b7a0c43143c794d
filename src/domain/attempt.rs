//! One delivery try of one message to one recipient, as a log records it.
//!
//! Every log format is turned into [`Attempt`]s; nothing below this point knows which MTA wrote them.

use serde::{Deserialize, Serialize};

use super::name::Name;
use super::smtp::Reply;
use super::time::Timestamp;

/// What the MTA did with the message at this try.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepted by the receiving server.
    Delivered,
    /// Refused for now; the MTA will try again.
    Deferred,
    /// Refused for good; the MTA returns the message.
    Bounced,
    /// Given up on after too long in the queue.
    Expired,
}

impl Status {
    /// The lower-case name used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Delivered => "delivered",
            Status::Deferred => "deferred",
            Status::Bounced => "bounced",
            Status::Expired => "expired",
        }
    }

    /// Whether this try settles the message.
    pub fn is_final(self) -> bool {
        self != Status::Deferred
    }
}

/// Where a record came from: the index of its file in the run's file list, and its 1-based line number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Source {
    /// Index of the file in the run's list of inputs.
    pub file: u32,
    /// 1-based line (or record) number in that file.
    pub line: u64,
}

/// One delivery try.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When the try ended.
    pub time: Timestamp,
    /// The line that recorded it.
    pub source: Source,
    /// The recipient, lower-cased and trimmed.
    pub recipient: String,
    /// The envelope sender, where known (empty for notifications).
    #[serde(default, with = "crate::domain::name::optional_sender")]
    pub sender: Option<Name>,
    /// The message-id header, without angle brackets, where known.
    pub message_id: Option<String>,
    /// What ties the tries of one message together (queue id and host, or a row number).
    pub message_key: String,
    /// A campaign named by the log itself (the sending log's `campaign_id`, PowerMTA's `jobId`, a KumoMTA queue's).
    pub campaign_hint: Option<String>,
    /// The campaign the attempt belongs to, once attributed.
    #[serde(default, with = "crate::domain::name::optional_campaign")]
    pub campaign: Option<Name>,
    /// What happened.
    pub status: Status,
    /// The server's response (for an expiry: the last deferral's).
    pub reply: Reply,
    /// The receiving server's host name, where the log names it.
    pub relay: Option<String>,
    /// The log line itself, kept when the run wants proof.
    pub line: Option<String>,
    /// How many of the log's tries this stands for: 1, or more where a reader folded consecutive deferrals of one
    /// message to one recipient into the last of them (Postfix's reader does, when asked, for runs that only
    /// settle messages). Then `time`, `source` and `reply` are the latest's, and the first try stays on its own.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub tries: u32,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// Lower-cases and trims an address, dropping angle brackets.
pub fn normalize_address(raw: &str) -> String {
    let mut out = String::new();
    push_normalized_address(&mut out, raw);
    out
}

/// [`normalize_address`], appended to `out`: a reader that keeps an address with other text in one string makes
/// no string for the address alone.
pub fn push_normalized_address(out: &mut String, raw: &str) {
    let b = raw.as_bytes();
    if b.is_ascii() {
        // Nearly every address: trimmed and lower-cased byte by byte, in one copy. The ASCII white space of
        // `str::trim` is tab to carriage return, and space.
        let space = |c: u8| matches!(c, b'\t'..=b'\r' | b' ');
        let (mut start, mut end) = (0, b.len());
        let trim = |start: &mut usize, end: &mut usize| {
            while *start < *end && space(b[*start]) {
                *start += 1;
            }
            while *end > *start && space(b[*end - 1]) {
                *end -= 1;
            }
        };
        trim(&mut start, &mut end);
        while start < end && b[start] == b'<' {
            start += 1;
        }
        while end > start && b[end - 1] == b'>' {
            end -= 1;
        }
        trim(&mut start, &mut end);
        let from = out.len();
        out.push_str(&raw[start..end]);
        out[from..].make_ascii_lowercase();
        return;
    }
    out.push_str(&raw.trim().trim_start_matches('<').trim_end_matches('>').trim().to_lowercase());
}

/// The domain of an address (after the last `@`), or the empty string.
pub fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_addresses_are_normalized_as_any_other() {
        for raw in [" <Anna.Smith@Gmail.COM> ", "<<a@b>>", "\t<x@Y.org>\n", "<>", "", "  ", "a b@c", "<\u{b}A@B>"] {
            let general = raw.trim().trim_start_matches('<').trim_end_matches('>').trim().to_lowercase();
            assert_eq!(normalize_address(raw), general, "{raw:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn ascii_fast_path_agrees_with_str_trim(raw in "[ -~\t\n\x0b\x0c\r<>]{0,24}") {
            let general = raw.trim().trim_start_matches('<').trim_end_matches('>').trim().to_lowercase();
            proptest::prop_assert_eq!(normalize_address(&raw), general);
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(normalize_address(" <Anna.Smith@Gmail.COM> "), "anna.smith@gmail.com");
        assert_eq!(domain_of("a@b@example.org"), "example.org");
        assert_eq!(domain_of("nobody"), "");
    }
}
