//! Local inference in a worker child process (`tradeoff worker`): the [`WorkerEngine`] the CLI
//! and the app use as their `LocalEngine`.
//!
//! llama.cpp can `abort()` the whole process on a bad model file or when memory runs out. The
//! runner therefore never calls it in its own process: [`WorkerEngine`] implements
//! `tradeoff_core::execute::engine::LocalEngine` by speaking `tradeoff_core::execute::worker_protocol` to a child
//! that owns the models (its other side is `tradeoff_llama::worker`). When the child dies, the
//! run in flight is recorded as `worker_crashed` with the tail of the child's stderr, the next
//! request starts a new child, and the experiment goes on. Before the first model runs,
//! [`cpu_check`] proves in throw-away workers that the CPU code decodes here, and
//! [`cpu_record`] keeps its conclusion.

mod client;
pub mod cpu_check;
pub mod cpu_record;
mod process;
mod serving;
mod stderr_tail;
mod token_counter;

pub use client::WorkerEngine;
pub use process::{WorkerCommand, WorkerStartError};
pub use serving::{Listener, ServedEvent, ServingWorker};
