//! The integration tests: one binary, a module per theme (see `suite/`).

mod suite;
