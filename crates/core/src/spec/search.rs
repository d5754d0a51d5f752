//! How an experiment searches its configs (`search:` in the file, `--search` on `tradeoff
//! run`): every run of the grid, or a race or successive halving that stops spending runs on
//! configs that are out. Running a search is the `search` layer's.

use serde::{Deserialize, Serialize};

/// `search:` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSpec {
    #[serde(default)]
    pub strategy: Strategy,
    #[serde(default, skip_serializing_if = "SearchBudget::is_unbounded")]
    pub budget: SearchBudget,
    /// The chance that racing keeps the config the full grid would pick (0.95).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// Seeds the order in which cases are drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Racing: cases per round (every surviving config runs them, repetitions together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
    /// Halving: keep the best 1/eta of the configs at each rung.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Every run of every config.
    #[default]
    Grid,
    /// Rounds of cases; a config is dropped once confidently out under the objective.
    Racing,
    /// Successive halving: all configs on a few cases, the best 1/eta on more, and so on.
    Halving,
}

impl Strategy {
    pub fn parse(text: &str) -> Option<Strategy> {
        match text.trim() {
            "grid" => Some(Strategy::Grid),
            "racing" => Some(Strategy::Racing),
            "halving" => Some(Strategy::Halving),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Grid => "grid",
            Strategy::Racing => "racing",
            Strategy::Halving => "halving",
        }
    }
}

/// Limits that end a search early; the pick is then made among the configs still in.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchBudget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_minutes: Option<f64>,
}

impl SearchBudget {
    pub fn is_unbounded(&self) -> bool {
        *self == SearchBudget::default()
    }
}

pub const DEFAULT_CONFIDENCE: f64 = 0.95;
pub const DEFAULT_BATCH: u32 = 5;
pub const DEFAULT_ETA: u32 = 3;

/// A validated search.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Search {
    pub strategy: Strategy,
    pub budget: SearchBudget,
    pub confidence: f64,
    pub seed: u64,
    pub batch: u32,
    pub eta: u32,
}

impl Default for Search {
    fn default() -> Self {
        Search {
            strategy: Strategy::Grid,
            budget: SearchBudget::default(),
            confidence: DEFAULT_CONFIDENCE,
            seed: 0,
            batch: DEFAULT_BATCH,
            eta: DEFAULT_ETA,
        }
    }
}

/// A field of `search:` that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchProblem {
    pub field: &'static str,
    pub message: String,
}

impl SearchSpec {
    pub fn validate(&self) -> Result<Search, SearchProblem> {
        let problem = |field: &'static str, message: &str| SearchProblem {
            field,
            message: message.to_string(),
        };
        let confidence = self.confidence.unwrap_or(DEFAULT_CONFIDENCE);
        if !(confidence > 0.5 && confidence < 1.0) {
            return Err(problem(
                "search.confidence",
                "must be above 0.5 and below 1 (0.95 means a 5 % chance of dropping the config the grid would pick)",
            ));
        }
        let batch = self.batch.unwrap_or(DEFAULT_BATCH);
        if batch == 0 {
            return Err(problem("search.batch", "must be at least 1 case per round"));
        }
        let eta = self.eta.unwrap_or(DEFAULT_ETA);
        if eta < 2 {
            return Err(problem(
                "search.eta",
                "must be at least 2 (keep the best half or less)",
            ));
        }
        if self.budget.max_runs == Some(0) {
            return Err(problem("search.budget.max_runs", "must be at least 1"));
        }
        for (field, value) in [
            ("search.budget.max_usd", self.budget.max_usd),
            ("search.budget.max_minutes", self.budget.max_minutes),
        ] {
            if value.is_some_and(|v| !(v.is_finite() && v > 0.0)) {
                return Err(problem(field, "must be a positive number"));
            }
        }
        Ok(Search {
            strategy: self.strategy,
            budget: self.budget,
            confidence,
            seed: self.seed.unwrap_or(0),
            batch,
            eta,
        })
    }
}
