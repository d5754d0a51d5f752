//! `tradeoff serve`: the winner a measurement picked, served behind the OpenAI wire format, so
//! that what was measured is what runs: the winner's prompt template, chat template, sampling,
//! stop sequences and settings are the defaults, and a request overrides only what the OpenAI
//! API lets a client choose.
//!
//! - [`deployment`]: what a winner file says to serve, checked before anything starts.
//! - [`wire`]: the OpenAI request and response shapes (Chat Completions, Completions, models).
//! - [`admission`]: as many requests decode as the worker has slots; a bounded queue waits
//!   behind them; beyond it a request is refused with `429` and `Retry-After`.
//! - [`local`]: the model in one worker process, decoding every admitted request together
//!   (`tradeoff_worker::ServingWorker`), replaced when it dies; [`backend`]: that, or the
//!   remote API a remote winner ran on (`tradeoff_remote::RemoteCaller`), behind one
//!   `Submission`.
//! - `answering`: who answers a request: the one config, or a routing policy's stages live (a
//!   cascade escalates on what its conditions read in each whole answer; a route picks by the
//!   request's variables), each stage named in the traffic log.
//! - [`canary`]: the winner's cases sent through the served path every so often and judged
//!   against what was measured.
//! - [`metrics`]: `/metrics`, OpenMetrics text with OpenTelemetry's GenAI names.
//! - [`api`] and [`server`]: the HTTP routes, the bearer key, binding and shutdown; every
//!   request recorded in the traffic log (`tradeoff_store::traffic`) off its path.
//!
//! Like `tradeoff-remote`, this crate owns the network and the async runtime; the engine
//! (`tradeoff-core`) links neither.

pub mod admission;
mod answering;
pub mod api;
pub mod backend;
pub mod canary;
pub mod deployment;
pub mod error;
pub mod local;
pub mod metrics;
pub mod server;
pub mod wire;

pub use deployment::Deployment;
pub use error::ServeError;
pub use server::{Ready, ServeOptions, run, serve};
