//! `bounces classify`: what each delivery attempt, or each bare server response, means.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use rayon::prelude::*;

use crate::domain::attempt::{Attempt, Source, Status};
use crate::domain::classify::{Classifier, Verdict};
use crate::domain::in_order::{InOrder, InTime};
use crate::domain::name::Name;
use crate::domain::outcome::judge;
use crate::domain::reason::{Class, Fault, Reason};
use crate::domain::smtp::Reply;
use crate::domain::time::Timestamp;
use crate::input::lines::{Block as Piece, MAX_LINE, Parsed, for_each_block, map_ranges, parse_chunk};
use crate::input::source::open_input;
use crate::input::{FileStats, KeepLines};
use crate::output::table::ColumnSizes;
use crate::output::{Cell, Format};

use super::analysis::{account, load_campaign_data, read_attempts};
use super::args::{InputArgs, OutputArgs, OutputConfig, ReplayArgs};
use super::emit::{RowBuffer, RowSink, TableSink, clip};

/// Classify server responses: one row per delivery attempt in the logs, or per line with --text.
#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// Log files (`-` for standard input); with --text, files of responses, one per line (default: standard input).
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,

    /// Each input line is a bare server response (`550 5.1.1 user unknown`, `FAILED 550 ...`).
    #[arg(long)]
    pub text: bool,

    /// Show the rule that decided each row and what it recognises.
    #[arg(long)]
    pub explain: bool,

    /// The logs and the campaign data.
    #[command(flatten)]
    pub input: InputArgs,

    /// The thresholds and rules.
    #[command(flatten)]
    pub replay: ReplayArgs,

    /// Where and how the result is written.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Runs `bounces classify`.
pub fn run(args: &ClassifyArgs) -> Result<()> {
    let out = args.output.config()?;
    let files = if args.files.is_empty() && args.text { vec![PathBuf::from("-")] } else { args.files.clone() };
    let mut config = args.input.config(files, Some(&args.replay), KeepLines::None)?;
    out.refuse_inputs(&config, [])?;
    if args.text {
        return classify_text(&config.logs, &config.classifier, args.explain, config.stats, config.strict, &out);
    }
    if !config.strict {
        config.log_options.bound_tries = true;
        return stream_logs(args, &config, &out);
    }
    classify_logs(args, &config, &out)
}

/// The columns of `classify --text` for programs, with `--explain` (the deciding rule's description last).
const TEXT_COLUMNS_EXPLAINED: &[&str] =
    &["input", "class", "reason", "fault", "reply_code", "enhanced_status", "rule", "rule_description"];

/// The columns of `classify --text` for programs: [`TEXT_COLUMNS_EXPLAINED`] without the description.
const TEXT_COLUMNS: &[&str] = TEXT_COLUMNS_EXPLAINED.split_at(TEXT_COLUMNS_EXPLAINED.len() - 1).0;

/// A line of bare response: the response (trimmed), taken apart, and its verdict; `None` for a blank line.
fn read_response<'a>(line: &'a str, classifier: &Classifier) -> Option<(&'a str, Reply, Verdict)> {
    let text = line.trim();
    if text.is_empty() {
        return None;
    }
    let reply = Reply::parse(text);
    let verdict = classifier.classify(&reply);
    Some((text, reply, verdict))
}

/// How many characters of a response a table of `classify --text` shows.
const INPUT_SHOWN: usize = 80;

/// Hands `f` each response of a line with its reply and verdict; Ignored if there is none (a blank line). A line's
/// responses are itself, or, where it holds bare CRs (a file with old Mac line ends, which lines are not split at),
/// each piece between them: SMTP ends a reply's lines with CRLF, so a bare CR is never inside a response.
fn each_response(line: &str, classifier: &Classifier, mut f: impl FnMut(&str, Reply, Verdict)) -> Parsed<()> {
    let mut used = Parsed::Ignored;
    for (text, reply, verdict) in line.split('\r').filter_map(|r| read_response(r, classifier)) {
        f(text, reply, verdict);
        used = Parsed::Used(());
    }
    used
}

