//! What the runner hands to a sink: one finished run (its output, metrics or error, checks,
//! cost and attempts), and a grader's judgement of one of its checks.

use serde::{Deserialize, Serialize};

use crate::execute::remote::Attempt;
use crate::run::{FinishReason, RunError, RunMetrics};
use crate::spec::checks::CheckResult;

/// One finished run as the runner hands it to a sink. Indices refer to the [`crate::spec::matrix::Plan`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub config: usize,
    pub case: usize,
    pub repetition: u32,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub output: String,
    pub finish_reason: Option<FinishReason>,
    pub metrics: Option<RunMetrics>,
    pub error: Option<RunError>,
    pub warnings: Vec<String>,
    /// Results of the checks that apply to the run's case, in order; empty for a failed run.
    #[serde(default)]
    pub checks: Vec<CheckResult>,
    /// What the run cost by its target's price; `None` without a price.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// Remote runs: every attempt it took (empty for local runs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// The answer came from the response cache: no call was made, the metrics are the
    /// original run's, and the run stays out of latency, throughput and cost statistics.
    #[serde(default)]
    pub cache_hit: bool,
    /// A cache hit: what the original run cost, saved this time.
    #[serde(default)]
    pub cache_saved_usd: Option<f64>,
}

impl RunRecord {
    /// A run of config `config` on case `case` that has produced nothing yet.
    pub fn new(config: usize, case: usize, repetition: u32, started_at: String) -> RunRecord {
        RunRecord {
            config,
            case,
            repetition,
            started_at,
            output: String::new(),
            finish_reason: None,
            metrics: None,
            error: None,
            warnings: Vec::new(),
            checks: Vec::new(),
            cost_usd: None,
            attempts: Vec::new(),
            cache_hit: false,
            cache_saved_usd: None,
        }
    }

    /// Whether the run passed its checks: `None` when its case has none. A run that failed
    /// to produce output does not pass.
    pub fn passed(&self, has_checks: bool) -> Option<bool> {
        has_checks.then(|| self.error.is_none() && self.checks.iter().all(|c| c.passed))
    }

    /// The mean score of its checks; a failed run scores 0.
    pub fn score(&self, has_checks: bool) -> Option<f64> {
        if !has_checks {
            return None;
        }
        if self.error.is_some() || self.checks.is_empty() {
            return Some(0.0);
        }
        Some(self.checks.iter().map(|c| c.score).sum::<f64>() / self.checks.len() as f64)
    }
}

/// One grader call about one check of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub config: usize,
    pub case: usize,
    pub repetition: u32,
    /// The judge check's position among the run's checks.
    pub check_index: usize,
    /// The grader's id.
    pub grader: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// The text the grader was given.
    pub prompt: String,
    /// What the grader answered.
    pub answer: String,
    pub passed: bool,
    pub score: f64,
    pub reason: Option<String>,
    /// The call failed or its answer could not be read; the check then does not pass.
    pub error: Option<RunError>,
    /// The grader's own latency and tokens.
    pub metrics: Option<RunMetrics>,
    /// What the grader call cost by the grader's price.
    pub cost_usd: Option<f64>,
    pub warnings: Vec<String>,
}
