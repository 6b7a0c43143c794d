//! The classifier: an ordered list of rules, first match wins.
//!
//! A rule is data: an id, optional patterns for the reply code, the enhanced status code, the SMTP command and the
//! text, and the reason it gives. All text patterns are compiled into one [`PatternSet`], which finds every pattern
//! a response's words match in one search for their literals; the rules' order then decides. The built-in list (in [`super::rules`]) puts text
//! rules first, since a server's words are more precise than its codes, then enhanced codes, then reply codes.
//! Users' rules go in front of it.
//!
//! Logs repeat themselves: the same provider's words come back for thousands of recipients. Which text patterns a
//! response's words match is therefore remembered, per thread, for the last few tens of thousands of texts, so that
//! the regular expressions run once per distinct text rather than once per line.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxHashMap;

use super::pattern_set::PatternSet;
use super::reason::{Class, Fault, HardPolicy, Reason};
use super::smtp::{EnhancedCode, Reply, SmtpCommand, decimal_digits};

/// A pattern over a three-digit reply code: digits, or `x` for any digit (`550`, `55x`, `5xx`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeGlob(String);

impl CodeGlob {
    /// Checks and keeps a pattern.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let p = pattern.trim().to_ascii_lowercase();
        if p.len() == 3
            && matches!(p.as_bytes()[0], b'2'..=b'5' | b'x')
            && p.bytes().all(|b| b.is_ascii_digit() || b == b'x')
        {
            Ok(CodeGlob(p))
        } else {
            Err(format!("reply-code pattern '{pattern}' is not three digits or x (550, 55x, 5xx)"))
        }
    }

    fn matches(&self, code: u16) -> bool {
        let digits = [(code / 100) as u8, (code / 10 % 10) as u8, (code % 10) as u8];
        self.0.bytes().zip(digits).all(|(p, d)| p == b'x' || p - b'0' == d)
    }
}

impl fmt::Display for CodeGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A pattern over an enhanced status code: three dot-separated parts of digits and `x` (`5.1.1`, `x.1.1`,
/// `x.7.2x`), a part of `*` matching anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnhancedGlob([GlobPart; 3]);

/// One part of an [`EnhancedGlob`], kept as bytes so that matching a code compares digits without formatting it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct GlobPart {
    /// The pattern's characters (digits and `x`, or a lone `*`), left-aligned.
    chars: [u8; 3],
    /// How many of `chars` are used.
    len: u8,
}

impl GlobPart {
    fn matches(self, value: u16) -> bool {
        if self.chars[0] == b'*' {
            return true;
        }
        // A three-character part matches values of 100 to 999.
        let (digits, n) = decimal_digits(value);
        n == usize::from(self.len) && self.chars[..n].iter().zip(&digits[..n]).all(|(&p, &d)| p == b'x' || p == d)
    }
}

impl EnhancedGlob {
    /// Checks and keeps a pattern.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let p = pattern.trim().to_ascii_lowercase();
        let parts: Vec<&str> = p.split('.').collect();
        let ok = parts.len() == 3
            && parts.iter().all(|s| {
                *s == "*" || (!s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit() || b == b'x'))
            });
        if !ok {
            return Err(format!("enhanced-code pattern '{pattern}' is not like 5.1.1, x.1.1 or x.7.2x"));
        }
        let part = |s: &str| {
            let mut chars = [0u8; 3];
            chars[..s.len()].copy_from_slice(s.as_bytes());
            GlobPart { chars, len: s.len() as u8 }
        };
        Ok(EnhancedGlob([part(parts[0]), part(parts[1]), part(parts[2])]))
    }

    fn matches(&self, code: EnhancedCode) -> bool {
        let [class, subject, detail] = self.0;
        class.matches(u16::from(code.class)) && subject.matches(code.subject) && detail.matches(code.detail)
    }
}

impl fmt::Display for EnhancedGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |p: &GlobPart| String::from_utf8_lossy(&p.chars[..usize::from(p.len)]).into_owned();
        write!(f, "{}.{}.{}", text(&self.0[0]), text(&self.0[1]), text(&self.0[2]))
    }
}

/// One classification rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// A stable name, shown by `--explain` (`gmail.nosuchuser`).
    pub id: String,
    /// One line saying what the rule recognises.
    pub description: String,
    /// The reply code must match, where given.
    pub reply: Option<CodeGlob>,
    /// The enhanced status code must match, where given.
    pub enhanced: Option<EnhancedGlob>,
    /// The reply must answer this command, where given.
    pub command: Option<SmtpCommand>,
    /// A regular expression that must match the text (matched against the lower-cased text), where given.
    pub text: Option<String>,
    /// The reason the rule gives.
    pub reason: Reason,
    /// The fault, where it differs from the reason's usual one.
    pub fault: Option<Fault>,
    /// Responses this rule must decide: `bounces rules check` and the tests classify them.
    pub examples: Vec<String>,
}

