//! Which of many regular expressions match a text, found by looking for their literals first.
//!
//! The classifier's text rules are a few hundred alternatives. Compiled into one `RegexSet`, every response is
//! scanned once, but by an automaton so large that each response with words it has not seen before (a new queue
//! id, a new host name) makes the lazy DFA build new states, and each of those states is costly: on a million
//! logged responses, building them was a third of the work, and every thread built them again.
//!
//! Every match of nearly every pattern holds one of a few literals (`mailbox full`, `user unknown`), and each
//! response holds the literals of only one or two patterns. So the literals of all the patterns are searched for at
//! once with Aho-Corasick, and only the patterns whose literal occurs are run, each on its own small automaton. A
//! pattern without such literals (one made of classes and repetitions only) is run on every text. The answer is the
//! same as the set's: a pattern is skipped only where it cannot match.
//!
//! Each pattern is compiled the first time its literal is found, not when the set is made. A run that classifies
//! one response (`bounces classify` inside a shell loop) needs a few of the patterns, and compiling all of them
//! took most of its time; a run over a log compiles those its responses need, once.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use std::sync::OnceLock;

use regex::Regex;
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Hir, HirKind};

/// A set of regular expressions that tells which of them match a text.
#[derive(Clone, Debug)]
pub struct PatternSet {
    /// Each pattern as written, checked.
    patterns: Vec<Box<str>>,
    /// Each pattern, compiled on its own when first needed.
    regexes: Vec<OnceLock<Regex>>,
    /// The patterns run on every text: those with no literals that every match must hold.
    always: Vec<usize>,
    /// The literals of the other patterns, all at once.
    literals: Option<AhoCorasick>,
    /// For each literal, the pattern it belongs to.
    owner: Vec<usize>,
}

/// A pattern that does not compile: its index and the compiler's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    /// The pattern's index in the list given.
    pub index: usize,
    /// What is wrong.
    pub message: String,
}

impl PatternSet {
    /// The set of `patterns`, each checked (parsed) now and compiled when first needed. A pattern that parses can
    /// still be too large to compile: rules files are compiled when read (see
    /// [`rule_file::parse`](super::rule_file::parse)), and the built-in patterns by a test, so that this never
    /// happens during a run.
    pub fn new(patterns: &[&str]) -> Result<Self, PatternError> {
        let mut always = Vec::new();
        let mut literals: Vec<Vec<u8>> = Vec::new();
        let mut owner = Vec::new();
        for (index, pattern) in patterns.iter().enumerate() {
            let error = |message: String| PatternError { index, message };
            let hir = regex_syntax::parse(pattern).map_err(|e| error(e.to_string()))?;
            match required_literals(&hir) {
                Some(found) => {
                    for literal in found {
                        literals.push(literal);
                        owner.push(index);
                    }
                }
                None => always.push(index),
            }
        }
        let literals = if literals.is_empty() {
            None
        } else {
            let searcher = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(&literals)
                .or_else(|_| AhoCorasick::builder().match_kind(MatchKind::Standard).build(&literals))
                .map_err(|e| PatternError { index: owner[0], message: e.to_string() })?;
            Some(searcher)
        };
        Ok(PatternSet {
            patterns: patterns.iter().map(|p| Box::from(*p)).collect(),
            regexes: patterns.iter().map(|_| OnceLock::new()).collect(),
            always,
            literals,
            owner,
        })
    }

    /// How many patterns there are.
    pub fn len(&self) -> usize {
        self.regexes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.regexes.is_empty()
    }

    /// Compiles pattern `index`.
    fn compile(&self, index: usize) -> Result<Regex, PatternError> {
        Regex::new(&self.patterns[index]).map_err(|e| PatternError { index, message: e.to_string() })
    }

