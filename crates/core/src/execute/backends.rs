//! What a run of a plan talks to, passed as one value: the local and remote engines, the sink,
//! the observer and the stop flag. The runner and the grader share it, and share the driver of
//! a remote target's jobs.

use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;

use crate::execute::engine::{GenerateError, LocalEngine};
use crate::execute::remote::{RemoteEngine, RemoteEvent, RemoteJob, RemoteResult};
use crate::execute::sink::{RunObserver, RunOutcome, RunSink, RunnerError};
use crate::format::now_rfc3339;
use crate::spec::target::remote::RemoteTarget;

/// Everything a run of a plan talks to.
pub struct Backends<'a> {
    /// Local targets (the CLI's is a worker process).
    pub local: &'a mut dyn LocalEngine,
    /// Remote targets (the CLI's is the HTTP client of `crates/remote`).
    pub remote: &'a mut dyn RemoteEngine,
    /// Where every finished run, load and judgement is recorded.
    pub sink: &'a mut dyn RunSink,
    pub observer: &'a mut dyn RunObserver,
    /// Set to stop: the run in flight ends as cancelled and nothing more starts.
    pub cancel: &'a AtomicBool,
}

impl std::fmt::Debug for Backends<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends").finish_non_exhaustive()
    }
}

/// A remote job's progress as [`run_remote_jobs`] reports it.
pub(crate) enum RemoteProgress {
    Started(usize),
    /// The job's index, when its first attempt started (RFC 3339), and its result.
    Finished(usize, Option<String>, Box<RemoteResult>),
}

/// Runs `jobs` on a remote target, reporting each start and each result with its start time;
/// an error from `on_progress` (a sink that cannot record) stops the target's other requests.
pub(crate) fn run_remote_jobs(
    remote: &mut dyn RemoteEngine,
    target: &RemoteTarget,
    jobs: Vec<RemoteJob>,
    cancel: &AtomicBool,
    on_progress: &mut dyn FnMut(RemoteProgress) -> Result<(), RunnerError>,
) -> Result<RunOutcome, RunnerError> {
    let mut started_at: Vec<Option<String>> = vec![None; jobs.len()];
    let mut failure: Option<RunnerError> = None;
    let outcome = remote.run_jobs(target, jobs, cancel, &mut |event| {
        let progress = match event {
            RemoteEvent::Started(index) => {
                if let Some(slot) = started_at.get_mut(index) {
                    *slot = Some(now_rfc3339());
                }
                RemoteProgress::Started(index)
            }
            RemoteEvent::Finished(index, result) => {
                let started = started_at.get_mut(index).and_then(Option::take);
                RemoteProgress::Finished(index, started, result)
            }
        };
        match on_progress(progress) {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => {
                failure = Some(error);
                ControlFlow::Break(())
            }
        }
    });
    if let Some(error) = failure {
        return Err(error);
    }
    match outcome {
        Ok(()) => Ok(RunOutcome::Completed),
        Err(GenerateError::Cancelled) => Ok(RunOutcome::Cancelled),
        Err(GenerateError::Failed(error)) => Err(RunnerError::Remote(error)),
    }
}
