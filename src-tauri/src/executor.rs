//! Runs experiments in a `tradeoff run --events` child process and turns its event stream into
//! batched progress for the UI. The app never links llama.cpp: a crash there ends the child,
//! and every run it finished is already in the database.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tradeoff_core::execute::events::RunEvent;
use tradeoff_core::execute::resume::ExperimentStatus;

use crate::child::{BoundedLines, Line, MAX_EVENT_LINE_BYTES, STDERR_TAIL_BYTES, spawn_tail};
use crate::dto::{ProgressEvent, RunOutcomeView, id32};
use crate::error::{AppCode, AppError};

/// Streamed text reaches the UI at most this often (4 Hz), never once per token. Every update
/// repaints the window, and on a machine with few cores the repaint takes CPU from the very run
/// it shows (issue 14: at 20 Hz the webview used a third of a core during an in-app run).
const TEXT_INTERVAL: Duration = Duration::from_millis(250);
/// The live preview keeps the end of the run's text: a long generation is recorded whole in the
/// database, but resending all of it 4 times a second would grow without bound.
const LIVE_TEXT_BYTES: usize = 16 * 1024;

/// The `tradeoff` binary: `$TRADEOFF_BIN`, else next to the app's own executable, else `PATH`.
pub fn tradeoff_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TRADEOFF_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("tradeoff")))
        .filter(|candidate| candidate.exists())
        .unwrap_or_else(|| PathBuf::from("tradeoff"))
}

/// `--name=path` as one argument: a value joined to its option is never read as an option,
/// whatever it starts with.
pub fn path_option(name: &str, path: &Path) -> OsString {
    let mut argument = OsString::from(name);
    argument.push("=");
    argument.push(path);
    argument
}

/// The process of the experiment in flight, if any.
#[derive(Debug, Default)]
pub struct Running {
    pid: Mutex<Option<u32>>,
}

impl Running {
    /// Asks the running experiment to stop after its current token: the child marks the
    /// experiment cancelled and keeps every finished run.
    pub fn cancel(&self) -> Result<bool, AppError> {
        let pid = *self.pid.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(pid) = pid else { return Ok(false) };
        let pid =
            i32::try_from(pid).map_err(|_| AppError::new(AppCode::Executor, "process id out of range"))?;
        kill(Pid::from_raw(pid), Signal::SIGINT).map_err(|e| {
            AppError::new(
                AppCode::Executor,
                format!("could not signal the experiment process: {e}"),
            )
        })?;
        Ok(true)
    }
}

/// Runs the experiment file to the end (blocking), sending progress to `emit`.
pub fn run_experiment(
    binary: &Path,
    db: &Path,
    file: &Path,
    running: &Running,
    emit: &dyn Fn(ProgressEvent),
) -> Result<RunOutcomeView, AppError> {
    run_child(binary, db, Job::File(file), running, emit)
}

/// Runs the missing runs of an interrupted or cancelled experiment into the same experiment
/// (`run --resume`), sending progress to `emit`. The child refuses, with its reason, an
/// experiment whose process still runs or that is completed.
pub fn resume_experiment(
    binary: &Path,
    db: &Path,
    experiment_id: i64,
    running: &Running,
    emit: &dyn Fn(ProgressEvent),
) -> Result<RunOutcomeView, AppError> {
    run_child(binary, db, Job::Resume(experiment_id), running, emit)
}

/// What the child process runs.
#[derive(Debug, Clone, Copy)]
enum Job<'a> {
    File(&'a Path),
    Resume(i64),
}

fn run_child(
    binary: &Path,
    db: &Path,
    job: Job<'_>,
    running: &Running,
    emit: &dyn Fn(ProgressEvent),
) -> Result<RunOutcomeView, AppError> {
    let mut child = {
        let mut slot = running.pid.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_some() {
            return Err(AppError::new(AppCode::Busy, "an experiment is already running"));
        }
        // Paths after `--` (or joined to their option), so none is ever taken for an option.
        let mut command = Command::new(binary);
        command.arg("run").arg("--events").arg(path_option("--db", db));
        match job {
            Job::File(file) => command.arg("--").arg(file),
            Job::Resume(id) => command.arg(format!("--resume={id}")),
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                AppError::new(
                    AppCode::Executor,
                    format!("cannot start {}: {e}", binary.display()),
                )
            })?;
        *slot = Some(child.id());
        child
    };
    // llama.cpp can log without end: all of stderr is read, only its end is kept.
    let stderr_tail = spawn_tail(child.stderr.take(), STDERR_TAIL_BYTES);

    let mut forwarder = Forwarder::new(emit);
    let mut forward_error = None;
    if let Some(stdout) = child.stdout.take() {
        // Every line is read to the end of the stream, even after one that is not an event or
        // cannot be forwarded: a child must never block on a full pipe while we wait for it.
        for line in BoundedLines::new(stdout, MAX_EVENT_LINE_BYTES) {
            let Line::Text(line) = line else { continue };
            let Ok(event) = serde_json::from_str::<RunEvent>(&line) else {
                continue;
            };
            if let Err(error) = forwarder.forward(event) {
                forward_error.get_or_insert(error);
            }
        }
    }
    let status = child.wait();
    *running.pid.lock().unwrap_or_else(PoisonError::into_inner) = None;
    let tail = stderr_tail.join().unwrap_or_default();
    if let Some(error) = forward_error {
        return Err(error);
    }
    let status =
        status.map_err(|e| AppError::new(AppCode::Executor, format!("lost the experiment process: {e}")))?;

    if let Some(outcome) = forwarder.outcome.take() {
        return Ok(outcome);
    }
    if let Some(message) = forwarder.failure.take() {
        return Err(AppError::new(AppCode::BadInput, message));
    }
    // The process ended without saying so: it crashed. Its finished runs are recorded; the
    // experiment is marked interrupted so it does not look as if it were still running.
    if let Some(id) = forwarder.experiment_id {
        let _ = tradeoff_store::Store::open(db)
            .and_then(|store| store.finish_experiment(id, ExperimentStatus::Interrupted));
    }
    let mut error = AppError::new(
        AppCode::Executor,
        format!(
            "the experiment process ended unexpectedly ({status}); {} finished runs are recorded",
            forwarder.finished
        ),
    );
    error.details = Some(tail);
    emit(ProgressEvent::Failed {
        message: error.message.clone(),
    });
    Err(error)
}

