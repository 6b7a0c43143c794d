//! `bounces contact`: a contact's activity report, every send with its outcome, the counters after it and the
//! server's own log lines as proof, then whether the contact is active or deactivated and why.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use crate::domain::outcome::OutcomeKind;
use crate::domain::replay::{Cause, Event};
use crate::input::KeepLines;
use crate::output::{Block, Cell, Output, Table};

use super::NothingFound;
use super::analysis::{Analysis, Keep};
use super::args::{InputArgs, OutputArgs, ReplayArgs, email_set};
use super::emit::{clip, emit};

/// Show what happened to contacts: each send, its outcome, the soft-bounce count after it, and the server log.
#[derive(Args, Debug)]
pub struct ContactArgs {
    /// One or more email addresses (case-insensitive), then the log files. An argument that names an existing file
    /// is a log file; one with an `@` is an address.
    #[arg(value_name = "EMAIL... FILES", required = true)]
    pub args: Vec<String>,

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

/// Runs `bounces contact`.
pub fn run(args: &ContactArgs) -> Result<()> {
    let out = args.output.config()?;
    let (emails, files): (Vec<String>, Vec<String>) =
        args.args.iter().cloned().partition(|a| a.contains('@') && !Path::new(a).exists());
    if emails.is_empty() {
        anyhow::bail!("give at least one email address before the log files");
    }
    let wanted = email_set(&emails);
    let config = args.input.config(
        files.into_iter().map(PathBuf::from).collect(),
        Some(&args.replay),
        KeepLines::For(wanted.clone()),
    )?;
    out.refuse_inputs(&config, [])?;
    let analysis = Analysis::run(&config, &Keep::Contacts(wanted.iter().cloned().collect()), None)?;

    let mut machine = Table::new(&[
        "email",
        "time",
        "campaign_id",
        "outcome",
        "reason",
        "fault",
        "reply_code",
        "enhanced_status",
        "consecutive_soft",
        "hard_bounces",
        "event",
        "response",
        "proof",
    ]);
    let mut human = Vec::new();
    let mut order: Vec<&String> = wanted.iter().collect();
    order.sort();
    let mut found = 0;
    for email in order {
        let rows: Vec<usize> = analysis
            .outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| &o.recipient == email && analysis.shown(o.time))
            .map(|(i, _)| i)
            .collect();
        let earlier = analysis.earlier.as_ref().and_then(|e| Some((e, e.contacts.get(email)?)));
        if rows.is_empty() && earlier.is_none() {
            human.push(Block::Line(format!("{email}: no messages in the logs")));
            continue;
        }
        found += 1;
        match rows.last() {
            Some(&last) => {
                let engaged = analysis.replay.steps[last].engaged;
                human.push(Block::Line(format!("{email} ({})", if engaged { "engaged" } else { "unengaged" })));
            }
            None => human.push(Block::Line(email.clone())),
        }
        if let Some((e, state)) = earlier {
            let deactivated = state.deactivation.and_then(|i| analysis.replay.deactivations.get(i));
            human.push(Block::Line(format!(
                "before these logs (--state {}, written {}): {} consecutive soft bounces, {} hard bounces{}",
                e.path.display(),
                e.written_at,
                state.consecutive_soft,
                state.hard_bounces,
                if deactivated.is_some() { ", deactivated" } else { "" }
            )));
            machine.push(vec![
                Cell::text(email.clone()),
                Cell::text(e.written_at.clone()),
                Cell::opt(deactivated.and_then(|d| d.campaign.clone())),
                Cell::text("carried"),
                Cell::text(deactivated.map_or(String::new(), |d| d.reason.as_str().to_string())),
                Cell::text(""),
                Cell::Empty,
                Cell::Empty,
                Cell::int(state.consecutive_soft),
                Cell::int(state.hard_bounces),
                Cell::opt(deactivated.map(|_| Event::Deactivated.as_str())),
                Cell::text(deactivated.map_or(String::new(), |d| d.response.clone())),
                Cell::text(""),
            ]);
        }
        if rows.is_empty() {
            // Known only from the state file.
            human.push(Block::Line("no messages in these logs".into()));
        } else {
            push_history(&analysis, email, &rows, &mut human, &mut machine);
        }
        human.push(Block::Line(status_line(&analysis, email)));
        human.push(Block::Line(String::new()));
    }
    if found == 0 {
        return Err(NothingFound(format!("no messages to {} in the logs", emails.join(", "))).into());
    }
    emit(&Output { human, machine }, &out)?;
    analysis.save_state()
}

