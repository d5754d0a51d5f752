//! A routing policy run for real (`tradeoff route run`): every request goes through the stages
//! as a deployment would send it, and each stage's call is recorded as a run of its config. The
//! stages run one after another over all the requests still open: a stage's decision reads only
//! its own answer, so the calls are the same as request by request, and each config's runs
//! share one loaded model.
//!
//! The recorded runs answer the policy through the same walk the simulation uses, so live and
//! simulated figures are computed alike and can be set side by side.

use std::collections::BTreeSet;

use crate::execute::backends::Backends;
use crate::execute::record::RunRecord;
use crate::execute::runner::run_experiment;
use crate::execute::sink::{Capture, RunOutcome, RunnerError};
use crate::spec::experiment::{Experiment, TargetKind};
use crate::spec::matrix::Plan;
use crate::spec::policy::{Answer, Policy, PolicyPlan, Stage, escalates};

/// What a policy run did: how many calls each stage (or route) made, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRun {
    pub calls: Vec<usize>,
    pub outcome: RunOutcome,
}

/// Why a policy cannot run live as written, in a sentence; `None` when it can.
pub fn cannot_run_live(experiment: &Experiment, policy: &Policy) -> Option<String> {
    policy.cannot_run_live(|config| {
        experiment
            .targets
            .iter()
            .find(|t| t.id == config.target)
            .is_none_or(|target| match &target.kind {
                TargetKind::Local(_) => true,
                TargetKind::Remote(remote) => remote.logprobs,
            })
    })
}

/// Runs `policy` over every case × repetition of `experiment`, recording every call in
/// `backends.sink`.
pub fn run_policy(
    experiment: &Experiment,
    policy: &Policy,
    backends: Backends<'_>,
) -> Result<PolicyRun, RunnerError> {
    let Backends {
        local,
        remote,
        sink,
        observer,
        cancel,
    } = backends;
    let plan = Plan::new(experiment);
    let mut open: BTreeSet<(usize, u32)> = (0..experiment.cases.len())
        .flat_map(|case| (0..experiment.repetitions).map(move |repetition| (case, repetition)))
        .collect();
    let mut calls = Vec::new();
    // Each stage's (or route's) config over the requests given to it.
    let mut call = |config: usize,
                    requests: &BTreeSet<(usize, u32)>|
     -> Result<(RunOutcome, Vec<RunRecord>), RunnerError> {
        let stage_plan =
            plan.only(|run| run.config == config && requests.contains(&(run.case, run.repetition)));
        let mut capture = Capture::new(&mut *sink);
        let outcome = run_experiment(
            experiment,
            &stage_plan,
            Backends {
                local: &mut *local,
                remote: &mut *remote,
                sink: &mut capture,
                observer: &mut *observer,
                cancel,
            },
        )?;
        Ok((outcome, capture.into_records()))
    };
    match &policy.plan {
        PolicyPlan::Cascade(stages) => {
            for stage in stages {
                match stage {
                    Stage::Rule(rule) => {
                        // A rule that fails on a case hands it on, as one that does not match.
                        let answered: Vec<(usize, u32)> = open
                            .iter()
                            .copied()
                            .filter(|(case, _)| {
                                matches!(rule.answer(&experiment.cases[*case].vars), Ok(Some(_)))
                            })
                            .collect();
                        calls.push(0);
                        for request in answered {
                            open.remove(&request);
                        }
                    }
                    Stage::Model {
                        config,
                        escalate_when,
                    } => {
                        calls.push(open.len());
                        if open.is_empty() {
                            continue;
                        }
                        let (outcome, records) = call(config.index, &open)?;
                        if outcome == RunOutcome::Cancelled {
                            return Ok(PolicyRun { calls, outcome });
                        }
                        open = records
                            .iter()
                            .filter(|run| {
                                let answer = Answer {
                                    output: &run.output,
                                    failed: run.error.is_some(),
                                    metrics: run.metrics.as_ref(),
                                    finish_reason: run.finish_reason,
                                    cost_usd: run.cost_usd,
                                };
                                // A signal the run did not record was refused before the run
                                // (`cannot_run_live`); should one be missing, the request goes on.
                                escalates(escalate_when, &answer).unwrap_or(true)
                            })
                            .map(|run| (run.case, run.repetition))
                            .collect();
                    }
                }
            }
        }
        PolicyPlan::Route(routes) => {
            let mut by_route: Vec<BTreeSet<(usize, u32)>> = vec![BTreeSet::new(); routes.len()];
            for (case, repetition) in open {
                let vars = &experiment.cases[case].vars;
                // Input-token routes are refused before the run (`cannot_run_live`).
                let taken = routes.iter().position(|route| match &route.when {
                    None => true,
                    Some(condition) => condition
                        .measure
                        .of_vars(vars)
                        .is_some_and(|m| condition.holds(m)),
                });
                if let Some(index) = taken {
                    by_route[index].insert((case, repetition));
                }
            }
            for (route, requests) in routes.iter().zip(&by_route) {
                calls.push(requests.len());
                if requests.is_empty() {
                    continue;
                }
                let (outcome, _) = call(route.config.index, requests)?;
                if outcome == RunOutcome::Cancelled {
                    return Ok(PolicyRun { calls, outcome });
                }
            }
        }
    }
    Ok(PolicyRun {
        calls,
        outcome: RunOutcome::Completed,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::cannot_run_live;
    use crate::spec::load::{FileFormat, parse_str};
    use crate::spec::policy::policies_of;

    #[test]
    fn a_policy_that_needs_what_a_live_call_cannot_know_is_refused_before_it_runs() {
        let experiment = parse_str(
            "schema: 1
variants: [{id: a, prompt: '{{ s }}'}, {id: b, prompt: 'B {{ s }}'}]
cases: [{vars: {s: x}}]
targets:
  - {id: local, model: m.gguf}
  - {id: hosted, provider: openai, model: m, base_url: 'http://127.0.0.1:9/v1'}
policies:
  - {id: unsure-hosted, cascade: [{variant: a, target: hosted, escalate_when: [{confidence_below: -0.3}]}, {variant: b, target: local}]}
  - {id: unsure-local, cascade: [{variant: a, target: local, escalate_when: [{confidence_below: -0.3}]}, {variant: b, target: hosted}]}
  - {id: by-tokens, route: [{when: 'input_tokens > 30', variant: b, target: local}, {variant: a, target: local}]}
  - {id: by-length, route: [{when: 'len(s) > 30', variant: b, target: local}, {variant: a, target: local}]}
",
            FileFormat::Yaml,
            "x.yaml",
            Path::new("/"),
        )
        .unwrap();
        let policies = policies_of(&experiment).unwrap();
        let reasons: Vec<Option<String>> = policies.iter().map(|p| cannot_run_live(&experiment, p)).collect();
        assert!(
            reasons[0]
                .as_deref()
                .is_some_and(|r| r.contains("logprobs: true")),
            "{reasons:?}"
        );
        assert_eq!(reasons[1], None, "local runs always record their confidence");
        assert!(
            reasons[2].as_deref().is_some_and(|r| r.contains("input_tokens")),
            "{reasons:?}"
        );
        assert_eq!(reasons[3], None);
    }
}
