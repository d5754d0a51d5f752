//! A simulated policy's figures with percentile-bootstrap intervals over cases: a case (with all
//! its repetitions) is the unit resampled, as requests of one case are not independent.

use serde::Serialize;

use super::walk::{Request, Walked};
use super::{Outcome, StageShare};
use crate::spec::policy::{Policy, PolicyPlan};
use crate::stats::{SplitMix64, mean, percentile};

/// Resamples per interval. Fewer than `compare`'s 2,000: a routing report has an interval for
/// six figures of every config and policy, and 1,000 keep the 95 % bounds within about a
/// percent of the 2,000-resample ones.
pub const RESAMPLES: usize = 1000;
const SEED: u64 = 0x5EED_2011;

/// A figure and its 95 % interval.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

pub(super) fn outcome(policy: &Policy, kind: &'static str, walked: Walked, cases: usize) -> Outcome {
    let labels = stage_labels(policy);
    let empty = |incomplete: Option<String>| Outcome {
        id: policy.id.clone(),
        kind,
        incomplete,
        pass_rate: None,
        cost_per_1k_usd: None,
        latency_p50_ms: None,
        latency_p95_ms: None,
        ttft_p50_ms: None,
        ttft_p95_ms: None,
        stages: labels
            .iter()
            .map(|stage| StageShare {
                stage: stage.clone(),
                answered: 0,
                share: 0.0,
            })
            .collect(),
    };
    let requests = match walked {
        Ok(requests) => requests,
        Err(reason) => return empty(Some(reason)),
    };
    let mut outcome = empty(None);
    for request in &requests {
        if let Some(share) = outcome.stages.get_mut(request.stage) {
            share.answered += 1;
        }
    }
    for share in &mut outcome.stages {
        share.share = share.answered as f64 / requests.len().max(1) as f64;
    }
    let by_case = |value: fn(&Request) -> Option<f64>| -> Vec<Vec<f64>> {
        let mut groups = vec![Vec::new(); cases];
        for request in &requests {
            if let Some(v) = value(request).filter(|v| v.is_finite()) {
                groups[request.case].push(v);
            }
        }
        groups
    };
    let passes = by_case(|r| r.passed.map(|p| if p { 1.0 } else { 0.0 }));
    let costs = by_case(|r| r.cost_usd);
    let latencies = by_case(|r| r.latency_ms);
    let ttfts = by_case(|r| r.ttft_ms);
    outcome.pass_rate = mean_estimate(&passes, 1.0, SEED);
    outcome.cost_per_1k_usd = mean_estimate(&costs, 1000.0, SEED + 1);
    [outcome.latency_p50_ms, outcome.latency_p95_ms] = percentile_estimates(&latencies, SEED + 2);
    [outcome.ttft_p50_ms, outcome.ttft_p95_ms] = percentile_estimates(&ttfts, SEED + 3);
    outcome
}

fn stage_labels(policy: &Policy) -> Vec<String> {
    match &policy.plan {
        PolicyPlan::Cascade(stages) => stages.iter().map(|s| s.label()).collect(),
        PolicyPlan::Route(routes) => routes
            .iter()
            .map(|route| match &route.when {
                Some(when) => format!("{} (when {})", route.config.label, when.written),
                None => format!("{} (otherwise)", route.config.label),
            })
            .collect(),
    }
}

/// The mean of every value (× `scale`), resampled by case through per-case sums.
fn mean_estimate(groups: &[Vec<f64>], scale: f64, seed: u64) -> Option<Estimate> {
    let all: Vec<f64> = groups.iter().flatten().copied().collect();
    let value = mean(&all)? * scale;
    let sums: Vec<(f64, usize)> = groups.iter().map(|g| (g.iter().sum(), g.len())).collect();
    let mut rng = SplitMix64(seed);
    let mut resampled = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        let (mut sum, mut count) = (0.0, 0);
        for _ in 0..sums.len() {
            let (s, n) = sums[rng.below(sums.len())];
            sum += s;
            count += n;
        }
        if count > 0 {
            resampled.push(sum / count as f64 * scale);
        }
    }
    Some(bounds(value, &resampled))
}

/// p50 and p95 of every value, each resampled by case.
fn percentile_estimates(groups: &[Vec<f64>], seed: u64) -> [Option<Estimate>; 2] {
    let all: Vec<f64> = groups.iter().flatten().copied().collect();
    let (Some(p50), Some(p95)) = (percentile(&all, 50.0), percentile(&all, 95.0)) else {
        return [None, None];
    };
    let mut rng = SplitMix64(seed);
    let mut buffer = Vec::with_capacity(all.len());
    let (mut medians, mut tails) = (Vec::with_capacity(RESAMPLES), Vec::with_capacity(RESAMPLES));
    for _ in 0..RESAMPLES {
        buffer.clear();
        for _ in 0..groups.len() {
            buffer.extend_from_slice(&groups[rng.below(groups.len())]);
        }
        if buffer.is_empty() {
            continue;
        }
        medians.push(percentile_in_place(&mut buffer, 50.0));
        tails.push(percentile_in_place(&mut buffer, 95.0));
    }
    [Some(bounds(p50, &medians)), Some(bounds(p95, &tails))]
}

fn bounds(value: f64, resampled: &[f64]) -> Estimate {
    Estimate {
        value,
        low: percentile(resampled, 2.5).unwrap_or(value),
        high: percentile(resampled, 97.5).unwrap_or(value),
    }
}

/// [`percentile`] of finite values without sorting them all: two selections, O(n).
fn percentile_in_place(values: &mut [f64], p: f64) -> f64 {
    let rank = (p.clamp(0.0, 100.0) / 100.0) * (values.len() - 1) as f64;
    let low = rank.floor() as usize;
    let (_, at_low, above) = values.select_nth_unstable_by(low, f64::total_cmp);
    let at_low = *at_low;
    let fraction = rank - low as f64;
    if fraction == 0.0 {
        return at_low;
    }
    let at_high = above.iter().copied().fold(f64::INFINITY, f64::min);
    at_low + (at_high - at_low) * fraction
}
