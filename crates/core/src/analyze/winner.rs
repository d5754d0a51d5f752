//! The winner file: the config or routing policy an objective picked, with everything needed to
//! deploy it and to defend the choice (its measured or simulated figures, the runner-up and the
//! margin with its interval, the objective, provenance). It never holds a secret: targets name environment variables,
//! never keys. `schemas/winner.schema.json` describes it; a test validates against it.

use serde::{Deserialize, Serialize};

use crate::analyze::compare::{Difference, difference};
use crate::analyze::export::{ConfigExport, ExportError, export_config};
use crate::analyze::ranking::{Candidate, Excluded, decide};
use crate::analyze::report::Report;
use crate::analyze::routing::{self, Outcome};
use crate::spec::experiment::{Experiment, ExperimentError, TargetKind};
use crate::spec::file::policies::PolicySpec;
use crate::spec::objective::{Objective, ObjectiveError};
use crate::spec::policy::{ConfigCandidate, Policy, policy_over_configs};

/// 2: routing policies compete; `winner` says its `kind` (`config` or `policy`).
pub const WINNER_SCHEMA: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WinnerExport {
    pub schema: u32,
    pub kind: String,
    pub objective: Objective,
    pub winner: Winner,
    pub runner_up: Option<RunnerUp>,
    /// Configs and policies excluded by the constraints, and why.
    pub excluded: Vec<ExcludedCandidate>,
    /// Labels of the configs and policies on the Pareto front of quality, cost and p95 latency.
    pub pareto_front: Vec<String>,
}

/// What the objective picked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Winner {
    /// Variant templates, target with every setting, measured summary, provenance.
    Config(Box<ConfigExport>),
    Policy(Box<PolicyExport>),
}

/// A routing policy that won: what to deploy (the policy as written, each config it calls) and
/// the evidence (its simulation on the recorded runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyExport {
    pub experiment_id: i64,
    pub experiment: String,
    /// As written: its stages or routes, their rules, escalation conditions and thresholds.
    pub policy: PolicySpec,
    /// Every config a stage or route calls, in stage order, each with its template, narrowed
    /// target and measured summary.
    pub configs: Vec<ConfigExport>,
    /// Its figures on the recorded runs with 95 % intervals over cases, and each stage's share.
    pub simulated: Outcome,
}

impl PolicyExport {
    /// The policy as a server runs it, its stages resolved to `configs` (`ConfigRef::index` is
    /// the place in them); `origin` names the file in errors.
    pub fn resolve(&self, origin: &str) -> Result<Policy, ExperimentError> {
        let candidates = self
            .configs
            .iter()
            .map(|config| ConfigCandidate {
                variant: config.variant.id.clone(),
                target: config.target.id.clone(),
                settings: config.settings,
                remote: matches!(config.target.kind, TargetKind::Remote(_)),
                label: format!(
                    "{} · {} · {}",
                    config.summary.variant, config.summary.target, config.summary.settings_label
                ),
            })
            .collect();
        policy_over_configs(&self.policy, candidates, origin)
    }
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
pub struct ExcludedCandidate {
    pub label: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WinnerError {
    #[error(
        "no config or policy meets the objective's constraints ({}); relax them or add configs",
        .0.join("; ")
    )]
    NoWinner(Vec<String>),
    #[error("objective: {0}")]
    Objective(#[from] ObjectiveError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("{0}")]
    Read(String),
}

/// The winner of a recorded experiment under `objective`, among its configs and `policies`
/// (each simulated on the recorded runs, as `tradeoff route` does), with what it beat.
pub fn pick_winner(
    experiment: &Experiment,
    report: &Report,
    policies: &[Policy],
    objective: &Objective,
) -> Result<(WinnerExport, Candidate), WinnerError> {
    let simulated = if policies.is_empty() {
        Vec::new()
    } else {
        routing::simulate(experiment, report.experiment_id, &report.runs, policies).policies
    };
    let decision = decide(report, &simulated, objective)?;
    let contest = Contest {
        experiment,
        report,
        policies,
        simulated: &simulated,
    };
    let excluded: Vec<ExcludedCandidate> = decision
        .excluded
        .iter()
        .map(|Excluded { candidate, reason }| ExcludedCandidate {
            label: contest.label(*candidate),
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
    let runner_up = decision.runner_up().map(|other| {
        let (w, r) = (contest.figures(winner), contest.figures(other));
        RunnerUp {
            label: contest.label(other),
            pass_rate: r.pass_rate,
            latency_p95_ms: r.latency_p95_ms,
            cost_per_run_usd: r.cost_per_run_usd,
            latency_ms: difference(&contest.latencies(other), &contest.latencies(winner)),
            pass_rate_margin: w.pass_rate.zip(r.pass_rate).map(|(a, b)| a - b),
            cost_per_run_margin_usd: w.cost_per_run_usd.zip(r.cost_per_run_usd).map(|(a, b)| a - b),
        }
    });
    let export = WinnerExport {
        schema: WINNER_SCHEMA,
        kind: "tradeoff.winner".into(),
        objective: objective.clone(),
        winner: contest.export(winner)?,
        runner_up,
        excluded,
        pareto_front: decision.pareto_front.iter().map(|c| contest.label(*c)).collect(),
    };
    Ok((export, winner))
}

/// Reads a winner file this or an earlier Tradeoff wrote: schema 1 held a config only.
pub fn read_winner(text: &str) -> Result<WinnerExport, WinnerError> {
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| WinnerError::Read(format!("not JSON: {e}")))?;
    if value["kind"] != "tradeoff.winner" {
        return Err(WinnerError::Read(
            "not a winner file (its `kind` is not \"tradeoff.winner\"); write one with `tradeoff winner -o`"
                .into(),
        ));
    }
    match value["schema"].as_u64() {
        Some(1) => {
            if let Some(winner) = value["winner"].as_object_mut() {
                winner.insert("kind".into(), "config".into());
            }
        }
        Some(2) => {}
        other => {
            return Err(WinnerError::Read(format!(
                "schema {}: this Tradeoff reads winner files of schema 1 and 2; a newer Tradeoff wrote it",
                other.map_or("missing".to_string(), |n| n.to_string())
            )));
        }
    }
    serde_json::from_value(value).map_err(|e| WinnerError::Read(e.to_string()))
}

/// The configs and simulated policies competing, by [`Candidate`].
struct Contest<'a> {
    experiment: &'a Experiment,
    report: &'a Report,
    policies: &'a [Policy],
    simulated: &'a [Outcome],
}

/// A candidate's figures the runner-up is compared on.
struct Figures {
    pass_rate: Option<f64>,
    latency_p95_ms: Option<f64>,
    cost_per_run_usd: Option<f64>,
}

impl Contest<'_> {
    fn label(&self, candidate: Candidate) -> String {
        match candidate {
            Candidate::Config(index) => self
                .report
                .configs
                .get(index)
                .map(|c| format!("{} · {} · {}", c.variant, c.target, c.settings_label))
                .unwrap_or_default(),
            Candidate::Policy(index) => self
                .simulated
                .get(index)
                .map(|p| format!("{} {}", p.kind.name(), p.id))
                .unwrap_or_default(),
        }
    }

