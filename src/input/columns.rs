//! Finding columns in CSV headers by name, case-insensitively and with the aliases exports use
//! (`email`, `email_address`, `Email Address`, `recipient`).

use anyhow::{Context, Result, bail};

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

/// A CSV input with its line ends noted as the CSV reader takes its bytes, so that each row is numbered by the line
/// it starts on. The CSV reader's own positions put a row on the line before its own after a CR LF line end, and
/// after a blank line (csv issues 395 and 208): exports written on Windows would have every error reported a line
/// too early. Only the line ends between the last row numbered and what the reader has taken ahead are kept.
///
/// It also counts the blank lines, which the CSV reader passes over without a row, so that every line of a file is
/// accounted for: [`next_row`] counts them as ignored when the input ends.
pub struct LineEnds<R> {
    inner: R,
    /// How many bytes were handed to the reader.
    taken: u64,
    /// The CRs and LFs handed to the reader and not yet passed: offset, and whether it is a LF.
    ends: std::collections::VecDeque<(u64, bool)>,
    /// The LFs passed: the line of the next row is one more, at least.
    passed: u64,
    /// Whether the bytes handed over end inside double quotes (by their parity, as [`super::lines::csv_records_end`]
    /// cuts blocks), where a line end belongs to a cell.
    quoted: bool,
    /// Where the line being handed over starts, and the offset just past the last CR: a line that holds nothing
    /// but a CR is blank too.
    line_start: u64,
    after_cr: u64,
    /// Blank lines outside quotes, not yet counted.
    blank: u64,
    /// How many cells the header has (0: not known), to tell rows taken in by a stray quote (see [`next_row`]).
    fields: usize,
}

impl<R> LineEnds<R> {
    /// `inner`, read from its start.
    pub fn new(inner: R) -> Self {
        LineEnds {
            inner,
            taken: 0,
            ends: std::collections::VecDeque::new(),
            passed: 0,
            quoted: false,
            line_start: 0,
            after_cr: u64::MAX,
            blank: 0,
            fields: 0,
        }
    }

    /// Tells how many cells the header has, so that rows taken in by a stray quote are found (see [`next_row`]).
    pub fn set_fields(&mut self, fields: usize) {
        self.fields = fields;
    }

    /// Where the row that the reader began at `start` begins, past the line ends and blank lines the reader passed
    /// over first, and its line (1 for the first line of the input). Rows must be asked for in input order.
    fn row_start(&mut self, mut start: u64) -> (u64, u64) {
        while let Some(&(at, lf)) = self.ends.front() {
            if at > start {
                break;
            }
            if at == start {
                start += 1;
            }
            self.passed += u64::from(lf);
            self.ends.pop_front();
        }
        (start, self.passed + 1)
    }
}

impl<R: std::io::Read> std::io::Read for LineEnds<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for i in memchr::memchr3_iter(b'"', b'\r', b'\n', &buf[..n]) {
            let at = self.taken + i as u64;
            match buf[i] {
                b'"' => self.quoted = !self.quoted,
                b'\r' => {
                    self.ends.push_back((at, false));
                    self.after_cr = at + 1;
                }
                _ => {
                    self.ends.push_back((at, true));
                    if !self.quoted {
                        let empty = at == self.line_start || (at == self.line_start + 1 && self.after_cr == at);
                        self.blank += u64::from(empty);
                        self.line_start = at + 1;
                    }
                }
            }
        }
        self.taken += n as u64;
        Ok(n)
    }
}

