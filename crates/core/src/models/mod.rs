//! Model files and what they cost to run: GGUF headers, memory estimates, quantization types,
//! the model library, token counts. Builds on `spec`; knows nothing of running.

pub mod gguf;
pub mod library;
pub mod memory;
pub mod quantize;
pub mod tokens;
