//! Writing an experiment and its runs.

use rusqlite::{OptionalExtension, params};
use tradeoff_core::analyze::report::TargetInfo;
use tradeoff_core::execute::cache::CachedRun;
use tradeoff_core::execute::environment::Environment;
use tradeoff_core::execute::record::Judgement;
use tradeoff_core::execute::record::RunRecord;
use tradeoff_core::execute::resume::ExperimentStatus;
use tradeoff_core::execute::search_log::{Elimination, SearchRecord};
use tradeoff_core::execute::sink::{LoadEvent, RunSink, SinkError};
use tradeoff_core::format::now_rfc3339;
use tradeoff_core::run::FinishReason;
use tradeoff_core::spec::experiment::Experiment;
use tradeoff_core::spec::matrix::Plan;
use tradeoff_core::spec::recorded::Recorded;

use crate::runs::{self, RunPlace};
use crate::{Owner, Store, StoreError};

/// The rows of one experiment, mapping the plan's indices to database ids.
#[derive(Debug)]
pub struct ExperimentWriter<'a> {
    pub(crate) store: &'a Store,
    pub(crate) experiment_id: i64,
    pub(crate) target_ids: Vec<i64>,
    pub(crate) case_ids: Vec<i64>,
    /// Whether each case has checks, so that a run without check results reads as unchecked
    /// rather than passed.
    pub(crate) case_has_checks: Vec<bool>,
    pub(crate) config_ids: Vec<i64>,
}

impl Store {
    /// Records an experiment with its variants, cases, targets and configs before any run, so
    /// that a report of a half-finished experiment still shows what was planned. The experiment
    /// is kept as its file and resolved facts (`spec::recorded`): resolve it first, for its
    /// model hashes and table prices. `owner` is the process that will record the runs
    /// ([`Owner::current`]): when it is gone while the experiment still reads `running`, the
    /// experiment was interrupted.
    pub fn begin_experiment(
        &mut self,
        experiment: &Experiment,
        plan: &Plan,
        environment: &Environment,
        owner: &Owner,
    ) -> Result<ExperimentWriter<'_>, StoreError> {
        let recorded = Recorded::of(experiment).ok_or(StoreError::NotWritten)?;
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO experiments (name, source, file_json, facts_json, environment_json, created_at,
                 status, owner_pid, owner_start_time, owner_boot_id, planned_runs)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7, ?8, ?9, ?10)",
            params![
                experiment.name,
                experiment
                    .source
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned()),
                serde_json::to_string(&recorded.file)?,
                serde_json::to_string(&recorded.facts)?,
                serde_json::to_string(environment)?,
                now_rfc3339(),
                i64::from(owner.pid),
                owner.start_time.map(saturating_i64),
                owner.boot_id,
                saturating_i64(plan.total_runs() as u64),
            ],
        )?;
        let experiment_id = tx.last_insert_rowid();

        let mut variant_ids = Vec::with_capacity(experiment.variants.len());
        for (position, variant) in experiment.variants.iter().enumerate() {
            tx.execute(
                "INSERT INTO variants (experiment_id, position, key, template_json) VALUES (?1, ?2, ?3, ?4)",
                params![
                    experiment_id,
                    position as i64,
                    variant.id,
                    serde_json::to_string(&variant.template)?
                ],
            )?;
            variant_ids.push(tx.last_insert_rowid());
        }
        let mut case_ids = Vec::with_capacity(experiment.cases.len());
        for (position, case) in experiment.cases.iter().enumerate() {
            tx.execute(
                "INSERT INTO cases (experiment_id, position, key, vars_json, expected) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![experiment_id, position as i64, case.id, serde_json::to_string(&case.vars)?, case.expected],
            )?;
            case_ids.push(tx.last_insert_rowid());
        }
        let mut target_ids = Vec::with_capacity(experiment.targets.len());
        for (position, target) in experiment.targets.iter().enumerate() {
            let info = TargetInfo::of(target);
            let remote = target.remote();
            tx.execute(
                "INSERT INTO targets (experiment_id, position, key, model_path, model_sha256, provider,
                     remote_model, info_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    experiment_id,
                    position as i64,
                    target.id,
                    info.model_path,
                    info.model_sha256,
                    remote.map(|r| r.provider.as_str()),
                    remote.map(|r| r.model.as_str()),
                    serde_json::to_string(&info)?,
                ],
            )?;
            target_ids.push(tx.last_insert_rowid());
        }
        let mut config_ids = Vec::with_capacity(plan.configs.len());
        for (position, config) in plan.configs.iter().enumerate() {
            tx.execute(
                "INSERT INTO configs (experiment_id, position, variant_id, target_id, n_ctx, threads,
                     batch, kv_type, n_gpu_layers, parallel, prefix_cache)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    experiment_id,
                    position as i64,
                    variant_ids[config.variant],
                    target_ids[config.target],
                    config.settings.map(|s| i64::from(s.n_ctx)),
                    config.settings.map(|s| i64::from(s.threads)),
                    config.settings.map(|s| i64::from(s.batch)),
                    config.settings.map(|s| s.kv_type.as_str()),
                    config.settings.map(|s| i64::from(s.n_gpu_layers)),
                    config.settings.map(|s| i64::from(s.parallel)),
                    config.settings.map(|s| s.prefix_cache),
                ],
            )?;
            config_ids.push(tx.last_insert_rowid());
        }
        tx.commit()?;
        Ok(ExperimentWriter {
            store: self,
            experiment_id,
            target_ids,
            case_ids,
            case_has_checks: (0..experiment.cases.len())
                .map(|case| experiment.checks_for(case).next().is_some())
                .collect(),
            config_ids,
        })
    }

    /// Marks an experiment finished with `status` (`completed` or `cancelled`).
    pub fn finish_experiment(&self, experiment_id: i64, status: ExperimentStatus) -> Result<(), StoreError> {
        let changed = self.conn.execute(
            "UPDATE experiments SET status = ?2, finished_at = ?3 WHERE id = ?1",
            params![experiment_id, status.as_str(), now_rfc3339()],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(experiment_id));
        }
        Ok(())
    }
}

