//! A cascade's confidence threshold traced and picked without fooling the user: the trace shows
//! cost against pass rate at every threshold on all cases; the threshold Tradeoff picks is the
//! cheapest that keeps the pass rate, and it is reported twice — as picked on all cases (in
//! sample, optimistic) and as picked on k−1 folds of the cases and scored on the fold left out
//! (held out, what to expect on new requests).

use serde::Serialize;

use super::walk::{Request, RunIndex, walk};
use crate::spec::experiment::Experiment;
use crate::spec::policy::{Condition, Policy, PolicyPlan, Signal, Stage};
use crate::stats::{SplitMix64, mean, percentile};

/// At most this many thresholds are traced (quantiles of the recorded values beyond it).
const MAX_POINTS: usize = 40;
pub const FOLDS: usize = 5;
const SEED: u64 = 0xF01D_5EED;

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Serialize)]
pub struct Sweep {
    pub policy: String,
    /// The stage whose condition moves, from 0.
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub stage: usize,
    pub signal: Signal,
    /// Every threshold, on all cases.
    pub points: Vec<Point>,
    /// The pass rate a picked threshold must keep: the one asked for, else the cascade's own
    /// when every request escalates.
    pub min_pass_rate: Option<f64>,
    pub picked: Option<Picked>,
}

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Point {
    /// Requests whose signal is below it escalate at the stage.
    pub threshold: f64,
    #[serde(flatten)]
    pub figures: Figures,
}

/// What a set of requests scored, cost and took under a threshold.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Figures {
    pub pass_rate: Option<f64>,
    pub cost_per_1k_usd: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    /// The share of requests that went past the stage.
    pub escalated: f64,
}

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Serialize)]
pub struct Picked {
    /// Picked on all cases, and its figures on those same cases (optimistic).
    pub in_sample: Point,
    /// Each fold's threshold picked on the other folds; the figures are over the requests of the
    /// held-out folds, each scored with the threshold picked without it.
    pub held_out: Figures,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub folds: usize,
    /// The threshold each fold picked.
    pub fold_thresholds: Vec<f64>,
}

/// Traces `policy`'s first `signal` condition; `None` when it has none.
pub(super) fn sweep(
    experiment: &Experiment,
    runs: &RunIndex<'_>,
    policy: &Policy,
    signal: Signal,
    min_pass_rate: Option<f64>,
) -> Result<Option<Sweep>, String> {
    let Some((stage, values)) = swept_stage(runs, policy, signal, experiment) else {
        return Ok(None);
    };
    let thresholds = thresholds(values);
    // Every request under every threshold, walked once.
    let walks: Vec<Vec<Request>> = thresholds
        .iter()
        .map(|t| walk(experiment, runs, &with_threshold(policy, stage, signal, *t)))
        .collect::<Result<_, _>>()?;
    let all: Vec<bool> = vec![true; experiment.cases.len()];
    let points: Vec<Point> = thresholds
        .iter()
        .zip(&walks)
        .map(|(t, requests)| point(*t, requests, stage, &all))
        .collect();
    let pick = |cases: &[bool]| -> Option<usize> {
        let floor = min_pass_rate.or_else(|| {
            // Escalating everything is the most the cascade can do for quality.
            let last = walks.len().checked_sub(1)?;
            figures(&walks[last], stage, cases).pass_rate
        })?;
        let scored: Vec<Figures> = walks
            .iter()
            .map(|requests| figures(requests, stage, cases))
            .collect();
        (0..scored.len())
            .filter(|&i| scored[i].pass_rate.is_some_and(|p| p >= floor - 1e-12))
            .min_by(|&a, &b| {
                let cost = |i: usize| scored[i].cost_per_1k_usd.unwrap_or(f64::INFINITY);
                cost(a).total_cmp(&cost(b))
            })
    };
    let floor = min_pass_rate.or_else(|| points.last().and_then(|p| p.figures.pass_rate));
    let picked = pick(&all).map(|chosen| {
        let folds = fold_of_each_case(experiment.cases.len());
        let k = folds.iter().copied().max().map_or(0, |m| m + 1);
        let mut held_out: Vec<Request> = Vec::new();
        let mut fold_thresholds = Vec::with_capacity(k);
        for fold in 0..k {
            let train: Vec<bool> = folds.iter().map(|f| *f != fold).collect();
            let Some(index) = pick(&train) else { continue };
            fold_thresholds.push(thresholds[index]);
            held_out.extend(walks[index].iter().filter(|r| folds[r.case] == fold).copied());
        }
        Picked {
            in_sample: points[chosen],
            held_out: figures(&held_out, stage, &all),
            folds: k,
            fold_thresholds,
        }
    });
    Ok(Some(Sweep {
        policy: policy.id.clone(),
        stage,
        signal,
        points,
        min_pass_rate: floor,
        picked,
    }))
}

