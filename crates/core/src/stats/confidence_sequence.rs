//! Anytime-valid bounds on a finite population's mean, for deciding while the data comes in.
//!
//! A search looks at every config's pass rate after each batch of cases and drops the ones
//! that are out. An interval built for one look (Wilson, a t-test) and checked at every look
//! is wrong far more often than its level: each look is another chance for noise to cross it.
//! A *confidence sequence* holds at every look at once: P(the true mean leaves the bounds at
//! any time) ≤ α.
//!
//! This one is the betting confidence sequence for sampling **without replacement** of
//! Waudby-Smith and Ramdas ("Confidence sequences for sampling without replacement", NeurIPS
//! 2020), with the hedged capital process and predictable plug-in bets of their "Estimating
//! means of bounded random variables by betting" (2020/2023). The population is an experiment's
//! cases, drawn in a seeded random order; the mean is the config's pass rate over all of them,
//! which is exactly what the full grid would measure. For every candidate mean `m` a bettor
//! stakes on the next case being above (or below) the mean of the cases not yet seen, given
//! `m`; under the true mean that wealth is a nonnegative martingale, so by Ville's inequality it
//! reaches 1/α with probability ≤ α ever. Candidates whose wealth did are out; the bounds are
//! the smallest and largest left, intersected with what the unseen cases can still do (each
//! contributes between 0 and 1) and with every earlier look's bounds.

/// Candidate means are the values the population mean can take (multiples of one case's
/// resolution over the population) when there are at most this many; otherwise this many evenly
/// spaced ones, and each bound is widened to the next candidate outward.
const MAX_CANDIDATES: usize = 4_001;

/// The bets are capped at this share of what a candidate allows, so one surprising case cannot
/// zero a bettor (the paper's truncation, c = 1/2).
const BET_CAP: f64 = 0.5;

/// The confidence sequence of one population's mean, updated one observation at a time.
#[derive(Debug, Clone)]
pub struct MeanSequence {
    population: usize,
    alpha: f64,
    candidates: Vec<f64>,
    /// Whether a candidate is exact (one of the values the mean can take).
    exact: bool,
    /// ln of the two bettors' wealth per candidate; `NEG_INFINITY`-free: a candidate the data
    /// made impossible is marked in `ruled_out` instead.
    log_up: Vec<f64>,
    log_down: Vec<f64>,
    ruled_out: Vec<bool>,
    seen: usize,
    sum: f64,
    /// The plug-in estimates the next bet is sized from (predictable: earlier data only).
    mean_estimate_sum: f64,
    variance_estimate_sum: f64,
    lower: f64,
    upper: f64,
}

/// Bounds on the population mean, valid at every look together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub lower: f64,
    pub upper: f64,
}

impl MeanSequence {
    /// A sequence for the mean of `population` values in [0, 1], each a multiple of
    /// `1/resolution` (a case's share of passing repetitions: `resolution` = repetitions), at
    /// error level `alpha` (0.05 for 95 %).
    pub fn new(population: usize, resolution: u32, alpha: f64) -> MeanSequence {
        let steps = population.max(1).saturating_mul(resolution.max(1) as usize);
        let (count, exact) = if steps < MAX_CANDIDATES {
            (steps + 1, true)
        } else {
            (MAX_CANDIDATES, false)
        };
        let candidates: Vec<f64> = (0..count).map(|k| k as f64 / (count - 1) as f64).collect();
        MeanSequence {
            population: population.max(1),
            alpha: alpha.clamp(f64::MIN_POSITIVE, 1.0),
            log_up: vec![0.0; count],
            log_down: vec![0.0; count],
            ruled_out: vec![false; count],
            candidates,
            exact,
            seen: 0,
            sum: 0.0,
            mean_estimate_sum: 0.5,
            variance_estimate_sum: 0.25,
            lower: 0.0,
            upper: 1.0,
        }
    }

    pub fn seen(&self) -> usize {
        self.seen
    }

    /// The mean of what was seen (`None` before the first value).
    pub fn observed_mean(&self) -> Option<f64> {
        (self.seen > 0).then(|| self.sum / self.seen as f64)
    }

