//! One policy over every request: which stage answered, whether the answer passed, and what the
//! request took in time and money.

use std::collections::HashMap;
use std::time::Instant;

use crate::analyze::report::RunRow;
use crate::run::RunMetrics;
use crate::spec::checks::{self, Check, Subject};
use crate::spec::experiment::{Case, Experiment};
use crate::spec::policy::{Answer, ConfigRef, Policy, PolicyPlan, Route, Stage, escalates};
use crate::spec::target::LocalSettings;

type Key<'a> = (&'a str, &'a str, Option<LocalSettings>, &'a str, u32);

/// The recorded runs by config, case and repetition.
pub(super) struct RunIndex<'a> {
    runs: HashMap<Key<'a>, &'a RunRow>,
}

impl<'a> RunIndex<'a> {
    pub(super) fn new(runs: &'a [RunRow]) -> Self {
        let runs = runs
            .iter()
            .map(|row| {
                let labels = &row.labels;
                let key = (
                    labels.variant.as_str(),
                    labels.target.as_str(),
                    labels.settings,
                    labels.case.as_str(),
                    row.run.repetition,
                );
                (key, row)
            })
            .collect();
        RunIndex { runs }
    }

    pub(super) fn get(&self, config: &ConfigRef, case: &Case, repetition: u32) -> Option<&'a RunRow> {
        let key = (
            config.variant.as_str(),
            config.target.as_str(),
            config.settings,
            case.id.as_str(),
            repetition,
        );
        self.runs.get(&key).copied()
    }
}

/// One request's result under a policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Request {
    pub case: usize,
    /// Which stage (or route) answered.
    pub stage: usize,
    /// `None` when the case has no checks.
    pub passed: Option<bool>,
    /// The answer is an error.
    pub failed: bool,
    /// Absent when the answer is an error, came from the cache, or a stage has no measurement.
    pub latency_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub cost_usd: Option<f64>,
}

/// Every request, or why the policy cannot be simulated on these runs.
pub(super) type Walked = Result<Vec<Request>, String>;

pub(super) fn walk(experiment: &Experiment, runs: &RunIndex<'_>, policy: &Policy) -> Walked {
    let mut requests = Vec::with_capacity(experiment.cases.len() * experiment.repetitions as usize);
    let mut missing = Vec::new();
    for (case_index, case) in experiment.cases.iter().enumerate() {
        for repetition in 0..experiment.repetitions {
            let request = match &policy.plan {
                PolicyPlan::Cascade(stages) => cascade(experiment, runs, stages, case, repetition),
                PolicyPlan::Route(routes) => route(runs, routes, case, repetition),
            };
            match request {
                Ok(request) => requests.push(Request {
                    case: case_index,
                    ..request
                }),
                Err(Gap::Missing(config)) => missing.push(format!(
                    "{config} on case {} repetition {}",
                    case.id,
                    repetition + 1
                )),
                Err(Gap::Unknown(reason)) => return Err(reason),
            }
        }
    }
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(3).map(String::as_str).collect();
        return Err(format!(
            "{} requests have no recorded run for a stage they reach ({}{}): run the experiment to \
             the end (`tradeoff run --resume`) before simulating",
            missing.len(),
            shown.join("; "),
            if missing.len() > shown.len() { "; …" } else { "" }
        ));
    }
    Ok(requests)
}

enum Gap {
    /// No recorded run of this config for the request.
    Missing(String),
    /// A condition needs what was not recorded.
    Unknown(String),
}

/// Time and money spent on a request so far; `None` once something is not known.
struct Spent {
    latency_ms: Option<f64>,
    cost_usd: Option<f64>,
}

impl Spent {
    fn nothing() -> Spent {
        Spent {
            latency_ms: Some(0.0),
            cost_usd: Some(0.0),
        }
    }

    fn add_run(&mut self, row: &RunRow) {
        // A cache hit made no call: what it would have taken is not known from it.
        let measured = !row.run.cache_hit;
        self.latency_ms = match (self.latency_ms, row.latency_ms()) {
            (Some(sum), Some(ms)) if measured => Some(sum + ms),
            _ => None,
        };
        // A failed call without a price of its own billed no tokens.
        let cost = row.run.cost_usd.or(row.run.error.is_some().then_some(0.0));
        self.cost_usd = match (self.cost_usd, cost) {
            (Some(sum), Some(usd)) if measured => Some(sum + usd),
            _ => None,
        };
    }
}

