//! `bounces deactivations`: the suppression list, every deactivated contact with when, which campaign and why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use crate::domain::attempt::normalize_address;
use crate::domain::replay::Cause;
use crate::input::{KeepLines, columns};
use crate::output::{Block, Cell, Output, Table, count_of};

use super::analysis::{Analysis, Keep};
use super::args::{InputArgs, OutputArgs, ReplayArgs};
use super::emit::{clip, emit};

/// List the contacts to deactivate (the suppression list), with when, which campaign, the cause and the response.
#[derive(Args, Debug)]
pub struct DeactivationsArgs {
    /// Log files (`-` for standard input; gzip and zstd read transparently; default: the logs of bounces.toml).
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,

    /// Compare with an earlier list (the csv of `bounces deactivations`, or any CSV with an `email` column): show only
    /// the contacts this run adds, removes or deactivates differently. For what-if runs with other thresholds or rules.
    #[arg(long, value_name = "OLD.csv")]
    pub diff: Option<PathBuf>,

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

/// Runs `bounces deactivations`.
pub fn run(args: &DeactivationsArgs) -> Result<()> {
    let out = args.output.config()?;
    let config = args.input.config(args.files.clone(), Some(&args.replay), KeepLines::None)?;
    out.refuse_inputs(&config, args.diff.as_deref())?;
    let analysis = Analysis::run(&config, &Keep::Nothing, None)?;
    let columns =
        ["email", "deactivated_at", "campaign_id", "cause", "hard_bounces", "consecutive_soft", "reason", "response"];
    let mut machine = Table::new(&columns);
    let mut human = Table::new(&["email", "deactivated at", "campaign", "cause", "hard", "soft", "reason", "response"]);
    if let Some(old) = &args.diff {
        emit(&diff(&analysis, old)?, &out)?;
        return analysis.save_state();
    }
    let mut hard = 0;
    let mut n = 0;
    for d in analysis.replay.deactivations.iter().filter(|d| analysis.shown(d.at)) {
        n += 1;
        hard += usize::from(d.cause == Cause::Hard);
        let response = d.response.clone();
        machine.push(vec![
            Cell::text(d.email.clone()),
            Cell::text(d.at.rfc3339()),
            Cell::opt(d.campaign.clone()),
            Cell::text(d.cause.as_str()),
            Cell::int(d.hard_bounces),
            Cell::int(d.consecutive_soft),
            Cell::text(d.reason.as_str()),
            Cell::text(response.clone()),
        ]);
        human.push(vec![
            Cell::text(d.email.clone()),
            Cell::text(d.at.rfc3339()),
            Cell::text(d.campaign.as_deref().unwrap_or("-")),
            Cell::text(d.cause.as_str()),
            Cell::int(d.hard_bounces),
            Cell::int(d.consecutive_soft),
            Cell::text(d.reason.as_str()),
            Cell::text(clip(&response, 70)),
        ]);
    }
    let summary = format!(
        "{} deactivated: {hard} by hard bounces, {} by the soft-bounce threshold",
        count_of(n as u64, "contact", "contacts"),
        n - hard
    );
    // No table of nothing: the line says it all.
    let table = (!human.rows.is_empty()).then_some(Block::Table(human));
    emit(&Output { human: table.into_iter().chain([Block::Line(summary)]).collect(), machine }, &out)?;
    analysis.save_state()
}

/// One contact's deactivation as a list records it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Listed {
    at: String,
    campaign: String,
    cause: String,
}

/// Reads an earlier list: email, and where present deactivated_at, campaign_id and cause.
fn read_list(path: &Path) -> Result<BTreeMap<String, Listed>> {
    let name = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("{name}: cannot open the list to compare with"))?;
    let headers = reader.headers().with_context(|| format!("{name}:1: cannot read the CSV header"))?.clone();
    let email = columns::require(&headers, columns::EMAIL, &name, "list to compare with")?;
    let at = columns::find(&headers, &["deactivated_at", "deactivation_time", "time"]);
    let campaign = columns::find(&headers, columns::CAMPAIGN);
    let cause = columns::find(&headers, &["cause", "deactivation_cause"]);
    let mut list = BTreeMap::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{name}:{}: unreadable CSV row", i + 2))?;
        let cell = |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or("").trim().to_string();
        let address = normalize_address(&cell(Some(email)));
        if address.is_empty() {
            continue;
        }
        list.insert(address, Listed { at: cell(at), campaign: cell(campaign), cause: cell(cause) });
    }
    Ok(list)
}

/// What this run adds to, removes from and changes in an earlier list.
fn diff(analysis: &Analysis, old: &Path) -> Result<Output> {
    let before = read_list(old)?;
    let now: BTreeMap<String, Listed> = analysis
        .replay
        .deactivations
        .iter()
        .filter(|d| analysis.shown(d.at))
        .map(|d| {
            let listed = Listed {
                at: d.at.rfc3339(),
                campaign: d.campaign.as_deref().unwrap_or_default().to_string(),
                cause: d.cause.as_str().to_string(),
            };
            (d.email.clone(), listed)
        })
        .collect();
    let columns = [
        "change",
        "email",
        "deactivated_at",
        "campaign_id",
        "cause",
        "was_deactivated_at",
        "was_campaign_id",
        "was_cause",
    ];
    let mut table = Table::new(&columns);
    let (mut added, mut removed, mut changed) = (0, 0, 0);
    let emails: std::collections::BTreeSet<&String> = before.keys().chain(now.keys()).collect();
    for email in emails {
        let (change, new, old) = match (now.get(email), before.get(email)) {
            (Some(n), None) => {
                added += 1;
                ("added", Some(n), None)
            }
            (None, Some(o)) => {
                removed += 1;
                ("removed", None, Some(o))
            }
            (Some(n), Some(o)) => {
                // Compare only what the old list records.
                let same = (o.at.is_empty() || o.at == n.at)
                    && (o.campaign.is_empty() || o.campaign == n.campaign)
                    && (o.cause.is_empty() || o.cause == n.cause);
                if same {
                    continue;
                }
                changed += 1;
                ("changed", Some(n), Some(o))
            }
            (None, None) => continue,
        };
        let cells = |l: Option<&Listed>| {
            l.map_or([Cell::Empty, Cell::Empty, Cell::Empty], |l| {
                [Cell::text(l.at.clone()), Cell::text(l.campaign.clone()), Cell::text(l.cause.clone())]
            })
        };
        let mut row = vec![Cell::text(change), Cell::text(email.clone())];
        row.extend(cells(new));
        row.extend(cells(old));
        table.push(row);
    }
    let summary = format!(
        "compared with {}: {added} added, {removed} removed, {changed} changed, {} unchanged",
        old.display(),
        now.len() - added - changed
    );
    Ok(Output { human: vec![Block::Table(table.clone()), Block::Line(summary)], machine: table })
}