/// The first stage with a condition on `signal`, and the recorded values of that signal for its
/// config's runs.
fn swept_stage(
    runs: &RunIndex<'_>,
    policy: &Policy,
    signal: Signal,
    experiment: &Experiment,
) -> Option<(usize, Vec<f64>)> {
    let PolicyPlan::Cascade(stages) = &policy.plan else {
        return None;
    };
    stages.iter().enumerate().find_map(|(index, stage)| {
        let Stage::Model {
            config,
            escalate_when,
        } = stage
        else {
            return None;
        };
        escalate_when.iter().find(|c| moves(c, signal))?;
        let mut values = Vec::new();
        for case in &experiment.cases {
            for repetition in 0..experiment.repetitions {
                let metrics = runs.get(config, case, repetition).and_then(|row| row.metrics());
                let value = metrics.and_then(|m| match signal {
                    Signal::Confidence => m.logprob_mean,
                    Signal::MinConfidence => m.logprob_min,
                });
                values.extend(value.filter(|v| v.is_finite()));
            }
        }
        Some((index, values))
    })
}

fn moves(condition: &Condition, signal: Signal) -> bool {
    condition.confidence_signal() == Some(signal)
}

/// From "escalate on nothing" through each recorded value to "escalate everything", all finite
/// (a JSON report has no infinities).
fn thresholds(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values.dedup();
    let inner: Vec<f64> = if values.len() <= MAX_POINTS - 2 {
        values.clone()
    } else {
        (0..MAX_POINTS - 2)
            .filter_map(|i| percentile(&values, i as f64 * 100.0 / (MAX_POINTS - 3) as f64))
            .collect()
    };
    let lowest = values.first().copied().unwrap_or(0.0) - 1.0;
    let mut all = vec![lowest];
    // `signal < threshold` escalates: a threshold just above a value escalates the value too.
    all.extend(inner.iter().map(|v| v + 1e-9 * v.abs().max(1.0)));
    // Log-probabilities are at most 0: above it, every answer escalates.
    all.push(1e-9_f64.max(all.last().copied().unwrap_or(0.0) + 1e-9));
    all.dedup();
    all
}

fn with_threshold(policy: &Policy, stage: usize, signal: Signal, threshold: f64) -> Policy {
    let mut policy = policy.clone();
    if let PolicyPlan::Cascade(stages) = &mut policy.plan
        && let Some(Stage::Model { escalate_when, .. }) = stages.get_mut(stage)
        && let Some(condition) = escalate_when.iter_mut().find(|c| moves(c, signal))
    {
        *condition = Condition::confidence_below(signal, threshold);
    }
    policy
}

fn point(threshold: f64, requests: &[Request], stage: usize, cases: &[bool]) -> Point {
    Point {
        threshold,
        figures: figures(requests, stage, cases),
    }
}

/// The figures of the requests of the cases marked in `cases`.
fn figures(requests: &[Request], stage: usize, cases: &[bool]) -> Figures {
    let mine: Vec<&Request> = requests
        .iter()
        .filter(|r| cases.get(r.case).copied().unwrap_or(false))
        .collect();
    let values = |f: fn(&Request) -> Option<f64>| -> Vec<f64> { mine.iter().filter_map(|r| f(r)).collect() };
    Figures {
        pass_rate: mean(&values(|r| r.passed.map(|p| if p { 1.0 } else { 0.0 }))),
        cost_per_1k_usd: mean(&values(|r| r.cost_usd)).map(|c| c * 1000.0),
        latency_p50_ms: percentile(&values(|r| r.latency_ms), 50.0),
        escalated: mine.iter().filter(|r| r.stage > stage).count() as f64 / mine.len().max(1) as f64,
    }
}

/// Each case's fold: a seeded shuffle dealt into `FOLDS` folds (fewer with fewer cases).
fn fold_of_each_case(cases: usize) -> Vec<usize> {
    let k = FOLDS.min(cases).max(1);
    let mut order: Vec<usize> = (0..cases).collect();
    let mut rng = SplitMix64(SEED);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut folds = vec![0; cases];
    for (position, case) in order.into_iter().enumerate() {
        folds[case] = position % k;
    }
    folds
}
