//! Rules as data: the rules files users write with `--rules`, and the built-in rules file, read into [`Rule`]s.
//!
//! A deliverability engineer who meets a response the tool misreads should be able to fix it without a Rust
//! toolchain, and the built-in rules should be reviewable as a list rather than as code. So both are the same kind of
//! file: TOML, one `[[rule]]` table per rule in the order they are tried, or CSV with one row per rule. Each rule may
//! carry example responses; `bounces rules check` and the tests classify them and insist that the rule carrying them
//! is the one that decides, so a rule that a rule above it shadows is caught at once.
//!
//! This module only turns text into rules: reading the file is the caller's business.

use serde::Deserialize;

use super::classify::{CodeGlob, EnhancedGlob, Rule};
use super::reason::{Fault, Reason};
use super::smtp::SmtpCommand;

/// The built-in rules file, embedded at build time.
pub const BUILTIN: &str = include_str!("rules.toml");

/// The syntax of a rules file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// `[[rule]]` tables.
    Toml,
    /// A header row naming the columns, then one rule per row.
    Csv,
}

impl Syntax {
    /// The syntax a file name suggests: `.csv` is CSV, anything else TOML.
    pub fn of_name(name: &str) -> Syntax {
        if name.to_ascii_lowercase().ends_with(".csv") { Syntax::Csv } else { Syntax::Toml }
    }
}

/// Why a rules file could not be read: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleFileError {
    /// The 1-based line, where known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for RuleFileError {}

/// A text pattern: one regular expression, or a list of alternatives (joined with `|`), which reads better for the
/// long lists of wordings that providers use.
#[derive(Deserialize)]
#[serde(untagged)]
enum Text {
    One(String),
    Many(Vec<String>),
}

/// One `[[rule]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlRule {
    id: toml::Spanned<String>,
    #[serde(default)]
    description: String,
    reply: Option<String>,
    enhanced: Option<String>,
    command: Option<String>,
    text: Option<Text>,
    reason: String,
    fault: Option<String>,
    #[serde(default)]
    examples: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    #[serde(default)]
    rule: Vec<TomlRule>,
}

/// Reads a rules file's text. Each text pattern is compiled, so that one that does not compile is reported with
/// its file and line now rather than when a response first needs it (see [`PatternSet`](super::pattern_set)).
pub fn parse(text: &str, syntax: Syntax) -> Result<Vec<Rule>, RuleFileError> {
    parse_checked(text, syntax, Compile::Patterns)
}

/// Whether reading rules compiles their text patterns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Compile {
    Patterns,
    /// The built-in rules: a unit test compiles their patterns, and a run compiles those it needs.
    Nothing,
}

fn parse_checked(text: &str, syntax: Syntax, compile: Compile) -> Result<Vec<Rule>, RuleFileError> {
    let lines = LineStarts::new(text);
    let rules = match syntax {
        Syntax::Toml => parse_toml(text, &lines, compile)?,
        Syntax::Csv => parse_csv(text, &lines, compile)?,
    };
    let mut seen = std::collections::HashSet::new();
    for (line, rule) in &rules {
        if !seen.insert(rule.id.as_str()) {
            return Err(RuleFileError { line: Some(*line), message: format!("rule id '{}' is used twice", rule.id) });
        }
    }
    Ok(rules.into_iter().map(|(_, r)| r).collect())
}

/// The built-in rules.
pub fn builtin() -> Vec<Rule> {
    match parse_checked(BUILTIN, Syntax::Toml, Compile::Nothing) {
        Ok(rules) => rules,
        // The file is part of the program and a unit test reads it: failing here is a build defect, not bad input.
        Err(e) => panic!("the built-in rules file is invalid: {e}"),
    }
}

/// Where a text's lines start, to number the line of an offset: counting the line ends before each rule again was
/// most of the time it took to read the built-in rules.
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn new(text: &str) -> Self {
        LineStarts(std::iter::once(0).chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1)).collect())
    }

    /// The number (from 1) of the line that holds byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

