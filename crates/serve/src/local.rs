//! The served model in one worker process: loaded once, every admitted request decoded in the
//! same batch. A worker that dies fails the requests it was decoding (their listeners say how);
//! the next request starts a new one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::{Mutex, mpsc};
use tradeoff_core::execute::engine::{GenerateRequest, LoadReport, LoadRequest};
use tradeoff_core::run::{ErrorClass, RunError};
use tradeoff_worker::{ServedEvent, ServingWorker, WorkerCommand, WorkerEngine};

#[derive(Debug)]
pub struct LocalBackend {
    command: WorkerCommand,
    load: LoadRequest,
    worker: Mutex<Arc<ServingWorker>>,
    restarts: AtomicU32,
    report: LoadReport,
}

/// One request in the worker: its events in order, and its cancellation when dropped early
/// (the client went away).
#[derive(Debug)]
pub struct Submission {
    id: u64,
    worker: Arc<ServingWorker>,
    events: mpsc::UnboundedReceiver<ServedEvent>,
    ended: bool,
}

impl Submission {
    /// The next event; after `Done` there is none.
    pub async fn next(&mut self) -> Option<ServedEvent> {
        let event = self.events.recv().await;
        if matches!(event, Some(ServedEvent::Done(_)) | None) {
            self.ended = true;
        }
        event
    }
}

impl Drop for Submission {
    fn drop(&mut self) {
        if !self.ended {
            self.worker.cancel(self.id);
        }
    }
}

impl LocalBackend {
    /// Starts the worker and loads the model (the CPU path proved first).
    pub async fn start(command: WorkerCommand, load: LoadRequest) -> Result<LocalBackend, RunError> {
        let worker = start_worker(command.clone(), load.clone()).await?;
        let report = worker.load_report().clone();
        Ok(LocalBackend {
            command,
            load,
            worker: Mutex::new(Arc::new(worker)),
            restarts: AtomicU32::new(0),
            report,
        })
    }

    /// What loading cost, and whether the model has a chat template.
    pub fn load_report(&self) -> &LoadReport {
        &self.report
    }

    /// Workers started after one died.
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Sends `request` to the worker (a new one if it died); the caller holds a slot.
    pub async fn submit(&self, request: GenerateRequest) -> Result<Submission, RunError> {
        let worker = self.live_worker().await?;
        let (sender, events) = mpsc::unbounded_channel();
        let id = worker.submit(
            request,
            Box::new(move |event| {
                let _ = sender.send(event);
            }),
        )?;
        Ok(Submission {
            id,
            worker,
            events,
            ended: false,
        })
    }

    async fn live_worker(&self) -> Result<Arc<ServingWorker>, RunError> {
        let mut current = self.worker.lock().await;
        if current.dead().is_some() {
            let replacement = start_worker(self.command.clone(), self.load.clone()).await?;
            *current = Arc::new(replacement);
            self.restarts.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Arc::clone(&current))
    }
}

async fn start_worker(command: WorkerCommand, load: LoadRequest) -> Result<ServingWorker, RunError> {
    tokio::task::spawn_blocking(move || {
        let engine = WorkerEngine::start(command)
            .map_err(|e| RunError::new(ErrorClass::WorkerCrashed, e.to_string()))?;
        engine.into_serving(&load)
    })
    .await
    .map_err(|e| RunError::new(ErrorClass::Internal, format!("starting the worker: {e}")))?
}