/// The rows of a line's responses for a table ([`each_response`]): the input clipped, and with `explain` the rule's id
/// and description. Ignored if the line is blank.
fn text_rows(line: &str, classifier: &Classifier, explain: bool, rows: &mut Vec<Vec<Cell>>) -> Parsed<()> {
    each_response(line, classifier, |text, reply, verdict| {
        let rule = classifier.rule(&verdict);
        let mut row = vec![
            Cell::text(clip(text, INPUT_SHOWN)),
            Cell::text(verdict.class.as_str()),
            Cell::text(verdict.reason.as_str()),
            Cell::text(verdict.fault.as_str()),
            Cell::opt(reply.code.map(|c| c.to_string())),
            Cell::opt(reply.enhanced.map(|e| e.to_string())),
        ];
        if explain {
            row.push(Cell::text(rule.id.clone()));
            row.push(Cell::text(rule.description.clone()));
        }
        rows.push(row);
    })
}

/// The rows of a line's responses ([`each_response`]) for csv and json ([`TEXT_COLUMNS`], or
/// [`TEXT_COLUMNS_EXPLAINED`] with `explain`), encoded into `rows` without building cells. Ignored if the line is
/// blank.
fn encode_text_rows(line: &str, classifier: &Classifier, explain: bool, rows: &mut RowBuffer) -> Parsed<()> {
    each_response(line, classifier, |text, reply, verdict| {
        // A reply code is three digits (Reply::parse reads no other).
        let code = reply.code.map(|c| [b'0' + (c / 100 % 10) as u8, b'0' + (c / 10 % 10) as u8, b'0' + (c % 10) as u8]);
        let mut enhanced = [0u8; 16];
        let rule = classifier.rule(&verdict);
        let row: [Option<&str>; 8] = [
            Some(text),
            Some(verdict.class.as_str()),
            Some(verdict.reason.as_str()),
            Some(verdict.fault.as_str()),
            code.as_ref().and_then(|c| std::str::from_utf8(c).ok()),
            reply.enhanced.as_ref().map(|e| e.format_into(&mut enhanced)),
            Some(&rule.id),
            Some(&rule.description),
        ];
        rows.push(if explain { &row } else { &row[..row.len() - 1] });
    })
}

/// The length of the longest of `names`: how wide a column of names from a known list must be.
fn widest<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names.map(|n| n.chars().count()).max().unwrap_or(0)
}

/// The table of `classify --text`, drawn as its rows come. A long table's columns are as wide as the widest cell
/// they can hold, which may come after the rows it is sized from: the response column as wide as a response is
/// shown ([`INPUT_SHOWN`]), those of names (class, reason, fault, codes, rule) as wide as the longest name.
fn text_table(out: &OutputConfig, classifier: &Classifier, explain: bool) -> Result<TableSink> {
    let columns: &[&'static str] = if explain {
        &["input", "class", "reason", "fault", "code", "enhanced", "rule", "why"]
    } else {
        &["input", "class", "reason", "fault", "code", "enhanced"]
    };
    let mut sizes = ColumnSizes::new(columns);
    sizes.at_least(0, INPUT_SHOWN);
    sizes.at_least(1, widest(Class::ALL.iter().map(|c| c.as_str())));
    sizes.at_least(2, widest(Reason::ALL.iter().map(|r| r.as_str())));
    sizes.at_least(3, widest(Fault::ALL.iter().map(|f| f.as_str())));
    // Three digits; an enhanced code's parts have up to three each.
    sizes.at_least(4, 3);
    sizes.at_least(5, "5.999.999".len());
    if explain {
        sizes.at_least(6, widest(classifier.rules().iter().map(|r| r.id.as_str())));
        sizes.at_least(7, widest(classifier.rules().iter().map(|r| r.description.as_str())));
    }
    TableSink::open(out, columns, sizes)
}

