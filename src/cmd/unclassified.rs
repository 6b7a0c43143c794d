//! `bounces unclassified`: the failure responses whose words no rule recognised, grouped into templates, most
//! frequent first.
//!
//! A response whose words no rule matches is classified by its codes alone (`550` "the code decides", `5.7.1`
//! "refused by policy") or not at all, which are the least reliable verdicts the tool gives. This list is where users
//! start writing rules: each template stands for one wording, with addresses, domains, IPs, ids, dates and numbers
//! replaced by placeholders, with a count, the codes seen, what the codes alone made of it, and one real example.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use rayon::prelude::*;

use crate::domain::attempt::Status;
use crate::domain::classify::Classifier;
use crate::domain::smtp::Reply;
use crate::domain::template::template_of;
use crate::input::lines::{Block as Piece, MAX_LINE, Parsed, STREAM_BLOCK, for_each_block, parse_lines_at};
use crate::input::source::open_input;
use crate::input::{FileStats, KeepLines};
use crate::output::{Block, Cell, Output, Table};

use super::analysis::{account, load_campaign_data, read_attempts};
use super::args::{InputArgs, OutputArgs, ReplayArgs};
use super::emit::{clip, emit};

/// List the failure responses whose words no rule recognised, as templates with counts and an example.
#[derive(Args, Debug)]
pub struct UnclassifiedArgs {
    /// Log files (`-` for standard input); with --text, files of responses, one per line (default: standard input).
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,

    /// Each input line is a bare server response.
    #[arg(long)]
    pub text: bool,

    /// Show only the most frequent templates.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,

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

/// One template's tally.
#[derive(Default)]
struct Group {
    count: u64,
    codes: HashMap<String, u64>,
    verdicts: HashMap<(u32, &'static str, &'static str), u64>,
    example: String,
}

/// The most frequent key of a tally (the smallest among equals, so that the output never depends on hashing).
fn most_frequent<K: Ord + Clone>(tally: &HashMap<K, u64>) -> Option<K> {
    tally.iter().max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0))).map(|(k, _)| k.clone())
}

/// Adds the failure responses among `responses` (raw, taken apart) whose words no rule recognised to their
/// templates' groups, in order; gives how many failure responses there were.
fn tally(responses: &[(String, Reply)], classifier: &Classifier, groups: &mut HashMap<String, Group>) -> u64 {
    let verdicts: Vec<_> = responses.par_iter().map(|(_, reply)| classifier.classify(reply)).collect();
    let mut failures = 0;
    for ((raw, reply), verdict) in responses.iter().zip(verdicts) {
        if reply.code_class() == Some(2) {
            continue;
        }
        failures += 1;
        if classifier.rule(&verdict).text.is_some() {
            continue;
        }
        let g = groups.entry(template_of(&reply.text)).or_default();
        g.count += 1;
        let code = [reply.code.map(|c| c.to_string()), reply.enhanced.map(|e| e.to_string())]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        *g.codes.entry(code).or_default() += 1;
        *g.verdicts.entry((verdict.rule, verdict.class.as_str(), verdict.reason.as_str())).or_default() += 1;
        if g.example.is_empty() {
            g.example = raw.clone();
        }
    }
    failures
}

