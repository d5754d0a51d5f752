//! What the recorded runs mean: per-config summaries and reports, comparisons with intervals,
//! ranking under the objective, the winner and exports. Builds on every other layer.

pub mod canary;
pub mod compare;
pub mod export;
pub mod history;
pub mod load_test;
pub mod ranking;
pub mod report;
pub mod routing;
pub mod traffic;
pub mod trend;
pub mod winner;