/// Classifies bare responses, one per line, in parallel; rows keep the input order. Every format is written block by
/// block as the input is read (a table as [`TableSink`] draws it), so that millions of responses take little memory
/// and a reader at the other end of a pipe gets the first rows at once.
fn classify_text(
    files: &[PathBuf],
    classifier: &Classifier,
    explain: bool,
    stats: bool,
    strict: bool,
    out: &OutputConfig,
) -> Result<()> {
    let human = out.format == Format::Table;
    let columns = if explain { TEXT_COLUMNS_EXPLAINED } else { TEXT_COLUMNS };
    let mut table = if human { Some(text_table(out, classifier, explain)?) } else { None };
    let mut sink = if human { None } else { Some(RowSink::open(out)?) };
    let mut accounting = Vec::new();
    for path in files {
        let opened = open_input(path)?;
        let mut file_stats = FileStats::new(opened.name.clone(), "responses");
        for_each_block(opened.reader()?, 4 << 20, |block| {
            match block {
                Piece::TooLong(line, len) => {
                    file_stats.read += 1;
                    file_stats.malformed(line, format!("line of {len} bytes is longer than the limit of {MAX_LINE}"));
                }
                Piece::Lines(bytes, first, ranges) => {
                    file_stats.count_invalid_utf8_at(bytes, first);
                    // Each worker classifies its range and, for csv and json, encodes its rows too: writing is then
                    // all that is left to do in order.
                    let encoder = sink.as_ref().map(RowSink::encoder);
                    let chunks = map_ranges(bytes, ranges, |first, chunk| {
                        // The table's rows (its columns depend on --explain), when there is no csv or json to encode.
                        let mut rows: Vec<Vec<Cell>> = Vec::new();
                        // A row is the response and a few short fields: twice the input is room enough for csv.
                        let mut encoded = encoder.map(|e| e.buffer(columns, chunk.len() * 2));
                        let lines: Vec<(u64, Parsed<()>)> = match &mut encoded {
                            Some(buffer) => {
                                parse_chunk(chunk, first, |_, line| encode_text_rows(line, classifier, explain, buffer))
                            }
                            None => {
                                parse_chunk(chunk, first, |_, line| text_rows(line, classifier, explain, &mut rows))
                            }
                        };
                        (lines, rows, encoded.map(RowBuffer::into_bytes))
                    });
                    for (lines, rows, encoded) in chunks {
                        for (line, p) in lines {
                            file_stats.read += 1;
                            match p {
                                Parsed::Used(()) => file_stats.used += 1,
                                Parsed::Ignored => file_stats.ignored += 1,
                                Parsed::Malformed(why) => file_stats.malformed(line, why),
                            }
                        }
                        match (&mut sink, encoded, &mut table) {
                            (Some(sink), Some(bytes), _) => sink.write_encoded(columns, &bytes)?,
                            (_, _, Some(table)) => rows.into_iter().try_for_each(|row| table.push(row))?,
                            _ => {}
                        }
                    }
                }
            }
            Ok(())
        })
        .with_context(|| format!("{}: cannot read", opened.name))?;
        file_stats.note_damage(opened.damage());
        accounting.push(file_stats);
    }
    account(&accounting, stats, strict)?;
    match (sink, table) {
        (Some(sink), _) => sink.finish(columns),
        (_, Some(table)) => table.finish(),
        (None, None) => Ok(()),
    }
}

/// The columns of `classify` on logs for programs, with `--explain` (the deciding rule's description last).
const LOG_COLUMNS_EXPLAINED: &[&str] = &[
    "time",
    "recipient",
    "campaign_id",
    "status",
    "class",
    "reason",
    "fault",
    "reply_code",
    "enhanced_status",
    "text",
    "rule",
    "rule_description",
];

/// The columns of `classify` on logs for programs: [`LOG_COLUMNS_EXPLAINED`] without the description.
const LOG_COLUMNS: &[&str] = LOG_COLUMNS_EXPLAINED.split_at(LOG_COLUMNS_EXPLAINED.len() - 1).0;

/// What `classify` shows of an attempt, made as the log is read. An attempt is held until every try before it has
/// been read, to be shown in time order: one held whole, with the words no row shows (sender, message-id, message
/// key, relay), took twice the memory.
struct Shown {
    time: Timestamp,
    source: Source,
    recipient: Box<str>,
    campaign: Option<Name>,
    status: Status,
    /// As the outcomes judge it: a line the MTA logged as delivered is a delivery whatever its words say.
    verdict: Verdict,
    reply: Reply,
}

impl InTime for Shown {
    fn order(&self) -> (Timestamp, Source) {
        (self.time, self.source)
    }
}

impl Shown {
    fn new(a: Attempt, classifier: &Classifier) -> Shown {
        let verdict = judge(a.status, &a.reply, classifier).1;
        Shown {
            time: a.time,
            source: a.source,
            recipient: a.recipient.into_boxed_str(),
            campaign: a.campaign,
            status: a.status,
            verdict,
            reply: a.reply,
        }
    }
}

/// The tries of a batch (all its parts, which it empties) inside `--since`, judged on all cores.
fn shown_of(parts: &mut [Vec<Attempt>], config: &super::args::RunConfig) -> Vec<Shown> {
    let mut made = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    for batch in parts {
        batch.retain(|a| config.since.is_none_or(|t| a.time >= t));
        made.par_extend(batch.par_drain(..).map(|a| Shown::new(a, &config.classifier)));
    }
    made
}

