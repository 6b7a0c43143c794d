//! `bounces report`: one row per campaign, or one campaign in depth with `--campaign`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::domain::block_event::{BlockEvent, BlockPolicy};
use crate::domain::name::Name;
use crate::domain::summary::{Breakdown, Counts, campaign_detail};
use crate::input::KeepLines;
use crate::output::{Block, Cell, Output, Table, count_of, sparkline};

use super::NothingFound;
use super::analysis::{Analysis, Keep};
use super::args::{InputArgs, OutputArgs, ReplayArgs};
use super::emit::{clip, emit};

/// Report bounces per campaign: sent, delivered, hard, soft, pending, bounce rate, deactivated.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Log files (`-` for standard input; gzip and zstd read transparently; default: the logs of bounces.toml).
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,

    /// Show this campaign in depth: by class and reason, fault, provider and domain, the top responses, block
    /// events, and the contacts it deactivated. `-` is the messages of unknown campaign.
    #[arg(long, value_name = "ID")]
    pub campaign: Option<String>,

    /// Block events: sender-fault bounces with the same response at one provider, no two further apart than this.
    #[arg(long, value_name = "MINUTES", default_value_t = 60)]
    pub block_window: u32,

    /// Block events: the fewest distinct recipients that make one.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub block_min: usize,

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

/// Runs `bounces report`.
pub fn run(args: &ReportArgs) -> Result<()> {
    let out = args.output.config()?;
    let config = args.input.config(args.files.clone(), Some(&args.replay), KeepLines::None)?;
    out.refuse_inputs(&config, [])?;
    let keep = match &args.campaign {
        None => Keep::Nothing,
        Some(id) => Keep::Campaign((id != "-").then(|| id.clone())),
    };
    let blocks = BlockPolicy { window_ms: i64::from(args.block_window) * 60_000, min_recipients: args.block_min };
    let analysis = Analysis::run(&config, &keep, Some(blocks))?;
    let output = match &args.campaign {
        None => all_campaigns(&analysis),
        Some(id) => one_campaign(&analysis, id)?,
    };
    emit(&output, &out)?;
    analysis.save_state()
}

fn counts_cells(c: &Counts) -> Vec<Cell> {
    vec![
        Cell::int(c.sent),
        Cell::int(c.delivered),
        Cell::int(c.soft),
        Cell::int(c.hard),
        Cell::int(c.pending),
        Cell::Ratio(c.bounce_rate()),
        Cell::int(c.deactivated),
    ]
}

/// The block events with bounces shown, of one campaign or of all (`None`).
fn events<'a>(analysis: &'a Analysis, campaign: Option<Option<&str>>) -> Vec<&'a BlockEvent> {
    analysis.events.iter().filter(|e| e.shown_for(campaign)).collect()
}

/// The human table of block events.
fn events_table(events: &[&BlockEvent]) -> Table {
    let mut t = Table::new(&["provider", "reason", "from", "to", "recipients", "campaigns", "response"])
        .titled("Block events: one provider refusing the sender (counted once each; --ignore-sender-faults keeps them from deactivating anyone)");
    for e in events {
        t.push(vec![
            Cell::text(e.provider),
            Cell::text(e.reason.as_str()),
            Cell::text(e.first.rfc3339()),
            Cell::text(e.last.rfc3339()),
            Cell::int(e.recipients),
            Cell::text(clip(&e.campaigns().collect::<Vec<_>>().join(" "), 30)),
            Cell::text(clip(&e.template, 70)),
        ]);
    }
    t
}

