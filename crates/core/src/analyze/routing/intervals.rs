//! A simulated policy's figures with percentile-bootstrap intervals over cases: a case (with all
//! its repetitions) is the unit resampled, as requests of one case are not independent.

use serde::{Deserialize, Serialize};

use super::walk::{Request, Walked};
use super::{Outcome, OutcomeKind, StageShare};
use crate::spec::policy::{Policy, PolicyPlan};
use crate::stats::{SplitMix64, mean, percentile};

/// Resamples per interval. Fewer than `compare`'s 2,000: a routing report has an interval for
/// six figures of every config and policy, and 1,000 keep the 95 % bounds within about a
/// percent of the 2,000-resample ones.
pub const RESAMPLES: usize = 1000;
const SEED: u64 = 0x5EED_2011;

/// A figure and its 95 % interval.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

pub(super) fn outcome(policy: &Policy, kind: OutcomeKind, walked: Walked, cases: usize) -> Outcome {
    let labels = stage_labels(policy);
    let empty = |incomplete: Option<String>| Outcome {
        id: policy.id.clone(),
        kind,
        incomplete,
        pass_rate: None,
        error_rate: None,
        cost_per_1k_usd: None,
        latency_p50_ms: None,
        latency_p95_ms: None,
        latency_p99_ms: None,
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
    let failures = by_case(|r| Some(if r.failed { 1.0 } else { 0.0 }));
    let costs = by_case(|r| r.cost_usd);
    let latencies = by_case(|r| r.latency_ms);
    let ttfts = by_case(|r| r.ttft_ms);
    outcome.pass_rate = mean_estimate(&passes, 1.0, SEED);
    outcome.error_rate = mean_estimate(&failures, 1.0, SEED + 4);
    outcome.cost_per_1k_usd = mean_estimate(&costs, 1000.0, SEED + 1);
    [
        outcome.latency_p50_ms,
        outcome.latency_p95_ms,
        outcome.latency_p99_ms,
    ] = percentile_estimates(&latencies, &[50.0, 95.0, 99.0], SEED + 2);
    [outcome.ttft_p50_ms, outcome.ttft_p95_ms] = percentile_estimates(&ttfts, &[50.0, 95.0], SEED + 3);
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

/// Percentiles `ps` of every value, each resampled by case (one resample serves them all).
fn percentile_estimates<const N: usize>(
    groups: &[Vec<f64>],
    ps: &[f64; N],
    seed: u64,
) -> [Option<Estimate>; N] {
    let all: Vec<f64> = groups.iter().flatten().copied().collect();
    let Some(values) = ps
        .iter()
        .map(|&p| percentile(&all, p))
        .collect::<Option<Vec<f64>>>()
    else {
        return [None; N];
    };
    let mut rng = SplitMix64(seed);
    let mut buffer = Vec::with_capacity(all.len());
    let mut resampled: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(RESAMPLES));
    for _ in 0..RESAMPLES {
        buffer.clear();
        for _ in 0..groups.len() {
            buffer.extend_from_slice(&groups[rng.below(groups.len())]);
        }
        if buffer.is_empty() {
            continue;
        }
        for (value, values) in percentiles_in_place(&mut buffer, ps)
            .into_iter()
            .zip(&mut resampled)
        {
            values.push(value);
        }
    }
    std::array::from_fn(|i| Some(bounds(values[i], &resampled[i])))
}

fn bounds(value: f64, resampled: &[f64]) -> Estimate {
    Estimate {
        value,
        low: percentile(resampled, 2.5).unwrap_or(value),
        high: percentile(resampled, 97.5).unwrap_or(value),
    }
}

/// [`percentile`] at each of `ps` (ascending) of finite values without sorting them all: each
/// selection leaves everything above its rank to the right, so the next one searches only there.
fn percentiles_in_place<const N: usize>(values: &mut [f64], ps: &[f64; N]) -> [f64; N] {
    let mut from = 0;
    let mut found = [0.0; N];
    for (p, out) in ps.iter().zip(&mut found) {
        let rank = (p.clamp(0.0, 100.0) / 100.0) * (values.len() - 1) as f64;
        let low = (rank.floor() as usize).max(from);
        let (_, at_low, above) = values[from..].select_nth_unstable_by(low - from, f64::total_cmp);
        let at_low = *at_low;
        let fraction = rank - low as f64;
        *out = if fraction > 0.0 {
            let at_high = above.iter().copied().fold(f64::INFINITY, f64::min);
            at_low + (at_high - at_low) * fraction
        } else {
            at_low
        };
        from = low;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_selected_in_place_equal_the_sorted_percentiles() {
        let mut rng = SplitMix64(7);
        for len in [1, 2, 3, 10, 101, 1000] {
            let values: Vec<f64> = (0..len).map(|_| rng.below(500) as f64 / 7.0).collect();
            let ps = [0.0, 2.5, 50.0, 95.0, 99.0, 100.0];
            let found = percentiles_in_place(&mut values.clone(), &ps);
            for (p, found) in ps.iter().zip(found) {
                assert_eq!(Some(found), percentile(&values, *p), "p{p} of {len}");
            }
        }
    }
}