impl ExperimentWriter<'_> {
    pub fn experiment_id(&self) -> i64 {
        self.experiment_id
    }

    fn insert_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let config_id = self.config_ids.get(run.config).copied();
        let case_id = self.case_ids.get(run.case).copied();
        let has_checks = self.case_has_checks.get(run.case).copied().unwrap_or(false);
        let (Some(config_id), Some(case_id)) = (config_id, case_id) else {
            return Err(StoreError::Sqlite(rusqlite::Error::InvalidParameterName(
                format!(
                    "run refers to config {} / case {}, which this experiment does not have",
                    run.config, run.case
                ),
            )));
        };
        let place = RunPlace {
            config_id,
            case_id,
            has_checks,
        };
        runs::insert_run(self.store, run, place)
    }

    /// Records a judgement and gives its run the checks, pass and score it now has, in one
    /// transaction: a run never shows a verdict whose judgement is not recorded.
    fn insert_judgement(&self, judgement: &Judgement, run: &RunRecord) -> Result<(), StoreError> {
        let (Some(config_id), Some(case_id)) = (
            self.config_ids.get(run.config).copied(),
            self.case_ids.get(run.case).copied(),
        ) else {
            return Err(StoreError::Sqlite(rusqlite::Error::InvalidParameterName(
                format!(
                    "judgement refers to config {} / case {}, which this experiment does not have",
                    run.config, run.case
                ),
            )));
        };
        let has_checks = self.case_has_checks.get(run.case).copied().unwrap_or(false);
        let tx = self.store.conn.unchecked_transaction()?;
        let run_id: i64 = tx.query_row(
            "SELECT id FROM runs WHERE config_id = ?1 AND case_id = ?2 AND repetition = ?3",
            params![config_id, case_id, i64::from(run.repetition)],
            |r| r.get(0),
        )?;
        tx.execute(
            "UPDATE runs SET checks_json = ?2, passed = ?3, score = ?4 WHERE id = ?1",
            params![
                run_id,
                serde_json::to_string(&run.checks)?,
                run.passed(has_checks),
                run.score(has_checks),
            ],
        )?;
        let metrics = judgement.metrics.as_ref();
        tx.execute(
            "INSERT OR REPLACE INTO judgements (run_id, check_index, grader, started_at, prompt, answer,
                 passed, score, reason, error_class, error_message, metrics_json, latency_ms,
                 input_tokens, output_tokens, cost_usd, warnings_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            params![
                run_id,
                judgement.check_index as i64,
                judgement.grader,
                judgement.started_at,
                judgement.prompt,
                judgement.answer,
                judgement.passed,
                judgement.score,
                judgement.reason,
                judgement.error.as_ref().map(|e| e.class.as_str()),
                judgement.error.as_ref().map(|e| e.message.as_str()),
                metrics.map(serde_json::to_string).transpose()?,
                metrics.map(|m| m.latency_ms),
                metrics.map(|m| i64::from(m.input_tokens)),
                metrics.map(|m| i64::from(m.output_tokens)),
                judgement.cost_usd,
                serde_json::to_string(&judgement.warnings)?,
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn insert_load(&self, event: &LoadEvent) -> Result<(), StoreError> {
        let Some(target_id) = self.target_ids.get(event.target).copied() else {
            return Err(StoreError::Sqlite(rusqlite::Error::InvalidParameterName(
                format!(
                    "load refers to target {}, which this experiment does not have",
                    event.target
                ),
            )));
        };
        self.store.conn.execute(
            "INSERT INTO loads (target_id, n_ctx, model_load_ms, context_create_ms, error_class,
                 error_message, warnings_json, recorded_at, threads, batch, kv_type, n_gpu_layers,
                 kv_cache_bytes, parallel, prefix_cache)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                target_id,
                i64::from(event.settings.n_ctx),
                event.model_load_ms,
                event.context_create_ms,
                event.error.as_ref().map(|e| e.class.as_str()),
                event.error.as_ref().map(|e| e.message.as_str()),
                serde_json::to_string(&event.warnings)?,
                now_rfc3339(),
                i64::from(event.settings.threads),
                i64::from(event.settings.batch),
                event.settings.kv_type.as_str(),
                i64::from(event.settings.n_gpu_layers),
                event.kv_cache_bytes.map(saturating_i64),
                i64::from(event.settings.parallel),
                event.settings.prefix_cache,
            ],
        )?;
        Ok(())
    }
}