fn all_campaigns(analysis: &Analysis) -> Output {
    let mut by = analysis.counts.clone();
    for id in analysis.campaigns.keys() {
        by.entry(Some(Name::campaign(id))).or_default();
    }
    // Campaigns in the order they were sent: the campaigns file's date, else their first outcome.
    let first_seen = &analysis.first_seen;
    let mut rows: Vec<(Option<Name>, Counts)> = by.into_iter().collect();
    rows.sort_by_key(|(id, _)| {
        let sent = id
            .as_ref()
            .and_then(|i| analysis.campaigns.get(i.as_str()))
            .and_then(|c| c.sent_at)
            .or_else(|| first_seen.get(id).copied());
        (id.is_none(), sent, id.clone())
    });
    let columns = [
        "campaign_id",
        "name",
        "sent",
        "delivered",
        "soft_bounces",
        "hard_bounces",
        "pending",
        "bounce_rate",
        "deactivated",
    ];
    let mut machine = Table::new(&columns);
    let mut human =
        Table::new(&["campaign", "name", "sent", "delivered", "soft", "hard", "pending", "bounce rate", "deactivated"]);
    let mut total = Counts::default();
    for (id, c) in &rows {
        let name =
            id.as_ref().and_then(|i| analysis.campaigns.get(i.as_str())).map(|c| c.name.clone()).unwrap_or_default();
        let mut m = vec![Cell::opt(id.clone()), Cell::text(name.clone())];
        m.extend(counts_cells(c));
        machine.push(m);
        let mut h = vec![Cell::text(id.as_deref().unwrap_or("-")), Cell::text(clip(&name, 40))];
        h.extend(counts_cells(c));
        human.push(h);
        total.merge(c);
    }
    let mut h = vec![Cell::text("total"), Cell::Empty];
    h.extend(counts_cells(&total));
    human.push(h);
    let mut human = vec![Block::Table(human)];
    let trend: Vec<(&str, f64)> = rows
        .iter()
        .filter(|(id, c)| id.is_some() && c.sent > 0)
        .map(|(id, c)| (id.as_deref().unwrap_or(""), c.bounce_rate()))
        .collect();
    if trend.len() > 1 {
        let rates: Vec<f64> = trend.iter().map(|(_, r)| *r).collect();
        human.push(Block::TerminalLine(format!(
            "bounce rate by campaign, in sending order ({} to {}): {}",
            trend[0].0,
            trend[trend.len() - 1].0,
            sparkline(&rates)
        )));
    }
    let late = total.sent_after_deactivation;
    if late > 0 {
        human.push(Block::Line(format!(
            "warning: {late} messages were sent to contacts already deactivated (see `bounces contact`)"
        )));
    }
    let events = events(analysis, None);
    if !events.is_empty() {
        human.push(Block::Table(events_table(&events)));
    }
    Output { human, machine }
}

fn breakdown_rows(title: &str, rows: &[Breakdown], with_detail: bool) -> Table {
    let mut t = Table::new(if with_detail {
        &["class", "reason", "count", "share", "", "example"]
    } else {
        &["fault", "count", "share", "", "example"]
    })
    .titled(title);
    for b in rows {
        let mut row = Vec::new();
        if with_detail {
            row.push(Cell::text(b.detail.clone()));
        }
        row.extend([
            Cell::text(b.key.clone()),
            Cell::int(b.count),
            Cell::Ratio(b.share),
            Cell::Bar(b.share),
            Cell::text(clip(&b.example, 70)),
        ]);
        t.push(row);
    }
    t
}

