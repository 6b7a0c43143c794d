//! Rendering results: tables for people, CSV and JSON Lines for programs, one renderer per format.
//!
//! Commands build an [`Output`]: blocks for people (titled tables and lines of text) and one flat table for
//! programs, whose columns stay stable. Renderers write to any `Write`, so tests render into a `Vec<u8>`. Server
//! text is untrusted: control characters are escaped before they reach a terminal, and CSV cells that a spreadsheet
//! would run as a formula are neutralised.

pub mod csv;
pub mod json;
pub mod table;

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

/// An output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Tables for people.
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// JSON Lines: one object per row.
    Json,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" | "jsonl" => Ok(Format::Json),
            _ => Err(format!("unknown format '{s}' (table, csv, json)")),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Json => "json",
        })
    }
}

/// One value.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A ratio from 0 to 1: a percentage in tables, a number elsewhere.
    Ratio(f64),
    /// Nothing: empty in tables and CSV, null in JSON.
    Empty,
    /// A ratio from 0 to 1 drawn as a bar of Unicode blocks; tables not shown on a terminal leave the column out.
    Bar(f64),
}

impl Cell {
    /// Text, or empty when the text is.
    pub fn text(s: impl Into<String>) -> Cell {
        let s = s.into();
        if s.is_empty() { Cell::Empty } else { Cell::Text(s) }
    }

    /// A whole number.
    pub fn int(n: impl TryInto<i64>) -> Cell {
        Cell::Int(n.try_into().unwrap_or(i64::MAX))
    }

    /// Text where there is some.
    pub fn opt(s: Option<impl Into<String>>) -> Cell {
        s.map_or(Cell::Empty, Cell::text)
    }
}

/// A table: named columns and rows of cells.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// A title shown above it in human output.
    pub title: Option<String>,
    /// The column names.
    pub columns: Vec<&'static str>,
    /// The rows, each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(columns: &[&'static str]) -> Self {
        Table { title: None, columns: columns.to_vec(), rows: Vec::new() }
    }

    /// The same table with a title.
    pub fn titled(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Adds a row.
    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
    }
}

/// A piece of human output.
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    /// A table.
    Table(Table),
    /// A line of text.
    Line(String),
    /// A line drawn for a terminal only (a sparkline), left out of files and pipes as bar columns are.
    TerminalLine(String),
}

/// What a command prints.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Output {
    /// For people (the table format).
    pub human: Vec<Block>,
    /// For programs (csv and json): one table with stable columns.
    pub machine: Table,
}

/// How to render.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// Whether the output is a terminal, whose width tables fit.
    pub terminal: bool,
    /// Otherwise, a width to fit tables into (from `COLUMNS`).
    pub width: Option<u16>,
    /// Whether CSV cells that look like formulas are left as they are.
    pub raw_csv: bool,
    /// Whether tables may use colour: only on a terminal, and never when `NO_COLOR` is set.
    pub colour: bool,
}

/// Writes `output` in `format`.
pub fn write(output: &Output, format: Format, out: &mut dyn Write, style: &Style) -> io::Result<()> {
    match format {
        Format::Table => table::write(&output.human, out, style),
        Format::Csv => csv::write(&output.machine, out, style),
        Format::Json => json::write(&output.machine, out),
    }
}

/// `n` and a noun, singular for one: `1 contact`, `2 contacts`.
pub fn count_of(n: impl Into<u64>, singular: &str, plural: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// A bar of `width` cells for a ratio from 0 to 1, in eighths of a cell.
pub fn bar(ratio: f64, width: usize) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = if ratio.is_finite() { (ratio.clamp(0.0, 1.0) * (width * 8) as f64).round() as usize } else { 0 };
    let mut s = "█".repeat(eighths / 8);
    if eighths % 8 > 0 {
        s.push(PARTS[eighths % 8]);
    }
    s
}

/// A sparkline: one block per value, scaled from 0 to the largest value.
pub fn sparkline(values: &[f64]) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().filter(|v| v.is_finite()).fold(0.0_f64, f64::max);
    values
        .iter()
        .map(|v| {
            if max > 0.0 && v.is_finite() {
                LEVELS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            } else {
                LEVELS[0]
            }
        })
        .collect()
}

/// Whether a character must not reach a reader as it is: control characters (C0, DEL, C1), which drive a
/// terminal, and the bidirectional formatting characters, which reorder what is shown (CVE-2021-42574).
fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Escapes control characters (C0, DEL, C1) and bidirectional overrides so that server text cannot drive a
/// terminal or disguise itself.
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(is_hostile) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x1b' => out.push_str("\\e"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if is_hostile(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_take_the_singular_for_one() {
        assert_eq!(count_of(1u64, "contact", "contacts"), "1 contact");
        assert_eq!(count_of(0u64, "contact", "contacts"), "0 contacts");
        assert_eq!(count_of(12u32, "message went", "messages went"), "12 messages went");
    }

    #[test]
    fn escapes_terminal_sequences() {
        assert_eq!(escape_controls("ok"), "ok");
        assert_eq!(escape_controls("a\x1b]0;pwned\x07b\n"), "a\\e]0;pwned\\x07b\\n");
        assert_eq!(escape_controls("\u{9b}31m"), "\\x9b31m");
        assert_eq!(escape_controls("user\u{202e}gnp.exe"), "user\\u{202e}gnp.exe");
    }

    #[test]
    fn bars_and_sparklines() {
        assert_eq!(bar(1.0, 4), "████");
        assert_eq!(bar(0.5, 3), "█▌");
        assert_eq!(bar(0.0, 4), "");
        assert_eq!(bar(f64::NAN, 4), "");
        assert_eq!(sparkline(&[0.0, 0.5, 1.0, 0.25]), "▁▅█▃");
        assert_eq!(sparkline(&[0.0, 0.0]), "▁▁");
    }
}