    fn figures(&self, candidate: Candidate) -> Figures {
        use crate::analyze::ranking::Measured;
        use crate::spec::objective::Metric;
        let measured: Option<&dyn Measured> = match candidate {
            Candidate::Config(i) => self.report.configs.get(i).map(|c| c as &dyn Measured),
            Candidate::Policy(i) => self.simulated.get(i).map(|p| p as &dyn Measured),
        };
        let metric = |m: Metric| measured.and_then(|s| s.metric(m));
        Figures {
            pass_rate: metric(Metric::PassRate),
            latency_p95_ms: metric(Metric::P95LatencyMs),
            cost_per_run_usd: metric(Metric::CostPerRunUsd),
        }
    }

    /// Every measured latency: a config's runs, a policy's requests.
    fn latencies(&self, candidate: Candidate) -> Vec<f64> {
        match candidate {
            Candidate::Config(i) => self.report.samples(i, |m| Some(m.latency_ms)),
            Candidate::Policy(i) => self
                .policies
                .get(i)
                .map(|p| routing::latencies(self.experiment, &self.report.runs, p))
                .unwrap_or_default(),
        }
    }

    fn export(&self, candidate: Candidate) -> Result<Winner, ExportError> {
        let index = match candidate {
            Candidate::Config(index) => {
                let config = export_config(self.experiment, self.report, index)?;
                return Ok(Winner::Config(Box::new(config)));
            }
            Candidate::Policy(index) => index,
        };
        let (Some(policy), Some(simulated)) = (self.policies.get(index), self.simulated.get(index)) else {
            return Err(ExportError::NoSuchPolicy {
                experiment_id: self.report.experiment_id,
                index,
            });
        };
        let mut configs = Vec::new();
        let mut exported = Vec::new();
        for config in policy.configs() {
            let at = self.report.configs.iter().position(|c| {
                c.variant == config.variant && c.target == config.target && c.settings == config.settings
            });
            let Some(at) = at else {
                return Err(ExportError::PolicyConfigMissing {
                    policy: policy.id.clone(),
                    config: config.label.clone(),
                });
            };
            if !exported.contains(&at) {
                exported.push(at);
                configs.push(export_config(self.experiment, self.report, at)?);
            }
        }
        Ok(Winner::Policy(Box::new(PolicyExport {
            experiment_id: self.report.experiment_id,
            experiment: self.report.name.clone(),
            policy: policy.spec.clone(),
            configs,
            simulated: simulated.clone(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let root = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        let path = std::path::Path::new(&root)
            .join("../../fixtures/winners")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn a_schema_1_winner_file_is_still_read_as_a_config_winner() {
        let read = read_winner(&fixture("schema-1.json")).unwrap();
        assert_eq!(read.schema, 1);
        let Winner::Config(config) = &read.winner else {
            panic!("{:?}", read.winner)
        };
        assert_eq!(config.variant.id, "fewshot");
        assert_eq!(config.summary.runs, 8);
        // Written again, it is a schema-2 file that reads back the same.
        let again = WinnerExport {
            schema: WINNER_SCHEMA,
            ..read.clone()
        };
        let text = serde_json::to_string(&again).unwrap();
        assert!(text.contains(r#""winner":{"kind":"config""#), "{text}");
        assert_eq!(read_winner(&text).unwrap(), again);
    }

    #[test]
    fn a_file_that_is_not_a_winner_or_is_from_a_newer_tradeoff_is_refused_with_the_reason() {
        for (text, expected) in [
            ("{", "not JSON"),
            (r#"{"kind": "tradeoff.experiment"}"#, "not a winner file"),
            (
                r#"{"kind": "tradeoff.winner", "schema": 3}"#,
                "schema 3: this Tradeoff reads",
            ),
            (r#"{"kind": "tradeoff.winner"}"#, "schema missing"),
        ] {
            let error = read_winner(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
