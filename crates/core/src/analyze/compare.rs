//! Comparing a config with a baseline: confidence intervals for the difference of medians and
//! of means by the percentile bootstrap. A report calls a config faster (or slower) only when
//! the interval excludes zero; otherwise the difference is not established by the data.
//!
//! The resampling is seeded, so the same runs always give the same intervals.

use serde::{Deserialize, Serialize};

use crate::stats::SplitMix64;
use crate::stats::{mean, percentile};

/// Resamples per interval: enough for stable 95 % percentile bounds.
pub const RESAMPLES: usize = 2000;
pub const CONFIDENCE: f64 = 0.95;
/// Fewer runs than this on either side give no interval: the bootstrap needs a sample to
/// resample.
pub const MIN_RUNS: usize = 3;

/// `other − baseline` with its confidence interval.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// What the data says about `other − baseline` for a metric where lower is better.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The interval lies below zero.
    Lower,
    /// The interval lies above zero.
    Higher,
    /// The interval contains zero: no established difference.
    NoClearDifference,
    /// Too few runs to tell.
    TooFewRuns,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub baseline_n: usize,
    pub other_n: usize,
    pub median: Option<Interval>,
    pub mean: Option<Interval>,
    /// Judged on the difference of medians (robust to the occasional slow run).
    pub verdict: Verdict,
}

/// Compares two samples of a metric (`other − baseline`).
pub fn difference(baseline: &[f64], other: &[f64]) -> Difference {
    let baseline: Vec<f64> = baseline.iter().copied().filter(|v| v.is_finite()).collect();
    let other: Vec<f64> = other.iter().copied().filter(|v| v.is_finite()).collect();
    let median_of = |values: &[f64]| percentile(values, 50.0).unwrap_or(f64::NAN);
    let mean_of = |values: &[f64]| mean(values).unwrap_or(f64::NAN);
    let median = bootstrap(&baseline, &other, median_of);
    let mean = bootstrap(&baseline, &other, mean_of);
    let verdict = match &median {
        None => Verdict::TooFewRuns,
        Some(i) if i.high < 0.0 => Verdict::Lower,
        Some(i) if i.low > 0.0 => Verdict::Higher,
        Some(_) => Verdict::NoClearDifference,
    };
    Difference {
        baseline_n: baseline.len(),
        other_n: other.len(),
        median,
        mean,
        verdict,
    }
}

/// Percentile-bootstrap interval of `statistic(other) − statistic(baseline)`, resampling each
/// sample independently with replacement.
pub fn bootstrap(baseline: &[f64], other: &[f64], statistic: impl Fn(&[f64]) -> f64) -> Option<Interval> {
    if baseline.len() < MIN_RUNS || other.len() < MIN_RUNS {
        return None;
    }
    let estimate = statistic(other) - statistic(baseline);
    // The two samples are resampled in an order of their own, not in baseline/other order, so
    // the same pair compared the other way round draws the same resamples and gets exactly the
    // mirrored interval (the results table against a baseline and the winner card agree).
    let swapped = canonical_order(baseline, other) == std::cmp::Ordering::Greater;
    let (first, second) = if swapped {
        (other, baseline)
    } else {
        (baseline, other)
    };
    let mut rng = SplitMix64(0x005E_ED0F_7AD3_0FF5);
    let mut x = vec![0.0; first.len()];
    let mut y = vec![0.0; second.len()];
    let mut differences = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        for slot in x.iter_mut() {
            *slot = first[rng.below(first.len())];
        }
        for slot in y.iter_mut() {
            *slot = second[rng.below(second.len())];
        }
        let (a, b) = if swapped { (&y, &x) } else { (&x, &y) };
        differences.push(statistic(b) - statistic(a));
    }
    let tail = (1.0 - CONFIDENCE) / 2.0 * 100.0;
    Some(Interval {
        estimate,
        low: percentile(&differences, tail)?,
        high: percentile(&differences, 100.0 - tail)?,
    })
}

/// A fixed order of two samples that does not depend on which one is the baseline.
fn canonical_order(a: &[f64], b: &[f64]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Normal samples by Box–Muller from the same generator.
    fn normal(rng: &mut SplitMix64, n: usize, mean: f64, sd: f64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let u1 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                mean + sd * (-2.0 * (u1.max(1e-300)).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
            })
            .collect()
    }

    #[test]
    fn the_estimate_is_the_plain_difference_of_medians_and_means() {
        let baseline = [100.0, 110.0, 120.0, 130.0, 1000.0];
        let other = [90.0, 95.0, 100.0, 105.0, 110.0];
        let d = difference(&baseline, &other);
        assert_eq!(d.median.unwrap().estimate, 100.0 - 120.0);
        assert_eq!(d.mean.unwrap().estimate, 100.0 - 292.0);
        assert_eq!((d.baseline_n, d.other_n), (5, 5));
    }

    #[test]
    fn a_clear_difference_is_called_and_noise_is_not() {
        let mut rng = SplitMix64(7);
        let slow = normal(&mut rng, 30, 500.0, 20.0);
        let fast = normal(&mut rng, 30, 400.0, 20.0);
        let same = normal(&mut rng, 30, 500.0, 20.0);
        assert_eq!(difference(&slow, &fast).verdict, Verdict::Lower);
        assert_eq!(difference(&fast, &slow).verdict, Verdict::Higher);
        assert_eq!(difference(&slow, &same).verdict, Verdict::NoClearDifference);
        assert_eq!(difference(&slow[..2], &fast).verdict, Verdict::TooFewRuns);
    }

    #[test]
    fn intervals_cover_the_true_difference_about_95_percent_of_the_time() {
        // 400 simulated experiments with a true mean difference of −30 ms.
        let mut rng = SplitMix64(42);
        let trials = 400;
        let covered = (0..trials)
            .filter(|_| {
                let baseline = normal(&mut rng, 25, 500.0, 40.0);
                let other = normal(&mut rng, 25, 470.0, 40.0);
                let i = bootstrap(&baseline, &other, |v| mean(v).unwrap_or(f64::NAN)).unwrap();
                i.low <= -30.0 && -30.0 <= i.high
            })
            .count();
        let coverage = covered as f64 / trials as f64;
        // The percentile bootstrap runs slightly narrow at n = 25; 0.90–0.98 is its known range.
        assert!((0.90..=0.98).contains(&coverage), "coverage {coverage}");
    }

    #[test]
    fn a_pair_compared_the_other_way_round_gets_the_mirrored_interval() {
        let mut rng = SplitMix64(11);
        let a = normal(&mut rng, 8, 700.0, 150.0);
        let b = normal(&mut rng, 8, 690.0, 150.0);
        for (forward, backward) in [
            (difference(&a, &b).median, difference(&b, &a).median),
            (difference(&a, &b).mean, difference(&b, &a).mean),
        ] {
            let (f, r) = (forward.unwrap(), backward.unwrap());
            assert_eq!(f.estimate, -r.estimate);
            assert!(
                (f.low + r.high).abs() < 1e-9 && (f.high + r.low).abs() < 1e-9,
                "{f:?} vs {r:?}"
            );
        }
    }

    #[test]
    fn the_same_runs_always_give_the_same_interval() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [2.0, 3.0, 4.0, 5.0, 6.0, 9.0];
        assert_eq!(difference(&a, &b), difference(&a, &b));
    }
}
