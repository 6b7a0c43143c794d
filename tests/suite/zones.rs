//! `--tz`: log times written without an offset are the server's wall clock, placed in the zone given.

use super::util::{bounces, root};

/// `samples/maillog` with its RFC 3339 times (`2026-03-02T09:00:00.661522+00:00`) written as traditional syslog
/// writes them (`Mar  2 09:00:00`): the same history, with neither year nor offset.
fn traditional_maillog() -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let text = std::fs::read_to_string(root().join("samples/maillog")).unwrap();
    text.lines()
        .map(|line| {
            let (time, rest) = line.split_once(' ').unwrap();
            let month: usize = time[5..7].parse().unwrap();
            let day: u32 = time[8..10].parse().unwrap();
            format!("{} {day:>2} {} {rest}\n", MONTHS[month - 1], &time[11..19])
        })
        .collect()
}

fn deactivations(log: &str, extra: &[&str]) -> Vec<(String, String)> {
    let args = [&["deactivations", log, "--sends", "samples/sends.csv", "--format", "csv"][..], extra].concat();
    bounces(&args).ok().csv().into_iter().map(|r| (r["email"].clone(), r["deactivated_at"].clone())).collect()
}

#[test]
fn a_local_syslog_is_placed_in_the_zone_its_server_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    std::fs::write(&log, traditional_maillog()).unwrap();
    let log = log.to_str().unwrap();
    let utc = deactivations(log, &["--year", "2026"]);
    assert_eq!(utc, deactivations("samples/maillog", &[]), "read as UTC, the same history");
    assert_eq!(utc, deactivations(log, &["--year", "2026", "--tz", "UTC"]));
    // Berlin is an hour ahead of UTC in winter and two in summer; its clocks went forward on 29 March 2026.
    let berlin = deactivations(log, &["--year", "2026", "--tz", "Europe/Berlin"]);
    let at = |rows: &[(String, String)], email: &str| rows.iter().find(|(e, _)| e == email).unwrap().1.clone();
    assert_eq!(at(&utc, "harper.lee77@icloud.com"), "2026-03-23T09:01:06Z");
    assert_eq!(at(&berlin, "harper.lee77@icloud.com"), "2026-03-23T08:01:06Z");
    assert_eq!(at(&utc, "mila.wagner@gmx.de"), "2026-03-30T09:02:09Z");
    assert_eq!(at(&berlin, "mila.wagner@gmx.de"), "2026-03-30T07:02:09Z");
    assert_eq!(at(&berlin, "nora.bennett@acme-corp.example"), "2026-05-04T07:02:01Z");
    assert_eq!(berlin.len(), utc.len());
    // The same zone from the configuration file; a flag overrides it.
    let config = dir.path().join("bounces.toml");
    std::fs::write(&config, "[inputs]\nyear = 2026\ntz = \"Europe/Berlin\"\n").unwrap();
    let cfg = config.to_str().unwrap();
    assert_eq!(deactivations(log, &["--config", cfg]), berlin);
    assert_eq!(deactivations(log, &["--config", cfg, "--tz", "UTC"]), utc);
    // A fixed offset does not follow daylight saving time.
    let plus_two = deactivations(log, &["--year", "2026", "--tz", "+02:00"]);
    assert_eq!(at(&plus_two, "harper.lee77@icloud.com"), "2026-03-23T07:01:06Z");
    assert_eq!(at(&plus_two, "nora.bennett@acme-corp.example"), "2026-05-04T07:02:01Z");
    // Times that state their offset are exact already: `--tz` leaves them alone.
    assert_eq!(deactivations("samples/maillog", &["--tz", "Europe/Berlin"]), utc);
    // `--since` is an instant: a window from 07:00Z holds the deactivations from 09:00 Berlin time on.
    let since = deactivations(log, &["--year", "2026", "--tz", "Europe/Berlin", "--since", "2026-05-04T07:00:00Z"]);
    let later: Vec<_> = berlin.iter().filter(|(_, t)| t.as_str() >= "2026-05-04T07:00:00Z").cloned().collect();
    assert!(later.iter().any(|(e, _)| e == "nora.bennett@acme-corp.example"), "{later:?}");
    assert_eq!(since, later);
}

#[test]
fn exim_times_without_an_offset_are_placed_in_the_zone() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mainlog");
    let lines = |offset: &str| {
        format!(
            "2026-07-01 10:00:00{offset} 1vM0WT-0000GA-35 <= b@news.example H=localhost [127.0.0.1] P=esmtp S=1 id=m1@news.example\n\
             2026-07-01 10:00:01{offset} 1vM0WT-0000GA-35 ** a@example.org R=dnslookup T=remote_smtp H=mx.example.org [192.0.2.1]: SMTP error from remote mail server after RCPT TO:<a@example.org>: 550 5.1.1 user unknown\n\
             2026-07-01 10:00:01{offset} 1vM0WT-0000GA-35 Completed\n"
        )
    };
    let run = |text: &str, tz: &str| {
        std::fs::write(&log, text).unwrap();
        let args = ["deactivations", log.to_str().unwrap(), "--tz", tz, "--format", "csv"];
        bounces(&args).ok().csv()[0]["deactivated_at"].clone()
    };
    assert_eq!(run(&lines(""), "UTC"), "2026-07-01T10:00:01Z");
    assert_eq!(run(&lines(""), "America/New_York"), "2026-07-01T14:00:01Z");
    // `log_timezone`: the line gives its offset, and the zone does not change it.
    assert_eq!(run(&lines(" +0200"), "America/New_York"), "2026-07-01T08:00:01Z");
}

