//! The command line: one file per subcommand, each with its clap arguments and its `run`. This module only
//! dispatches.

pub mod analysis;
pub mod args;
pub mod classify;
pub mod contact;
pub mod deactivations;
pub mod emit;
pub mod report;
pub mod rules;
pub mod unclassified;

use std::fmt;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Analyse email sending logs offline: who must be deactivated and why, what happened to each campaign and
/// contact, and what a server response means.
#[derive(Parser, Debug)]
#[command(name = "bounces", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Worker threads for reading logs (default: all cores). The output is the same for any number.
    #[arg(short = 'j', long, global = true, value_name = "N")]
    pub threads: Option<usize>,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// What each attempt, or each bare server response (--text), means: class, reason, fault.
    Classify(classify::ClassifyArgs),
    /// Bounces per campaign, or one campaign in depth (--campaign).
    Report(report::ReportArgs),
    /// A contact's sends, outcomes, counters and server log lines, then its status.
    Contact(contact::ContactArgs),
    /// The suppression list: every deactivated contact, when, by which campaign and why.
    Deactivations(deactivations::DeactivationsArgs),
    /// The failure responses no rule recognised, as templates with counts: where to write rules.
    Unclassified(unclassified::UnclassifiedArgs),
    /// The classification rules: list them, check a rules file, list the reasons.
    Rules(rules::RulesArgs),
}

/// A run that found nothing to show (an unknown contact or campaign): exit code 1.
#[derive(Debug)]
pub struct NothingFound(pub String);

impl fmt::Display for NothingFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NothingFound {}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    if let Some(n) = cli.threads {
        rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global()?;
    }
    match &cli.command {
        Command::Classify(a) => classify::run(a),
        Command::Report(a) => report::run(a),
        Command::Contact(a) => contact::run(a),
        Command::Deactivations(a) => deactivations::run(a),
        Command::Unclassified(a) => unclassified::run(a),
        Command::Rules(a) => rules::run(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_sound() {
        Cli::command().debug_assert();
    }
}