/// Reads the next row after the header into `record`, counting it as read: a row the CSV reader cannot read, or one
/// longer than [`MAX_LINE`], is counted as malformed and skipped. At the end of the input, the blank lines the CSV
/// reader passed over are counted as read and ignored. One reader for every CSV input, so that all of them
/// account for their rows alike. `lines_before` is how many lines of the file come before what `reader` reads (a
/// block of a file read in blocks); line numbers are the file's, and a row's byte range starts at its first byte.
pub fn next_row<R: std::io::Read>(
    reader: &mut csv::Reader<LineEnds<R>>,
    record: &mut csv::ByteRecord,
    stats: &mut FileStats,
    lines_before: u64,
) -> Row {
    let before = reader.position().byte();
    match reader.read_byte_record(record) {
        Ok(false) => {
            let blank = std::mem::take(&mut reader.get_mut().blank);
            stats.read += blank;
            stats.ignored += blank;
            Row::End
        }
        Ok(true) => {
            stats.read += 1;
            let (start, line) = reader.get_mut().row_start(record.position().map_or(before, |p| p.byte()));
            let line = lines_before + line;
            let bytes = start..reader.position().byte().max(start);
            let length = bytes.end - bytes.start;
            if length > MAX_LINE as u64 {
                stats.malformed(line, format!("row of {length} bytes is longer than the limit of {MAX_LINE}"));
                return Row::Skipped;
            }
            if let Some(why) = rows_taken_in(record, reader.get_ref().fields) {
                // Every line the quote took in is counted, as the rows they were; a quote left open at the end
                // of the input takes in its last line end too, which ends no line of its own.
                let ends = record.iter().map(|cell| memchr::memchr_iter(b'\n', cell).count() as u64).sum::<u64>();
                let last_end = record.iter().next_back().is_some_and(|cell| cell.ends_with(b"\n"));
                let extra = ends - u64::from(last_end);
                stats.read += extra;
                stats.malformed += extra;
                let why = if extra == 0 {
                    format!("a `\"` opens a quoted cell that is not closed on its line, {why} (a stray quote?)")
                } else {
                    let last = line + extra;
                    format!(
                        "a `\"` opens a quoted cell that runs to line {last}, {why} (a stray quote?): lines {line} \
                         to {last} are not used"
                    )
                };
                stats.malformed(line, why);
                return Row::Skipped;
            }
            Row::Read(line, bytes)
        }
        Err(e) => {
            stats.read += 1;
            let line = lines_before + reader.get_mut().row_start(e.position().map_or(before, |p| p.byte())).1;
            stats.malformed(line, format!("unreadable CSV row: {e}"));
            if matches!(e.kind(), csv::ErrorKind::Io(_)) { Row::End } else { Row::Skipped }
        }
    }
}

/// How many lines inside the cells of a row read across line ends read as rows of their own, if any: then a `"`
/// with no partner (a hand-edited export, a log text written unquoted) opened a cell that took them in, and the
/// rows they were would be lost without a word. `fields` is the header's number of cells (0: not known, no check).
///
/// A cell may hold line ends (a multi-line SMTP reply, quoted as RFC 4180 says), so a line end alone tells
/// nothing. A row with line ends and another number of cells than the header has is such a row; so is a line
/// inside a cell that splits at commas into as many cells as the header, the cells before the last each a short
/// word without spaces (an id, an address, a time), as a row of an export does and a reply's next line (`550-5.1.1
/// The email account ...`) does not.
fn rows_taken_in(record: &csv::ByteRecord, fields: usize) -> Option<String> {
    if fields < 2 || !record.iter().any(|cell| cell.contains(&b'\n')) {
        return None;
    }
    let looks_like_a_row = |line: &[u8]| {
        let mut cells = line.split(|&b| b == b',');
        cells.by_ref().take(fields - 1).filter(|c| !c.is_empty() && c.len() <= 255 && !c.contains(&b' ')).count()
            == fields - 1
            && cells.next().is_some()
    };
    let rows =
        record.iter().flat_map(|cell| cell.split(|&b| b == b'\n').skip(1)).filter(|l| looks_like_a_row(l)).count();
    match rows {
        0 if record.len() == fields => None,
        0 => Some(format!("and the row has {} cells where the header has {fields}", record.len())),
        n => Some(format!("taking in {n} line(s) that read as rows of their own")),
    }
}

