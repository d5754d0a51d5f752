//! What a routing policy would have done on the recorded runs: every request (case ×
//! repetition) walked through the policy's stages, each stage answered by the run recorded for
//! its config, with no model call. The figures sit beside every single config's, computed by the
//! same code (a config is a one-stage policy), with bootstrap intervals over cases.
//!
//! A request's latency is the sum of the stages it went through, its TTFT the earlier stages'
//! latency plus the answering stage's TTFT, its cost the sum of their costs. Like the config
//! summaries, a request whose answer is an error counts against the pass rate but not in latency
//! or cost, and neither do cache hits (no call was made).

mod intervals;
mod sweep;
#[cfg(test)]
mod tests;
mod walk;

use serde::{Deserialize, Serialize};

use crate::analyze::report::RunRow;
use crate::spec::experiment::Experiment;
use crate::spec::matrix::Plan;
use crate::spec::policy::{ConfigRef, Policy, PolicyPlan, Stage};

pub use crate::spec::policy::Signal;
pub use intervals::{Estimate, RESAMPLES};
pub use sweep::{FOLDS, Figures, Picked, Point, Sweep};

/// Every policy and every config of an experiment, simulated on its recorded runs.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Serialize)]
pub struct RoutingReport {
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub experiment_id: i64,
    /// Requests each policy answers: cases × repetitions.
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub requests: usize,
    pub policies: Vec<Outcome>,
    pub configs: Vec<Outcome>,
    /// Threshold traces, when asked for (`--sweep`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sweeps: Vec<Sweep>,
}

/// One policy's (or config's) figures over the recorded requests.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The policy's id, or the config's label.
    pub id: String,
    pub kind: OutcomeKind,
    /// Why the figures are absent: runs missing for some request, a signal not recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
    pub pass_rate: Option<Estimate>,
    /// Requests whose answer is an error.
    pub error_rate: Option<Estimate>,
    pub cost_per_1k_usd: Option<Estimate>,
    pub latency_p50_ms: Option<Estimate>,
    pub latency_p95_ms: Option<Estimate>,
    pub latency_p99_ms: Option<Estimate>,
    pub ttft_p50_ms: Option<Estimate>,
    pub ttft_p95_ms: Option<Estimate>,
    /// Each stage (or route) and how many requests it answered.
    pub stages: Vec<StageShare>,
}

/// What was simulated: a policy (as written) or a config alone.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Cascade,
    Route,
    Config,
}

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageShare {
    pub stage: String,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub answered: usize,
    pub share: f64,
}

impl OutcomeKind {
    pub fn of(policy: &Policy) -> OutcomeKind {
        match policy.plan {
            PolicyPlan::Cascade(_) => OutcomeKind::Cascade,
            PolicyPlan::Route(_) => OutcomeKind::Route,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            OutcomeKind::Cascade => "cascade",
            OutcomeKind::Route => "route",
            OutcomeKind::Config => "config",
        }
    }
}

/// Simulates `policies` (and every config of the plan, as a one-stage policy) on the recorded
/// runs of experiment `experiment_id`. Deterministic: the bootstrap is seeded.
pub fn simulate(
    experiment: &Experiment,
    experiment_id: i64,
    runs: &[RunRow],
    policies: &[Policy],
) -> RoutingReport {
    let plan = Plan::new(experiment);
    let labels = plan.config_labels(experiment);
    let runs = walk::RunIndex::new(runs);
    let requests = experiment.cases.len() * experiment.repetitions as usize;
    let singles: Vec<Policy> = plan
        .configs
        .iter()
        .zip(&labels)
        .enumerate()
        .map(|(index, (config, label))| single(experiment, index, config, label))
        .collect();
    let outcome = |policy: &Policy, kind: OutcomeKind| {
        let walked = walk::walk(experiment, &runs, policy);
        intervals::outcome(policy, kind, walked, experiment.cases.len())
    };
    let all: Vec<(&Policy, OutcomeKind)> = policies
        .iter()
        .map(|p| (p, OutcomeKind::of(p)))
        .chain(singles.iter().map(|p| (p, OutcomeKind::Config)))
        .collect();
    // Each outcome's bootstrap is independent: they are spread over the cores, every n-th to
    // one thread, and put back in order.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(all.len().max(1));
    let mut computed: Vec<(usize, Outcome)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|first| {
                let (all, outcome) = (&all, &outcome);
                scope.spawn(move || {
                    (first..all.len())
                        .step_by(threads)
                        .map(|i| (i, outcome(all[i].0, all[i].1)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    computed.sort_by_key(|(i, _)| *i);
    let mut outcomes = computed.into_iter().map(|(_, outcome)| outcome);
    let policies: Vec<Outcome> = outcomes.by_ref().take(policies.len()).collect();
    let configs: Vec<Outcome> = outcomes.collect();
    RoutingReport {
        experiment_id,
        requests,
        policies,
        configs,
        sweeps: Vec::new(),
    }
}

/// Each request's latency under `policy`, answers that are errors or came from the cache left
/// out (as a config's latencies are); empty when the policy cannot be walked on these runs.
pub fn latencies(experiment: &Experiment, runs: &[RunRow], policy: &Policy) -> Vec<f64> {
    let runs = walk::RunIndex::new(runs);
    walk::walk(experiment, &runs, policy)
        .map(|requests| requests.iter().filter_map(|r| r.latency_ms).collect())
        .unwrap_or_default()
}

/// Traces the `signal` threshold of every cascade that escalates on it, picking the cheapest
/// threshold that keeps `min_pass_rate` (default: the cascade's pass rate when everything
/// escalates) on all cases and, k-fold, on held-out cases. A policy that cannot be walked on
/// these runs is left out (its outcome says why).
pub fn sweep_thresholds(
    experiment: &Experiment,
    runs: &[RunRow],
    policies: &[Policy],
    signal: Signal,
    min_pass_rate: Option<f64>,
) -> Vec<Sweep> {
    let runs = walk::RunIndex::new(runs);
    policies
        .iter()
        .filter_map(|policy| {
            sweep::sweep(experiment, &runs, policy, signal, min_pass_rate)
                .ok()
                .flatten()
        })
        .collect()
}

/// A config as the policy "always this config".
fn single(
    experiment: &Experiment,
    index: usize,
    config: &crate::spec::matrix::Config,
    label: &str,
) -> Policy {
    let config = ConfigRef {
        variant: experiment.variants[config.variant].id.clone(),
        target: experiment.targets[config.target].id.clone(),
        settings: config.settings,
        index,
        label: label.to_string(),
    };
    Policy {
        id: label.to_string(),
        spec: crate::spec::file::policies::PolicySpec {
            id: label.to_string(),
            description: None,
            cascade: None,
            route: None,
        },
        plan: PolicyPlan::Cascade(vec![Stage::Model {
            config,
            escalate_when: Vec::new(),
        }]),
    }
}
