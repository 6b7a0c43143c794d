//! CSV for programs and spreadsheets: a header row, RFC 4180 quoting, and cells that a spreadsheet would run as a
//! formula (leading `=`, `+`, `-`, `@`, tab, carriage return) prefixed with `'`, as OWASP recommends.

use std::borrow::Cow;
use std::io::{self, Write};

use super::{Cell, Style, Table, escape_controls};

/// The text of a cell in CSV. On a terminal (and unless raw), control characters are escaped as in tables: a
/// person is reading.
fn text(cell: &Cell, raw: bool, terminal: bool) -> Cow<'_, str> {
    match cell {
        Cell::Text(s) => field(s, raw, terminal),
        Cell::Int(n) => Cow::Owned(n.to_string()),
        Cell::Ratio(r) | Cell::Bar(r) => Cow::Owned(format!("{r:.4}")),
        Cell::Empty => Cow::Borrowed(""),
    }
}

/// A text field as CSV shows it: controls escaped on a terminal, and a formula neutralised (unless raw).
pub fn field(s: &str, raw: bool, terminal: bool) -> Cow<'_, str> {
    if !raw && terminal {
        return Cow::Owned(field(&escape_controls(s), raw, false).into_owned());
    }
    let formula = s.as_bytes().first().is_some_and(|b| matches!(b, b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'));
    if !raw && formula { Cow::Owned(format!("'{s}")) } else { Cow::Borrowed(s) }
}

/// Whether a field holds a comma, a quote or a line break: eight bytes at a time, since rows are encoded by the
/// million and most fields hold none.
fn needs_quotes(field: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Whether any byte of `v` is `b` (exact: the bit trick can misplace a match, never invent one).
    let has = |v: u64, b: u8| {
        let x = v ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGHS != 0
    };
    let mut words = field.chunks_exact(8);
    for word in &mut words {
        let v = u64::from_ne_bytes([word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7]]);
        if has(v, b',') | has(v, b'"') | has(v, b'\n') | has(v, b'\r') {
            return true;
        }
    }
    words.remainder().iter().any(|&c| matches!(c, b',' | b'"' | b'\n' | b'\r'))
}

/// Appends one record to `out` as the csv crate writes it by default: a field is quoted only where it holds a
/// comma, a quote or a line break, quotes inside are doubled, a lone empty field is `""`, and `\n` ends the record.
/// For rows encoded by the million, without the csv crate's state machine.
pub fn push_record<S: AsRef<str>>(out: &mut Vec<u8>, fields: impl IntoIterator<Item = S>) {
    let mut count = 0;
    let mut last_empty = false;
    for field in fields {
        let field = field.as_ref().as_bytes();
        if count > 0 {
            out.push(b',');
        }
        count += 1;
        last_empty = field.is_empty();
        if !needs_quotes(field) {
            out.extend_from_slice(field);
            continue;
        }
        out.push(b'"');
        let mut rest = field;
        while let Some(at) = memchr::memchr(b'"', rest) {
            out.extend_from_slice(&rest[..=at]);
            out.push(b'"');
            rest = &rest[at + 1..];
        }
        out.extend_from_slice(rest);
        out.push(b'"');
    }
    if count == 1 && last_empty {
        out.extend_from_slice(b"\"\"");
    }
    out.push(b'\n');
}

/// Writes a table as CSV.
pub fn write(table: &Table, out: &mut dyn Write, style: &Style) -> io::Result<()> {
    write_rows(table, out, style, true)
}

/// Writes a table's rows as CSV, after its header row if `header`: a long output is written table by table.
pub fn write_rows(table: &Table, out: &mut dyn Write, style: &Style, header: bool) -> io::Result<()> {
    let mut w = ::csv::Writer::from_writer(out);
    if header {
        w.write_record(&table.columns).map_err(io_error)?;
    }
    for row in &table.rows {
        w.write_record(row.iter().map(|c| match text(c, style.raw_csv, style.terminal) {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        }))
        .map_err(io_error)?;
    }
    w.flush()
}

/// Keeps the io::Error inside a csv::Error, so that a closed pipe is still recognised as one.
fn io_error(e: ::csv::Error) -> io::Error {
    match e.into_kind() {
        ::csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralises_formulas() {
        let mut t = Table::new(&["a", "b", "c"]);
        t.push(vec![Cell::text("=HYPERLINK(\"x\")"), Cell::Int(-3), Cell::Ratio(0.12345)]);
        let mut out = Vec::new();
        write(&t, &mut out, &Style::default()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a,b,c\n\"'=HYPERLINK(\"\"x\"\")\",-3,0.1235\n");
        let mut out = Vec::new();
        write(&t, &mut out, &Style { raw_csv: true, ..Style::default() }).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("\"=HYPERLINK"));
        for cell in ["+1", "-1+2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(text(&Cell::text(cell), false, false).starts_with('\''), "{cell:?}");
        }
        assert_eq!(text(&Cell::text("a\x1b]0;x\x07"), false, false), "a\x1b]0;x\x07");
        assert_eq!(text(&Cell::text("a\x1b]0;x\x07"), false, true), "a\\e]0;x\\x07");
        assert_eq!(text(&Cell::text("=1\x07"), false, true), "'=1\\x07");
    }

    /// What the csv crate writes for one record.
    fn csv_crate(fields: &[String]) -> Vec<u8> {
        let mut w = ::csv::Writer::from_writer(Vec::new());
        w.write_record(fields).unwrap();
        w.into_inner().unwrap()
    }

    #[test]
    fn records_as_the_csv_crate_writes_them() {
        let cases: &[&[&str]] = &[
            &["a", "b"],
            &[""],
            &["", ""],
            &["a,b", "say \"hi\"", "two\nlines", "cr\r", "\""],
            &["\u{e9}t\u{e9}", "", "x"],
        ];
        for fields in cases {
            let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
            let mut out = Vec::new();
            push_record(&mut out, &fields);
            assert_eq!(out, csv_crate(&fields), "{fields:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_record_as_the_csv_crate_writes_it(fields in proptest::collection::vec("[a-z,\"\r\n \u{e9}]{0,6}", 1..5)) {
            let mut out = Vec::new();
            push_record(&mut out, &fields);
            proptest::prop_assert_eq!(out, csv_crate(&fields));
        }
    }
}
