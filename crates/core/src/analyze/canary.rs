//! Canaries: the winner's cases sent through the served path again, round after round, each
//! round held to what was measured. A round is flagged when its pass rate falls outside the
//! measured pass rate's 95 % Wilson interval, or its answers are less like the recorded ones than
//! the recorded repetitions were like each other (the drift repetition alone produced).

use std::collections::HashMap;

use serde::Serialize;

use crate::analyze::report::RunRow;
use crate::diff::{Granularity, diff};
use crate::spec::target::LocalSettings;

/// What the served config was measured at.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryBaseline {
    /// Measured runs that passed their checks, of those checked.
    pub passes: usize,
    pub checked: usize,
    /// The recorded outputs of the served config, by case id.
    pub recorded: HashMap<String, Vec<String>>,
}

/// One canary request's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryAnswer {
    pub case: String,
    /// `None`: the request failed.
    pub output: Option<String>,
    /// `None`: the case has no checks a canary can run.
    pub passed: Option<bool>,
}

/// One round, judged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanaryRound {
    pub answers: usize,
    pub errors: usize,
    pub passes: usize,
    pub checked: usize,
    pub pass_rate: Option<f64>,
    /// The measured pass rate's 95 % Wilson interval.
    pub measured_pass_interval: Option<(f64, f64)>,
    /// Mean over answers of their word similarity to the closest recorded output of their case.
    pub similarity: Option<f64>,
    /// The lowest similarity between two recorded repetitions of one case (`None` with one
    /// repetition: drift cannot be told from noise then).
    pub measured_similarity_floor: Option<f64>,
    pub flagged: bool,
    /// Why it was flagged, in words.
    pub reasons: Vec<String>,
}

impl CanaryBaseline {
    /// The baseline of the config (`variant`, `target`, `settings`) from an experiment's runs.
    pub fn of_config(
        runs: &[RunRow],
        variant: &str,
        target: &str,
        settings: Option<LocalSettings>,
    ) -> CanaryBaseline {
        let mut baseline = CanaryBaseline {
            passes: 0,
            checked: 0,
            recorded: HashMap::new(),
        };
        let ours = runs.iter().filter(|r| {
            r.labels.variant == variant
                && r.labels.target == target
                && r.labels.settings == settings
                && r.run.error.is_none()
                && !r.run.cache_hit
        });
        for run in ours {
            if let Some(passed) = run.passed {
                baseline.checked += 1;
                baseline.passes += usize::from(passed);
            }
            baseline
                .recorded
                .entry(run.labels.case.clone())
                .or_default()
                .push(run.run.output.clone());
        }
        baseline
    }

    /// The 95 % Wilson score interval of the measured pass rate.
    pub fn pass_interval(&self) -> Option<(f64, f64)> {
        wilson(self.passes, self.checked)
    }

    /// The lowest word similarity between two recorded repetitions of one case.
    pub fn similarity_floor(&self) -> Option<f64> {
        self.recorded
            .values()
            .flat_map(|outputs| {
                outputs
                    .iter()
                    .enumerate()
                    .flat_map(move |(i, a)| outputs[i + 1..].iter().map(move |b| similarity(a, b)))
            })
            .reduce(f64::min)
    }

    /// Holds a round's answers to the baseline.
    pub fn judge(&self, answers: &[CanaryAnswer]) -> CanaryRound {
        let errors = answers.iter().filter(|a| a.output.is_none()).count();
        let checked: Vec<bool> = answers.iter().filter_map(|a| a.passed).collect();
        let passes = checked.iter().filter(|p| **p).count();
        let pass_rate = (!checked.is_empty()).then(|| passes as f64 / checked.len() as f64);
        let similarities: Vec<f64> = answers
            .iter()
            .filter_map(|a| {
                let output = a.output.as_deref()?;
                self.recorded
                    .get(&a.case)?
                    .iter()
                    .map(|recorded| similarity(output, recorded))
                    .reduce(f64::max)
            })
            .collect();
        let similarity = crate::stats::mean(&similarities);
        let interval = self.pass_interval();
        let floor = self.similarity_floor();
        let mut reasons = Vec::new();
        if let (Some(rate), Some((low, high))) = (pass_rate, interval)
            && !(low..=high).contains(&rate)
        {
            reasons.push(format!(
                "pass rate {:.0} % ({passes} of {}) is outside the measured {:.0}–{:.0} %",
                rate * 100.0,
                checked.len(),
                low * 100.0,
                high * 100.0
            ));
        }
        if let (Some(similarity), Some(floor)) = (similarity, floor)
            && similarity < floor
        {
            reasons.push(format!(
                "answers are {:.2} alike the recorded ones, below the {floor:.2} repetition alone produced",
                similarity
            ));
        }
        if errors > 0 {
            reasons.push(format!("{errors} of {} canary requests failed", answers.len()));
        }
        CanaryRound {
            answers: answers.len(),
            errors,
            passes,
            checked: checked.len(),
            pass_rate,
            measured_pass_interval: interval,
            similarity,
            measured_similarity_floor: floor,
            flagged: !reasons.is_empty(),
            reasons,
        }
    }
}

