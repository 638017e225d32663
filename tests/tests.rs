//! hlab's integration tests, compiled into one binary.

mod cli;
mod course;
mod docs;
mod fixtures;
mod repl;
