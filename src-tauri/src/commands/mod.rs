//! Every command the UI calls, one module per domain; `lib.rs` registers them (`specta_builder_for!`).

pub mod endpoints;
pub mod experiments;
pub mod load_tests;
pub mod models;
pub mod monitor;
pub mod prices;
pub mod results;
pub mod routing;
pub mod runs;
