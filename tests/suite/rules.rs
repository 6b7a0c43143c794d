//! Users' rules files, `bounces rules` and `bounces unclassified`.

use std::io::Write;

use super::util::{bounces, bounces_stdin};

fn temp_file(name: &str, text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
    let p = path.to_str().unwrap().to_string();
    (dir, p)
}

#[test]
fn sample_rules_files_check_out() {
    for file in ["samples/rules.toml", "samples/rules.csv"] {
        let run = bounces(&["rules", "check", file, "--format", "csv"]).ok();
        let rows = run.csv();
        assert!(!rows.is_empty(), "{file}");
        for row in &rows {
            assert_eq!((row["result"].as_str(), &row["decided_by"]), ("ok", &row["rule"]), "{file}: {row:?}");
        }
    }
}

#[test]
fn users_rules_go_first_and_are_explained() {
    let input = "550 Mailbox closed by administrator\n452 4.7.0 Sender quota exceeded (in reply to RCPT TO command)\n452 4.7.0 Sender quota exceeded\n";
    let args = ["classify", "--text", "--format", "csv", "--rules", "samples/rules.csv"];
    let rows = bounces_stdin(&args, Some(input.as_bytes())).ok().csv();
    let got: Vec<(&str, &str, &str)> =
        rows.iter().map(|r| (r["class"].as_str(), r["reason"].as_str(), r["rule"].as_str())).collect();
    assert_eq!(got[0], ("hard", "userunknown", "acme.mailbox-closed"));
    assert_eq!(got[1], ("soft", "ratelimited", "acme.quota-policy"));
    // The command is part of the rule: without it, the built-in rules decide.
    assert_ne!(got[2].2, "acme.quota-policy");
    // Without the file, the built-in rules decide the first one differently.
    let rows = bounces_stdin(&["classify", "--text", "--format", "csv"], Some(input.as_bytes())).ok().csv();
    assert_ne!(rows[0]["rule"], "acme.mailbox-closed");
}

#[test]
fn explain_gives_programs_the_rules_description_too() {
    let input = "550 Mailbox closed by administrator\n";
    let args = ["classify", "--text", "--format", "csv", "--rules", "samples/rules.csv", "--explain"];
    let rows = bounces_stdin(&args, Some(input.as_bytes())).ok().csv();
    let listed = bounces(&["rules", "list", "--rules", "samples/rules.csv", "--format", "csv"]).ok().csv();
    let rule = listed.iter().find(|r| r["id"] == "acme.mailbox-closed").unwrap();
    assert_eq!((rows[0]["rule"].as_str(), &rows[0]["rule_description"]), ("acme.mailbox-closed", &rule["description"]));
    assert!(!rule["description"].is_empty());
    // Without --explain the columns stay as they were.
    let rows = bounces_stdin(&args[..6], Some(input.as_bytes())).ok().csv();
    assert!(!rows[0].contains_key("rule_description"));
    // The same for the attempts of a log, in JSON.
    let run = bounces(&["classify", "samples/maillog", "--explain", "--format", "json"]).ok();
    let first: serde_json::Value = serde_json::from_str(run.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["rule"], "reply.2xx");
    assert_eq!(first["rule_description"], "2xx reply: the server accepted the message");
}

#[test]
fn rules_list_puts_files_first_and_ids_are_unique() {
    let rows = bounces(&["rules", "list", "--rules", "samples/rules.toml", "--format", "csv"]).ok().csv();
    assert_eq!(rows[0]["id"], "acme.mailbox-closed");
    assert_eq!(rows[0]["source"], "file");
    assert_eq!(rows[3]["source"], "built-in");
    assert_eq!(rows.last().unwrap()["id"], "fallback");
    let mut ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str()).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "rule ids are unique");
    let reasons = bounces(&["rules", "reasons", "--format", "csv"]).ok().csv();
    assert_eq!(reasons.len(), 34);
    assert!(reasons.iter().any(|r| r["reason"] == "userunknown" && r["class"] == "hard"));
}

