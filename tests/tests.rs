//! hlab's integration tests, compiled into one binary.

mod bad_inputs;
mod cli;
mod docs;
mod fixtures;
mod repl;