/// Every attempt in the logs from `--since` on, made [`Shown`] on all cores batch by batch as the logs are read, in
/// time order.
fn shown_attempts(config: &super::args::RunConfig) -> Result<Vec<Shown>> {
    let mut shown = Vec::new();
    let data = load_campaign_data(config)?;
    read_attempts(config, data, &mut |parts, _| {
        shown.extend(shown_of(parts, config));
        Ok(())
    })?;
    shown.sort_by_key(|a| (a.time, a.source));
    Ok(shown)
}

/// The columns of `classify` on logs for csv and json.
fn log_columns(explain: bool) -> &'static [&'static str] {
    if explain { LOG_COLUMNS_EXPLAINED } else { LOG_COLUMNS }
}

/// Encodes attempts as csv or json rows on all cores, and writes them.
fn write_rows(sink: &mut RowSink, shown: &[Shown], explain: bool, classifier: &Classifier) -> Result<()> {
    let columns = log_columns(explain);
    let encoder = sink.encoder();
    for group in shown.chunks(1 << 16) {
        let encoded: Vec<Vec<u8>> = group
            .par_chunks(4096)
            .map(|chunk| {
                let mut rows = encoder.buffer(columns, chunk.len() * 256);
                for a in chunk {
                    let v = a.verdict;
                    let (time, code) = (a.time.rfc3339(), a.reply.code.map(|c| c.to_string()));
                    let enhanced = a.reply.enhanced.map(|e| e.to_string());
                    let rule = classifier.rule(&v);
                    let row: [Option<&str>; 12] = [
                        Some(&time),
                        Some(&a.recipient),
                        a.campaign.as_deref(),
                        Some(a.status.as_str()),
                        Some(v.class.as_str()),
                        Some(v.reason.as_str()),
                        Some(v.fault.as_str()),
                        code.as_deref(),
                        enhanced.as_deref(),
                        Some(&a.reply.text),
                        Some(&rule.id),
                        Some(&rule.description),
                    ];
                    rows.push(if explain { &row } else { &row[..row.len() - 1] });
                }
                rows.into_bytes()
            })
            .collect();
        for rows in encoded {
            sink.write_encoded(columns, &rows)?;
        }
    }
    Ok(())
}

/// Where `classify` on logs writes its rows: csv or json rows, or a table.
enum Sink {
    Rows(RowSink),
    Table(TableSink),
}

impl Sink {
    /// Writes attempts, in order.
    fn write(&mut self, shown: &[Shown], explain: bool, classifier: &Classifier) -> Result<()> {
        match self {
            Sink::Rows(sink) => write_rows(sink, shown, explain, classifier),
            Sink::Table(table) => shown.iter().try_for_each(|a| table.push(table_row(a, explain, classifier))),
        }
    }

    /// Ends the output.
    fn finish(self, explain: bool) -> Result<()> {
        match self {
            Sink::Rows(sink) => sink.finish(log_columns(explain)),
            Sink::Table(table) => table.finish(),
        }
    }
}

/// One row per attempt in the logs, in time order, written as the logs are read: an attempt is written once no try
/// still to come can be before it (the readers bound the tries they hold, see
/// [`crate::input::LogOptions::bound_tries`]), so that memory holds the messages in flight, not every attempt of
/// the logs. A table's columns are sized from its first rows (see [`table_sizes`]). An error writing rows (a closed
/// pipe) stops the reading, and is returned.
fn stream_logs(args: &ClassifyArgs, config: &super::args::RunConfig, out: &OutputConfig) -> Result<()> {
    let data = load_campaign_data(config)?;
    let mut sink = match out.format {
        Format::Table => {
            let columns = table_columns(args.explain);
            Sink::Table(TableSink::open(out, columns, table_sizes(columns, &config.classifier))?)
        }
        _ => Sink::Rows(RowSink::open(out)?),
    };
    let mut order: InOrder<Shown> = InOrder::new();
    let mut released = Vec::new();
    // The error writing rows, kept apart from the error that stops the reading (which names the file being read).
    let mut failed: Option<anyhow::Error> = None;
    let read = read_attempts(config, data, &mut |parts, bound| {
        let made = shown_of(parts, config);
        order.reserve(made.len());
        for shown in made {
            order.push(shown);
        }
        if let Some(bound) = bound {
            order.release_before(bound, &mut |shown| released.push(shown));
            let written = sink.write(&released, args.explain, &config.classifier);
            released.clear();
            if let Err(e) = written {
                failed = Some(e);
                anyhow::bail!("the output was closed");
            }
        }
        Ok(())
    });
    if let Some(e) = failed {
        return Err(e);
    }
    read?;
    if order.late() > 0 {
        let _ = writeln!(
            std::io::stderr(),
            "bounces: warning: {} tries came more than an hour before lines read earlier (clocks far apart?); they were written in the order read",
            order.late()
        );
    }
    order.finish(&mut |shown| released.push(shown));
    sink.write(&released, args.explain, &config.classifier)?;
    sink.finish(args.explain)
}

