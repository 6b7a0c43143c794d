//! The pure core: attempts and outcomes, SMTP responses, the classifier and its rules, replay and summaries.
//!
//! Everything here takes values and returns values. No files, no printing, no command-line types, no threads and
//! no clock (callers pass "now" where it matters), so that it is what the tests exercise most and what any other
//! front end could reuse. Two pieces of state are hidden, and both change how fast or how small, never what: the
//! classifier's per-thread memory of which patterns a text matched, and the tables of [`name::Name`]s that hosts,
//! senders and campaign ids share.

pub mod attempt;
pub mod block_event;
pub mod campaign;
pub mod classify;
pub mod engagement;
pub mod in_order;
pub mod name;
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
pub mod zone;