/// A rule that could not be compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// The rule's id.
    pub id: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule '{}': {}", self.id, self.message)
    }
}

impl std::error::Error for RuleError {}

/// An example response that its rule does not decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExampleFailure {
    /// The rule that carries the example.
    pub rule: String,
    /// The example.
    pub example: String,
    /// The rule that decided it instead.
    pub decided_by: String,
}

/// What the classifier says of one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Delivered, hard, soft, or not a bounce.
    pub class: Class,
    /// Why.
    pub reason: Reason,
    /// Whose side.
    pub fault: Fault,
    /// The index of the rule that decided, in [`Classifier::rules`].
    pub rule: u32,
}

/// The compiled rule list.
#[derive(Clone, Debug)]
pub struct Classifier {
    rules: Vec<Rule>,
    texts: PatternSet,
    /// For each rule, the index of its text pattern in `texts`.
    text_slot: Vec<Option<usize>>,
    policy: HardPolicy,
    /// Tells this rule list's remembered matches from another's (see [`Classifier::decide_by_text`]).
    id: u64,
}

/// Texts whose matches a thread remembers before it starts afresh.
const REMEMBERED_TEXTS: usize = 1 << 16;

/// What a thread remembers of the texts it has seen, for one rule list.
#[derive(Default)]
struct RememberedMatches {
    classifier: u64,
    by_text: FxHashMap<Box<str>, SeenText>,
    /// The text being matched, lower-cased.
    lower: String,
}

/// A text seen: the patterns it matches, a bit per pattern, and the rule that decided for each combination of codes
/// and command it came with (nearly always one).
struct SeenText {
    bits: Box<[u64]>,
    decided: Vec<(ReplyCodes, u32)>,
}

/// What besides its text a reply's rule depends on: its reply code, enhanced code and command.
type ReplyCodes = (Option<u16>, Option<EnhancedCode>, Option<SmtpCommand>);

thread_local! {
    static REMEMBERED: RefCell<RememberedMatches> = RefCell::default();
}

/// Numbers rule lists, so that remembered matches are never used for another list.
static NEXT_CLASSIFIER: AtomicU64 = AtomicU64::new(1);

/// The id of the rule used when nothing else matches.
pub const FALLBACK_RULE: &str = "fallback";

impl Classifier {
    /// Compiles `rules` (users' rules first, then the built-in ones) with a hard/soft policy. A fallback rule is
    /// added at the end: `onhold` for a text no rule explains, `undefined` for a reply without words.
    pub fn new(mut rules: Vec<Rule>, policy: HardPolicy) -> Result<Self, RuleError> {
        rules.push(Rule {
            id: FALLBACK_RULE.into(),
            description: "no rule matched: onhold if the reply has words, undefined if not; the reply code decides (4xx soft, 5xx hard)"
                .into(),
            reply: None,
            enhanced: None,
            command: None,
            text: None,
            reason: Reason::Undefined,
            fault: None,
            examples: Vec::new(),
        });
        let mut patterns = Vec::new();
        let mut text_slot = Vec::with_capacity(rules.len());
        let mut owners = Vec::new();
        for rule in &rules {
            match &rule.text {
                Some(t) => {
                    text_slot.push(Some(patterns.len()));
                    patterns.push(t.as_str());
                    owners.push(&rule.id);
                }
                None => text_slot.push(None),
            }
        }
        let texts =
            PatternSet::new(&patterns).map_err(|e| RuleError { id: owners[e.index].clone(), message: e.message })?;
        Ok(Classifier { rules, texts, text_slot, policy, id: NEXT_CLASSIFIER.fetch_add(1, Ordering::Relaxed) })
    }

    /// The built-in rules with the default policy.
    pub fn builtin() -> Self {
        Classifier::new(super::rule_file::builtin(), HardPolicy::default()).expect("the built-in rules compile")
    }

    /// The rules in the order they are tried.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule a verdict names.
    pub fn rule(&self, verdict: &Verdict) -> &Rule {
        &self.rules[verdict.rule as usize]
    }

    /// The hard/soft policy.
    pub fn policy(&self) -> &HardPolicy {
        &self.policy
    }

    /// The verdict for a status the log states outright (delivered, expired): the first rule giving that reason.
    pub fn status_verdict(&self, reason: Reason, fault: Fault) -> Verdict {
        let rule = self.rules.iter().position(|r| r.reason == reason).unwrap_or(self.rules.len() - 1);
        Verdict { class: self.policy.class_of(reason, None), reason, fault, rule: rule as u32 }
    }