struct Forwarder<'a> {
    emit: &'a dyn Fn(ProgressEvent),
    current: Option<(u32, u32, u32, u32, u32)>,
    experiment_id: Option<i64>,
    text: String,
    last_text: Instant,
    finished: u32,
    outcome: Option<RunOutcomeView>,
    failure: Option<String>,
}

impl<'a> Forwarder<'a> {
    fn new(emit: &'a dyn Fn(ProgressEvent)) -> Self {
        Forwarder {
            emit,
            current: None,
            experiment_id: None,
            text: String::new(),
            last_text: Instant::now(),
            finished: 0,
            outcome: None,
            failure: None,
        }
    }

    fn forward(&mut self, event: RunEvent) -> Result<(), AppError> {
        match event {
            RunEvent::Started { experiment_id, total } => {
                self.experiment_id = Some(experiment_id);
                (self.emit)(ProgressEvent::Started {
                    experiment_id: id32(experiment_id)?,
                    total: total as u32,
                });
            }
            RunEvent::Loading { target, n_ctx } => (self.emit)(ProgressEvent::Loading { target, n_ctx }),
            RunEvent::RunStarted { done, total, run } => {
                self.text.clear();
                self.current = Some((
                    done as u32,
                    total as u32,
                    run.config as u32,
                    run.case as u32,
                    run.repetition,
                ));
                self.send_text();
            }
            RunEvent::Text { chunk } => {
                self.text.push_str(&chunk);
                keep_end(&mut self.text, LIVE_TEXT_BYTES);
                if self.last_text.elapsed() >= TEXT_INTERVAL {
                    self.send_text();
                }
            }
            RunEvent::RunFinished { done, total, record } => {
                self.finished += 1;
                (self.emit)(ProgressEvent::RunFinished {
                    done: done as u32,
                    total: total as u32,
                    config: record.config as u32,
                    case: record.case as u32,
                    repetition: record.repetition,
                    output: record.output.clone(),
                    latency_ms: record.metrics.as_ref().map(|m| m.latency_ms),
                    error: record.error.as_ref().map(ToString::to_string),
                });
            }
            RunEvent::Graded { done, total } => (self.emit)(ProgressEvent::Graded {
                done: done as u32,
                total: total as u32,
            }),
            RunEvent::SearchRound { round } => (self.emit)(ProgressEvent::SearchRound {
                round: round.round,
                alive: round.alive.iter().map(|&c| c as u32).collect(),
                eliminated: round.eliminated,
                runs_used: round.runs_used as u32,
                runs_grid: round.runs_grid as u32,
            }),
            RunEvent::Finished {
                experiment_id,
                status,
            } => {
                let experiment_id = id32(experiment_id)?;
                (self.emit)(ProgressEvent::Finished {
                    experiment_id,
                    status,
                });
                self.outcome = Some(RunOutcomeView {
                    experiment_id: Some(experiment_id),
                    status,
                });
            }
            RunEvent::Failed { message } => {
                (self.emit)(ProgressEvent::Failed {
                    message: message.clone(),
                });
                self.failure = Some(message);
            }
        }
        Ok(())
    }

    fn send_text(&mut self) {
        if let Some((done, total, config, case, repetition)) = self.current {
            (self.emit)(ProgressEvent::Running {
                done,
                total,
                config,
                case,
                repetition,
                text: self.text.clone(),
            });
            self.last_text = Instant::now();
        }
    }
}

/// Cuts `text` to about its last `bytes` bytes (at a character boundary) once it is twice that,
/// so the cost of cutting is spread over many chunks.
fn keep_end(text: &mut String, bytes: usize) {
    if text.len() <= 2 * bytes {
        return;
    }
    let mut start = text.len() - bytes;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text.drain(..start);
}
