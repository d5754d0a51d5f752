//! The winner card: which config or routing policy an objective picks from a recorded
//! experiment, the runner-up and the margin with its interval, what the constraints excluded,
//! and the Pareto front. The same `WinnerExport` the CLI's `tradeoff winner` writes, so the app
//! and the CLI never disagree.

use serde::Serialize;
use specta::Type;
use tradeoff_core::analyze::winner::{Winner, WinnerExport, pick_winner};
use tradeoff_core::spec::objective::Objective;
use tradeoff_core::spec::policy::policies_of;
use tradeoff_store::Store;

use crate::dto::DifferenceView;
use crate::error::{AppCode, AppError};

#[derive(Debug, Clone, Serialize, Type)]
pub struct WinnerView {
    /// The objective used, as a person reads it (the experiment's own unless one was given).
    pub objective: String,
    pub kind: WinnerKind,
    pub label: String,
    /// A config's runs; a policy's simulated requests.
    pub runs: u32,
    /// A policy's stages (or routes) and the share of requests each answered.
    pub stages: Vec<String>,
    pub pass_rate: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub cost_per_1k_usd: Option<f64>,
    pub runner_up: Option<RunnerUpView>,
    pub excluded: Vec<ExcludedView>,
    pub pareto_front: Vec<String>,
}

/// A config wins on its measured runs; a routing policy on its simulation over them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum WinnerKind {
    Config,
    Policy,
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

/// The winner of experiment `id` under `objective` (JSON; empty: the experiment's own), among
/// its configs and the policies its file writes.
pub fn winner_of(store: &Store, id: i64, objective: &str) -> Result<WinnerExport, AppError> {
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
    let policies = policies_of(&experiment)?;
    let (export, _) = pick_winner(&experiment, &report, &policies, &objective)?;
    Ok(export)
}

impl WinnerView {
    pub fn new(export: &WinnerExport) -> WinnerView {
        let chosen = match &export.winner {
            Winner::Config(config) => {
                let s = &config.summary;
                Chosen {
                    kind: WinnerKind::Config,
                    label: format!("{} · {} · {}", s.variant, s.target, s.settings_label),
                    runs: s.runs,
                    stages: Vec::new(),
                    pass_rate: s.pass_rate,
                    latency_p95_ms: s.latency_p95_ms,
                    cost_per_1k_usd: s.cost_per_1k_usd,
                }
            }
            Winner::Policy(policy) => {
                let s = &policy.simulated;
                Chosen {
                    kind: WinnerKind::Policy,
                    label: format!("{} {}", s.kind.name(), s.id),
                    runs: s.stages.iter().map(|stage| stage.answered).sum(),
                    stages: s
                        .stages
                        .iter()
                        .map(|stage| format!("{} answered {:.0}%", stage.stage, stage.share * 100.0))
                        .collect(),
                    pass_rate: s.pass_rate.map(|e| e.value),
                    latency_p95_ms: s.latency_p95_ms.map(|e| e.value),
                    cost_per_1k_usd: s.cost_per_1k_usd.map(|e| e.value),
                }
            }
        };
        WinnerView {
            objective: export.objective.to_string(),
            kind: chosen.kind,
            label: chosen.label,
            runs: chosen.runs as u32,
            stages: chosen.stages,
            pass_rate: chosen.pass_rate,
            latency_p95_ms: chosen.latency_p95_ms,
            cost_per_1k_usd: chosen.cost_per_1k_usd,
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

/// The figures the card shows, from a config's summary or a policy's simulation.
struct Chosen {
    kind: WinnerKind,
    label: String,
    runs: usize,
    stages: Vec<String>,
    pass_rate: Option<f64>,
    latency_p95_ms: Option<f64>,
    cost_per_1k_usd: Option<f64>,
}