/// Reads the rows after the header one by one with [`next_row`], handing every readable row to `row` with its line
/// number and its byte range. `row` owns the record, to make it a `StringRecord` without copying it, and gives it
/// back to be filled again. `lines_before` is as for [`next_row`].
pub fn each_record<R: std::io::Read>(
    reader: &mut csv::Reader<LineEnds<R>>,
    stats: &mut FileStats,
    lines_before: u64,
    mut row: impl FnMut(u64, std::ops::Range<u64>, csv::ByteRecord, &mut FileStats) -> csv::ByteRecord,
) {
    let mut record = csv::ByteRecord::new();
    loop {
        match next_row(reader, &mut record, stats, lines_before) {
            Row::Read(line, bytes) => record = row(line, bytes, record, stats),
            Row::Skipped => {}
            Row::End => break,
        }
    }
}

/// The header row at the start of `bytes`, where the rows after it start, and how many blank lines came before it.
/// The rows start past the header's line end: the CSV reader stops between the two bytes of a CR LF, and the LF
/// left at the start of the rows would read as a blank line.
pub fn header_of(bytes: &[u8]) -> csv::Result<(csv::ByteRecord, usize, u64)> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(false).from_reader(bytes);
    let mut header = csv::ByteRecord::new();
    reader.read_byte_record(&mut header)?;
    let mut end = (reader.position().byte() as usize).min(bytes.len());
    if end > 0 && bytes[end - 1] == b'\r' && bytes.get(end) == Some(&b'\n') {
        end += 1;
    }
    let leading = bytes.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(bytes.len());
    let blank = memchr::memchr_iter(b'\n', &bytes[..leading]).count() as u64;
    Ok((header, end, blank))
}

/// A CSV reader of `bytes` that starts after the header (a range of rows, see [`read_in_ranges`]), numbering rows
/// with [`next_row`].
pub fn range_reader(bytes: &[u8], fields: usize) -> csv::Reader<LineEnds<&[u8]>> {
    let mut ends = LineEnds::new(bytes);
    ends.set_fields(fields);
    csv::ReaderBuilder::new().flexible(true).has_headers(false).from_reader(ends)
}

/// Reads a CSV input in blocks of whole records ([`super::lines::pipeline_blocks_cut`]), each block's rows range by
/// range on all cores ([`super::lines::map_csv_chunks`]): a large file is neither held whole nor read on one core.
/// `header(cells, stats)` makes the columns of the header (the first record; an empty record for an empty input);
/// `rows(range, lines before it, columns, header cells)` reads a range of rows (see [`range_reader`]) into its own
/// accounting and a part; `handle(parts, bytes)` takes each block's parts in file order, once their accounting is in `stats`.
pub fn read_in_ranges<C: Send + Sync, P: Send>(
    reader: impl std::io::Read + Send,
    stats: &mut FileStats,
    header: impl Fn(&csv::StringRecord, &mut FileStats) -> Result<C> + Sync,
    rows: impl Fn(&[u8], u64, &C, usize) -> (FileStats, P) + Sync,
    mut handle: impl FnMut(Vec<P>, u64) -> Result<()> + Send,
) -> Result<()> {
    use super::lines;
    // The columns, and how many cells the header has.
    let columns: std::sync::OnceLock<(C, usize)> = std::sync::OnceLock::new();
    let (name, kind) = (stats.name.clone(), stats.kind.clone());
    let parse = |bytes: &[u8], first: u64| -> Result<(Vec<FileStats>, Vec<P>)> {
        let mut accounts = Vec::new();
        let (mut body, mut body_first) = (bytes, first);
        if first == 1 {
            let mut head = FileStats::new(name.clone(), &kind);
            let (record, end, blank) =
                header_of(bytes).with_context(|| format!("{name}:1: cannot read the CSV header"))?;
            head.read += 1 + blank;
            head.ignored += 1 + blank;
            let fields = record.len();
            let _ = columns.set((header(&csv::StringRecord::from_byte_record_lossy(record), &mut head)?, fields));
            accounts.push(head);
            body_first += memchr::memchr_iter(b'\n', &bytes[..end]).count() as u64;
            body = &bytes[end..];
        }
        let Some((c, fields)) = columns.get() else { return Ok((accounts, Vec::new())) };
        let (ranges, parts): (Vec<FileStats>, Vec<P>) =
            lines::map_csv_chunks(body, body_first, |first, range| rows(range, first - 1, c, *fields))
                .into_iter()
                .unzip();
        accounts.extend(ranges);
        Ok((accounts, parts))
    };
    lines::pipeline_blocks_cut(reader, lines::STREAM_BLOCK, lines::csv_records_end, parse, |block| match block {
        lines::ParsedBlock::TooLong(line, len) => {
            stats.read += 1;
            stats.malformed(line, format!("row of {len} bytes is longer than the limit of {}", lines::MAX_LINE));
            Ok(())
        }
        lines::ParsedBlock::Block(parsed, bytes, invalid_utf8) => {
            stats.add_invalid_utf8(invalid_utf8);
            let (accounts, parts) = parsed?;
            for account in accounts {
                stats.absorb(account);
            }
            handle(parts, bytes)
        }
    })?;
    if columns.get().is_none() {
        stats.read += 1;
        stats.ignored += 1;
        header(&csv::StringRecord::new(), stats)?;
    }
    Ok(())
}