    /// Classifies the examples of the rules at `indices` and returns those that another rule decides.
    pub fn check_examples(&self, indices: std::ops::Range<usize>) -> Vec<ExampleFailure> {
        let mut failures = Vec::new();
        for (i, rule) in self.rules.iter().enumerate().filter(|(i, _)| indices.contains(i)) {
            for example in &rule.examples {
                let verdict = self.classify(&Reply::parse(example));
                if verdict.rule as usize != i {
                    failures.push(ExampleFailure {
                        rule: rule.id.clone(),
                        example: example.clone(),
                        decided_by: self.rule(&verdict).id.clone(),
                    });
                }
            }
        }
        failures
    }

    /// Classifies one response. The text patterns are matched only when a rule that has one is reached, so that
    /// replies decided by their codes alone (every `250 ok`) never run the regular expressions.
    pub fn classify(&self, reply: &Reply) -> Verdict {
        let index = match self.first_rule(reply, 0, None) {
            Ok(index) => index,
            Err(from) => self.decide_by_text(reply, from),
        };
        let rule = &self.rules[index];
        // Sisimai's distinction, kept so that results compare: `onhold` when there are words no rule explains,
        // `undefined` when there are none to go on. Both leave the decision to the reply code.
        let reason = if index == self.rules.len() - 1 && reply.text.chars().any(char::is_alphanumeric) {
            Reason::OnHold
        } else {
            rule.reason
        };
        Verdict {
            class: self.policy.class_of(reason, reply.code_class()),
            reason,
            fault: rule.fault.unwrap_or(rule.reason.fault()),
            rule: index as u32,
        }
    }

    /// The index of the first rule from `from` on that `reply` matches. Without the text's matches (`bits`, a bit
    /// per text pattern), `Err` names the first rule whose codes match but that needs them.
    fn first_rule(&self, reply: &Reply, from: usize, bits: Option<&[u64]>) -> Result<usize, usize> {
        for (i, rule) in self.rules.iter().enumerate().skip(from) {
            let codes = rule.reply.as_ref().is_none_or(|g| reply.code.is_some_and(|c| g.matches(c)))
                && rule.enhanced.as_ref().is_none_or(|g| reply.enhanced.is_some_and(|e| g.matches(e)))
                && rule.command.is_none_or(|c| reply.command == Some(c));
            if !codes {
                continue;
            }
            match (self.text_slot[i], bits) {
                (None, _) => return Ok(i),
                (Some(_), None) => return Err(i),
                (Some(slot), Some(bits)) if bits[slot / 64] & (1 << (slot % 64)) != 0 => return Ok(i),
                (Some(_), Some(_)) => {}
            }
        }
        // The fallback rule has no patterns: it is never passed over.
        Ok(self.rules.len() - 1)
    }
}

