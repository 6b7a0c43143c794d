//! Printing a command's output once, on one thread, to standard output or a file.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};

use anyhow::{Context, Result};

use crate::output::{self, Format, Output, Style, Table};

use super::args::OutputConfig;

/// Writes `output` where the configuration says.
pub fn emit(output: &Output, config: &OutputConfig) -> Result<()> {
    let mut style = Style { raw_csv: config.raw_csv, ..Style::default() };
    match &config.path {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("{}: cannot create the output file", path.display()))?;
            let mut w = BufWriter::new(file);
            output::write(output, config.format, &mut w, &style)
                .and_then(|_| w.flush())
                .with_context(|| format!("{}: cannot write", path.display()))
        }
        None => {
            let stdout = io::stdout();
            style.terminal = config.format == Format::Table && stdout.is_terminal();
            // https://no-color.org: any non-empty value turns colour off.
            style.colour = style.terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            style.width = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
            let mut w = BufWriter::new(stdout.lock());
            output::write(output, config.format, &mut w, &style)
                .and_then(|_| w.flush())
                .context("cannot write to standard output")
        }
    }
}

/// Rows written as they are produced, in csv or json, for outputs too long to hold in memory (`classify --text` on
/// millions of responses).
pub struct RowSink {
    out: Box<dyn Write>,
    format: Format,
    style: Style,
    header_written: bool,
    name: String,
}

impl RowSink {
    /// Opens the destination of a csv or json output.
    pub fn open(config: &OutputConfig) -> Result<RowSink> {
        let style = Style { raw_csv: config.raw_csv, ..Style::default() };
        let (out, name): (Box<dyn Write>, String) = match &config.path {
            Some(path) => {
                let file =
                    File::create(path).with_context(|| format!("{}: cannot create the output file", path.display()))?;
                (Box::new(BufWriter::with_capacity(1 << 20, file)), path.display().to_string())
            }
            None => (Box::new(BufWriter::with_capacity(1 << 20, io::stdout())), "standard output".into()),
        };
        Ok(RowSink { out, format: config.format, style, header_written: false, name })
    }

    /// Writes a table's rows (and, the first time, the CSV header).
    pub fn write(&mut self, table: &Table) -> Result<()> {
        let result = match self.format {
            Format::Json => output::json::write(table, &mut self.out),
            _ => output::csv::write_rows(table, &mut self.out, &self.style, !self.header_written),
        };
        self.header_written = true;
        result.with_context(|| format!("cannot write to {}", self.name))
    }

    /// Writes the header if no row came, and flushes.
    pub fn finish(mut self, columns: &[&'static str]) -> Result<()> {
        if !self.header_written {
            self.write(&Table::new(columns))?;
        }
        self.out.flush().with_context(|| format!("cannot write to {}", self.name))
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
