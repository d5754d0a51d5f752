//! The editor's plan view: what a draft will send and cost before it runs — the same
//! `tradeoff_core::execute::preflight` as `tradeoff plan` — recomputed as the draft changes. Local token
//! counts come from a `tradeoff worker` child kept between calls, so the model stays loaded
//! while the user types.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use tradeoff_core::execute::preflight::{Preflight, preflight};
use tradeoff_core::spec::file::ExperimentFile;
use tradeoff_core::spec::load::validate_spec;
use tradeoff_core::spec::pricing::PriceTable;
use tradeoff_core::spec::resolve::{Facts, resolve};
use tradeoff_worker::{WorkerCommand, WorkerEngine};

use crate::draft::ExperimentDraft;
use crate::error::{AppCode, AppError};

/// The worker that counts local prompt tokens for the plan view, started on first use.
#[derive(Debug, Default)]
pub struct Planner {
    worker: Mutex<Option<WorkerEngine>>,
    /// The newest request's number: a request that waited for the worker while the user kept
    /// typing is dropped instead of counting a draft nobody will see.
    latest: AtomicU64,
}

impl Planner {
    /// Plans `draft` as if saved at `path` (relative model paths from its folder).
    pub fn plan(&self, binary: &Path, path: &Path, draft: ExperimentDraft) -> Result<Preflight, AppError> {
        let ticket = self.latest.fetch_add(1, Ordering::SeqCst) + 1;
        let file = ExperimentFile::try_from(draft)?;
        let prices = PriceTable::load().map_err(|e| AppError::new(AppCode::BadInput, e.to_string()))?;
        let facts = Facts {
            prices: &prices,
            model_sha256: &[],
        };
        let experiment = resolve(validate_spec(path, &file)?, &facts);
        let mut guard = self.worker.lock().unwrap_or_else(PoisonError::into_inner);
        if self.latest.load(Ordering::SeqCst) != ticket {
            return Err(AppError::new(
                AppCode::Superseded,
                "a newer draft is being planned",
            ));
        }
        if guard.is_none() {
            let command = WorkerCommand {
                program: binary.to_path_buf(),
                args: vec!["worker".into()],
            };
            let worker = WorkerEngine::start(command).map_err(|e| {
                AppError::new(
                    AppCode::Executor,
                    format!("cannot start {} worker: {e}", binary.display()),
                )
            })?;
            *guard = Some(worker);
        }
        let Some(worker) = guard.as_mut() else {
            return Err(AppError::new(
                AppCode::Executor,
                "the token-counting worker is not running",
            ));
        };
        let planned = preflight(&experiment, &prices, worker)
            .map_err(|e| AppError::new(AppCode::BadInput, e.to_string()))?;
        Ok(planned)
    }
}
