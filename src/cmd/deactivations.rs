//! `bounces deactivations`: the suppression list, every deactivated contact with when, which campaign and why.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::domain::replay::Cause;
use crate::input::KeepLines;
use crate::output::{Block, Cell, Output, Table};

use super::analysis::Analysis;
use super::args::{InputArgs, OutputArgs, ReplayArgs};
use super::emit::{clip, emit};

/// List the contacts to deactivate (the suppression list), with when, which campaign, the cause and the response.
#[derive(Args, Debug)]
pub struct DeactivationsArgs {
    /// Log files (`-` for standard input; .gz read transparently).
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub replay: ReplayArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Runs `bounces deactivations`.
pub fn run(args: &DeactivationsArgs) -> Result<()> {
    let out = args.output.config()?;
    let config = args.input.config(args.files.clone(), Some(&args.replay), KeepLines::None)?;
    let analysis = Analysis::run(&config)?;
    let columns =
        ["email", "deactivated_at", "campaign_id", "cause", "hard_bounces", "consecutive_soft", "reason", "response"];
    let mut machine = Table::new(&columns);
    let mut human = Table::new(&["email", "deactivated at", "campaign", "cause", "hard", "soft", "reason", "response"]);
    let mut hard = 0;
    for d in &analysis.replay.deactivations {
        let o = &analysis.outcomes[d.outcome];
        hard += usize::from(d.cause == Cause::Hard);
        let response = o.reply.display();
        machine.push(vec![
            Cell::text(d.email.clone()),
            Cell::text(d.at.rfc3339()),
            Cell::opt(d.campaign.clone()),
            Cell::text(d.cause.as_str()),
            Cell::int(d.hard_bounces),
            Cell::int(d.consecutive_soft),
            Cell::text(o.verdict.reason.as_str()),
            Cell::text(response.clone()),
        ]);
        human.push(vec![
            Cell::text(d.email.clone()),
            Cell::text(d.at.rfc3339()),
            Cell::text(d.campaign.clone().unwrap_or_else(|| "-".into())),
            Cell::text(d.cause.as_str()),
            Cell::int(d.hard_bounces),
            Cell::int(d.consecutive_soft),
            Cell::text(o.verdict.reason.as_str()),
            Cell::text(clip(&response, 70)),
        ]);
    }
    let n = analysis.replay.deactivations.len();
    let summary =
        format!("{n} contacts deactivated: {hard} by hard bounces, {} by the soft-bounce threshold", n - hard);
    emit(&Output { human: vec![Block::Table(human), Block::Line(summary)], machine }, &out)
}
