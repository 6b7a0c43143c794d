//! `bounces rules`: the rules the classifier tries, a check of a rules file, and the reasons rules can give.
//!
//! Users write rules for the responses the built-in list misreads; these commands let them see what the list
//! already holds, validate their file before a run depends on it, and look up the taxonomy.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use crate::domain::classify::{Classifier, Rule};
use crate::domain::reason::{Class, HardPolicy, Reason};
use crate::domain::rule_file;
use crate::domain::smtp::Reply;
use crate::output::{Block, Cell, Output, Table};

use super::args::{OutputArgs, hard_policy, load_rules};
use super::emit::{clip, emit};

/// The rules the classifier tries, checks of rules files, and the reasons.
#[derive(Args, Debug)]
pub struct RulesArgs {
    /// What to do with the rules.
    #[command(subcommand)]
    pub action: RulesAction,
}

/// What to do with rules.
#[derive(Subcommand, Debug)]
pub enum RulesAction {
    /// Print the rules in the order they are tried: users' rules (--rules) first, then the built-in ones.
    List {
        /// Rules files tried before the built-in rules.
        #[arg(long, value_name = "FILE")]
        rules: Vec<PathBuf>,

        /// The reasons that count as hard bounces, comma-separated (for the class column).
        #[arg(long, value_name = "REASONS", value_delimiter = ',')]
        hard_reasons: Vec<String>,

        /// Where and how the list is written.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Validate rules files and classify the example responses they carry: each must be decided by its own rule.
    /// Exits 2 if a file is invalid or an example is decided by another rule.
    Check {
        /// Rules files (TOML, or CSV by a .csv name).
        #[arg(value_name = "FILES", required = true)]
        files: Vec<PathBuf>,

        /// Where and how the results are written.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The reasons a rule can give, with their default class and fault.
    Reasons {
        /// Where and how the reasons are written.
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// Runs `bounces rules`.
pub fn run(args: &RulesArgs) -> Result<()> {
    match &args.action {
        RulesAction::List { rules, hard_reasons, output } => {
            let users = load_rules(rules)?;
            let from_files = users.len();
            let mut all = users;
            all.extend(rule_file::builtin());
            let classifier = Classifier::new(all, hard_policy(hard_reasons)?).map_err(anyhow::Error::msg)?;
            emit(&list(&classifier, from_files), &output.config()?)
        }
        RulesAction::Check { files, output } => {
            let users = load_rules(files)?;
            let count = users.len();
            let mut all = users;
            all.extend(rule_file::builtin());
            let classifier = Classifier::new(all, HardPolicy::default()).map_err(anyhow::Error::msg)?;
            let (out, failed, examples) = check(&classifier, count);
            emit(&out, &output.config()?)?;
            if failed > 0 {
                bail!("{failed} of {examples} examples are decided by another rule than the one that carries them");
            }
            Ok(())
        }
        RulesAction::Reasons { output } => emit(&reasons(), &output.config()?),
    }
}

/// The class a rule gives under a policy: `by code` where the reply code decides.
fn class_label(policy: &HardPolicy, reason: Reason) -> &'static str {
    let (hard, soft) = (policy.class_of(reason, Some(5)), policy.class_of(reason, Some(4)));
    match (hard, soft) {
        (a, b) if a == b => a.as_str(),
        (Class::Hard, Class::Soft) => "by code",
        (a, _) => a.as_str(),
    }
}

fn list(classifier: &Classifier, from_files: usize) -> Output {
    let columns = [
        "order",
        "id",
        "source",
        "reply",
        "enhanced",
        "command",
        "text",
        "reason",
        "class",
        "fault",
        "examples",
        "description",
    ];
    let mut machine = Table::new(&columns);
    let mut human = Table::new(&["#", "id", "reply", "enhanced", "command", "text", "reason", "class", "fault"]);
    for (i, rule) in classifier.rules().iter().enumerate() {
        let source = if i < from_files { "file" } else { "built-in" };
        let glob = |g: Option<String>| g.unwrap_or_default();
        let reply = glob(rule.reply.as_ref().map(ToString::to_string));
        let enhanced = glob(rule.enhanced.as_ref().map(ToString::to_string));
        let command = rule.command.map(|c| c.as_str().to_string()).unwrap_or_default();
        let text = rule.text.clone().unwrap_or_default();
        let fault = rule.fault.unwrap_or(rule.reason.fault()).as_str();
        let class = class_label(classifier.policy(), rule.reason);
        machine.push(vec![
            Cell::int(i + 1),
            Cell::text(rule.id.clone()),
            Cell::text(source),
            Cell::text(reply.clone()),
            Cell::text(enhanced.clone()),
            Cell::text(command.clone()),
            Cell::text(text.clone()),
            Cell::text(rule.reason.as_str()),
            Cell::text(class),
            Cell::text(fault),
            Cell::int(rule.examples.len()),
            Cell::text(rule.description.clone()),
        ]);
        human.push(vec![
            Cell::int(i + 1),
            Cell::text(rule.id.clone()),
            Cell::text(reply),
            Cell::text(enhanced),
            Cell::text(command),
            Cell::text(clip(&text, 50)),
            Cell::text(rule.reason.as_str()),
            Cell::text(class),
            Cell::text(fault),
        ]);
    }
    Output { human: vec![Block::Table(human)], machine }
}

/// Classifies the examples of the first `count` rules: the output, the failures and the examples checked.
fn check(classifier: &Classifier, count: usize) -> (Output, usize, usize) {
    let columns = ["rule", "example", "result", "decided_by", "class", "reason"];
    let mut machine = Table::new(&columns);
    let mut human = Table::new(&columns);
    let (mut failed, mut examples) = (0, 0);
    let rules: &[Rule] = &classifier.rules()[..count];
    for (i, rule) in rules.iter().enumerate() {
        for example in &rule.examples {
            examples += 1;
            let verdict = classifier.classify(&Reply::parse(example));
            let ok = verdict.rule as usize == i;
            failed += usize::from(!ok);
            let row = |example: String| {
                vec![
                    Cell::text(rule.id.clone()),
                    Cell::text(example),
                    Cell::text(if ok { "ok" } else { "FAIL" }),
                    Cell::text(classifier.rule(&verdict).id.clone()),
                    Cell::text(verdict.class.as_str()),
                    Cell::text(verdict.reason.as_str()),
                ]
            };
            machine.push(row(example.clone()));
            human.push(row(clip(example, 60)));
        }
    }
    let summary = format!(
        "{count} rules read; {examples} examples, {} decided by their own rule, {failed} by another",
        examples - failed
    );
    (Output { human: vec![Block::Table(human), Block::Line(summary)], machine }, failed, examples)
}

fn reasons() -> Output {
    let policy = HardPolicy::default();
    let mut table = Table::new(&["reason", "class", "fault", "description"]);
    for r in Reason::ALL {
        table.push(vec![
            Cell::text(r.as_str()),
            Cell::text(class_label(&policy, *r)),
            Cell::text(r.fault().as_str()),
            Cell::text(r.description()),
        ]);
    }
    Output { human: vec![Block::Table(table.clone())], machine: table }
}
