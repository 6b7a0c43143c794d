//! The command line: one file per subcommand, each with its clap arguments and its `run`. This module only
//! dispatches.

pub mod analysis;
pub mod args;
pub mod classify;
pub mod config;
pub mod contact;
pub mod deactivations;
pub mod emit;
pub mod report;
pub mod rules;
pub mod unclassified;

use std::fmt;

use anyhow::{Context, Result, bail};
use std::io::Write;

use clap::{CommandFactory, Parser, Subcommand};

/// Analyse email sending logs offline: who must be deactivated and why, what happened to each campaign and
/// contact, and what a server response means.
#[derive(Parser, Debug)]
#[command(name = "bounces", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Worker threads for reading logs (default: all cores). The output is the same for any number.
    #[arg(short = 'j', long, global = true, value_name = "N")]
    pub threads: Option<usize>,

    /// What to do.
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
    /// The failure responses whose words no rule recognised, as templates with counts: where to write rules.
    Unclassified(unclassified::UnclassifiedArgs),
    /// The classification rules: list them, check a rules file, list the reasons.
    Rules(rules::RulesArgs),
    /// Print a shell completion script: `bounces completions bash > /etc/bash_completion.d/bounces`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `bounces man > bounces.1; man ./bounces.1`, or a command's
    /// (`bounces man report`), or write them all (`bounces man --dir /usr/local/share/man/man1`).
    Man {
        /// The command whose page to print (`report`, `rules check`); the main page without one.
        #[arg(value_name = "COMMAND")]
        command: Vec<String>,
        /// Write every page (`bounces.1`, `bounces-report.1`, ...) into this directory instead.
        #[arg(long, value_name = "DIR", conflicts_with = "command")]
        dir: Option<std::path::PathBuf>,
    },
}

impl Cli {
    /// Whether the run replays logs, holding contacts and queued messages while bursts of short-lived records
    /// pass through (every command but `classify --text` and those that read no logs).
    pub fn replays_logs(&self) -> bool {
        match &self.command {
            Command::Classify(args) => !args.text,
            Command::Report(_) | Command::Contact(_) | Command::Deactivations(_) | Command::Unclassified(_) => true,
            Command::Rules(_) | Command::Completions { .. } | Command::Man { .. } => false,
        }
    }
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
        Command::Completions { shell } => {
            // Generated into memory first: the generator panics on a write error such as a closed pipe.
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "bounces", &mut script);
            let mut out = std::io::stdout().lock();
            out.write_all(&script)?;
            out.flush()?;
            Ok(())
        }
        Command::Man { command, dir } => manual(command, dir.as_deref()),
    }
}

/// `bounces man`: one page printed (the main one, or a command's), or every page written into `dir`. The pages of
/// the commands are the ones the main page lists under SUBCOMMANDS.
fn manual(command: &[String], dir: Option<&std::path::Path>) -> Result<()> {
    let mut cli = Cli::command().disable_help_subcommand(true);
    cli.build();
    if let Some(dir) = dir {
        return clap_mangen::generate_to(cli, dir)
            .with_context(|| format!("cannot write the pages into {}", dir.display()));
    }
    let mut page = cli;
    for (i, name) in command.iter().enumerate() {
        page = match page.find_subcommand(name) {
            Some(sub) => sub.clone(),
            None => bail!("no command `{}`: `bounces --help` lists them", command[..=i].join(" ")),
        };
    }
    let mut roff = Vec::new();
    clap_mangen::Man::new(page).render(&mut roff)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&roff)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_sound() {
        Cli::command().debug_assert();
    }
}
