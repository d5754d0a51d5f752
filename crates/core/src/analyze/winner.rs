//! The winner file: the config an objective picked, with everything needed to deploy it and
//! to defend the choice (its measured summary, the runner-up and the margin with its interval,
//! the objective, provenance). It never holds a secret: targets name environment variables,
//! never keys. `schemas/winner.schema.json` describes it; a test validates against it.

use serde::{Deserialize, Serialize};

use crate::analyze::compare::{Difference, difference};
use crate::analyze::export::{ConfigExport, ExportError, export_config};
use crate::analyze::ranking::{Decision, Excluded};
use crate::analyze::report::Report;
use crate::spec::experiment::Experiment;
use crate::spec::objective::Objective;

pub const WINNER_SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WinnerExport {
    pub schema: u32,
    pub kind: String,
    pub objective: Objective,
    /// Variant templates, target with every setting, measured summary, provenance.
    pub winner: ConfigExport,
    pub runner_up: Option<RunnerUp>,
    /// Configs excluded by the constraints, and why.
    pub excluded: Vec<ExcludedConfig>,
    /// Labels of the configs on the Pareto front of quality, cost and p95 latency.
    pub pareto_front: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerUp {
    pub label: String,
    pub pass_rate: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub cost_per_run_usd: Option<f64>,
    /// Winner minus runner-up: median latency with its 95 % bootstrap interval.
    pub latency_ms: Difference,
    pub pass_rate_margin: Option<f64>,
    pub cost_per_run_margin_usd: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExcludedConfig {
    pub label: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WinnerError {
    #[error(
        "no config meets the objective's constraints ({}); relax them or add configs",
        .0.join("; ")
    )]
    NoWinner(Vec<String>),
    #[error(transparent)]
    Export(#[from] ExportError),
}

pub fn winner_export(
    experiment: &Experiment,
    report: &Report,
    objective: &Objective,
    decision: &Decision,
) -> Result<WinnerExport, WinnerError> {
    let label = |index: usize| {
        report
            .configs
            .get(index)
            .map(|c| format!("{} · {} · {}", c.variant, c.target, c.settings_label))
            .unwrap_or_default()
    };
    let excluded: Vec<ExcludedConfig> = decision
        .excluded
        .iter()
        .map(|Excluded { config, reason }| ExcludedConfig {
            label: label(*config),
            reason: reason.clone(),
        })
        .collect();
    let Some(winner) = decision.winner() else {
        return Err(WinnerError::NoWinner(
            excluded
                .iter()
                .map(|e| format!("{}: {}", e.label, e.reason))
                .collect(),
        ));
    };
    let latencies = |index: usize| report.samples(index, |m| Some(m.latency_ms));
    let runner_up = decision.runner_up().map(|other| {
        let (w, r) = (&report.configs[winner], &report.configs[other]);
        RunnerUp {
            label: label(other),
            pass_rate: r.pass_rate,
            latency_p95_ms: r.latency_p95_ms,
            cost_per_run_usd: r.cost_per_run_usd,
            latency_ms: difference(&latencies(other), &latencies(winner)),
            pass_rate_margin: w.pass_rate.zip(r.pass_rate).map(|(a, b)| a - b),
            cost_per_run_margin_usd: w.cost_per_run_usd.zip(r.cost_per_run_usd).map(|(a, b)| a - b),
        }
    });
    Ok(WinnerExport {
        schema: WINNER_SCHEMA,
        kind: "tradeoff.winner".into(),
        objective: objective.clone(),
        winner: export_config(experiment, report, winner)?,
        runner_up,
        excluded,
        pareto_front: decision.pareto_front.iter().map(|i| label(*i)).collect(),
    })
}
