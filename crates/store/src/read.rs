//! Reading experiments back as reports and lists.

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;
use tradeoff_core::analyze::report::{
    ConfigKey, ConfigSummary, EliminatedConfig, GraderSummary, JudgementRow, Report, RunLabels, RunRow,
    SearchReport, TargetInfo, summarize,
};
use tradeoff_core::execute::environment::Environment;
use tradeoff_core::execute::resume::ExperimentStatus;
use tradeoff_core::execute::search_log::{Elimination, SearchRecord};
use tradeoff_core::execute::sink::LoadEvent;

use tradeoff_core::spec::target::{KvType, LocalSettings};

use crate::runs;
use crate::status::{STATUS_COLUMNS, status_at};
use crate::{Store, StoreError};

/// One line of the experiment list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentListing {
    pub id: i64,
    pub name: String,
    pub created_at: String,
    /// `running`, `completed`, `cancelled` or `interrupted` (also a `running` experiment whose
    /// process is gone; see [`crate::Owner`]).
    pub status: ExperimentStatus,
    pub configs: i64,
    /// Runs recorded.
    pub runs: i64,
    pub errors: i64,
    /// Runs the plan has (config × case × repetition); fewer recorded means some are missing.
    pub planned_runs: i64,
    /// The experiment file it was run from, when it came from one.
    pub source: Option<String>,
}