#[test]
fn an_unknown_zone_is_an_error_that_says_what_a_zone_looks_like() {
    let run = bounces(&["deactivations", "samples/maillog", "--tz", "Mars/Olympus_Mons"]).code(2);
    assert!(run.stderr.contains("--tz 'Mars/Olympus_Mons' is not a time zone"), "{}", run.stderr);
    assert!(run.stderr.contains("Europe/Berlin"), "{}", run.stderr);
}

#[test]
fn the_year_of_a_log_just_written_east_of_utc_is_its_own() {
    // A server in Berlin wrote its last line at 14:18:58 on its clock, 12:18:58 UTC, and the file was last changed
    // two seconds later. Read as UTC, that line would be after the change: a year earlier, the inference used to say.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    std::fs::write(&path, traditional_maillog()).unwrap();
    let changed = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_779_106_740); // 2026-05-18T12:19:00Z
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(changed).unwrap();
    let log = path.to_str().unwrap();
    let year_of = |rows: &[(String, String)]| rows.iter().map(|(_, t)| t[..4].to_string()).collect::<Vec<_>>();
    let guessed = deactivations(log, &[]);
    assert!(!guessed.is_empty() && year_of(&guessed).iter().all(|y| y == "2026"), "{guessed:?}");
    assert_eq!(guessed, deactivations(log, &["--year", "2026"]));
    let berlin = deactivations(log, &["--tz", "Europe/Berlin"]);
    assert_eq!(berlin, deactivations(log, &["--tz", "Europe/Berlin", "--year", "2026"]));
    // Twelve hours later on a clock 14 hours ahead (Kiribati), still the same year; a day later, the year before.
    let kiribati = ["--tz", "+14:00"];
    let mut late = deactivations(log, &kiribati);
    assert!(year_of(&late).iter().all(|y| y == "2026"), "{late:?}");
    std::fs::write(&path, traditional_maillog().replace("May 18", "May 19")).unwrap();
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(changed).unwrap();
    late = deactivations(log, &kiribati);
    assert!(!late.is_empty() && year_of(&late).iter().all(|y| y == "2025"), "{late:?}");
}

#[test]
fn the_hour_the_clocks_go_back_is_read_in_its_two_rounds() {
    // Berlin, 25 October 2026: the clocks show 02:00 to 02:59 twice. A soft bounce at 02:40 in the first round
    // (00:40 UTC), then a delivery at 02:20 in the second (01:20 UTC): the delivery ends the run of soft bounces.
    // Read as the first round both times, the delivery would come first and the bounce would still count.
    let message = |id: &str, time: &str, status: &str| {
        let (dsn, words) = match status {
            "sent" => ("2.0.0", "250 2.0.0 OK"),
            _ => ("5.2.2", "552 5.2.2 Mailbox full"),
        };
        [
            format!(
                "Oct 25 {time} mta1 postfix/qmgr[1]: {id}: from=<news@news.example>, size=1, nrcpt=1 (queue active)"
            ),
            format!(
                "Oct 25 {time} mta1 postfix/smtp[2]: {id}: to=<a@example.org>, relay=mx.example.org[192.0.2.1]:25, \
                 delay=1, delays=0/0/0/1, dsn={dsn}, status={status} (host mx.example.org[192.0.2.1] said: {words} \
                 (in reply to RCPT TO command))"
            ),
            format!("Oct 25 {time} mta1 postfix/qmgr[1]: {id}: removed"),
        ]
        .join("\n")
    };
    let log = [
        message("AAAAAAAAA1", "01:50:00", "sent"),
        message("AAAAAAAAA2", "02:40:00", "bounced"),
        message("AAAAAAAAA3", "02:20:00", "sent"),
    ]
    .join("\n")
        + "\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    std::fs::write(&path, log).unwrap();
    let contact = |tz: &str| {
        let args =
            ["contact", "a@example.org", path.to_str().unwrap(), "--year", "2026", "--tz", tz, "--format", "csv"];
        let run = bounces(&args).ok();
        run.csv()
            .iter()
            .map(|r| format!("{} {} {}", r["time"], r["outcome"], r["consecutive_soft"]))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        contact("Europe/Berlin"),
        ["2026-10-24T23:50:00Z delivered 0", "2026-10-25T00:40:00Z soft 1", "2026-10-25T01:20:00Z delivered 0"]
    );
    // At a fixed offset there is no second round: the log goes back in time, and is replayed in time order.
    assert_eq!(
        contact("+02:00"),
        ["2026-10-24T23:50:00Z delivered 0", "2026-10-25T00:20:00Z delivered 0", "2026-10-25T00:40:00Z soft 1"]
    );
}

#[test]
fn sendmail_times_are_placed_in_the_zone_too() {
    let first_time = |tz: &str| {
        let args = ["classify", "tests/fixtures/formats/sendmail.log", "--year", "2025", "--tz", tz, "--format", "csv"];
        bounces(&args).ok().csv()[0]["time"].clone()
    };
    assert_eq!(first_time("UTC"), "2025-11-20T09:00:01Z");
    // New York keeps UTC-5 in November.
    assert_eq!(first_time("America/New_York"), "2025-11-20T14:00:01Z");
}
