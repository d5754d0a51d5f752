//! Remote runs as the engine sees them: one job, its result with every attempt, and the
//! [`RemoteEngine`] trait the HTTP client (`crates/remote`) implements.
//!
//! Measurement rules (the same as for local runs, see ARCHITECTURE.md): latency runs from the
//! moment the request is sent to the end of the stream; TTFT ends at the first non-empty piece
//! of output text (role-only chunks, pings and `message_start` do not count); time spent waiting
//! for a concurrency slot, a rate-limit slot or a retry is never part of a run's latency.

use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use crate::execute::engine::{GenerateError, Generation};
use crate::run::RunError;
use crate::spec::experiment::Sampling;
use crate::spec::prompt::RenderedPrompt;
use crate::spec::target::RemoteTarget;

/// One attempt of a remote run, kept with the run so a report can show how it got its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Milliseconds from the run's first attempt to this one's request.
    pub started_after_ms: f64,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// `None` for the attempt that succeeded.
    pub error: Option<RunError>,
    /// What the server asked for in `Retry-After`, in milliseconds.
    pub retry_after_ms: Option<f64>,
    /// How long the scheduler waited before the next attempt.
    pub waited_ms: Option<f64>,
}

/// One remote run to make.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteJob {
    pub prompt: RenderedPrompt,
    pub sampling: Sampling,
}

/// How a remote run ended, with every attempt it took.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteResult {
    pub outcome: Result<Generation, RunError>,
    /// Text received before a failure (a broken stream); empty when the run succeeded.
    pub partial_output: String,
    pub attempts: Vec<Attempt>,
}

/// Progress of a target's jobs, in the order things happen.
#[derive(Debug)]
pub enum RemoteEvent {
    Started(usize),
    Finished(usize, Box<RemoteResult>),
}

/// Runs a remote target's jobs. The runner calls it from its own thread; events arrive on that
/// thread as jobs start and finish, in whatever order the server answers. `Break` from
/// `on_event` (the results can no longer be recorded) stops the remaining jobs.
pub trait RemoteEngine {
    fn run_jobs(
        &mut self,
        target: &RemoteTarget,
        jobs: Vec<RemoteJob>,
        cancel: &AtomicBool,
        on_event: &mut dyn FnMut(RemoteEvent) -> std::ops::ControlFlow<()>,
    ) -> Result<(), GenerateError>;
}
