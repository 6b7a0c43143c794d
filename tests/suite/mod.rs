//! Integration test themes. Each runs the built `bounces` binary as a user would.

mod classifier;
mod cli;
mod corpus;
mod corpus_postfix_more;
mod errors;
mod formats_exim_sendmail;
mod formats_pmta_kumo;
mod fuzz_regressions;
mod hostile;
mod inputs;
mod oracle;
mod properties;
mod reports;
mod rules;
mod samples;
mod settled;
mod snapshots;
mod state;
mod tables;
mod threads;
mod util;
mod zones;
