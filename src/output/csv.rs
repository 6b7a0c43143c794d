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
    if !raw && s.starts_with(['=', '+', '-', '@', '\t', '\r']) { Cow::Owned(format!("'{s}")) } else { Cow::Borrowed(s) }
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
}