/// The columns of `classify` on logs as a table.
fn table_columns(explain: bool) -> &'static [&'static str] {
    if explain {
        &["time", "recipient", "campaign", "status", "class", "reason", "code", "text", "rule", "why"]
    } else {
        &["time", "recipient", "campaign", "status", "class", "reason", "code", "text"]
    }
}

/// How many characters of a response a table row shows.
const TEXT_SHOWN: usize = 70;

/// How wide the recipient column of a streamed table is at least: as wide as nearly every address.
const RECIPIENT_SHOWN: usize = 48;

/// An attempt as a table row.
fn table_row(a: &Shown, explain: bool, classifier: &Classifier) -> Vec<Cell> {
    let v = a.verdict;
    let code = a.reply.code.map(|c| c.to_string());
    let enhanced = a.reply.enhanced.map(|e| e.to_string());
    let mut row = vec![
        Cell::text(a.time.rfc3339()),
        Cell::text(a.recipient.to_string()),
        Cell::text(a.campaign.as_deref().unwrap_or("-")),
        Cell::text(a.status.as_str()),
        Cell::text(v.class.as_str()),
        Cell::text(v.reason.as_str()),
        Cell::text([code, enhanced].into_iter().flatten().collect::<Vec<_>>().join(" ")),
        Cell::text(clip(&a.reply.text, TEXT_SHOWN)),
    ];
    if explain {
        let rule = classifier.rule(&v);
        row.push(Cell::text(rule.id.clone()));
        row.push(Cell::text(rule.description.clone()));
    }
    row
}

/// The least widths of a table of attempts written as the logs are read: columns of names from a known list as wide
/// as the longest name, the time and code as wide as they can be, the response as wide as the part a row shows. The
/// recipient column is as wide as nearly every address ([`RECIPIENT_SHOWN`]) or the widest of the first rows (see
/// [`crate::output::table::RowStream::HELD`]), the campaign column as wide as the widest of them, and a later cell
/// wider than its column is cut with `…`: measuring every row first would hold them all.
fn table_sizes(columns: &[&'static str], classifier: &Classifier) -> ColumnSizes {
    let mut sizes = ColumnSizes::new(columns);
    sizes.at_least(0, "2026-01-01T00:00:00Z".len());
    sizes.at_least(1, RECIPIENT_SHOWN);
    let statuses = [Status::Delivered, Status::Deferred, Status::Bounced, Status::Expired];
    sizes.at_least(3, widest(statuses.iter().map(|s| s.as_str())));
    sizes.at_least(4, widest(Class::ALL.iter().map(|c| c.as_str())));
    sizes.at_least(5, widest(Reason::ALL.iter().map(|r| r.as_str())));
    sizes.at_least(6, "550 5.999.999".len());
    sizes.at_least(7, TEXT_SHOWN);
    if columns.len() > 8 {
        sizes.at_least(8, widest(classifier.rules().iter().map(|r| r.id.as_str())));
        sizes.at_least(9, widest(classifier.rules().iter().map(|r| r.description.as_str())));
    }
    sizes
}

/// One row per attempt in the logs, in time order, every attempt held until the logs end (`--strict`, which writes
/// nothing before every line has been read): a long table is then as wide as its widest cells.
fn classify_logs(args: &ClassifyArgs, config: &super::args::RunConfig, out: &OutputConfig) -> Result<()> {
    let attempts = shown_attempts(config)?;
    if out.format != Format::Table {
        // `--strict`: nothing is written before every line has been read.
        let mut sink = RowSink::open(out)?;
        write_rows(&mut sink, &attempts, args.explain, &config.classifier)?;
        return sink.finish(log_columns(args.explain));
    }
    let columns = table_columns(args.explain);
    let row = |a: &Shown| table_row(a, args.explain, &config.classifier);
    // The attempts are all in memory, sorted: the columns are measured first, so that a long table is as wide as
    // its widest cells, and then drawn a row at a time rather than held whole as cells besides.
    let mut sizes = ColumnSizes::new(columns);
    for a in &attempts {
        sizes.measure(&row(a));
    }
    let mut human = TableSink::open(out, columns, sizes)?;
    for a in &attempts {
        human.push(row(a))?;
    }
    human.finish()
}
