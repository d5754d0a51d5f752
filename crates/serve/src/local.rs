//! The served model in one worker process: loaded once, every admitted request decoded in the
//! same batch. A worker that dies fails the requests it was decoding (their listeners say how);
//! the next request starts a new one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::{Mutex, mpsc};
use tradeoff_core::execute::engine::{GenerateRequest, LoadReport, LoadRequest};
use tradeoff_core::run::{ErrorClass, RunError};
use tradeoff_core::spec::experiment::{ChatTemplateChoice, Sampling};
use tradeoff_core::spec::prompt::RenderedPrompt;
use tradeoff_worker::{ServingWorker, WorkerCommand, WorkerEngine};

use crate::backend::Submission;

#[derive(Debug)]
pub struct LocalBackend {
    command: WorkerCommand,
    load: LoadRequest,
    chat_template: ChatTemplateChoice,
    worker: Mutex<Arc<ServingWorker>>,
    restarts: AtomicU32,
    report: LoadReport,
}

impl LocalBackend {
    /// Starts the worker and loads the model (the CPU path proved first).
    pub async fn start(
        command: WorkerCommand,
        load: LoadRequest,
        chat_template: ChatTemplateChoice,
    ) -> Result<LocalBackend, RunError> {
        let worker = start_worker(command.clone(), load.clone()).await?;
        let report = worker.load_report().clone();
        Ok(LocalBackend {
            command,
            load,
            chat_template,
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

    /// Sends a generation of `prompt` to the worker (a new one if it died); the caller holds a
    /// slot.
    pub async fn submit(&self, prompt: RenderedPrompt, sampling: Sampling) -> Result<Submission, RunError> {
        let worker = self.live_worker().await?;
        let (sender, events) = mpsc::unbounded_channel();
        let request = GenerateRequest {
            load: self.load.clone(),
            prompt,
            chat_template: self.chat_template.clone(),
            sampling,
        };
        let id = worker.submit(
            request,
            Box::new(move |event| {
                let _ = sender.send(event);
            }),
        )?;
        Ok(Submission::new(events, Box::new(move || worker.cancel(id))))
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