fn similarity(a: &str, b: &str) -> f64 {
    if a == b {
        1.0
    } else {
        diff(a, b, Granularity::Word).similarity
    }
}

/// The 95 % Wilson score interval of `successes` in `trials`.
pub fn wilson(successes: usize, trials: usize) -> Option<(f64, f64)> {
    if trials == 0 {
        return None;
    }
    let (n, p, z) = (
        trials as f64,
        successes as f64 / trials as f64,
        1.959_963_984_540_054,
    );
    let center = p + z * z / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    let denominator = 1.0 + z * z / n;
    Some((
        ((center - spread) / denominator).max(0.0),
        ((center + spread) / denominator).min(1.0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline(passes: usize, checked: usize, recorded: &[(&str, &[&str])]) -> CanaryBaseline {
        CanaryBaseline {
            passes,
            checked,
            recorded: recorded
                .iter()
                .map(|(case, outputs)| (case.to_string(), outputs.iter().map(|o| o.to_string()).collect()))
                .collect(),
        }
    }

    fn answer(case: &str, output: Option<&str>, passed: Option<bool>) -> CanaryAnswer {
        CanaryAnswer {
            case: case.into(),
            output: output.map(str::to_string),
            passed,
        }
    }

    #[test]
    fn wilson_intervals_match_the_textbook_values() {
        let (low, high) = wilson(8, 8).unwrap();
        assert!((low - 0.6756).abs() < 1e-4 && high == 1.0, "{low} {high}");
        let (low, high) = wilson(5, 10).unwrap();
        assert!(
            (low - 0.2366).abs() < 1e-4 && (high - 0.7634).abs() < 1e-4,
            "{low} {high}"
        );
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn a_round_as_measured_passes_and_a_broken_one_is_flagged_with_its_reasons() {
        let measured = baseline(
            8,
            8,
            &[
                ("a", &["Berlin 1989", "Berlin 1989"]),
                ("b", &["Paris 1889", "Paris 1889"]),
            ],
        );
        let good = measured.judge(&[
            answer("a", Some("Berlin 1989"), Some(true)),
            answer("b", Some("Paris 1889"), Some(true)),
        ]);
        assert!(!good.flagged, "{good:?}");
        assert_eq!(good.similarity, Some(1.0));
        let broken = measured.judge(&[
            answer("a", Some("I do not know"), Some(false)),
            answer("b", None, None),
        ]);
        assert!(broken.flagged);
        assert_eq!(broken.reasons.len(), 3, "{:?}", broken.reasons);
        assert!(broken.reasons[0].starts_with("pass rate 0 % (0 of 1) is outside the measured 68–100 %"));
        assert!(broken.reasons[1].contains("below the 1.00 repetition alone produced"));
        assert!(broken.reasons[2].contains("1 of 2 canary requests failed"));
    }

    #[test]
    fn with_one_repetition_drift_is_reported_but_not_judged() {
        let measured = baseline(2, 2, &[("a", &["Berlin 1989"])]);
        let round = measured.judge(&[answer("a", Some("Berlin, 1989"), Some(true))]);
        assert_eq!(round.measured_similarity_floor, None);
        assert!(round.similarity.unwrap() < 1.0);
        assert!(!round.flagged);
    }
}
