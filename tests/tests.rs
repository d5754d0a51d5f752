//! End-to-end tests of the engine and the `tradeoff` CLI on the real default model.
//! One integration binary (see ripgrep's tests/tests.rs); modules by subject.

// Helpers outside #[test] functions panic on purpose: a failed set-up step is a failed test.
#![allow(clippy::unwrap_used)]

#[path = "support/mod.rs"]
mod support;

mod architecture;
mod bad_input;
mod budget;
mod cli;
mod cpu_build;
mod history;
mod judge;
mod load;
mod local_model;
mod plan;
mod quantize;
mod remote;
mod resume;
mod routing;
mod search;
mod serve;
mod served;
mod serving_worker;
mod soak;
mod sweeps;
mod throughput;
mod winner;
mod worker;