    /// Pattern `index`, compiled.
    fn regex(&self, index: usize) -> &Regex {
        self.regexes[index].get_or_init(|| match self.compile(index) {
            Ok(regex) => regex,
            // Patterns from rules files were compiled when the file was read, and a test compiles the built-in
            // ones (see `new`): compiling is deterministic, so this is a defect, not bad input.
            Err(e) => panic!("text pattern {index} compiled when its rules were read, but not now: {}", e.message),
        })
    }

    /// Compiles every pattern not compiled yet, as a run would when it needs them: an error names the first that
    /// does not compile.
    pub fn compile_all(&self) -> Result<(), PatternError> {
        for (index, regex) in self.regexes.iter().enumerate() {
            if regex.get().is_none() {
                let _ = regex.set(self.compile(index)?);
            }
        }
        Ok(())
    }

    /// Sets, in `bits` (a bit per pattern, cleared by the caller), the patterns that match `text`.
    pub fn matches_into(&self, text: &str, bits: &mut [u64]) {
        let mut tried = Bits::new(self.regexes.len());
        let mut run = |index: usize, bits: &mut [u64]| {
            if tried.insert(index) && self.regex(index).is_match(text) {
                bits[index / 64] |= 1 << (index % 64);
            }
        };
        if let Some(literals) = &self.literals {
            for found in literals.find_overlapping_iter(text) {
                run(self.owner[found.pattern().as_usize()], bits);
            }
        }
        for &index in &self.always {
            run(index, bits);
        }
    }
}

/// Literals one of which every match of `hir` holds, none empty; `None` where there are none to be had.
///
/// An alternation holds one of its branches' literals. Otherwise the literals a match must start with are tried,
/// then those it must end with (`[^ ]+@[a-z.]+ does not exist` starts with a class of nearly every character, but
/// ends with `does not exist`), then the literals of any part of a concatenation, which every match holds too.
fn required_literals(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    match hir.kind() {
        HirKind::Capture(group) => return required_literals(&group.sub),
        HirKind::Alternation(branches) => {
            let mut all = Vec::new();
            for branch in branches {
                all.extend(required_literals(branch)?);
            }
            return Some(all);
        }
        _ => {}
    }
    // Of the two, the one whose shortest literal is longer: a short literal is found in many texts that the pattern
    // does not match (`@[^ :()]+:blocked\)` must start with `@`, but end with `:blocked)`).
    let shortest = |found: &[Vec<u8>]| found.iter().map(Vec::len).min().unwrap_or(0);
    let mut best: Option<Vec<Vec<u8>>> = None;
    for kind in [ExtractKind::Prefix, ExtractKind::Suffix] {
        let seq = Extractor::new().kind(kind).limit_total(1024).extract(hir);
        let Some(found) = seq.literals().filter(|l| !l.is_empty() && l.iter().all(|l| !l.is_empty())) else {
            continue;
        };
        let found: Vec<Vec<u8>> = found.iter().map(|l| l.as_bytes().to_vec()).collect();
        if best.as_ref().is_none_or(|b| shortest(&found) > shortest(b)) {
            best = Some(found);
        }
    }
    if best.is_some() {
        return best;
    }
    match hir.kind() {
        HirKind::Concat(parts) => parts.iter().find_map(required_literals),
        _ => None,
    }
}

/// A small set of indices: on the stack for up to 512 patterns.
enum Bits {
    Inline([u64; 8]),
    Heap(Vec<u64>),
}

impl Bits {
    fn new(len: usize) -> Self {
        if len <= 512 { Bits::Inline([0; 8]) } else { Bits::Heap(vec![0; len.div_ceil(64)]) }
    }

