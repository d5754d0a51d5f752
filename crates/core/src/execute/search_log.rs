//! What a search records besides its runs: each config it dropped, when and why, and how the
//! search ended. The `search` layer decides; the store keeps these; reports show them.

use serde::{Deserialize, Serialize};

/// A config a search stopped running.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Elimination {
    /// The config's position in the plan.
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub config: usize,
    /// The round (racing) or rung (halving) after which it was dropped, from 1.
    pub round: u32,
    /// Why, in words (`pass rate ≤ 0.42 at 95 %, below the constraint pass_rate >= 0.8`).
    pub reason: String,
    /// The cases it had run when it was dropped.
    pub cases_run: u32,
}

/// A round of a search as it finishes: for live progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRound {
    pub round: u32,
    /// Configs still in, by plan position.
    pub alive: Vec<usize>,
    /// Dropped after this round.
    pub eliminated: Vec<Elimination>,
    pub runs_used: usize,
    pub runs_grid: usize,
}

/// How a search went, recorded when it ends.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRecord {
    /// `grid`, `racing` or `halving`.
    pub strategy: String,
    pub confidence: f64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub seed: u64,
    /// The runs the full grid has, and the rounds the search took.
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub runs_grid: usize,
    pub rounds: u32,
    /// Why it ended (`every case run`, `one config left`, `budget: max_runs 200`).
    pub stopped: String,
    /// How sure the pick among the configs left is, in words.
    pub sureness: String,
}