impl RunSink for ExperimentWriter<'_> {
    fn record_load(&mut self, event: &LoadEvent) -> Result<(), SinkError> {
        self.insert_load(event).map_err(|e| SinkError(e.to_string()))
    }

    fn record_run(&mut self, run: &RunRecord) -> Result<(), SinkError> {
        self.insert_run(run).map_err(|e| SinkError(e.to_string()))
    }

    fn record_judgement(&mut self, judgement: &Judgement, run: &RunRecord) -> Result<(), SinkError> {
        self.insert_judgement(judgement, run)
            .map_err(|e| SinkError(e.to_string()))
    }

    fn record_elimination(&mut self, elimination: &Elimination) -> Result<(), SinkError> {
        let config_id = self
            .config_ids
            .get(elimination.config)
            .ok_or_else(|| SinkError(format!("no config {} to drop", elimination.config)))?;
        self.store
            .conn
            .execute(
                "INSERT OR REPLACE INTO eliminations (config_id, round, reason, cases_run)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    config_id,
                    i64::from(elimination.round),
                    elimination.reason,
                    i64::from(elimination.cases_run)
                ],
            )
            .map(drop)
            .map_err(|e| SinkError(e.to_string()))
    }

    fn record_search(&mut self, search: &SearchRecord) -> Result<(), SinkError> {
        let json = serde_json::to_string(search).map_err(|e| SinkError(e.to_string()))?;
        self.store
            .conn
            .execute(
                "INSERT OR REPLACE INTO searches (experiment_id, record_json) VALUES (?1, ?2)",
                params![self.experiment_id, json],
            )
            .map(drop)
            .map_err(|e| SinkError(e.to_string()))
    }

    fn cached(&mut self, key: &str) -> Result<Option<CachedRun>, SinkError> {
        self.store
            .cached_response(key)
            .map_err(|e| SinkError(e.to_string()))
    }

    fn remember(&mut self, key: &str, run: &RunRecord) -> Result<(), SinkError> {
        self.store
            .remember_response(key, run)
            .map_err(|e| SinkError(e.to_string()))
    }
}

/// SQLite integers are signed 64-bit; byte counts beyond that do not occur, but must not wrap.
fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Store {
    /// The stored answer for a response-cache key.
    pub fn cached_response(&self, key: &str) -> Result<Option<CachedRun>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT output, finish_reason, metrics_json, warnings_json FROM response_cache WHERE key = ?1",
                [key],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )
            .optional()?;
        let Some((output, finish_reason, metrics, warnings)) = row else {
            return Ok(None);
        };
        // An entry this version cannot read is a miss, not an error: the run is made again.
        let Some(finish_reason) = FinishReason::parse(&finish_reason) else {
            return Ok(None);
        };
        let (Ok(metrics), Ok(warnings)) = (serde_json::from_str(&metrics), serde_json::from_str(&warnings))
        else {
            return Ok(None);
        };
        Ok(Some(CachedRun {
            output,
            finish_reason,
            metrics,
            warnings,
        }))
    }

    /// Stores (or replaces) a finished run's answer under a response-cache key.
    pub fn remember_response(&self, key: &str, run: &RunRecord) -> Result<(), StoreError> {
        let (Some(metrics), Some(finish_reason)) = (&run.metrics, run.finish_reason) else {
            return Ok(());
        };
        self.conn.execute(
            "INSERT OR REPLACE INTO response_cache (key, output, finish_reason, metrics_json, warnings_json, stored_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                key,
                run.output,
                finish_reason.as_str(),
                serde_json::to_string(metrics)?,
                serde_json::to_string(&run.warnings)?,
                now_rfc3339()
            ],
        )?;
        Ok(())
    }
}
