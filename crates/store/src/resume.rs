//! Taking over an unfinished experiment (`tradeoff run --resume`): the same rows, a new owner,
//! and only the runs not recorded yet.
//!
//! No run is recorded twice: `runs` is UNIQUE on (config, case, repetition), and the take-over
//! happens in one write transaction (BEGIN IMMEDIATE) that checks the owner is gone, reads the
//! recorded runs and makes this process the owner, so of two resumes at once the second finds a
//! live owner and is refused.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tradeoff_core::spec::experiment::Experiment;
use tradeoff_core::spec::matrix::{Plan, PlannedRun};

use crate::read::settings_at;
use crate::status::{STATUS_COLUMNS, StoredStatus, owner_at, shown_status};
use crate::{ExperimentWriter, Owner, Store, StoreError};
use tradeoff_core::execute::resume::ExperimentStatus;

impl Store {
    /// Whether experiment `experiment_id` can be resumed with these model files (sha256 per
    /// target, `None` where unknown): it exists, is not completed, its owner is gone and its
    /// models are the files it began with. Read-only; [`Store::resume_experiment`] checks again
    /// when it takes the experiment over.
    pub fn check_resumable(
        &self,
        experiment_id: i64,
        model_sha256: &[Option<String>],
    ) -> Result<(), StoreError> {
        resumable(&self.conn, experiment_id, model_sha256)
    }

    /// Makes `owner` the owner of an unfinished experiment and returns its writer with the runs
    /// already recorded; the caller runs the rest of `plan` (see
    /// `tradeoff_core::execute::resume::missing_runs`). `experiment` and `plan` are the recorded ones
    /// ([`Store::experiment`] and `Plan::new` of it); a plan that does not match the recorded
    /// configs is refused rather than recorded under the wrong rows.
    pub fn resume_experiment(
        &mut self,
        experiment_id: i64,
        experiment: &Experiment,
        plan: &Plan,
        model_sha256: &[Option<String>],
        owner: &Owner,
    ) -> Result<(ExperimentWriter<'_>, Vec<PlannedRun>), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        resumable(&tx, experiment_id, model_sha256)?;
        let target_ids = ids_by_position(&tx, "targets", experiment_id)?;
        let case_ids = ids_by_position(&tx, "cases", experiment_id)?;
        let config_ids = ids_by_position(&tx, "configs", experiment_id)?;
        let mismatch = |reason: String| StoreError::PlanMismatch {
            id: experiment_id,
            reason,
        };
        if target_ids.len() != experiment.targets.len() || case_ids.len() != experiment.cases.len() {
            return Err(mismatch(format!(
                "{} targets and {} cases recorded, {} and {} in its spec",
                target_ids.len(),
                case_ids.len(),
                experiment.targets.len(),
                experiment.cases.len()
            )));
        }
        let recorded_configs = config_positions(&tx, experiment_id)?;
        let planned_configs: Vec<_> = plan
            .configs
            .iter()
            .map(|c| (c.variant, c.target, c.settings))
            .collect();
        if recorded_configs != planned_configs {
            return Err(mismatch(format!(
                "{} configs recorded, the plan has {} or orders them differently",
                recorded_configs.len(),
                planned_configs.len()
            )));
        }
        let recorded = recorded_runs(&tx, experiment_id)?;
        tx.execute(
            "UPDATE experiments SET status = 'running', finished_at = NULL, owner_pid = ?2,
                 owner_start_time = ?3, owner_boot_id = ?4
             WHERE id = ?1",
            params![
                experiment_id,
                i64::from(owner.pid),
                owner.start_time.and_then(|t| i64::try_from(t).ok()),
                owner.boot_id,
            ],
        )?;
        tx.commit()?;
        let writer = ExperimentWriter {
            store: self,
            experiment_id,
            target_ids,
            case_ids,
            case_has_checks: (0..experiment.cases.len())
                .map(|case| experiment.checks_for(case).next().is_some())
                .collect(),
            config_ids,
        };
        Ok((writer, recorded))
    }
}

fn resumable(
    conn: &Connection,
    experiment_id: i64,
    model_sha256: &[Option<String>],
) -> Result<(), StoreError> {
    let state = conn
        .query_row(
            &format!("SELECT {STATUS_COLUMNS} FROM experiments e WHERE e.id = ?1"),
            [experiment_id],
            |r| Ok((r.get::<_, StoredStatus>(0)?.0, owner_at(r, 0)?)),
        )
        .optional()?;
    let Some((stored, owner)) = state else {
        return Err(StoreError::NotFound(experiment_id));
    };
    match shown_status(stored, owner.as_ref(), Owner::is_alive) {
        ExperimentStatus::Completed => return Err(StoreError::AlreadyCompleted(experiment_id)),
        ExperimentStatus::Running => {
            return Err(StoreError::StillRunning {
                id: experiment_id,
                pid: owner.map_or(0, |o| o.pid),
            });
        }
        _ => {}
    }
    let mut statement =
        conn.prepare("SELECT key, model_sha256 FROM targets WHERE experiment_id = ?1 ORDER BY position")?;
    let recorded = statement.query_map([experiment_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
    })?;
    for (position, row) in recorded.enumerate() {
        let (target, began_with) = row?;
        let now = model_sha256.get(position).cloned().flatten();
        if let (Some(began_with), Some(now)) = (began_with, now)
            && began_with != now
        {
            return Err(StoreError::ModelChanged {
                id: experiment_id,
                target,
            });
        }
    }
    Ok(())
}

/// Row ids of an experiment's `table` (targets, cases or configs) in position order: the
/// plan's indices.
fn ids_by_position(conn: &Connection, table: &str, experiment_id: i64) -> Result<Vec<i64>, StoreError> {
    let mut statement = conn.prepare(&format!(
        "SELECT id FROM {table} WHERE experiment_id = ?1 ORDER BY position"
    ))?;
    let ids = statement.query_map([experiment_id], |r| r.get(0))?;
    Ok(ids.collect::<Result<_, _>>()?)
}

type ConfigPosition = (usize, usize, Option<tradeoff_core::spec::target::LocalSettings>);

/// Each recorded config as (variant position, target position, settings), in position order.
fn config_positions(conn: &Connection, experiment_id: i64) -> Result<Vec<ConfigPosition>, StoreError> {
    let mut statement = conn.prepare(
        "SELECT v.position, t.position, c.n_ctx, c.threads, c.batch, c.kv_type, c.n_gpu_layers,
                c.parallel, c.prefix_cache
         FROM configs c JOIN variants v ON v.id = c.variant_id JOIN targets t ON t.id = c.target_id
         WHERE c.experiment_id = ?1 ORDER BY c.position",
    )?;
    let rows = statement.query_map([experiment_id], |r| {
        Ok((
            r.get::<_, i64>(0)? as usize,
            r.get::<_, i64>(1)? as usize,
            settings_at(r, 2)?,
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The runs recorded so far, as the plan names them.
fn recorded_runs(conn: &Connection, experiment_id: i64) -> Result<Vec<PlannedRun>, StoreError> {
    let mut statement = conn.prepare(
        "SELECT c.position, k.position, r.repetition
         FROM runs r JOIN configs c ON c.id = r.config_id JOIN cases k ON k.id = r.case_id
         WHERE c.experiment_id = ?1",
    )?;
    let rows = statement.query_map([experiment_id], |r| {
        Ok(PlannedRun {
            config: r.get::<_, i64>(0)? as usize,
            case: r.get::<_, i64>(1)? as usize,
            repetition: r.get::<_, i64>(2)? as u32,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
