//! Local inference on GGUF models through llama.cpp (`llama-cpp-2`).
//!
//! [`LlamaEngine`] implements [`tradeoff_core::execute::engine::LocalEngine`]: it keeps one model loaded
//! across runs, recreates only the context when context settings change, and measures every
//! generation with wall clocks and llama.cpp's own perf counters.
//!
//! llama.cpp can abort the process on some inputs, so the runner uses this engine only inside
//! the worker process ([`worker::serve`], `tradeoff worker`); see ARCHITECTURE.md.

mod backend;
mod batched;
mod bench;
mod chat;
mod contention;
mod cpu_backend;
mod engine;
mod generate;
mod log_capture;
mod logprob;
mod memory;
mod output;
pub mod quantize;
mod serving;
mod session;
pub mod worker;

pub use backend::cpu_backend;
pub use engine::LlamaEngine;
