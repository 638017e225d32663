//! hlab's integration tests, compiled into one binary.

mod bad_inputs;
mod cli;
mod course;
mod docs;
mod fixtures;
mod house;
mod layer_fixtures;
mod newcomer;
mod outliers;
mod repl;