/// The contact's outcomes `rows` (indexes into the analysis's outcomes): a table and the server's log lines as proof
/// for people, a row each for machines.
fn push_history(analysis: &Analysis, email: &str, rows: &[usize], human: &mut Vec<Block>, machine: &mut Table) {
    let mut table = Table::new(&["#", "time", "campaign", "outcome", "reason", "soft", "hard", "note", "response"]);
    let mut proof = Vec::new();
    for (n, &i) in rows.iter().enumerate() {
        let o = &analysis.outcomes[i];
        let step = &analysis.replay.steps[i];
        let reason =
            if o.kind == OutcomeKind::Delivered { String::new() } else { o.verdict.reason.as_str().to_string() };
        let note = match step.event {
            Some(Event::Deactivated) => "deactivated".to_string(),
            Some(Event::SentAfterDeactivation) => "sent after deactivation".to_string(),
            None if o.kind == OutcomeKind::Soft && !step.counted => "not counted (sender fault)".to_string(),
            None if o.attempts > 1 => format!("{} tries", o.attempts),
            None => String::new(),
        };
        let response = o.reply.display();
        table.push(vec![
            Cell::int(n + 1),
            Cell::text(o.time.rfc3339()),
            Cell::text(o.campaign.as_deref().unwrap_or("-")),
            Cell::text(o.kind.as_str()),
            Cell::text(reason.clone()),
            Cell::int(step.consecutive_soft),
            Cell::int(step.hard_bounces),
            Cell::text(note),
            Cell::text(clip(&response, 60)),
        ]);
        // Long retry series: the first try and the last two tell the story; csv and json keep every line.
        let lines = &o.proof;
        for (k, line) in lines.iter().enumerate() {
            if lines.len() > 4 && k > 0 && k < lines.len() - 2 {
                if k == 1 {
                    proof.push(format!("  #{:<3} ... {} more tries ...", n + 1, lines.len() - 3));
                }
                continue;
            }
            proof.push(format!("  #{:<3} {line}", n + 1));
        }
        machine.push(vec![
            Cell::text(email),
            Cell::text(o.time.rfc3339()),
            Cell::opt(o.campaign.clone()),
            Cell::text(o.kind.as_str()),
            Cell::text(reason),
            Cell::text(if o.kind == OutcomeKind::Delivered { "" } else { o.verdict.fault.as_str() }),
            Cell::opt(o.reply.code.map(|c| c.to_string())),
            Cell::opt(o.reply.enhanced.map(|e| e.to_string())),
            Cell::int(step.consecutive_soft),
            Cell::int(step.hard_bounces),
            Cell::opt(step.event.map(|e| e.as_str())),
            Cell::text(response),
            Cell::text(o.proof.join("\n")),
        ]);
    }
    human.push(Block::Table(table));
    if !proof.is_empty() {
        human.push(Block::Line("server log:".into()));
        human.extend(proof.into_iter().map(Block::Line));
    }
}

/// Why the contact is active or deactivated.
fn status_line(analysis: &Analysis, email: &str) -> String {
    let state = &analysis.replay.contacts[email];
    let t = analysis.replay.deactivations.get(state.deactivation.unwrap_or(usize::MAX));
    match t {
        Some(d) => {
            let why = match d.cause {
                Cause::Hard => format!(
                    "{} hard bounce{} ({})",
                    d.hard_bounces,
                    if d.hard_bounces == 1 { "" } else { "s" },
                    d.reason
                ),
                Cause::SoftThreshold => format!(
                    "{} consecutive soft bounces, the threshold for {} contacts (last: {})",
                    d.consecutive_soft,
                    if d.engaged { "engaged" } else { "unengaged" },
                    d.reason
                ),
            };
            format!(
                "status: deactivated at {} by campaign {}: {why}; the server said: {}",
                d.at.rfc3339(),
                d.campaign.as_deref().unwrap_or("-"),
                d.response
            )
        }
        None => format!(
            "status: active ({} consecutive soft bounces, {} hard bounces)",
            state.consecutive_soft, state.hard_bounces
        ),
    }
}