/// The request answered by `row` at `stage`, after `before` ms of earlier stages.
fn answered(stage: usize, before: Option<f64>, row: &RunRow, spent: Spent) -> Request {
    let failed = row.run.error.is_some();
    let ttft = match (before, row.ttft_ms()) {
        (Some(before), Some(ttft)) if !row.run.cache_hit => Some(before + ttft),
        _ => None,
    };
    // An answer that is an error counts against quality, never in speed or cost (as the config
    // summaries count it).
    Request {
        case: 0,
        stage,
        passed: row.passed,
        failed,
        latency_ms: spent.latency_ms.filter(|_| !failed),
        ttft_ms: ttft.filter(|_| !failed),
        cost_usd: spent.cost_usd.filter(|_| !failed),
    }
}

fn cascade(
    experiment: &Experiment,
    runs: &RunIndex<'_>,
    stages: &[Stage],
    case: &Case,
    repetition: u32,
) -> Result<Request, Gap> {
    let mut spent = Spent::nothing();
    let last = stages.len() - 1;
    for (index, stage) in stages.iter().enumerate() {
        let before = spent.latency_ms;
        match stage {
            Stage::Rule(rule) => {
                let started = Instant::now();
                let output = rule.answer(&case.vars).map_err(|e| {
                    Gap::Unknown(format!(
                        "the rule on `{}` failed on case {}: {e}",
                        rule.var(),
                        case.id
                    ))
                })?;
                let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
                spent.latency_ms = spent.latency_ms.map(|ms| ms + elapsed_ms);
                if let Some(output) = output {
                    return Ok(Request {
                        case: 0,
                        stage: index,
                        passed: grade(experiment, case, &output, elapsed_ms)?,
                        failed: false,
                        latency_ms: spent.latency_ms,
                        ttft_ms: spent.latency_ms,
                        cost_usd: spent.cost_usd,
                    });
                }
            }
            Stage::Model {
                config,
                escalate_when,
            } => {
                let row = runs
                    .get(config, case, repetition)
                    .ok_or_else(|| Gap::Missing(config.label.clone()))?;
                spent.add_run(row);
                let answer = Answer {
                    output: &row.run.output,
                    failed: row.run.error.is_some(),
                    metrics: row.metrics(),
                    finish_reason: row.run.finish_reason,
                    cost_usd: row.run.cost_usd,
                };
                let escalate = escalates(escalate_when, &answer)
                    .map_err(|missing| Gap::Unknown(format!("{}: {missing}", config.label)))?;
                if !escalate || index == last {
                    return Ok(answered(index, before, row, spent));
                }
            }
        }
    }
    // Validation keeps a model stage last, and a model stage always answers.
    Err(Gap::Unknown("the cascade ended without an answer".into()))
}

fn route(runs: &RunIndex<'_>, routes: &[Route], case: &Case, repetition: u32) -> Result<Request, Gap> {
    for (index, route) in routes.iter().enumerate() {
        let row = || {
            runs.get(&route.config, case, repetition)
                .ok_or_else(|| Gap::Missing(route.config.label.clone()))
        };
        let taken = match &route.when {
            None => true,
            Some(condition) => {
                let measured = match condition.measure.of_vars(&case.vars) {
                    Some(measured) => measured,
                    // The prompt this route would send, as its own tokenizer counted it.
                    None => row()?.input_tokens().map(f64::from).ok_or_else(|| {
                        Gap::Unknown(format!(
                            "{}: a run without a token count cannot be routed by `{}`",
                            route.config.label, condition.written
                        ))
                    })?,
                };
                condition.holds(measured)
            }
        };
        if taken {
            let row = row()?;
            let mut spent = Spent::nothing();
            spent.add_run(row);
            return Ok(answered(index, Some(0.0), row, spent));
        }
    }
    Err(Gap::Unknown("no route was taken".into()))
}

/// A rule's answer judged by the case's checks, as a run's would be.
fn grade(experiment: &Experiment, case: &Case, output: &str, elapsed_ms: f64) -> Result<Option<bool>, Gap> {
    let applying: Vec<&dyn Check> = experiment
        .checks
        .iter()
        .chain(&case.checks)
        .map(|c| c.check())
        .collect();
    if applying.is_empty() {
        return Ok(None);
    }
    if applying.iter().any(|c| c.as_judge().is_some()) {
        return Err(Gap::Unknown(
            "a rule's answers cannot be graded here: this experiment's judge checks need a model call".into(),
        ));
    }
    let metrics = RunMetrics::new(elapsed_ms, 0, 0);
    let subject = Subject {
        output,
        expected: case.expected.as_deref(),
        metrics: Some(&metrics),
        cost_usd: Some(0.0),
    };
    Ok(Some(
        checks::evaluate(&applying, &subject).iter().all(|r| r.passed),
    ))
}