/// The rules of a TOML file, with the line of each.
fn parse_toml(text: &str, lines: &LineStarts, compile: Compile) -> Result<Vec<(usize, Rule)>, RuleFileError> {
    let file: TomlFile = toml::from_str(text).map_err(|e| RuleFileError {
        line: e.span().map(|s| lines.line_of(s.start)),
        message: e.message().trim().to_string(),
    })?;
    file.rule
        .into_iter()
        .map(|r| {
            let line = lines.line_of(r.id.span().start);
            let text = r.text.map(|t| match t {
                Text::One(s) => s,
                Text::Many(alternatives) => alternatives.join("|"),
            });
            let fields = Fields {
                id: r.id.into_inner(),
                description: r.description,
                reply: r.reply.unwrap_or_default(),
                enhanced: r.enhanced.unwrap_or_default(),
                command: r.command.unwrap_or_default(),
                text: text.unwrap_or_default(),
                reason: r.reason,
                fault: r.fault.unwrap_or_default(),
                examples: r.examples,
            };
            fields
                .into_rule(compile)
                .map(|rule| (line, rule))
                .map_err(|message| RuleFileError { line: Some(line), message })
        })
        .collect()
}

/// The line a CSV record starts on. The reader's own line count starts a record where the previous one ended, so
/// blank lines before it would be counted as its own.
fn csv_line(text: &str, lines: &LineStarts, position: &csv::Position) -> usize {
    let start = position.byte() as usize;
    let skipped =
        text.as_bytes().get(start..).map_or(0, |rest| rest.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count());
    lines.line_of(start + skipped)
}

/// The columns of a CSV rules file; `id` and `reason` are required.
const CSV_COLUMNS: &[&str] =
    &["id", "description", "reply", "enhanced", "command", "text", "reason", "fault", "example", "examples"];

fn parse_csv(text: &str, lines: &LineStarts, compile: Compile) -> Result<Vec<(usize, Rule)>, RuleFileError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| RuleFileError { line: Some(1), message: e.to_string() })?.clone();
    let names: Vec<String> = headers.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    if let Some(unknown) = names.iter().find(|n| !CSV_COLUMNS.contains(&n.as_str())) {
        return Err(RuleFileError {
            line: Some(1),
            message: format!("unknown column '{unknown}' (columns: {})", CSV_COLUMNS.join(", ")),
        });
    }
    for required in ["id", "reason"] {
        if !names.iter().any(|n| n == required) {
            return Err(RuleFileError { line: Some(1), message: format!("the header has no '{required}' column") });
        }
    }
    let mut rules = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| RuleFileError {
            line: e.position().map(|p| csv_line(text, lines, p)),
            message: format!("unreadable CSV row: {e}"),
        })?;
        let line = record.position().map_or(0, |p| csv_line(text, lines, p));
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cell = |name: &str| {
            names.iter().position(|n| n == name).and_then(|i| record.get(i)).unwrap_or("").trim().to_string()
        };
        let examples = [cell("example"), cell("examples")]
            .iter()
            .flat_map(|c| c.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect::<Vec<_>>())
            .collect();
        let fields = Fields {
            id: cell("id"),
            description: cell("description"),
            reply: cell("reply"),
            enhanced: cell("enhanced"),
            command: cell("command"),
            text: cell("text"),
            reason: cell("reason"),
            fault: cell("fault"),
            examples,
        };
        rules.push((line, fields.into_rule(compile).map_err(|message| RuleFileError { line: Some(line), message })?));
    }
    Ok(rules)
}

/// A rule's fields as written, empty where absent.
struct Fields {
    id: String,
    description: String,
    reply: String,
    enhanced: String,
    command: String,
    text: String,
    reason: String,
    fault: String,
    examples: Vec<String>,
}