/// Runs `bounces unclassified`.
pub fn run(args: &UnclassifiedArgs) -> Result<()> {
    let out = args.output.config()?;
    let files = if args.files.is_empty() && args.text { vec![PathBuf::from("-")] } else { args.files.clone() };
    let config = args.input.config(files, Some(&args.replay), KeepLines::None)?;
    out.refuse_inputs(&config, [])?;
    let mut failures = 0u64;
    let mut groups: HashMap<String, Group> = HashMap::new();
    if args.text {
        let mut accounting = Vec::new();
        for path in &config.logs {
            let opened = open_input(path)?;
            let mut stats = FileStats::new(opened.name.clone(), "responses");
            for_each_block(opened.reader()?, STREAM_BLOCK, |block| {
                let (bytes, first) = match block {
                    Piece::TooLong(line, len) => {
                        stats.read += 1;
                        stats.malformed(line, format!("line of {len} bytes is longer than the limit of {MAX_LINE}"));
                        return Ok(());
                    }
                    Piece::Lines(bytes, first, _) => (bytes, first),
                };
                stats.count_invalid_utf8_at(bytes, first);
                let mut responses = Vec::new();
                for (line, parsed) in parse_lines_at(bytes, first, |_, line| {
                    if line.trim().is_empty() { Parsed::Ignored } else { Parsed::Used(line.trim().to_string()) }
                }) {
                    stats.read += 1;
                    match parsed {
                        Parsed::Used(text) => {
                            stats.used += 1;
                            let reply = Reply::parse(&text);
                            responses.push((text, reply));
                        }
                        Parsed::Ignored => stats.ignored += 1,
                        Parsed::Malformed(why) => stats.malformed(line, why),
                    }
                }
                failures += tally(&responses, &config.classifier, &mut groups);
                Ok(())
            })
            .with_context(|| format!("{}: cannot read", opened.name))?;
            stats.note_damage(opened.damage());
            accounting.push(stats);
        }
        account(&accounting, config.stats, config.strict)?;
    } else {
        // The logs are read as a stream: each batch's failures are grouped, and the batch dropped.
        let data = load_campaign_data(&config)?;
        read_attempts(&config, data, &mut |parts, _| {
            let batch: Vec<(String, Reply)> = parts
                .iter_mut()
                .flat_map(|part| part.drain(..))
                .filter(|a| a.status != Status::Delivered && config.since.is_none_or(|t| a.time >= t))
                .map(|a| (a.reply.display(), a.reply))
                .collect();
            failures += tally(&batch, &config.classifier, &mut groups);
            Ok(())
        })?;
    }
    let unmatched: u64 = groups.values().map(|g| g.count).sum();
    let mut groups: Vec<(String, Group)> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
    if let Some(n) = args.top {
        groups.truncate(n);
    }
    let columns = ["count", "share", "codes", "class", "reason", "rule", "template", "example"];
    let mut machine = Table::new(&columns);
    let mut human = Table::new(&["count", "share", "codes", "class", "reason", "template", "example"]);
    for (template, g) in &groups {
        let mut codes: Vec<(&String, &u64)> = g.codes.iter().collect();
        codes.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let codes = codes.iter().map(|(c, _)| c.as_str()).filter(|c| !c.is_empty()).collect::<Vec<_>>().join(", ");
        let share = g.count as f64 / unmatched.max(1) as f64;
        let (rule, class, reason) = most_frequent(&g.verdicts).unwrap_or((0, "", ""));
        let rule = config.classifier.rules().get(rule as usize).map_or("", |r| r.id.as_str());
        machine.push(vec![
            Cell::int(g.count),
            Cell::Ratio(share),
            Cell::text(codes.clone()),
            Cell::text(class),
            Cell::text(reason),
            Cell::text(rule),
            Cell::text(template.clone()),
            Cell::text(g.example.clone()),
        ]);
        human.push(vec![
            Cell::int(g.count),
            Cell::Ratio(share),
            Cell::text(clip(&codes, 16)),
            Cell::text(class),
            Cell::text(reason),
            Cell::text(clip(template, 60)),
            Cell::text(clip(&g.example, 40)),
        ]);
    }
    if groups.is_empty() {
        // No table of nothing: the line says it all.
        let summary = format!("every one of the {failures} failure responses was classified by the words of a rule");
        return emit(&Output { human: vec![Block::Line(summary)], machine }, &out);
    }
    let summary = format!(
        "{unmatched} of {failures} failure responses were classified by their codes alone or not at all ({} templates); \
         write rules for them with --rules",
        groups.len()
    );
    emit(&Output { human: vec![Block::Table(human), Block::Line(summary)], machine }, &out)
}
