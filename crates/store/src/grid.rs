//! The results grid: every run of an experiment as a light cell (metrics and the start of its
//! output), with full outputs loaded on demand.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use tradeoff_core::run::{RunError, RunMetrics};
use tradeoff_core::spec::checks::CheckResult;

use crate::runs;
use crate::{Store, StoreError};

/// Characters of output carried by a grid cell; the rest loads with [`Store::run_output`].
pub const PREVIEW_CHARS: usize = 600;

/// One run as the results grid shows it: its place, its measurements, the start of its output
/// and what its checks said. The app sends it to the UI as it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GridCell {
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub run_id: i64,
    /// Position of the config in the experiment's report order.
    pub config: u32,
    /// Position of the case in the experiment file.
    pub case: u32,
    pub repetition: u32,
    /// `None` for a failed run.
    pub metrics: Option<RunMetrics>,
    /// Generation tokens per second, from `metrics` (the one rule, `RunMetrics::gen_tokens_per_s`).
    pub gen_tokens_per_s: Option<f64>,
    /// The output, or its first characters when `complete` is false.
    pub preview: String,
    /// Whether `preview` is the whole output.
    pub complete: bool,
    pub error: Option<RunError>,
    /// Whether the run passed its checks (`None`: none apply), and the checks it failed.
    pub passed: Option<bool>,
    pub failed_checks: Vec<String>,
    /// Answered from the response cache: its timings are the original run's.
    pub cache_hit: bool,
}

impl Store {
    /// The cells of `case_count` cases starting at case position `first_case`, for one
    /// repetition or all: what one screen of the results grid needs.
    pub fn grid_page(
        &self,
        experiment_id: i64,
        repetition: Option<u32>,
        first_case: u32,
        case_count: u32,
    ) -> Result<Vec<GridCell>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT r.id, c.position, k.position, r.repetition, r.metrics_json,
                    substr(r.output, 1, ?2), length(r.output), r.error_class, r.error_message,
                    r.passed, CASE WHEN r.passed = 0 THEN r.checks_json ELSE '[]' END, r.cache_hit
             FROM cases k
             JOIN runs r ON r.case_id = k.id
             JOIN configs c ON c.id = r.config_id
             WHERE k.experiment_id = ?1 AND k.position >= ?3 AND k.position < ?4
               AND (?5 IS NULL OR r.repetition = ?5)
             ORDER BY k.position, c.position, r.repetition",
        )?;
        let end = i64::from(first_case) + i64::from(case_count);
        let cells = statement.query_map(
            params![
                experiment_id,
                PREVIEW_CHARS as i64,
                i64::from(first_case),
                end,
                repetition.map(i64::from)
            ],
            |r| {
                let metrics: Option<RunMetrics> = match r.get::<_, Option<String>>(4)? {
                    Some(json) => Some(serde_json::from_str(&json).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, e.into())
                    })?),
                    None => None,
                };
                let length: i64 = r.get(6)?;
                let checks_json: String = r.get(10)?;
                // Only failed runs carry their checks here; the grid names what failed.
                let failed_checks = serde_json::from_str::<Vec<CheckResult>>(&checks_json)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|c| !c.passed)
                    .map(|c| match c.detail {
                        Some(detail) => format!("{}: {detail}", c.check),
                        None => c.check,
                    })
                    .collect();
                Ok(GridCell {
                    run_id: r.get(0)?,
                    config: r.get::<_, i64>(1)? as u32,
                    case: r.get::<_, i64>(2)? as u32,
                    repetition: r.get::<_, i64>(3)? as u32,
                    gen_tokens_per_s: metrics.as_ref().and_then(RunMetrics::gen_tokens_per_s),
                    metrics,
                    preview: r.get(5)?,
                    complete: length <= PREVIEW_CHARS as i64,
                    error: runs::run_error(r.get(7)?, r.get(8)?),
                    passed: r.get(9)?,
                    failed_checks,
                    cache_hit: r.get(11)?,
                })
            },
        )?;
        Ok(cells.collect::<Result<_, _>>()?)
    }

    pub fn run_output(&self, run_id: i64) -> Result<String, StoreError> {
        self.conn
            .query_row("SELECT output FROM runs WHERE id = ?1", [run_id], |r| r.get(0))
            .optional()?
            .ok_or(StoreError::RunNotFound(run_id))
    }
}
