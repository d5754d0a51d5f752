//! Local inference on GGUF models through llama.cpp (`llama-cpp-2`).
//!
//! [`LlamaEngine`] implements [`tradeoff_core::engine::LocalEngine`]: it keeps one model loaded
//! across runs, recreates only the context when context settings change, and measures every
//! generation with wall clocks and llama.cpp's own perf counters.
//!
//! llama.cpp can abort the process on some inputs; callers that must survive that run this
//! engine in a worker process (see ARCHITECTURE.md).

mod backend;
mod chat;
mod engine;
mod log_capture;
mod session;

pub use engine::LlamaEngine;
