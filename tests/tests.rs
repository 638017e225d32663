//! hlab's integration tests, compiled into one binary.

mod cli;
mod docs;
mod repl;
