//! Printing a command's output once, on one thread, to standard output or a file.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};

use anyhow::{Context, Result};

use crate::output::table::{ColumnSizes, RowStream};
use crate::output::{self, Cell, Format, Output, Style, Table};

use super::args::OutputConfig;

/// Where an output goes: the writer, the style it is drawn in, and what to say when writing fails. On standard
/// output, a table is fitted to a terminal and coloured there (never with `NO_COLOR`), or fitted to `COLUMNS`
/// elsewhere.
fn destination(config: &OutputConfig) -> Result<(Box<dyn Write + Send>, Style, String)> {
    let mut style = Style { raw_csv: config.raw_csv, ..Style::default() };
    match &config.path {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("{}: cannot create the output file", path.display()))?;
            Ok((Box::new(BufWriter::new(file)), style, format!("{}: cannot write", path.display())))
        }
        None => {
            let stdout = io::stdout();
            style.terminal = config.format == Format::Table && stdout.is_terminal();
            // https://no-color.org: any non-empty value turns colour off.
            style.colour = style.terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            style.width = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
            Ok((Box::new(BufWriter::new(stdout)), style, "cannot write to standard output".into()))
        }
    }
}

/// Writes `output` where the configuration says.
pub fn emit(output: &Output, config: &OutputConfig) -> Result<()> {
    let (mut w, style, failed) = destination(config)?;
    output::write(output, config.format, &mut w, &style).and_then(|_| w.flush()).context(failed)
}

/// A table for people written as its rows are produced ([`RowStream`]), for outputs of one row per input line:
/// only its first rows are held, to size its columns.
pub struct TableSink {
    table: RowStream<Box<dyn Write + Send>>,
    failed: String,
}

impl TableSink {
    /// Opens the destination of a table of `columns`, at least as wide as `sizes` (see [`RowStream::sized`]).
    pub fn open(config: &OutputConfig, columns: &[&'static str], sizes: ColumnSizes) -> Result<TableSink> {
        let (out, style, failed) = destination(config)?;
        Ok(TableSink { table: RowStream::sized(out, columns, style, sizes), failed })
    }

    /// Adds a row.
    pub fn push(&mut self, row: Vec<Cell>) -> Result<()> {
        self.table.push(row).with_context(|| self.failed.clone())
    }

    /// Ends the table and flushes.
    pub fn finish(self) -> Result<()> {
        self.table.finish().map(drop).context(self.failed)
    }
}

/// Rows written as they are produced, in csv or json, for outputs too long to hold in memory (`classify --text` on
/// millions of responses).
pub struct RowSink {
    /// Sendable, so that rows can be written from the work that reads the logs (`classify` on logs).
    out: Box<dyn Write + Send>,
    format: Format,
    style: Style,
    header_written: bool,
    name: String,
}

impl RowSink {
    /// Opens the destination of a csv or json output.
    pub fn open(config: &OutputConfig) -> Result<RowSink> {
        let style = Style { raw_csv: config.raw_csv, ..Style::default() };
        let (out, name): (Box<dyn Write + Send>, String) = match &config.path {
            Some(path) => {
                let file =
                    File::create(path).with_context(|| format!("{}: cannot create the output file", path.display()))?;
                (Box::new(BufWriter::with_capacity(1 << 20, file)), path.display().to_string())
            }
            None => (Box::new(BufWriter::with_capacity(1 << 20, io::stdout())), "standard output".into()),
        };
        Ok(RowSink { out, format: config.format, style, header_written: false, name })
    }

    /// How this sink encodes rows, for workers that encode their share of the rows in parallel.
    pub fn encoder(&self) -> RowEncoder {
        RowEncoder { format: self.format, style: self.style }
    }

    /// Writes rows that a [`RowBuffer`] encoded (and, the first time, the CSV header for `columns`).
    pub fn write_encoded(&mut self, columns: &[&'static str], rows: &[u8]) -> Result<()> {
        let mut result = Ok(());
        if !self.header_written && self.format != Format::Json {
            result = output::csv::write_rows(&Table::new(columns), &mut self.out, &self.style, true);
        }
        self.header_written = true;
        result.and_then(|_| self.out.write_all(rows)).with_context(|| format!("cannot write to {}", self.name))
    }

    /// Writes the header if no row came, and flushes.
    pub fn finish(mut self, columns: &[&'static str]) -> Result<()> {
        if !self.header_written {
            self.write_encoded(columns, &[])?;
        }
        self.out.flush().with_context(|| format!("cannot write to {}", self.name))
    }
}

/// How a [`RowSink`] encodes rows (without the header), for workers that fill [`RowBuffer`]s in parallel.
#[derive(Clone, Copy, Debug)]
pub struct RowEncoder {
    format: Format,
    style: Style,
}

/// Rows encoded one by one into memory, without building cells, the way a [`RowSink`] writes them (without the
/// header): for outputs of millions of rows, encoded by workers in parallel.
pub struct RowBuffer {
    encoder: RowEncoder,
    csv: Vec<u8>,
    json: Vec<u8>,
    keys: Vec<String>,
}

impl RowEncoder {
    /// An empty buffer for rows of `columns`, with room for about `bytes` of output.
    pub fn buffer(&self, columns: &[&str], bytes: usize) -> RowBuffer {
        RowBuffer {
            encoder: *self,
            csv: Vec::with_capacity(if self.format == Format::Json { 0 } else { bytes }),
            json: Vec::with_capacity(if self.format == Format::Json { bytes } else { 0 }),
            keys: output::json::keys(columns),
        }
    }
}

impl RowBuffer {
    /// Adds one row: a value per column, `None` (or empty) for an empty cell.
    pub fn push(&mut self, values: &[Option<&str>]) {
        let values = values.iter().map(|v| v.filter(|s| !s.is_empty()));
        // Writing to memory cannot fail.
        if self.encoder.format == Format::Json {
            output::json::push_object(&mut self.json, &self.keys, values, |line, value| match value {
                Some(s) => {
                    let _ = serde_json::to_writer(line, s);
                }
                None => line.extend_from_slice(b"null"),
            });
        } else {
            let style = self.encoder.style;
            let fields = values.map(|v| output::csv::field(v.unwrap_or(""), style.raw_csv, style.terminal));
            output::csv::push_record(&mut self.csv, fields);
        }
    }

    /// The rows encoded.
    pub fn into_bytes(self) -> Vec<u8> {
        if self.encoder.format == Format::Json {
            return self.json;
        }
        self.csv
    }
}

/// Shortens text for a table cell; programs get the whole text in csv and json.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}