/// Hands the attempts of a block's ranges (see [`read_in_ranges`]) to `each` as one batch, in file order, with the
/// latest time of a row read so far, which `latest` keeps from block to block.
pub fn hand_on(
    ranges: Vec<Vec<crate::domain::attempt::Attempt>>,
    latest: &mut Option<crate::domain::time::Timestamp>,
    each: &mut (
             dyn FnMut(Vec<crate::domain::attempt::Attempt>, Option<crate::domain::time::Timestamp>) -> Result<()>
                 + Send
         ),
) -> Result<()> {
    let mut attempts = Vec::with_capacity(ranges.iter().map(Vec::len).sum());
    for mut range in ranges {
        attempts.append(&mut range);
    }
    *latest = (*latest).max(attempts.iter().map(|a| a.time).max());
    each(attempts, *latest)
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

    /// The line and first bytes of each row of `text` read after its header, as [`next_row`] gives them.
    fn rows(text: &str) -> Vec<(u64, String)> {
        rows_and_stats(text).0
    }

    /// [`rows`], and the accounting of what was read after the header.
    fn rows_and_stats(text: &str) -> (Vec<(u64, String)>, FileStats) {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(LineEnds::new(text.as_bytes()));
        let (mut record, mut stats) = (csv::ByteRecord::new(), FileStats::default());
        let mut rows = Vec::new();
        loop {
            match next_row(&mut reader, &mut record, &mut stats, 0) {
                Row::Read(line, bytes) => rows.push((line, text[bytes.start as usize..].chars().take(3).collect())),
                Row::Skipped => {}
                Row::End => return (rows, stats),
            }
        }
    }

    #[test]
    fn blank_lines_are_counted_as_ignored() {
        let lf = "\nh,i\na,1\n\nb,2\n\"c\n\nc\",3\n\n\nd,4\n\n";
        for text in [lf.to_string(), lf.replace('\n', "\r\n")] {
            let (rows, stats) = rows_and_stats(&text);
            assert_eq!(rows.len(), 4);
            // The blank line before the header, after a,1, two after the quoted row, and one at the end; the
            // quoted cell's empty line is part of its row.
            assert_eq!((stats.read, stats.ignored), (4 + 5, 5), "{text:?}");
        }
        let (header, end, blank) = header_of(b"\r\n\nh,i\r\na,1\r\n").unwrap();
        assert_eq!((header.get(0), end, blank), (Some(&b"h"[..]), 8, 2), "the rows start past the CR LF");
    }

    #[test]
    fn rows_are_numbered_by_the_line_they_start_on() {
        let lf = "h,i\na,1\n\nb,2\n\"c\nc\",3\nd,4\n";
        let want: Vec<(u64, String)> =
            [(2, "a,1"), (4, "b,2"), (5, "\"c\n"), (7, "d,4")].into_iter().map(|(n, s)| (n, s.to_string())).collect();
        assert_eq!(rows(lf), want, "a blank line and a quoted line end");
        assert_eq!(rows(&lf.replace('\n', "\r\n")).iter().map(|r| r.0).collect::<Vec<_>>(), [2, 4, 5, 7], "CR LF");
        assert_eq!(rows(&lf.replace('\n', "\r\n"))[0].1, "a,1", "a row's bytes start at its first byte");
        assert_eq!(rows("h\r\n\r\n\r\nx\r\ny").iter().map(|r| r.0).collect::<Vec<_>>(), [4, 5], "blank CR LF lines");
    }

    #[test]
    fn rows_taken_in_by_a_stray_quote_are_told_from_replies_quoted_across_lines() {
        let record = |cells: &[&str]| csv::ByteRecord::from(cells.to_vec());
        let reply = "550-5.1.1 The email account that you tried to reach does not exist, please\n550 5.1.1 try again";
        assert_eq!(rows_taken_in(&record(&["c1", "a@x", "2026-01-01T00:00:00Z", reply]), 4), None);
        assert_eq!(rows_taken_in(&record(&["c1", "a@x", "2026-01-01T00:00:00Z", "250 ok"]), 4), None, "one line");
        let taken = record(&["c1", "a@x", "2026-01-01T00:00:00Z", "550 x\nc1,b@x,2026-01-01T00:00:01Z,250 ok, fine"]);
        assert_eq!(rows_taken_in(&taken, 4).as_deref(), Some("taking in 1 line(s) that read as rows of their own"));
        let short = record(&["c1", "a@x,2026-01-01T00:00:00Z,250 ok\nnothing like a row"]);
        assert_eq!(rows_taken_in(&short, 4).as_deref(), Some("and the row has 2 cells where the header has 4"));
        assert_eq!(rows_taken_in(&taken, 0), None, "no header known, no check");
    }

    proptest::proptest! {
        /// Rows written with blank lines between them and quoted line ends inside them are numbered by the line the
        /// writer put them on, with LF and with CR LF line ends alike, and every blank line is counted.
        #[test]
        fn rows_keep_the_lines_they_were_written_on(
            rows_written in proptest::collection::vec(
                (proptest::collection::vec(
                    proptest::sample::select(vec!["a", "bc", "\"q,r\"", "\"x\ny\"", "\"\"\"\"", "\"1\n\n2\""]),
                    1..4,
                ), 0usize..3),
                0..12,
            ),
            last_line_end in proptest::bool::ANY,
        ) {
            let mut text = String::from("h\n");
            let mut want = Vec::new();
            for (i, (cells, blanks)) in rows_written.iter().enumerate() {
                text.push_str(&"\n".repeat(*blanks));
                want.push(1 + text.matches('\n').count() as u64);
                text.push_str(&cells.join(","));
                if last_line_end || i + 1 < rows_written.len() {
                    text.push('\n');
                }
            }
            let blanks: u64 = rows_written.iter().map(|(_, blanks)| *blanks as u64).sum();
            let lines = |text: &str| {
                let (rows, stats) = rows_and_stats(text);
                (rows.into_iter().map(|(line, _)| line).collect::<Vec<_>>(), stats.read, stats.ignored)
            };
            let want = (want, rows_written.len() as u64 + blanks, blanks);
            proptest::prop_assert_eq!(lines(&text), want.clone(), "LF: {:?}", text);
            let crlf = text.replace('\n', "\r\n");
            proptest::prop_assert_eq!(lines(&crlf), want, "CR LF: {:?}", crlf);
        }
    }
}
