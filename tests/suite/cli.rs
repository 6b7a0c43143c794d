//! The command line around the reports: the configuration file, completions, the manual page, and the README's
//! examples, which are run here so that they never go stale.

use super::util::{bounces, bounces_stdin, root};

#[test]
fn the_configuration_file_supplies_inputs_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let samples = root().join("samples");
    let config = dir.path().join("team.toml");
    std::fs::write(
        &config,
        format!(
            "[inputs]\nlogs = [\"{0}/maillog\"]\nsends = \"{0}/sends.csv\"\ncampaigns = \"{0}/campaigns.csv\"\ncontacts = \"{0}/contacts.csv\"\n\n[replay]\nsoft_unengaged = 3\n",
            samples.display()
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let flags =
        ["--sends", "samples/sends.csv", "--campaigns", "samples/campaigns.csv", "--contacts", "samples/contacts.csv"];
    let explicit = |extra: &[&str]| {
        let mut a = vec!["deactivations", "samples/maillog", "--format", "csv"];
        a.extend(flags);
        a.extend(extra);
        bounces(&a).ok().stdout
    };
    let from_file = bounces(&["deactivations", "--config", cfg, "--format", "csv"]).ok().stdout;
    assert_eq!(from_file, explicit(&["--soft-unengaged", "3"]), "the file's inputs and threshold");
    let overridden = bounces(&["deactivations", "--config", cfg, "--format", "csv", "--soft-unengaged", "10"]);
    assert_eq!(overridden.ok().stdout, explicit(&[]), "a flag overrides the file");
    // A contact report needs nothing but the email.
    let run = bounces(&["contact", "nora.bennett@acme-corp.example", "--config", cfg, "--format", "csv"]).ok();
    assert!(run.csv().len() > 5);
    std::fs::write(&config, "[inputs]\nlogz = []\n").unwrap();
    let run = bounces(&["report", "--config", cfg]).code(2);
    assert!(run.stderr.contains("team.toml:2: unknown field `logz`"), "{}", run.stderr);
}

#[test]
fn completions_and_manual_page() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let run = bounces(&["completions", shell]).ok();
        assert!(run.stdout.contains("deactivations"), "{shell}");
    }
    let man = bounces(&["man"]).ok().stdout;
    assert!(man.starts_with(".ie") && man.contains(".TH bounces 1"), "{}", &man[..100]);
    let check = bounces(&["man", "rules", "check"]).ok().stdout;
    assert!(check.contains(".TH bounces-rules-check 1"), "{}", &check[..100]);
    assert!(bounces(&["man", "rules", "nope"]).code(2).stderr.contains("no command `rules nope`"));
    // Every page the main page names is written, and nothing else.
    let dir = tempfile::tempdir().unwrap();
    bounces(&["man", "--dir", dir.path().to_str().unwrap()]).ok();
    let mut written: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    written.sort();
    let mut named: Vec<String> = ["", "rules"]
        .iter()
        .flat_map(|page| {
            let roff = bounces(&["man", page].into_iter().filter(|a| !a.is_empty()).collect::<Vec<_>>()).ok().stdout;
            roff.lines()
                .filter(|l| l.ends_with("(1)"))
                .map(|l| l.replace("\\-", "-").replace("(1)", ".1"))
                .collect::<Vec<_>>()
        })
        .chain(["bounces.1".to_string()])
        .collect();
    named.sort();
    assert_eq!(written, named);
}

/// The `bounces ...` examples in the README's code: inline spans in the commands table and the lines of `sh`
/// blocks. A `cargo run --release --` prefix is the binary too.
fn readme_examples() -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if in_sh {
            let l = line.trim();
            let l = l.strip_prefix("cargo run --release -- ").map(|r| format!("bounces {r}")).unwrap_or(l.to_string());
            if l.starts_with("bounces ") || l.starts_with("echo ") {
                out.push(l);
            }
            continue;
        }
        if line.starts_with('|') {
            for span in line.split('`').skip(1).step_by(2) {
                let span = span.replace("\\|", "|");
                if span.starts_with("bounces ") && span.contains("samples/") || span.starts_with("echo ") {
                    out.push(span);
                }
            }
        }
    }
    out
}

#[test]
fn the_readme_examples_run() {
    let examples = readme_examples();
    assert!(examples.len() >= 10, "{examples:?}");
    for example in &examples {
        // `echo "TEXT" | bounces ...`: the text is standard input.
        let (stdin, command) = match example.split_once(" | ") {
            Some((echo, cmd)) => {
                let text = echo.trim_start_matches("echo ").trim_matches('"').to_string() + "\n";
                (Some(text), cmd.to_string())
            }
            None => (None, example.clone()),
        };
        let words = shell_words(&command);
        assert_eq!(words[0], "bounces", "{example}");
        let run = bounces_stdin(&words[1..], stdin.as_deref().map(str::as_bytes));
        assert_eq!(run.code, 0, "README example failed: {example}\n{}", run.describe());
        assert!(!run.stdout.is_empty(), "README example printed nothing: {example}");
    }
}

/// Splits a command line on spaces, honouring single and double quotes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ' ') => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            (_, c) => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}
