//! Property tests (proptest) of replay: on generated histories, the rules the platform replays hold whatever the
//! history, and the result does not depend on the order of the attempts, on the order of the files, on the number
//! of threads, on a file being given twice, or on replaying the history in two parts with what the first leaves
//! (as `--state` carries it, through the state file itself).

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;

use bounces::domain::attempt::{Attempt, Source, Status};
use bounces::domain::classify::Classifier;
use bounces::domain::name::Name;
use bounces::domain::outcome::{Outcome, OutcomeKind, settle};
use bounces::domain::replay::{Carried, Cause, Event, Replay, ReplayPolicy, Thresholds, replay, replay_from};
use bounces::domain::smtp::Reply;
use bounces::domain::time::Timestamp;

use super::util::bounces;

/// Responses of every kind: deliveries, hard and soft bounces, deferrals, sender-side blocks.
const REPLIES: &[&str] = &[
    "250 2.0.0 Ok: queued as 4BC2F3",
    "550 5.1.1 <a@example.org>: Recipient address rejected: User unknown",
    "552 5.2.2 Mailbox full",
    "452 4.2.2 Mailbox over quota",
    "421 4.7.0 Try again later",
    "554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org",
    "550 5.4.4 Host or domain name not found",
    "",
];

const RECIPIENTS: &[&str] = &["ann@a.example", "bob@b.example", "cy@c.example", "dee@gmail.com"];

fn classifier() -> &'static Classifier {
    static C: std::sync::OnceLock<Classifier> = std::sync::OnceLock::new();
    C.get_or_init(Classifier::builtin)
}

/// One generated try: message, recipient, time, status, response.
fn attempt_strategy() -> impl Strategy<Value = (u8, usize, i64, u8, usize)> {
    (0u8..12, 0..RECIPIENTS.len(), 0i64..400, 0u8..4, 0..REPLIES.len())
}

/// Attempts with unique sources, as logs give them.
fn attempts(raw: &[(u8, usize, i64, u8, usize)]) -> Vec<Attempt> {
    raw.iter()
        .enumerate()
        .map(|(i, &(message, to, secs, status, reply))| Attempt {
            time: Timestamp::from_secs(1_780_000_000 + secs * 3600),
            source: Source { file: (i % 2) as u32, line: i as u64 + 1 },
            recipient: RECIPIENTS[to].into(),
            sender: None,
            message_id: None,
            message_key: format!("q{message}"),
            campaign_hint: None,
            campaign: Some(Name::campaign(&format!("c{}", message % 3))),
            status: [Status::Delivered, Status::Deferred, Status::Bounced, Status::Expired][status as usize],
            reply: Reply::parse(REPLIES[reply]),
            relay: None,
            line: Some(format!("line {i}")),
            tries: 1,
        })
        .collect()
}

fn policy_strategy() -> impl Strategy<Value = ReplayPolicy> {
    (0u32..4, 0u32..5, 0u32..5, any::<bool>()).prop_map(|(hard, soft_engaged, soft_unengaged, ignore)| ReplayPolicy {
        thresholds: Thresholds { hard, soft_engaged, soft_unengaged },
        ignore_sender_faults: ignore,
    })
}

/// Whether a contact is engaged: half of them, by name.
fn engaged(email: &str, _: Timestamp) -> bool {
    email.starts_with(['a', 'c'])
}

/// What an outcome is, without its proof lines' ownership: for comparing runs.
fn shown(o: &Outcome) -> String {
    format!(
        "{} {} {} {:?} {:?} {:?} {:?} {:?} {} {:?}",
        o.time.rfc3339(),
        o.first_time.rfc3339(),
        o.recipient,
        o.campaign,
        o.kind,
        o.verdict,
        o.reply,
        o.source,
        o.attempts,
        o.proof
    )
}