#[test]
fn a_bad_rules_file_is_an_error_naming_file_and_line() {
    let (_d, path) = temp_file("bad.toml", "[[rule]]\nid = \"a\"\ntext = \"(unclosed\"\nreason = \"blocked\"\n");
    let run = bounces(&["rules", "check", &path]).code(2);
    assert!(run.stderr.contains(&format!("{path}: line 2: rule 'a': text pattern")), "{}", run.stderr);
    let run = bounces_stdin(&["classify", "--text", "--rules", &path], Some(b"550 x\n")).code(2);
    assert!(run.stderr.contains("bad.toml: line 2"), "{}", run.stderr);
    let (_d, path) = temp_file("bad.csv", "id,reason,text\nx,nosuch,y\n");
    let run = bounces(&["rules", "check", &path]).code(2);
    assert!(run.stderr.contains("bad.csv: line 2: rule 'x': unknown reason 'nosuch'"), "{}", run.stderr);
}

#[test]
fn an_example_decided_by_another_rule_fails_the_check() {
    let text = "[[rule]]\nid = \"wide\"\nreply = \"55x\"\nreason = \"blocked\"\n\n[[rule]]\nid = \"shadowed\"\ntext = \"mailbox full\"\nreason = \"mailboxfull\"\nexamples = [\"552 mailbox full\"]\n";
    let (_d, path) = temp_file("shadow.toml", text);
    let run = bounces(&["rules", "check", &path, "--format", "csv"]).code(2);
    let rows = run.csv();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0]["result"].as_str(), rows[0]["decided_by"].as_str()), ("FAIL", "wide"));
    assert!(run.stderr.contains("1 of 1 examples"), "{}", run.stderr);
}

#[test]
fn unclassified_groups_unmatched_responses_into_templates() {
    let input = "\
550 Zorp gateway says bob@example.org is gone since 2026-05-04
550 Zorp gateway says ann@example.net is gone since 2026-06-01
451 Zorp gateway busy, 12 sessions
550 5.1.1 <x@example.org>: Recipient address rejected: User unknown
250 2.0.0 Ok: queued as 4F1B2C
";
    let run = bounces_stdin(&["unclassified", "--text", "--format", "csv"], Some(input.as_bytes())).ok();
    let rows = run.csv();
    assert_eq!(rows.len(), 2, "{}", run.stdout);
    assert_eq!(rows[0]["count"], "2");
    assert_eq!(rows[0]["template"], "Zorp gateway says <email> is gone since <date>");
    assert_eq!(rows[0]["example"], "550 Zorp gateway says bob@example.org is gone since 2026-05-04");
    assert_eq!(rows[0]["codes"], "550");
    // What the codes alone made of it.
    assert_eq!((rows[0]["class"].as_str(), rows[0]["rule"].as_str()), ("hard", "reply.550"));
    assert_eq!(rows[1]["template"], "Zorp gateway busy, <n> sessions");
    // A rule for them empties the list.
    let (_d, path) =
        temp_file("zorp.toml", "[[rule]]\nid = \"zorp\"\ntext = \"zorp gateway\"\nreason = \"systemerror\"\n");
    let run = bounces_stdin(&["unclassified", "--text", "--format", "csv", "--rules", &path], Some(input.as_bytes()));
    assert!(run.ok().csv().is_empty());
}

#[test]
fn unclassified_reads_logs_too() {
    let run = bounces(&["unclassified", "samples/maillog", "--format", "csv"]).ok();
    assert!(run.csv().is_empty(), "every failure in the samples has a rule: {}", run.stdout);
    // No table of nothing for people: the line says it all.
    let run = bounces(&["unclassified", "samples/maillog"]).ok();
    assert_eq!(run.stdout.trim(), "every one of the 304 failure responses was classified by the words of a rule");
}
