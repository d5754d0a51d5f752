//! The editor's plan view: what a draft will send and cost before it runs — the same
//! `tradeoff_core::execute::preflight` as `tradeoff plan` — recomputed as the draft changes. Local token
//! counts come from a `tradeoff worker` child kept between calls, so the model stays loaded
//! while the user types.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use specta::Type;
use tradeoff_core::execute::preflight::{Preflight, preflight};
use tradeoff_core::spec::file::ExperimentFile;
use tradeoff_core::spec::load::validate_spec;
use tradeoff_core::spec::pricing::PriceTable;
use tradeoff_worker::{WorkerCommand, WorkerEngine};

use crate::draft::ExperimentDraft;
use crate::error::{AppCode, AppError};

#[derive(Debug, Clone, Serialize, Type)]
pub struct PlanView {
    pub runs: u32,
    pub repetitions: u32,
    pub configs: Vec<PlannedConfigView>,
    pub cells: Vec<PlannedCellView>,
    /// Every run's token-price bound summed; `None` without token prices.
    pub max_token_cost_usd: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct PlannedConfigView {
    pub config: String,
    pub memory_bytes: Option<f64>,
    pub fits_memory: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct PlannedCellView {
    pub config: String,
    pub case: String,
    pub input_tokens: Option<u32>,
    pub tokens_estimated: bool,
    pub counted_by: Option<String>,
    pub max_tokens: u32,
    pub n_ctx: Option<u32>,
    pub fits_context: Option<bool>,
    pub max_token_cost_usd: Option<f64>,
    pub problem: Option<String>,
}

impl From<Preflight> for PlanView {
    fn from(p: Preflight) -> Self {
        PlanView {
            runs: u32::try_from(p.runs).unwrap_or(u32::MAX),
            repetitions: p.repetitions,
            configs: p
                .configs
                .into_iter()
                .map(|c| PlannedConfigView {
                    config: c.config,
                    memory_bytes: c.memory_bytes.map(|b| b as f64),
                    fits_memory: c.fits_memory,
                })
                .collect(),
            cells: p
                .cells
                .into_iter()
                .map(|c| PlannedCellView {
                    config: c.config,
                    case: c.case,
                    input_tokens: c.input_tokens,
                    tokens_estimated: c.tokens_estimated,
                    counted_by: c.counted_by,
                    max_tokens: c.max_tokens,
                    n_ctx: c.n_ctx,
                    fits_context: c.fits_context,
                    max_token_cost_usd: c.max_token_cost_usd,
                    problem: c.problem,
                })
                .collect(),
            max_token_cost_usd: p.max_token_cost_usd,
        }
    }
}

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
    pub fn plan(&self, binary: &Path, path: &Path, draft: ExperimentDraft) -> Result<PlanView, AppError> {
        let ticket = self.latest.fetch_add(1, Ordering::SeqCst) + 1;
        let file = ExperimentFile::try_from(draft)?;
        let experiment = validate_spec(path, &file)?;
        let prices = PriceTable::load().map_err(|e| AppError::new(AppCode::BadInput, e.to_string()))?;
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
        Ok(planned.into())
    }
}
