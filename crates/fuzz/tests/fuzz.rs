//! Property tests of every parser of outside input, as fuzzing on stable Rust: generated and
//! mutated inputs must never panic, must end within a time limit, and must not make output out
//! of proportion to their size. One module per target:
//!
//! - `experiment`: experiment files (YAML and JSON) through loading and validation;
//! - `templates`: prompt templates and their variables through rendering;
//! - `gguf`: model headers through the reader, the summary, the memory estimate and the hash;
//! - `remote`: the event streams of every wire format through the HTTP engine;
//! - `worker_protocol`: worker protocol lines through `Request`/`Reply`;
//! - `pricing`: price files through loading and saving.
//!
//! `cargo test -p tradeoff-fuzz --test fuzz` runs each target on a fixed seed for a few seconds.
//! `scripts/fuzz.sh [SECONDS]` runs each for a time budget (see `fuzz/driver.rs` for the
//! environment). A failure found is kept in `fuzz/regressions/<target>.txt` and replayed first.

#[path = "fuzz/driver.rs"]
mod driver;
#[path = "fuzz/experiment.rs"]
mod experiment;
#[path = "fuzz/gguf.rs"]
mod gguf;
#[path = "fuzz/pricing.rs"]
mod pricing;
#[path = "fuzz/remote.rs"]
mod remote;
#[path = "fuzz/templates.rs"]
mod templates;
#[path = "fuzz/values.rs"]
mod values;
#[path = "fuzz/worker_protocol.rs"]
mod worker_protocol;