    /// Adds `index`; whether it was not there.
    fn insert(&mut self, index: usize) -> bool {
        let words = match self {
            Bits::Inline(w) => &mut w[..],
            Bits::Heap(w) => &mut w[..],
        };
        let (word, bit) = (index / 64, 1u64 << (index % 64));
        let new = words[word] & bit == 0;
        words[word] |= bit;
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(set: &PatternSet, text: &str) -> Vec<usize> {
        let mut bits = vec![0u64; set.len().div_ceil(64)];
        set.matches_into(text, &mut bits);
        (0..set.len()).filter(|&i| bits[i / 64] & (1 << (i % 64)) != 0).collect()
    }

    #[test]
    fn finds_what_a_regex_set_finds() {
        let patterns = [
            r"mailbox (is )?full",
            r"\buser (unknown|not found)\b",
            r"[a-z]+ rejected",
            r"^5\d\d ",
            r"quota|over ?quota",
            r"x*",
        ];
        let set = PatternSet::new(&patterns).unwrap();
        let reference = regex::RegexSet::new(patterns).unwrap();
        for text in [
            "552 mailbox full",
            "user unknown here",
            "the user unknownish",
            "message rejected by policy",
            "550 over quota",
            "",
            "nothing at all",
        ] {
            assert_eq!(matches(&set, text), reference.matches(text).iter().collect::<Vec<_>>(), "{text:?}");
        }
    }

    #[test]
    fn reports_the_pattern_that_does_not_compile() {
        let err = PatternSet::new(&["ok", "(unclosed"]).unwrap_err();
        assert_eq!(err.index, 1);
        // One that parses but is too large to compile is found by compiling them all.
        let set = PatternSet::new(&["ok", r"\w{2000}\w{2000}"]).unwrap();
        assert_eq!(set.compile_all().unwrap_err().index, 1);
    }

    #[test]
    fn every_builtin_pattern_compiles() {
        let rules = crate::domain::rule_file::builtin();
        let patterns: Vec<&str> = rules.iter().filter_map(|r| r.text.as_deref()).collect();
        assert!(patterns.len() > 50);
        PatternSet::new(&patterns).unwrap().compile_all().unwrap();
    }

    /// The texts of the bundled corpus and of the built-in rules' examples, lower-cased as the classifier does.
    fn corpus_texts() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut texts = Vec::new();
        for (file, column) in [("responses.csv", "response"), ("corpus/sisimai/public.csv", "diagnostic")] {
            let mut reader = csv::Reader::from_path(dir.join(file)).unwrap();
            let at = reader.headers().unwrap().iter().position(|h| h == column).unwrap();
            texts.extend(reader.records().map(|r| r.unwrap()[at].to_lowercase()));
        }
        let classifier = crate::domain::classify::Classifier::builtin();
        texts.extend(classifier.rules().iter().flat_map(|r| r.examples.iter().map(|e| e.to_lowercase())));
        texts
    }

    #[test]
    fn the_built_in_patterns_match_the_corpus_as_a_regex_set_does() {
        let classifier = crate::domain::classify::Classifier::builtin();
        let patterns: Vec<&str> = classifier.rules().iter().filter_map(|r| r.text.as_deref()).collect();
        let set = PatternSet::new(&patterns).unwrap();
        assert!(set.always.is_empty(), "every built-in pattern has literals to look for");
        let reference = regex::RegexSet::new(&patterns).unwrap();
        let texts = corpus_texts();
        assert!(texts.len() > 500, "{} texts", texts.len());
        let mut matched = 0;
        for text in &texts {
            let expected: Vec<usize> = reference.matches(text).iter().collect();
            assert_eq!(matches(&set, text), expected, "{text:?}");
            matched += usize::from(!expected.is_empty());
        }
        assert!(matched * 2 > texts.len(), "most texts match some pattern: {matched} of {}", texts.len());
    }

    proptest::proptest! {
        #[test]
        fn any_text_matches_as_in_a_regex_set(text in "[a-z0-9 .]{0,40}") {
            let patterns = [r"ab+c", r"\bfull\b", r"[0-9]{3} [a-z]", r"(no|not) such", r"\d+\.\d", r"z", r"a.c|b.d"];
            let set = PatternSet::new(&patterns).unwrap();
            let reference = regex::RegexSet::new(patterns).unwrap();
            proptest::prop_assert_eq!(matches(&set, &text), reference.matches(&text).iter().collect::<Vec<_>>());
        }
    }
}
