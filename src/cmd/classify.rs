//! `bounces classify`: what each delivery attempt, or each bare server response, means.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use rayon::prelude::*;

use crate::domain::classify::{Classifier, Verdict};
use crate::domain::outcome::judge;
use crate::domain::smtp::Reply;
use crate::input::lines::{Parsed, parse_lines};
use crate::input::source::read_input;
use crate::input::{FileStats, KeepLines};
use crate::output::{Block, Cell, Output, Table};

use super::analysis::{account, load_attempts};
use super::args::{InputArgs, OutputArgs, ReplayArgs};
use super::emit::{clip, emit};

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

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub replay: ReplayArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Runs `bounces classify`.
pub fn run(args: &ClassifyArgs) -> Result<()> {
    let out = args.output.config()?;
    let files = if args.files.is_empty() && args.text { vec![PathBuf::from("-")] } else { args.files.clone() };
    let config = args.input.config(files, Some(&args.replay), KeepLines::None)?;
    let output = if args.text {
        classify_text(&config.logs, &config.classifier, args.explain, config.stats, config.strict)?
    } else {
        classify_logs(args, &config)?
    };
    emit(&output, &out)
}

/// Classifies bare responses, one per line, in parallel; rows keep the input order.
fn classify_text(
    files: &[PathBuf],
    classifier: &Classifier,
    explain: bool,
    stats: bool,
    strict: bool,
) -> Result<Output> {
    let mut machine = Table::new(&["input", "class", "reason", "fault", "reply_code", "enhanced_status", "rule"]);
    let mut human = Table::new(if explain {
        &["input", "class", "reason", "fault", "code", "enhanced", "rule", "why"]
    } else {
        &["input", "class", "reason", "fault", "code", "enhanced"]
    });
    let mut accounting = Vec::new();
    for path in files {
        let input = read_input(path)?;
        let mut file_stats = FileStats::new(input.name.clone(), "responses");
        file_stats.count_invalid_utf8(&input.bytes);
        if let Some(why) = &input.truncated {
            file_stats.warn(why.clone());
        }
        let parsed = parse_lines(&input.bytes, |_, line| {
            if line.trim().is_empty() {
                return Parsed::Ignored;
            }
            let reply = Reply::parse(line);
            let verdict = classifier.classify(&reply);
            Parsed::Used((line.trim().to_string(), reply, verdict))
        });
        for (line, p) in parsed {
            file_stats.read += 1;
            match p {
                Parsed::Used((text, reply, verdict)) => {
                    file_stats.used += 1;
                    let rule = classifier.rule(&verdict);
                    let common = |input: Cell| {
                        vec![
                            input,
                            Cell::text(verdict.class.as_str()),
                            Cell::text(verdict.reason.as_str()),
                            Cell::text(verdict.fault.as_str()),
                            Cell::opt(reply.code.map(|c| c.to_string())),
                            Cell::opt(reply.enhanced.map(|e| e.to_string())),
                        ]
                    };
                    let mut h = common(Cell::text(clip(&text, 80)));
                    if explain {
                        h.push(Cell::text(rule.id.clone()));
                        h.push(Cell::text(rule.description.clone()));
                    }
                    human.push(h);
                    let mut m = common(Cell::text(text));
                    m.push(Cell::text(rule.id.clone()));
                    machine.push(m);
                }
                Parsed::Ignored => file_stats.ignored += 1,
                Parsed::Malformed(why) => file_stats.malformed(line, why),
            }
        }
        accounting.push(file_stats);
    }
    account(&accounting, stats, strict)?;
    Ok(Output { human: vec![Block::Table(human)], machine })
}

/// One row per attempt in the logs, in time order.
fn classify_logs(args: &ClassifyArgs, config: &super::args::RunConfig) -> Result<Output> {
    let (mut attempts, _, _) = load_attempts(config)?;
    attempts.retain(|a| config.since.is_none_or(|t| a.time >= t));
    attempts.sort_by_key(|a| (a.time, a.source));
    // As the outcomes judge them: a line the MTA logged as delivered is a delivery whatever its words say.
    let verdicts: Vec<Verdict> = attempts.par_iter().map(|a| judge(a.status, &a.reply, &config.classifier).1).collect();
    let columns = [
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
    ];
    let mut machine = Table::new(&columns);
    let mut human = Table::new(if args.explain {
        &["time", "recipient", "campaign", "status", "class", "reason", "code", "text", "rule", "why"]
    } else {
        &["time", "recipient", "campaign", "status", "class", "reason", "code", "text"]
    });
    for (a, v) in attempts.iter().zip(&verdicts) {
        let campaign = a.campaign.clone();
        let rule = config.classifier.rule(v);
        let code = a.reply.code.map(|c| c.to_string());
        let enhanced = a.reply.enhanced.map(|e| e.to_string());
        machine.push(vec![
            Cell::text(a.time.rfc3339()),
            Cell::text(a.recipient.clone()),
            Cell::opt(campaign.clone()),
            Cell::text(a.status.as_str()),
            Cell::text(v.class.as_str()),
            Cell::text(v.reason.as_str()),
            Cell::text(v.fault.as_str()),
            Cell::opt(code.clone()),
            Cell::opt(enhanced.clone()),
            Cell::text(a.reply.text.clone()),
            Cell::text(rule.id.clone()),
        ]);
        let mut h = vec![
            Cell::text(a.time.rfc3339()),
            Cell::text(a.recipient.clone()),
            Cell::text(campaign.unwrap_or_else(|| "-".into())),
            Cell::text(a.status.as_str()),
            Cell::text(v.class.as_str()),
            Cell::text(v.reason.as_str()),
            Cell::text([code, enhanced].into_iter().flatten().collect::<Vec<_>>().join(" ")),
            Cell::text(clip(&a.reply.text, 70)),
        ];
        if args.explain {
            h.push(Cell::text(rule.id.clone()));
            h.push(Cell::text(rule.description.clone()));
        }
        human.push(h);
    }
    Ok(Output { human: vec![Block::Table(human)], machine })
}
