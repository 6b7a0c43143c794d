//! `bounces`: reads email sending logs offline and answers which contacts must be deactivated and why, what
//! happened to each campaign and each contact, and what a server response means.
//!
//! The crate is split as the design says: [`domain`] is the pure core, [`input`] reads files into domain values,
//! [`output`] renders tables, and [`cmd`] is the command line that ties them together.

// Every public item says what it is: the lint keeps it so (CI denies warnings).
#![warn(missing_docs)]

pub mod cmd;
pub mod domain;
pub mod input;
pub mod output;
