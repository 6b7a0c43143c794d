//! Integration test themes. Each runs the built `bounces` binary as a user would.

mod classifier;
mod corpus;
mod errors;
mod oracle;
mod samples;
mod threads;
mod util;
