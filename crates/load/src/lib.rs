//! `tradeoff load`: requests sent to a model API at a load — a number of clients each sending its
//! next request when its last one ends (closed loop), or a rate of requests on a schedule whatever
//! the answers do (open loop) — each timed from when it was due, token by token, through
//! `tradeoff_remote::RemoteCaller` (the OpenAI, Anthropic and Gemini wire formats). What the
//! levels add up to (goodput, the knee, capacity) is `tradeoff_core::analyze::load_test`.
//!
//! Like `tradeoff-remote`, this crate owns the network and the async runtime; core links neither.

pub mod generator;

pub use generator::{LevelPlan, Workload, run_level};
