//! [`ServingWorker`]: a worker in a serving session, shared by every request a server handles.
//!
//! Submissions go to the worker as they come, from any thread; one dispatcher thread reads the
//! worker's replies and hands each submission's text and result to its own listener. When the
//! worker dies, every submission in flight ends with a `worker_crashed` error that says how,
//! and the worker is marked dead so its owner starts another.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tradeoff_core::execute::engine::{Generation, LoadReport, LoadRequest};
use tradeoff_core::execute::worker_protocol::{Reply, Request};
use tradeoff_core::run::{ErrorClass, RunError};

use crate::process::{WorkerProcess, death_error};

/// What a submission produces, in order: text pieces, then its end.
#[derive(Debug, Clone, PartialEq)]
pub enum ServedEvent {
    Text(String),
    Done(Box<Result<Generation, RunError>>),
}

/// Receives one submission's events, on the dispatcher thread: it must not block.
pub type Listener = Box<dyn FnMut(ServedEvent) + Send>;

type Listeners = Arc<Mutex<HashMap<u64, Listener>>>;

/// How long a worker may take to load the model and open its slots.
const START_LIMIT: Duration = Duration::from_secs(15 * 60);

#[derive(Debug)]
struct Shared {
    process: Mutex<Option<WorkerProcess>>,
    /// Why the worker is gone, once it is.
    dead: Mutex<Option<RunError>>,
}

pub struct ServingWorker {
    shared: Arc<Shared>,
    listeners: Listeners,
    next_id: AtomicU64,
    pid: u32,
    report: LoadReport,
}

impl std::fmt::Debug for ServingWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingWorker")
            .field("pid", &self.pid)
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ServingWorker {
    /// Opens a serving session on `process` (greeted, on a verified CPU path) for `load`.
    pub(crate) fn open(mut process: WorkerProcess, load: &LoadRequest) -> Result<ServingWorker, RunError> {
        let pid = process.pid;
        // The worker is ended and its end described: how it went, else how it exited.
        let died = |process: WorkerProcess, how: Option<String>| {
            let (status, tail) = process.end();
            let how = how.unwrap_or_else(|| crate::process::describe_exit(status));
            death_error(pid, "the start of serving", how, &tail)
        };
        if process.send(&Request::Serve(load.clone())).is_err() {
            return Err(died(process, None));
        }
        let report = match process.replies.recv_timeout(START_LIMIT) {
            Ok(Ok(Reply::Serving(report))) => report,
            Ok(Ok(Reply::Failed(error))) => return Err(error),
            // Text of an earlier generation cannot come before the session opens.
            Ok(Ok(other)) => {
                return Err(RunError::new(
                    ErrorClass::Internal,
                    format!("the worker answered `serve` with {other:?}"),
                ));
            }
            Ok(Err(malformed)) => {
                return Err(died(
                    process,
                    Some(format!("it sent a malformed reply: {malformed}")),
                ));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let how = format!(
                    "it did not load the model within {} s, so it was killed",
                    START_LIMIT.as_secs()
                );
                return Err(died(process, Some(how)));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Err(died(process, None)),
        };
        // The dispatcher owns the replies from here; the process stays shared for sending.
        let (_, empty) = std::sync::mpsc::channel();
        let replies = std::mem::replace(&mut process.replies, empty);
        let shared = Arc::new(Shared {
            process: Mutex::new(Some(process)),
            dead: Mutex::new(None),
        });
        let listeners: Listeners = Arc::default();
        {
            let (shared, listeners) = (Arc::clone(&shared), Arc::clone(&listeners));
            std::thread::spawn(move || dispatch(&replies, &shared, &listeners, pid));
        }
        Ok(ServingWorker {
            shared,
            listeners,
            next_id: AtomicU64::new(1),
            pid,
            report,
        })
    }

    /// What loading the model and its slots cost, and whether it has a chat template.
    pub fn load_report(&self) -> &LoadReport {
        &self.report
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Why the worker is gone, when it is: its owner starts another.
    pub fn dead(&self) -> Option<RunError> {
        lock(&self.shared.dead).clone()
    }

    /// Sends `request` to a slot; `listener` gets its text and its end (also when the worker
    /// dies). Returns the submission's id, for [`ServingWorker::cancel`]. The caller keeps no
    /// more submissions in flight than the session has slots.
    pub fn submit(
        &self,
        request: tradeoff_core::execute::engine::GenerateRequest,
        listener: Listener,
    ) -> Result<u64, RunError> {
        if let Some(error) = self.dead() {
            return Err(error);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.listeners).insert(id, listener);
        let sent = match lock(&self.shared.process).as_mut() {
            Some(process) => process.send(&Request::Submit { id, request }).is_ok(),
            None => false,
        };
        if !sent {
            // The dispatcher ends every listener when it sees the worker go; this one may have
            // been registered after it did.
            lock(&self.listeners).remove(&id);
            return Err(self.dead().unwrap_or_else(|| {
                RunError::new(
                    ErrorClass::WorkerCrashed,
                    format!("the inference worker (pid {}) stopped taking requests", self.pid),
                )
            }));
        }
        Ok(id)
    }

    /// Stops submission `id` (its client went away); its listener still gets its end.
    pub fn cancel(&self, id: u64) {
        if let Some(process) = lock(&self.shared.process).as_mut() {
            let _ = process.send(&Request::Cancel { id });
        }
    }
}

impl Drop for ServingWorker {
    fn drop(&mut self) {
        if let Some(mut process) = lock(&self.shared.process).take() {
            let _ = process.send(&Request::EndServe);
            // Closing its input ends the worker; `end` waits a moment, then kills it.
            process.end();
        }
    }
}

/// Routes the worker's replies to the submissions' listeners until the worker is gone.
fn dispatch(
    replies: &std::sync::mpsc::Receiver<Result<Reply, String>>,
    shared: &Shared,
    listeners: &Mutex<HashMap<u64, Listener>>,
    pid: u32,
) {
    let during = "serving";
    let ended = loop {
        match replies.recv() {
            Ok(Ok(Reply::Streamed { id, text })) => {
                if let Some(listener) = lock(listeners).get_mut(&id) {
                    listener(ServedEvent::Text(text));
                }
            }
            Ok(Ok(Reply::Served { id, result })) => {
                let listener = lock(listeners).remove(&id);
                if let Some(mut listener) = listener {
                    listener(ServedEvent::Done(Box::new(result)));
                }
            }
            Ok(Ok(Reply::ServeEnded)) => break None,
            // A refused line (a protocol slip of ours) concerns no submission.
            Ok(Ok(_)) => {}
            Ok(Err(malformed)) => break Some(format!("it sent a malformed reply: {malformed}")),
            Err(_) => break Some(String::new()),
        }
    };
    let error = match lock(&shared.process).take() {
        Some(process) => {
            let (status, tail) = process.end();
            let how = ended
                .filter(|how| !how.is_empty())
                .unwrap_or_else(|| crate::process::describe_exit(status));
            death_error(pid, during, how, &tail)
        }
        // Dropped by its owner: the session was ended on purpose.
        None => RunError::new(ErrorClass::Internal, "the serving session ended"),
    };
    *lock(&shared.dead) = Some(error.clone());
    let orphans: Vec<Listener> = lock(listeners).drain().map(|(_, l)| l).collect();
    for mut listener in orphans {
        listener(ServedEvent::Done(Box::new(Err(error.clone()))));
    }
}