fn run(raw: &[(u8, usize, i64, u8, usize)], policy: ReplayPolicy) -> (Vec<Outcome>, Replay) {
    let outcomes = settle(attempts(raw), classifier());
    let r = replay(&outcomes, engaged, policy);
    (outcomes, r)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn replaying_in_two_parts_through_the_state_file_is_one_replay(
        raw in prop::collection::vec(attempt_strategy(), 0..80),
        policy in policy_strategy(),
        cut in 0.0f64..1.0,
    ) {
        let (outcomes, whole) = run(&raw, policy);
        let at = ((outcomes.len() as f64) * cut) as usize;
        let first = replay(&outcomes[..at], engaged, policy);
        // Through the state file's own form, as a second run reads it.
        let state = bounces::input::state::StateFile::new(
            &first.contacts,
            &first.deactivations,
            Default::default(),
            Timestamp::from_secs(0),
        );
        let carried: Carried = state.carried();
        let second = replay_from(carried, &outcomes[at..], engaged, policy);
        prop_assert_eq!(&second.contacts, &whole.contacts);
        let key = |r: &Replay| -> Vec<String> {
            r.deactivations
                .iter()
                .map(|d| format!("{} {} {:?} {:?} {} {} {:?} {}", d.email, d.at.rfc3339(), d.campaign, d.cause, d.hard_bounces, d.consecutive_soft, d.reason, d.response))
                .collect()
        };
        prop_assert_eq!(key(&second), key(&whole));
        prop_assert_eq!(&second.steps[..], &whole.steps[at..]);
    }

    #[test]
    fn a_delivery_always_resets_the_soft_count(
        raw in prop::collection::vec(attempt_strategy(), 0..80),
        policy in policy_strategy(),
    ) {
        let (outcomes, r) = run(&raw, policy);
        prop_assert_eq!(r.steps.len(), outcomes.len());
        for (o, step) in outcomes.iter().zip(&r.steps) {
            if o.kind == OutcomeKind::Delivered && step.event != Some(Event::SentAfterDeactivation) {
                prop_assert_eq!(step.consecutive_soft, 0, "{}", shown(o));
            }
        }
    }

    #[test]
    fn a_contact_is_never_deactivated_twice(
        raw in prop::collection::vec(attempt_strategy(), 0..80),
        policy in policy_strategy(),
    ) {
        let (outcomes, r) = run(&raw, policy);
        let mut seen = HashSet::new();
        for d in &r.deactivations {
            prop_assert!(seen.insert(d.email.clone()), "{} deactivated twice", d.email);
            let at = d.outcome.expect("a deactivation of this replay names its outcome");
            prop_assert_eq!(r.steps[at].event, Some(Event::Deactivated));
            prop_assert_eq!(&outcomes[at].recipient, &d.email);
        }
        // Every later outcome of a deactivated contact is a send after deactivation, and changes no counter.
        for d in &r.deactivations {
            for (i, o) in outcomes.iter().enumerate().skip(d.outcome.map_or(0, |at| at + 1)) {
                if o.recipient == d.email {
                    prop_assert_eq!(r.steps[i].event, Some(Event::SentAfterDeactivation));
                    prop_assert_eq!(r.steps[i].hard_bounces, d.hard_bounces);
                    prop_assert_eq!(r.steps[i].consecutive_soft, d.consecutive_soft);
                }
            }
        }
    }

    #[test]
    fn thresholds_deactivate_exactly_when_reached(
        raw in prop::collection::vec(attempt_strategy(), 0..80),
        policy in policy_strategy(),
    ) {
        let (outcomes, r) = run(&raw, policy);
        let t = policy.thresholds;
        let deactivated: HashMap<&str, usize> =
            r.deactivations.iter().filter_map(|d| Some((d.email.as_str(), d.outcome?))).collect();
        for (i, (o, step)) in outcomes.iter().zip(&r.steps).enumerate() {
            let before = deactivated.get(o.recipient.as_str()).is_none_or(|&at| i <= at);
            if !before {
                continue;
            }
            let limit = if step.engaged { t.soft_engaged } else { t.soft_unengaged };
            let should = (o.kind == OutcomeKind::Hard && t.hard > 0 && step.hard_bounces >= t.hard)
                || (step.counted && o.kind == OutcomeKind::Soft && limit > 0 && step.consecutive_soft >= limit);
            prop_assert_eq!(step.event == Some(Event::Deactivated), should, "{} {:?}", shown(o), step);
        }
        for d in &r.deactivations {
            match d.cause {
                Cause::Hard => prop_assert_eq!(d.hard_bounces, t.hard),
                Cause::SoftThreshold => {
                    let limit = if d.engaged { t.soft_engaged } else { t.soft_unengaged };
                    prop_assert_eq!(d.consecutive_soft, limit);
                }
            }
        }
        // With the default hard threshold, the first hard bounce deactivates.
        if t.hard == 1 {
            for (o, step) in outcomes.iter().zip(&r.steps) {
                if o.kind == OutcomeKind::Hard && step.event != Some(Event::SentAfterDeactivation) {
                    prop_assert_eq!(step.event, Some(Event::Deactivated));
                }
            }
        }
    }

    #[test]
    fn settling_does_not_depend_on_the_order_of_attempts(
        raw in prop::collection::vec(attempt_strategy(), 0..80),
        order in any::<u64>(),
    ) {
        let sorted: Vec<String> = settle(attempts(&raw), classifier()).iter().map(shown).collect();
        let mut shuffled = attempts(&raw);
        // A deterministic shuffle from the generated seed (Fisher-Yates with an LCG).
        let mut state = order | 1;
        for i in (1..shuffled.len()).rev() {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            shuffled.swap(i, (state >> 33) as usize % (i + 1));
        }
        let again: Vec<String> = settle(shuffled, classifier()).iter().map(shown).collect();
        prop_assert_eq!(sorted, again);
    }
}

/// Sending-log rows: campaign, recipient, time, response.
fn rows_strategy() -> impl Strategy<Value = Vec<(u8, usize, i64, usize)>> {
    prop::collection::vec((0u8..4, 0..RECIPIENTS.len(), 0i64..60, 0..REPLIES.len() - 1), 1..60)
}

fn sending_log(rows: &[(u8, usize, i64, usize)]) -> String {
    let mut out = String::from("campaign_id,email,timestamp,log\n");
    for &(campaign, to, day, reply) in rows {
        let time = Timestamp::from_secs(1_780_000_000 + day * 86_400).rfc3339();
        let log = REPLIES[reply];
        let log = if log.starts_with('2') { log.to_string() } else { format!("FAILED {log}") };
        out.push_str(&format!("c{campaign},{},{time},{log}\n", RECIPIENTS[to]));
    }
    out
}

proptest! {
    // Each case runs the binary several times: fewer cases.
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn threads_file_order_and_duplicate_files_do_not_change_the_output(
        rows in rows_strategy(),
        cut in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let cut = cut.index(rows.len() + 1);
        let a = dir.path().join("a.csv");
        let b = dir.path().join("b.csv");
        std::fs::write(&a, sending_log(&rows[..cut])).unwrap();
        std::fs::write(&b, sending_log(&rows[cut..])).unwrap();
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        for command in ["deactivations", "report", "classify"] {
            let with = |j: &str, files: &[&str]| {
                let mut args = vec!["-j", j, command, "--format", "csv"];
                args.extend_from_slice(files);
                bounces(&args).ok()
            };
            let base = with("1", &[a, b]);
            for other in [with("2", &[a, b]), with("1", &[b, a]), with("2", &[b, a, a, b])] {
                prop_assert!(base.stdout == other.stdout, "{}\n\n{}", base.describe(), other.describe());
            }
        }
    }
}
