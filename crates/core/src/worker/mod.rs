//! Local inference in a worker child process (`tradeoff worker`).
//!
//! llama.cpp can `abort()` the whole process on a bad model file or when memory runs out. The
//! runner therefore never calls it in its own process: [`WorkerEngine`] implements
//! [`crate::engine::LocalEngine`] by speaking [`protocol`] to a child that owns the models. When
//! the child dies, the run in flight is recorded as `worker_crashed` with the tail of the child's
//! stderr, the next request starts a new child, and the experiment goes on. Before the first
//! model runs, [`cpu_check`] proves in throw-away workers that the CPU code decodes here.

mod client;
pub mod cpu_check;
mod process;
pub mod protocol;
mod stderr_tail;

pub use client::WorkerEngine;
pub use process::{WorkerCommand, WorkerStartError};