    /// Takes the next value (clamped to [0, 1]) of the population, drawn without replacement.
    /// Values past the population's size are ignored: there are none.
    pub fn observe(&mut self, value: f64) {
        if self.seen >= self.population {
            return;
        }
        let x = if value.is_finite() {
            value.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let t = self.seen + 1;
        // The bet's size from the data before this value (predictable plug-in).
        let variance = self.variance_estimate_sum / t as f64;
        let bet = (2.0 * (2.0 / self.alpha).ln() / (variance * t as f64 * (t as f64 + 1.0).ln()))
            .sqrt()
            .min(1.0);
        let remaining = (self.population - self.seen) as f64;
        for k in 0..self.candidates.len() {
            if self.ruled_out[k] {
                continue;
            }
            // The mean of the values not yet seen, if the population's mean is this candidate.
            let rest = (self.population as f64 * self.candidates[k] - self.sum) / remaining;
            if !(-1e-12..=1.0 + 1e-12).contains(&rest) {
                self.ruled_out[k] = true;
                continue;
            }
            let rest = rest.clamp(0.0, 1.0);
            let up = if rest > 0.0 { bet.min(BET_CAP / rest) } else { bet };
            let down = if rest < 1.0 {
                bet.min(BET_CAP / (1.0 - rest))
            } else {
                bet
            };
            let gain_up = 1.0 + up * (x - rest);
            let gain_down = 1.0 - down * (x - rest);
            if gain_up <= 0.0 || gain_down <= 0.0 {
                // Only a value the candidate makes impossible can do this (rest = 0 and x > 0,
                // or rest = 1 and x < 1).
                self.ruled_out[k] = true;
                continue;
            }
            self.log_up[k] += gain_up.ln();
            self.log_down[k] += gain_down.ln();
        }
        self.seen = t;
        self.sum += x;
        self.mean_estimate_sum += x;
        let mean_estimate = self.mean_estimate_sum / (t + 1) as f64;
        self.variance_estimate_sum += (x - mean_estimate).powi(2);
        let now = self.current();
        // The running intersection: every look's bounds hold together, so their intersection does.
        self.lower = self.lower.max(now.lower);
        self.upper = self.upper.min(now.upper).max(self.lower);
    }

    /// The bounds after every value seen so far.
    pub fn bounds(&self) -> Bounds {
        Bounds {
            lower: self.lower,
            upper: self.upper,
        }
    }

    fn current(&self) -> Bounds {
        // Hedged: half the stake on each side, so the wealth is ½·up + ½·down.
        let threshold = (1.0 / self.alpha).ln();
        let half = 0.5f64.ln();
        let inside = |k: usize| {
            !self.ruled_out[k] && {
                let (a, b) = (self.log_up[k] + half, self.log_down[k] + half);
                let log_wealth = a.max(b) + (-(a - b).abs()).exp().ln_1p();
                log_wealth < threshold
            }
        };
        let first = (0..self.candidates.len()).find(|&k| inside(k));
        let last = (0..self.candidates.len()).rev().find(|&k| inside(k));
        let (mut lower, mut upper) = match (first, last) {
            (Some(first), Some(last)) => {
                // Between two inexact candidates the true mean may lie just outside the kept ones.
                let widen = usize::from(!self.exact);
                (
                    self.candidates[first.saturating_sub(widen)],
                    self.candidates[(last + widen).min(self.candidates.len() - 1)],
                )
            }
            // Every candidate out: only possible with probability ≤ α; say the least.
            _ => (0.0, 1.0),
        };
        // What the unseen values can still do, whatever the bets say.
        let n = self.population as f64;
        let unseen = (self.population - self.seen) as f64;
        lower = lower.max(self.sum / n);
        upper = upper.min((self.sum + unseen) / n);
        Bounds {
            lower,
            upper: upper.max(lower),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::SplitMix64;

    fn population(n: usize, ones: usize) -> Vec<f64> {
        (0..n).map(|i| if i < ones { 1.0 } else { 0.0 }).collect()
    }

    fn shuffled(values: &[f64], rng: &mut SplitMix64) -> Vec<f64> {
        let mut v = values.to_vec();
        for i in (1..v.len()).rev() {
            v.swap(i, rng.below(i + 1));
        }
        v
    }

    #[test]
    fn the_bounds_hold_at_every_look_together_in_at_least_the_promised_share_of_draws() {
        let alpha = 0.05;
        let values = population(200, 130);
        let truth = 0.65;
        let mut rng = SplitMix64(7);
        let mut missed = 0;
        let draws = 400;
        for _ in 0..draws {
            let mut sequence = MeanSequence::new(values.len(), 1, alpha);
            let mut out = false;
            for x in shuffled(&values, &mut rng) {
                sequence.observe(x);
                let b = sequence.bounds();
                out |= truth < b.lower - 1e-12 || truth > b.upper + 1e-12;
            }
            missed += usize::from(out);
        }
        assert!(
            (missed as f64) / (draws as f64) <= alpha,
            "{missed} of {draws} draws left the bounds at some look"
        );
    }

    #[test]
    fn the_bounds_narrow_as_cases_come_in_and_close_on_the_population_mean_at_the_end() {
        let values = population(100, 80);
        let mut sequence = MeanSequence::new(values.len(), 1, 0.05);
        let mut rng = SplitMix64(3);
        let mut widths = Vec::new();
        for x in shuffled(&values, &mut rng) {
            sequence.observe(x);
            let b = sequence.bounds();
            widths.push(b.upper - b.lower);
        }
        assert!(widths[20] < widths[5] && widths[60] < widths[20], "{widths:?}");
        let end = sequence.bounds();
        assert!(
            (end.lower - 0.8).abs() < 1e-9 && (end.upper - 0.8).abs() < 1e-9,
            "{end:?}"
        );
    }

    #[test]
    fn a_config_that_passes_everything_is_bounded_well_above_one_that_passes_nothing_within_a_dozen_cases() {
        let mut good = MeanSequence::new(200, 1, 0.05 / 2.0);
        let mut bad = MeanSequence::new(200, 1, 0.05 / 2.0);
        let mut separated_at = None;
        for t in 1..=200 {
            good.observe(1.0);
            bad.observe(0.0);
            if separated_at.is_none() && bad.bounds().upper < good.bounds().lower {
                separated_at = Some(t);
            }
        }
        let at = separated_at.expect("they separate");
        assert!(at <= 12, "separated only after {at} cases");
    }

    #[test]
    fn repetitions_make_finer_values_and_a_non_finite_value_counts_as_a_failure() {
        let mut sequence = MeanSequence::new(4, 3, 0.05);
        for x in [2.0 / 3.0, 1.0, f64::NAN, 1.0 / 3.0] {
            sequence.observe(x);
        }
        let b = sequence.bounds();
        assert!(
            (b.lower - 0.5).abs() < 1e-9 && (b.upper - 0.5).abs() < 1e-9,
            "{b:?}"
        );
        assert_eq!(sequence.seen(), 4);
    }
}
