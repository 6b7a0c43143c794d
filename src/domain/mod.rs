//! The pure core: attempts and outcomes, SMTP responses, the classifier and its rules, replay and summaries.
//!
//! Everything here takes values and returns values. No files, no printing, no command-line types, no threads and
//! no clock (callers pass "now" where it matters), so that it is what the tests exercise most and what any other
//! front end could reuse. The one piece of hidden state is the classifier's per-thread memory of which patterns a
//! text matched, which changes how fast a verdict comes, never what it is.

pub mod attempt;
pub mod block_event;
pub mod campaign;
pub mod classify;
pub mod engagement;
pub mod in_order;
pub mod outcome;
pub mod pattern_set;
pub mod provider;
pub mod reason;
pub mod replay;
pub mod rule_file;
pub mod rules;
pub mod smtp;
pub mod summary;
pub mod template;
pub mod time;
