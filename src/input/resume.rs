//! Where each log file was read up to, kept in the state file (`--state`), so that a run given a file an earlier run
//! read (the live log, which has grown since; the same file rotated to a new name) reads only the lines it has not
//! read. Read twice, a line would count twice: a soft bounce read again adds to the contact's run a second time.
//!
//! A file is known by its first bytes, not by its name: logrotate renames `mail.log` to `mail.log.1`, and compresses
//! it a day later, and its lines are the same lines. A run reads a plain file up to the end of its last whole line
//! (a log being written may end mid-line), and the state notes how many bytes and lines that was; a later run given
//! a file whose first bytes are the same, and that is at least that long, skips them and numbers its lines on from
//! there. A file that was truncated or replaced starts with other bytes, or is shorter, and is read whole.
//!
//! Only line logs (Postfix, Exim, Sendmail, KumoMTA) are marked: a CSV's rows need its header, and an export
//! (the platform's sending log, a PowerMTA accounting file) is a finished file, given once.

use serde::{Deserialize, Serialize};

/// How far a file has been read, and how to know it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMark {
    /// The file's name when it was read, for people reading the state file: files are found by their first bytes.
    pub name: String,
    /// How many of the file's first bytes `head` is the fingerprint of.
    pub head_len: u32,
    /// The fingerprint of those bytes (64-bit FNV-1a, in hex).
    pub head: String,
    /// Bytes read: a later run starts after them.
    pub bytes: u64,
    /// Lines read: a later run's first line is numbered one more.
    pub lines: u64,
}

/// How many of a file's first bytes tell it from another: a few dozen log lines, each with its time and id.
const FINGERPRINT: usize = 4096;

/// How many marks a state file keeps: a year of daily rotated files, and some.
const KEPT: usize = 512;

/// The fingerprint of `bytes`: 64-bit FNV-1a, which is the same in every build (a hasher of the standard library
/// or of a crate may change between versions, and the state file outlives the binary).
fn fingerprint(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

impl FileMark {
    /// The mark of a file whose first bytes are `head` (at least the first of them: an input's head is its first
    /// [`super::source::HEAD`] bytes), read up to `bytes` and `lines`; None when nothing of it was read.
    pub fn of(name: &str, head: &[u8], bytes: u64, lines: u64) -> Option<FileMark> {
        let head_len = head.len().min(FINGERPRINT).min(usize::try_from(bytes).unwrap_or(usize::MAX));
        (head_len > 0).then(|| FileMark {
            name: name.to_string(),
            head_len: head_len as u32,
            head: fingerprint(&head[..head_len]),
            bytes,
            lines,
        })
    }

    /// Whether a file whose first bytes are `head`, and whose size (where known: a compressed file's is not) is
    /// `size`, is the file this mark was made of, grown or renamed since.
    pub fn matches(&self, head: &[u8], size: Option<u64>) -> bool {
        let n = self.head_len as usize;
        n > 0 && head.len() >= n && fingerprint(&head[..n]) == self.head && size.is_none_or(|s| s >= self.bytes)
    }
}

/// The marks a run leaves: those of the files it read, then those of earlier runs that no file of this run matched
/// (a rotated file given again a later day is still known), up to 512, the most recent first.
pub fn merged(read: Vec<FileMark>, earlier: Vec<FileMark>, matched: &[bool]) -> Vec<FileMark> {
    let unmatched = earlier.into_iter().enumerate().filter(|(i, _)| !matched.get(*i).copied().unwrap_or(false));
    let mut marks = read;
    marks.extend(unmatched.map(|(_, m)| m));
    marks.truncate(KEPT);
    marks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_known_by_its_first_bytes_while_it_grows() {
        let day1 = b"Nov 20 09:00:00 mta1 postfix/qmgr[1]: A: removed\n";
        let mark = FileMark::of("mail.log", day1, day1.len() as u64, 1).unwrap();
        let mut day2 = day1.to_vec();
        day2.extend_from_slice(b"Nov 21 09:00:00 mta1 postfix/qmgr[1]: B: removed\n");
        assert!(mark.matches(&day2, Some(day2.len() as u64)), "grown, or renamed");
        assert!(mark.matches(&day2, None), "compressed: size unknown");
        assert!(!mark.matches(&day2, Some(10)), "shorter than what was read: truncated and written again");
        assert!(!mark.matches(b"Nov 22 09:00:00 mta1 postfix/qmgr[1]: C: removed\n", None), "another file");
        assert!(!mark.matches(&day1[..10], None), "fewer bytes than the fingerprint");
        assert_eq!(FileMark::of("empty", b"", 0, 0), None);
        // The fingerprint is fixed: state files written by one build are read by the next.
        assert_eq!(fingerprint(b""), "cbf29ce484222325");
        assert_eq!(fingerprint(b"a"), "af63dc4c8601ec8c");
    }

    #[test]
    fn merged_marks_put_this_runs_first_and_drop_those_it_matched() {
        let mark = |name: &str| FileMark::of(name, name.as_bytes(), 1, 1).unwrap();
        let marks = merged(vec![mark("new")], vec![mark("matched"), mark("rotated")], &[true, false]);
        assert_eq!(marks.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["new", "rotated"]);
    }
}