impl Store {
    pub fn latest_experiment_id(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT max(id) FROM experiments", [], |r| {
                r.get::<_, Option<i64>>(0)
            })?
            .ok_or(StoreError::Empty)
    }

    pub fn list_experiments(&self) -> Result<Vec<ExperimentListing>, StoreError> {
        let mut statement = self.conn.prepare(&format!(
            "SELECT e.id, e.name, e.created_at, {STATUS_COLUMNS},
                    (SELECT count(*) FROM configs c WHERE c.experiment_id = e.id),
                    (SELECT count(*) FROM runs r JOIN configs c ON r.config_id = c.id WHERE c.experiment_id = e.id),
                    (SELECT count(*) FROM runs r JOIN configs c ON r.config_id = c.id
                      WHERE c.experiment_id = e.id AND r.error_class IS NOT NULL),
                    coalesce(e.planned_runs, 0), e.source
             FROM experiments e ORDER BY e.id DESC"
        ))?;
        let rows = statement.query_map([], |row| {
            Ok(ExperimentListing {
                id: row.get(0)?,
                name: row.get(1)?,
                created_at: row.get(2)?,
                status: status_at(row, 3)?,
                configs: row.get(7)?,
                runs: row.get(8)?,
                errors: row.get(9)?,
                planned_runs: row.get(10)?,
                source: row.get(11)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The full report of one experiment: targets with their loads, every run, and the
    /// per-config summary.
    pub fn report(&self, experiment_id: i64) -> Result<Report, StoreError> {
        self.report_with(experiment_id, true)
    }

    /// The reports of every recorded run of `experiment_id`'s file (the same absolute path; by
    /// name for experiments not run from a file) up to and including it, oldest first, at most
    /// the last `limit`, outputs left out (`analyze::history` reads figures, not text).
    pub fn history_reports(&self, experiment_id: i64, limit: usize) -> Result<Vec<Report>, StoreError> {
        let (name, source): (String, Option<String>) = self
            .conn
            .query_row(
                "SELECT name, source FROM experiments WHERE id = ?1",
                [experiment_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or(StoreError::NotFound(experiment_id))?;
        let mut statement = self.conn.prepare(
            "SELECT id FROM experiments
             WHERE id <= ?1 AND (CASE WHEN ?2 IS NULL THEN source IS NULL AND name = ?3 ELSE source = ?2 END)
             ORDER BY id DESC LIMIT ?4",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut ids: Vec<i64> = statement
            .query_map(rusqlite::params![experiment_id, source, name, limit], |r| {
                r.get(0)
            })?
            .collect::<Result<_, _>>()?;
        ids.reverse();
        ids.into_iter()
            .map(|id| self.report_without_outputs(id))
            .collect()
    }

    /// The report with every run's output left empty: statistics, warnings and errors of a
    /// large experiment without reading its text.
    pub fn report_without_outputs(&self, experiment_id: i64) -> Result<Report, StoreError> {
        self.report_with(experiment_id, false)
    }

    fn report_with(&self, experiment_id: i64, with_output: bool) -> Result<Report, StoreError> {
        type Head = (
            String,
            Option<String>,
            String,
            Option<String>,
            ExperimentStatus,
            String,
            i64,
        );
        let head: Option<Head> = self
            .conn
            .query_row(
                &format!(
                    "SELECT e.name, e.source, e.created_at, e.finished_at, e.environment_json,
                            coalesce(e.planned_runs, 0), {STATUS_COLUMNS}
                     FROM experiments e WHERE e.id = ?1"
                ),
                [experiment_id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        status_at(r, 6)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((name, source, created_at, finished_at, status, environment_json, planned_runs)) = head
        else {
            return Err(StoreError::NotFound(experiment_id));
        };
        let environment: Environment = serde_json::from_str(&environment_json)?;
        let runs = self.runs(experiment_id, with_output)?;
        let mut configs = summarize(&self.config_keys(experiment_id)?, &runs, with_output);
        let search = self.search(experiment_id, &mut configs, runs.len())?;
        let judgements = self.judgements(experiment_id, with_output)?;
        let mut report = Report {
            grading: GraderSummary::of(&judgements),
            judgements,
            experiment_id,
            name,
            source,
            created_at,
            finished_at,
            status,
            planned_runs: usize::try_from(planned_runs).unwrap_or(0),
            environment,
            targets: self.targets(experiment_id)?,
            configs,
            runs,
            comparison: None,
            search,
        };
        report.attach_load_times();
        Ok(report)
    }

    fn targets(&self, experiment_id: i64) -> Result<Vec<TargetInfo>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT id, info_json, model_path, model_sha256 FROM targets
             WHERE experiment_id = ?1 ORDER BY position",
        )?;
        let rows = statement
            .query_map([experiment_id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut targets = Vec::with_capacity(rows.len());
        for (position, (id, info_json, model_path, model_sha256)) in rows.into_iter().enumerate() {
            let mut info: TargetInfo = serde_json::from_str(&info_json)?;
            info.model_path = model_path;
            info.model_sha256 = model_sha256;
            info.loads = self.loads(id, position, &info)?;
            targets.push(info);
        }
        Ok(targets)
    }

    fn loads(
        &self,
        target_id: i64,
        position: usize,
        target: &TargetInfo,
    ) -> Result<Vec<LoadEvent>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT n_ctx, threads, batch, kv_type, n_gpu_layers, model_load_ms, context_create_ms,
                    kv_cache_bytes, error_class, error_message, warnings_json, parallel, prefix_cache
             FROM loads WHERE target_id = ?1 ORDER BY id",
        )?;
        // Loads recorded before threads, batch and KV type were swept hold NULL there: they
        // ran with the target's single value.
        let first = |values: &[u32]| values.first().copied().unwrap_or(0);
        let rows = statement.query_map([target_id], |r| {
            let settings = LocalSettings {
                n_ctx: r.get::<_, i64>(0)? as u32,
                threads: r
                    .get::<_, Option<i64>>(1)?
                    .map_or(first(&target.threads), |v| v as u32),
                batch: r
                    .get::<_, Option<i64>>(2)?
                    .map_or(first(&target.batch), |v| v as u32),
                kv_type: r
                    .get::<_, Option<String>>(3)?
                    .and_then(|k| KvType::parse(&k))
                    .unwrap_or_default(),
                n_gpu_layers: r.get::<_, Option<i64>>(4)?.map_or(0, |v| v as u32),
                parallel: r.get::<_, Option<i64>>(11)?.map_or(1, |v| v as u32),
                prefix_cache: r.get::<_, Option<bool>>(12)?.unwrap_or(false),
            };
            Ok((
                settings,
                r.get::<_, Option<f64>>(5)?,
                r.get::<_, Option<f64>>(6)?,
                r.get::<_, Option<i64>>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, Option<String>>(9)?,
                r.get::<_, String>(10)?,
            ))
        })?;
        let mut loads = Vec::new();
        for row in rows {
            let (settings, model_load_ms, context_create_ms, kv_bytes, class, message, warnings) = row?;
            loads.push(LoadEvent {
                target: position,
                settings,
                model_load_ms,
                context_create_ms,
                kv_cache_bytes: kv_bytes.map(|v| v as u64),
                error: runs::run_error(class, message),
                warnings: serde_json::from_str(&warnings)?,
            });
        }
        Ok(loads)
    }

    /// The experiment's search, if it ran one, and each dropped config marked on its summary.
    fn search(
        &self,
        experiment_id: i64,
        configs: &mut [ConfigSummary],
        runs_used: usize,
    ) -> Result<Option<SearchReport>, StoreError> {
        let record: Option<String> = self
            .conn
            .query_row(
                "SELECT record_json FROM searches WHERE experiment_id = ?1",
                [experiment_id],
                |r| r.get(0),
            )
            .optional()?;
        let mut statement = self.conn.prepare(
            "SELECT c.position, e.round, e.reason, e.cases_run FROM eliminations e
             JOIN configs c ON c.id = e.config_id
             WHERE c.experiment_id = ?1 ORDER BY e.round, c.position",
        )?;
        let dropped = statement
            .query_map([experiment_id], |r| {
                Ok(Elimination {
                    config: usize::try_from(r.get::<_, i64>(0)?).unwrap_or(usize::MAX),
                    round: u32::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                    reason: r.get(2)?,
                    cases_run: u32::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut eliminated = Vec::with_capacity(dropped.len());
        for elimination in dropped {
            let Some(summary) = configs.get_mut(elimination.config) else {
                continue;
            };
            eliminated.push(EliminatedConfig {
                config: format!(
                    "{} · {} · {}",
                    summary.variant, summary.target, summary.settings_label
                ),
                round: elimination.round,
                reason: elimination.reason.clone(),
                cases_run: elimination.cases_run,
            });
            summary.eliminated = Some(elimination);
        }
        // An interrupted search has drops but no record yet.
        let record: Option<SearchRecord> = record.map(|json| serde_json::from_str(&json)).transpose()?;
        Ok(record.map(|record| SearchReport {
            strategy: record.strategy,
            confidence: record.confidence,
            seed: record.seed,
            runs_used,
            runs_grid: record.runs_grid,
            rounds: record.rounds,
            stopped: record.stopped,
            sureness: record.sureness,
            eliminated,
        }))
    }

    fn config_keys(&self, experiment_id: i64) -> Result<Vec<ConfigKey>, StoreError> {
        let mut statement = self.conn.prepare(&format!(
            "SELECT v.key, t.key, {SETTINGS_COLUMNS},
                    t.provider, t.remote_model
             FROM configs c
                 JOIN variants v ON v.id = c.variant_id JOIN targets t ON t.id = c.target_id
                 WHERE c.experiment_id = ?1 ORDER BY c.position"
        ))?;
        let keys = statement.query_map([experiment_id], |r| {
            Ok(ConfigKey {
                variant: r.get(0)?,
                target: r.get(1)?,
                settings: settings_at(r, 2)?,
                remote: remote_label(r.get(9)?, r.get(10)?),
            })
        })?;
        Ok(keys.collect::<Result<_, _>>()?)
    }

    fn runs(&self, experiment_id: i64, with_output: bool) -> Result<Vec<RunRow>, StoreError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT v.key, t.key, k.key, c.position, k.position, {SETTINGS_COLUMNS}, {}
             FROM runs r
             JOIN configs c ON c.id = r.config_id
             JOIN variants v ON v.id = c.variant_id
             JOIN targets t ON t.id = c.target_id
             JOIN cases k ON k.id = r.case_id
             WHERE c.experiment_id = ?1
             ORDER BY c.position, k.position, r.repetition",
            runs::select_list("r", "CASE WHEN ?2 THEN r.output ELSE '' END"),
        ))?;
        let rows = statement.query_map(params![experiment_id, with_output], |r| {
            let labels = RunLabels {
                variant: r.get(0)?,
                target: r.get(1)?,
                settings: settings_at(r, 5)?,
                case: r.get(2)?,
            };
            let config = r.get::<_, i64>(3)? as usize;
            let case = r.get::<_, i64>(4)? as usize;
            runs::run_row(r, 5 + SETTINGS_COUNT, labels, config, case)
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Store {
    fn judgements(&self, experiment_id: i64, with_output: bool) -> Result<Vec<JudgementRow>, StoreError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT v.key, t.key, k.key, r.repetition, j.check_index, j.grader, j.passed, j.score,
                    j.reason, j.error_class, j.error_message, j.latency_ms, j.input_tokens,
                    j.output_tokens, j.cost_usd, CASE WHEN ?2 THEN j.answer ELSE '' END, {SETTINGS_COLUMNS}
             FROM judgements j
             JOIN runs r ON r.id = j.run_id
             JOIN configs c ON c.id = r.config_id
             JOIN variants v ON v.id = c.variant_id
             JOIN targets t ON t.id = c.target_id
             JOIN cases k ON k.id = r.case_id
             WHERE c.experiment_id = ?1
             ORDER BY c.position, k.position, r.repetition, j.check_index"
        ))?;
        let rows = statement.query_map(params![experiment_id, with_output], |r| {
            Ok(JudgementRow {
                variant: r.get(0)?,
                target: r.get(1)?,
                case: r.get(2)?,
                repetition: r.get::<_, i64>(3)? as u32,
                check_index: r.get::<_, i64>(4)? as usize,
                grader: r.get(5)?,
                passed: r.get(6)?,
                score: r.get(7)?,
                reason: r.get(8)?,
                error: runs::run_error(r.get(9)?, r.get(10)?),
                latency_ms: r.get(11)?,
                input_tokens: r.get::<_, Option<i64>>(12)?.map(|v| v as u32),
                output_tokens: r.get::<_, Option<i64>>(13)?.map(|v| v as u32),
                cost_usd: r.get(14)?,
                answer: r.get(15)?,
                settings: settings_at(r, 16)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// The settings columns of `configs c`, read back by [`settings_at`].
const SETTINGS_COLUMNS: &str =
    "c.n_ctx, c.threads, c.batch, c.kv_type, c.n_gpu_layers, c.parallel, c.prefix_cache";
const SETTINGS_COUNT: usize = 7;

/// A remote config's label part from its target's provider and model.
fn remote_label(provider: Option<String>, model: Option<String>) -> Option<String> {
    Some(format!("{} {}", provider?, model.unwrap_or_default()))
}

/// `None` for a remote config, whose settings columns are NULL.
pub(crate) fn settings_at(r: &Row<'_>, first: usize) -> rusqlite::Result<Option<LocalSettings>> {
    let Some(kv_type) = r.get::<_, Option<String>>(first + 3)? else {
        return Ok(None);
    };
    Ok(Some(LocalSettings {
        n_ctx: r.get::<_, i64>(first)? as u32,
        threads: r.get::<_, i64>(first + 1)? as u32,
        batch: r.get::<_, i64>(first + 2)? as u32,
        kv_type: KvType::parse(&kv_type).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                first + 3,
                rusqlite::types::Type::Text,
                format!("unknown KV cache type `{kv_type}`").into(),
            )
        })?,
        n_gpu_layers: r.get::<_, i64>(first + 4)? as u32,
        parallel: r.get::<_, i64>(first + 5)? as u32,
        prefix_cache: r.get(first + 6)?,
    }))
}