impl Classifier {
    /// The first rule from `from` on that `reply` matches, now that its text must be looked at. Which patterns the
    /// text matches, and which rule then decided for the reply's codes, are remembered for texts this thread has seen;
    /// else the set of patterns runs over the lower-cased text.
    fn decide_by_text(&self, reply: &Reply, from: usize) -> usize {
        let codes = (reply.code, reply.enhanced, reply.command);
        REMEMBERED.with(|remembered| {
            let mut remembered = remembered.borrow_mut();
            let remembered = &mut *remembered;
            if remembered.classifier != self.id {
                remembered.classifier = self.id;
                remembered.by_text.clear();
            }
            if let Some(seen) = remembered.by_text.get_mut(reply.text.as_str()) {
                if let Some(&(_, rule)) = seen.decided.iter().find(|(c, _)| *c == codes) {
                    return rule as usize;
                }
                let rule = self.first_rule(reply, from, Some(&seen.bits)).unwrap_or(self.rules.len() - 1);
                seen.decided.push((codes, rule as u32));
                return rule;
            }
            let mut bits = vec![0u64; self.texts.len().div_ceil(64)].into_boxed_slice();
            // Lower-cased into a buffer the thread keeps: most responses are ASCII, and need no allocation for it.
            let lower = &mut remembered.lower;
            lower.clear();
            if reply.text.is_ascii() {
                lower.push_str(&reply.text);
                lower.make_ascii_lowercase();
            } else {
                lower.push_str(&reply.text.to_lowercase());
            }
            self.texts.matches_into(lower, &mut bits);
            let rule = self.first_rule(reply, from, Some(&bits)).unwrap_or(self.rules.len() - 1);
            if remembered.by_text.len() >= REMEMBERED_TEXTS {
                remembered.by_text.clear();
            }
            remembered
                .by_text
                .insert(reply.text.as_str().into(), SeenText { bits, decided: vec![(codes, rule as u32)] });
            rule
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let g = CodeGlob::new("55x").unwrap();
        assert!(g.matches(552) && !g.matches(450));
        assert!(CodeGlob::new("5x").is_err());
        assert!(CodeGlob::new("999").is_err());
        let e = EnhancedGlob::new("x.7.2x").unwrap();
        assert!(e.matches(EnhancedCode::parse("5.7.26").unwrap()));
        assert!(!e.matches(EnhancedCode::parse("5.7.2").unwrap()));
        assert!(!e.matches(EnhancedCode::parse("5.7.1").unwrap()));
        assert!(EnhancedGlob::new("5.*.*").unwrap().matches(EnhancedCode::parse("5.4.7").unwrap()));
        assert!(EnhancedGlob::new("5.1").is_err());
        // Parts compare digit by digit and by length, without formatting the code.
        assert!(!e.matches(EnhancedCode::parse("5.7.260").unwrap()));
        assert!(!EnhancedGlob::new("x.7.x").unwrap().matches(EnhancedCode::parse("5.7.26").unwrap()));
        assert!(EnhancedGlob::new("x.1.10").unwrap().matches(EnhancedCode::parse("5.1.10").unwrap()));
        assert!(EnhancedGlob::new("x.0.0").unwrap().matches(EnhancedCode::parse("4.0.0").unwrap()));
        assert!(!EnhancedGlob::new("x.1.1").unwrap().matches(EnhancedCode::parse("5.1.10").unwrap()));
        assert_eq!(EnhancedGlob::new(" X.7.2x ").unwrap().to_string(), "x.7.2x");
        assert_eq!(EnhancedGlob::new("5.*.*").unwrap().to_string(), "5.*.*");
    }

    /// A rule with a text pattern only.
    fn text_rule(id: &str, text: &str, reason: Reason) -> Rule {
        Rule {
            id: id.into(),
            description: String::new(),
            reply: None,
            enhanced: None,
            command: None,
            text: Some(text.into()),
            reason,
            fault: None,
            examples: Vec::new(),
        }
    }

    #[test]
    fn first_match_wins_and_users_rules_go_first() {
        let rule = text_rule;
        let c = Classifier::new(
            vec![rule("mine", "out of office", Reason::Vacation), rule("a", "user", Reason::UserUnknown)],
            HardPolicy::default(),
        )
        .unwrap();
        let v = c.classify(&Reply::parse("550 5.1.1 User out of office"));
        assert_eq!((v.reason, v.class, c.rule(&v).id.as_str()), (Reason::Vacation, Class::None, "mine"));
        let v = c.classify(&Reply::parse("550 nothing known"));
        assert_eq!((v.reason, v.class, c.rule(&v).id.as_str()), (Reason::OnHold, Class::Hard, FALLBACK_RULE));
        let v = c.classify(&Reply::parse("451 4.0.0"));
        assert_eq!((v.reason, v.class, c.rule(&v).id.as_str()), (Reason::Undefined, Class::Soft, FALLBACK_RULE));
        let bad = Classifier::new(vec![rule("broken", "(", Reason::Blocked)], HardPolicy::default());
        assert_eq!(bad.unwrap_err().id, "broken");
    }

    #[test]
    fn remembered_matches_belong_to_one_rule_list() {
        let rule = |text: &str, reason| text_rule("r", text, reason);
        let reply = Reply::parse("550 5.1.1 mailbox unavailable");
        let full = Classifier::new(vec![rule("mailbox", Reason::MailboxFull)], HardPolicy::default()).unwrap();
        let unknown = Classifier::new(vec![rule("unavailable", Reason::UserUnknown)], HardPolicy::default()).unwrap();
        // The same text, seen again and by another list: each list's own patterns decide every time.
        for _ in 0..2 {
            assert_eq!(full.classify(&reply).reason, Reason::MailboxFull);
            assert_eq!(unknown.classify(&reply).reason, Reason::UserUnknown);
        }
        // Many more texts than are remembered: the verdicts stay the same.
        let builtin = Classifier::builtin();
        let texts: Vec<Reply> =
            (0..REMEMBERED_TEXTS + 10).map(|i| Reply::parse(&format!("452 4.2.2 over quota {i}"))).collect();
        let first: Vec<Reason> = texts.iter().map(|r| builtin.classify(r).reason).collect();
        assert!(first.iter().all(|&r| r == Reason::MailboxFull));
        assert_eq!(builtin.classify(&texts[0]).reason, Reason::MailboxFull);
    }
}