impl Fields {
    fn into_rule(self, compile: Compile) -> Result<Rule, String> {
        let id = self.id.trim().to_string();
        if id.is_empty() {
            return Err("a rule has no id".into());
        }
        let context = |e: String| format!("rule '{id}': {e}");
        let reason: Reason =
            self.reason.parse().map_err(|e: String| context(format!("{e}; `bounces rules reasons` lists them")))?;
        let fault = match self.fault.trim() {
            "" => None,
            f => Some(f.parse::<Fault>().map_err(context)?),
        };
        let reply = match self.reply.trim() {
            "" => None,
            r => Some(CodeGlob::new(r).map_err(context)?),
        };
        let enhanced = match self.enhanced.trim() {
            "" => None,
            e => Some(EnhancedGlob::new(e).map_err(context)?),
        };
        let command = match self.command.trim() {
            "" => None,
            c => Some(SmtpCommand::from_words(c).ok_or_else(|| {
                context(format!(
                    "unknown SMTP command '{c}' (CONNECT, EHLO, STARTTLS, MAIL FROM, RCPT TO, DATA, end of DATA)"
                ))
            })?),
        };
        let text = match self.text.trim() {
            "" => None,
            t => {
                if compile == Compile::Patterns {
                    regex::Regex::new(t).map_err(|e| context(format!("text pattern: {e}")))?;
                }
                Some(t.to_string())
            }
        };
        if reply.is_none() && enhanced.is_none() && command.is_none() && text.is_none() {
            return Err(context("the rule matches everything: give a reply, enhanced, command or text pattern".into()));
        }
        Ok(Rule {
            id,
            description: self.description.trim().to_string(),
            reply,
            enhanced,
            command,
            text,
            reason,
            fault,
            examples: self.examples,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::classify::Classifier;
    use crate::domain::reason::HardPolicy;
    use crate::domain::smtp::Reply;

    #[test]
    fn builtin_rules_read_and_their_examples_pass() {
        let rules = builtin();
        assert!(rules.len() > 50);
        let classifier = Classifier::new(rules, HardPolicy::default()).unwrap();
        let failures = classifier.check_examples(0..classifier.rules().len());
        assert!(failures.is_empty(), "{failures:#?}");
        assert!(classifier.rules().iter().filter(|r| !r.examples.is_empty()).count() > 50);
    }

    #[test]
    fn toml_rules() {
        let text = r#"
[[rule]]
id = "acme.full"
description = "Acme's words for a full mailbox"
reply = "5xx"
text = ["mailbox is stuffed", "no room left"]
reason = "mailboxfull"
examples = ["552 Mailbox is stuffed"]

[[rule]]
id = "acme.gone"
enhanced = "5.1.1"
command = "RCPT TO"
reason = "userunknown"
fault = "recipient"
"#;
        let rules = parse(text, Syntax::Toml).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].text.as_deref(), Some("mailbox is stuffed|no room left"));
        assert_eq!(rules[1].command, Some(SmtpCommand::RcptTo));
        let c = Classifier::new(rules, HardPolicy::default()).unwrap();
        let v = c.classify(&Reply::parse("552 5.2.2 No room left on device"));
        assert_eq!(c.rule(&v).id, "acme.full");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("[[rule]]\nid = \"x\"\nreason = \"nosuchreason\"\ntext = \"a\"\n", Syntax::Toml).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("unknown reason 'nosuchreason'"), "{e}");
        let e = parse("[[rule]]\nid = \"x\"\nreason = \"blocked\"\ntext = \"(\"\n", Syntax::Toml).unwrap_err();
        assert!(e.message.contains("text pattern"), "{e}");
        let e = parse("[[rule]]\nid = \"x\"\nreason = \"blocked\"\ncolour = \"red\"\n", Syntax::Toml).unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        let e = parse("[[rule]]\nid = \"x\"\nreason = \"blocked\"\n", Syntax::Toml).unwrap_err();
        assert!(e.message.contains("matches everything"), "{e}");
        let two = "[[rule]]\nid = \"x\"\nreason = \"blocked\"\nreply=\"554\"\n[[rule]]\nid = \"x\"\nreason = \"blocked\"\nreply=\"554\"\n";
        assert_eq!(parse(two, Syntax::Toml).unwrap_err().line, Some(6));
    }

    #[test]
    fn csv_rules() {
        let text = "id,reply,text,reason,example\nacme.full,5xx,mailbox is stuffed,mailboxfull,552 Mailbox is stuffed\n\nacme.bad,999,x,blocked,\n";
        let e = parse(text, Syntax::Csv).unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        let rules = parse(&text[..text.find("\n\n").unwrap() + 1], Syntax::Csv).unwrap();
        assert_eq!((rules[0].id.as_str(), rules[0].examples.len()), ("acme.full", 1));
        assert!(parse("id,colour\n", Syntax::Csv).unwrap_err().message.contains("unknown column 'colour'"));
        assert_eq!(Syntax::of_name("mine.CSV"), Syntax::Csv);
    }
}
