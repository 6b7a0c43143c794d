//! Integration test themes. Each runs the built `bounces` binary as a user would.

mod classifier;
mod corpus;
mod errors;
mod formats_exim_sendmail;
mod formats_pmta_kumo;
mod fuzz_regressions;
mod hostile;
mod inputs;
mod oracle;
mod properties;
mod rules;
mod samples;
mod threads;
mod util;
