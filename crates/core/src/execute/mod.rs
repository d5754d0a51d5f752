//! Running a plan: the engine traits adapters implement (`engine::LocalEngine`,
//! `remote::RemoteEngine`), the runner and its sinks, the response cache, grading by judges,
//! resuming, the plan preview, benchmarks, and the worker protocol. Builds on `spec` and `models`.

pub mod arrivals;
pub mod backends;
pub mod bench;
pub mod cache;
pub mod context_budget;
pub mod cpu_backend;
pub mod engine;
pub mod environment;
pub mod events;
pub mod grading;
pub mod policy_run;
pub mod preflight;
pub mod record;
pub mod remote;
pub mod resume;
pub mod runner;
pub mod search_log;
pub mod sink;
pub mod stop;
pub mod worker_protocol;
