//! The Tradeoff engine.
//!
//! Everything that decides *what* to run and *what the numbers mean* lives here: experiment files,
//! prompt templating, matrix expansion, the runner, statistics and reports. Inference backends and
//! persistence plug in through traits ([`engine::LocalEngine`], [`runner::RunSink`]), so this crate
//! never links llama.cpp, SQLite or a webview and its tests run in milliseconds.

pub mod bench;
pub mod cache;
pub mod checks;
pub mod compare;
pub mod cost;
pub mod cpu_backend;
pub mod diff;
pub mod engine;
pub mod environment;
pub mod events;
pub mod experiment;
pub mod export;
pub mod files;
pub mod gguf;
pub mod grading;
pub mod library;
pub mod matrix;
pub mod memory;
pub mod objective;
pub mod paths;
pub mod preflight;
pub mod pricing;
pub mod prompt;
pub mod quantize;
pub mod remote;
pub mod report;
pub mod resume;
pub mod run;
pub mod runner;
pub mod stats;
pub mod stop;
pub mod tokens;
pub mod winner;
pub mod worker;

pub use experiment::{Case, Experiment, Target, Variant};
