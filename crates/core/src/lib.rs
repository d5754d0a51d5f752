//! The Tradeoff engine.
//!
//! Everything that decides *what* to run and *what the numbers mean* lives here, in five layers
//! that import in one direction: `spec` (experiments as written and validated) → `models` (model
//! files) → `execute` (running a plan through the engine traits) → `analyze` (reports, ranking,
//! the winner) → `search` (racing and halving: what to run next from what was measured). The modules directly under the crate root are the ground every layer stands on.
//! Inference backends, HTTP, the keyring and persistence plug in through traits
//! ([`execute::engine::LocalEngine`], [`execute::remote::RemoteEngine`], [`execute::sink::RunSink`])
//! from adapter crates, so this crate links no llama.cpp, network, TLS, async runtime, keyring
//! or SQLite (a test in `tests/architecture.rs` holds it to that).

pub mod analyze;
pub mod execute;
pub mod models;
pub mod search;
pub mod spec;

pub mod diff;
pub mod files;
pub mod format;
pub mod paths;
pub mod run;
pub mod stats;
