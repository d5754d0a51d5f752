//! Searching the configs instead of running the whole grid (`search:` in an experiment file):
//! racing drops a config once a confidence sequence shows it out under the objective;
//! successive halving keeps the best share of the configs on growing rungs of cases. Both run
//! their rounds through `execute::runner` and record every run and every drop as they happen.
//!
//! The layer after `analyze`: halving ranks configs with the objective on the runs so far.

mod driver;
pub mod halving;
pub mod race;

pub use driver::{SearchError, SearchRun, run_search};

#[cfg(test)]
mod simulation_tests;
