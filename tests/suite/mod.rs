//! Integration test themes. Each runs the built `bounces` binary as a user would.

mod classifier;
mod corpus;
mod errors;
mod formats_pmta_kumo;
mod oracle;
mod samples;
mod util;