fn one_campaign(analysis: &Analysis, id: &str) -> Result<Output> {
    let campaign = (id != "-").then_some(id);
    let d = campaign_detail(&analysis.outcomes, &analysis.replay, campaign, analysis.since);
    if d.counts.sent == 0 && !campaign.is_some_and(|c| analysis.campaigns.contains_key(c)) {
        return Err(NothingFound(format!("no messages of campaign '{id}' in the logs")).into());
    }
    let c = &d.counts;
    let name = campaign.and_then(|c| analysis.campaigns.get(c)).map(|c| c.name.clone()).unwrap_or_default();
    let mut human = vec![Block::Line(format!(
        "campaign {id}{}: {} sent, {} delivered, {} soft, {} hard, {} pending; bounce rate {:.2}%; {} deactivated",
        if name.is_empty() { String::new() } else { format!(" ({name})") },
        c.sent,
        c.delivered,
        c.soft,
        c.hard,
        c.pending,
        c.bounce_rate() * 100.0,
        count_of(c.deactivated, "contact", "contacts")
    ))];
    if c.sent_after_deactivation > 0 {
        human.push(Block::Line(format!(
            "warning: {} to contacts already deactivated",
            count_of(c.sent_after_deactivation, "message went", "messages went")
        )));
    }
    human.push(Block::Table(breakdown_rows("Bounces by reason", &d.by_reason, true)));
    human.push(Block::Table(breakdown_rows("Bounces by fault", &d.by_fault, false)));
    let receivers = |title: &str, rows: &[crate::domain::summary::ReceiverCounts], limit: usize| {
        let mut t =
            Table::new(&["name", "sent", "delivered", "soft", "hard", "pending", "bounce rate", ""]).titled(title);
        for r in rows.iter().take(limit) {
            let mut row = vec![Cell::text(r.name.clone())];
            row.extend(counts_cells(&r.counts).into_iter().take(6));
            row.push(Cell::Bar(r.counts.bounce_rate()));
            t.push(row);
        }
        t
    };
    human.push(Block::Table(receivers("By receiving provider", &d.by_provider, usize::MAX)));
    human.push(Block::Table(receivers("By recipient domain (top 10 by bounces)", &d.by_domain, 10)));
    let mut top = Table::new(&["count", "share", "response"]).titled("Top bounce responses");
    for b in d.top_responses.iter().take(10) {
        top.push(vec![Cell::int(b.count), Cell::Ratio(b.share), Cell::text(clip(&b.key, 100))]);
    }
    human.push(Block::Table(top));
    let events = events(analysis, Some(campaign));
    if !events.is_empty() {
        human.push(Block::Table(events_table(&events)));
    }
    let mut deact = Table::new(&["email", "deactivated at", "cause", "count", "response"])
        .titled("Contacts this campaign deactivated");
    for &i in &d.deactivations {
        let x = &analysis.replay.deactivations[i];
        let count = if x.cause == crate::domain::replay::Cause::Hard { x.hard_bounces } else { x.consecutive_soft };
        deact.push(vec![
            Cell::text(x.email.clone()),
            Cell::text(x.at.rfc3339()),
            Cell::text(x.cause.as_str()),
            Cell::int(count),
            Cell::text(clip(&x.response, 70)),
        ]);
    }
    if deact.rows.is_empty() {
        human.push(Block::Line(String::new()));
        human.push(Block::Line("This campaign deactivated no contacts.".into()));
    } else {
        human.push(Block::Table(deact));
    }

    let mut machine = Table::new(&["section", "key", "detail", "count", "share", "example"]);
    let summary = [
        ("sent", c.sent),
        ("delivered", c.delivered),
        ("soft_bounces", c.soft),
        ("hard_bounces", c.hard),
        ("pending", c.pending),
        ("deactivated", c.deactivated),
        ("sent_after_deactivation", c.sent_after_deactivation),
    ];
    for (k, n) in summary {
        machine.push(vec![Cell::text("summary"), Cell::text(k), Cell::Empty, Cell::int(n), Cell::Empty, Cell::Empty]);
    }
    machine.push(vec![
        Cell::text("summary"),
        Cell::text("bounce_rate"),
        Cell::Empty,
        Cell::Empty,
        Cell::Ratio(c.bounce_rate()),
        Cell::Empty,
    ]);
    for (section, rows) in [("reason", &d.by_reason), ("fault", &d.by_fault), ("response", &d.top_responses)] {
        for b in rows {
            machine.push(vec![
                Cell::text(section),
                Cell::text(b.key.clone()),
                Cell::text(b.detail.clone()),
                Cell::int(b.count),
                Cell::Ratio(b.share),
                Cell::text(b.example.clone()),
            ]);
        }
    }
    for (section, rows) in [("provider", &d.by_provider), ("domain", &d.by_domain)] {
        for r in rows {
            let detail = format!(
                "sent={} delivered={} soft={} hard={} pending={}",
                r.counts.sent, r.counts.delivered, r.counts.soft, r.counts.hard, r.counts.pending
            );
            machine.push(vec![
                Cell::text(section),
                Cell::text(r.name.clone()),
                Cell::text(detail),
                Cell::int(r.counts.hard + r.counts.soft),
                Cell::Ratio(r.counts.bounce_rate()),
                Cell::Empty,
            ]);
        }
    }
    for e in &events {
        let bounces = e.bounces_of(campaign);
        machine.push(vec![
            Cell::text("block_event"),
            Cell::text(e.provider),
            Cell::text(format!(
                "{} {} to {}: {} recipients",
                e.reason,
                e.first.rfc3339(),
                e.last.rfc3339(),
                e.recipients
            )),
            Cell::int(bounces),
            Cell::Empty,
            Cell::text(e.example.clone()),
        ]);
    }
    for &i in &d.deactivations {
        let x = &analysis.replay.deactivations[i];
        let count = if x.cause == crate::domain::replay::Cause::Hard { x.hard_bounces } else { x.consecutive_soft };
        machine.push(vec![
            Cell::text("deactivated"),
            Cell::text(x.email.clone()),
            Cell::text(x.cause.as_str()),
            Cell::int(count),
            Cell::Empty,
            Cell::text(x.response.clone()),
        ]);
    }
    Ok(Output { human, machine })
}
