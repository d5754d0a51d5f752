//! The winner card: which config an objective picks from a recorded experiment, the runner-up
//! and the margin with its interval, what the constraints excluded, and the Pareto front. The
//! same `WinnerExport` the CLI's `tradeoff winner` writes, so the app and the CLI never disagree.

use serde::Serialize;
use specta::Type;
use tradeoff_core::analyze::ranking::decide;
use tradeoff_core::analyze::winner::{WinnerError, WinnerExport, winner_export};
use tradeoff_core::spec::objective::Objective;
use tradeoff_store::Store;

use crate::dto::DifferenceView;
use crate::error::{AppCode, AppError};

#[derive(Debug, Clone, Serialize, Type)]
pub struct WinnerView {
    /// The objective used, as a person reads it (the experiment's own unless one was given).
    pub objective: String,
    /// The winner's config index and label.
    pub config: u32,
    pub label: String,
    pub runs: u32,
    pub pass_rate: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub cost_per_1k_usd: Option<f64>,
    pub runner_up: Option<RunnerUpView>,
    pub excluded: Vec<ExcludedView>,
    pub pareto_front: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct RunnerUpView {
    pub label: String,
    /// Winner minus runner-up, median latency, with its 95 % interval.
    pub latency: DifferenceView,
    pub pass_rate_margin: Option<f64>,
    pub cost_per_run_margin_usd: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct ExcludedView {
    pub label: String,
    pub reason: String,
}

/// The winner of experiment `id` under `objective` (JSON; empty: the experiment's own), with
/// the winner's config index.
pub fn winner_of(store: &Store, id: i64, objective: &str) -> Result<(WinnerExport, usize), AppError> {
    let experiment = store.experiment(id)?;
    let report = store.report(id)?;
    let objective: Objective = if objective.trim().is_empty() {
        experiment.objective.clone().unwrap_or_default()
    } else {
        serde_json::from_str(objective).map_err(|e| {
            AppError::new(
                AppCode::BadInput,
                format!(
                    "objective: {e}; write it as JSON, e.g. {{\"constraints\": [\"pass_rate >= 0.9\"], \"order\": [\"cheapest\", \"fastest\"]}}"
                ),
            )
        })?
    };
    let decision = decide(&report, &objective)
        .map_err(|e| AppError::new(AppCode::BadInput, format!("objective: {e}")))?;
    let export = winner_export(&experiment, &report, &objective, &decision).map_err(|e| match e {
        WinnerError::NoWinner(_) => AppError::new(AppCode::NoWinner, e.to_string()),
        WinnerError::Export(e) => AppError::from(e),
    })?;
    Ok((export, decision.winner().unwrap_or_default()))
}

impl WinnerView {
    pub fn new(export: &WinnerExport, config: usize) -> WinnerView {
        let s = &export.winner.summary;
        WinnerView {
            objective: export.objective.to_string(),
            config: config as u32,
            label: format!("{} · {} · {}", s.variant, s.target, s.settings_label),
            runs: s.runs as u32,
            pass_rate: s.pass_rate,
            latency_p95_ms: s.latency_p95_ms,
            cost_per_1k_usd: s.cost_per_1k_usd,
            runner_up: export.runner_up.as_ref().map(|r| RunnerUpView {
                label: r.label.clone(),
                latency: DifferenceView::new(&r.latency_ms),
                pass_rate_margin: r.pass_rate_margin,
                cost_per_run_margin_usd: r.cost_per_run_margin_usd,
            }),
            excluded: export
                .excluded
                .iter()
                .map(|e| ExcludedView {
                    label: e.label.clone(),
                    reason: e.reason.clone(),
                })
                .collect(),
            pareto_front: export.pareto_front.clone(),
        }
    }
}
