//! Reading an experiment back as it was recorded: its file validated again with its recorded
//! facts (`spec::recorded`), or, for a row written before migration 011, the validated
//! experiment that was stored then, read by the one legacy reader below.

use std::path::PathBuf;

use rusqlite::OptionalExtension;
use serde::Deserialize;
use tradeoff_core::spec::checks::ParsedCheck;
use tradeoff_core::spec::experiment::{CacheMode, Case, Experiment, Target, Variant};
use tradeoff_core::spec::objective::Objective;
use tradeoff_core::spec::recorded::Recorded;

use crate::{Store, StoreError};

impl Store {
    /// The experiment as it was recorded, validated and resolved as when it ran.
    pub fn experiment(&self, experiment_id: i64) -> Result<Experiment, StoreError> {
        type Columns = (Option<String>, Option<String>, Option<String>);
        let columns: Option<Columns> = self
            .conn
            .query_row(
                "SELECT file_json, facts_json, spec_json FROM experiments WHERE id = ?1",
                [experiment_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        match columns.ok_or(StoreError::NotFound(experiment_id))? {
            (Some(file), Some(facts), _) => Recorded {
                file: serde_json::from_str(&file)?,
                facts: serde_json::from_str(&facts)?,
            }
            .experiment()
            .map_err(|source| StoreError::NoLongerValid {
                id: experiment_id,
                source,
            }),
            (_, _, Some(spec)) => Ok(serde_json::from_str::<LegacyExperiment>(&spec)?.into()),
            // The table's checks allow no other combination.
            _ => Err(StoreError::NotFound(experiment_id)),
        }
    }
}

/// The validated experiment as databases before migration 011 stored it.
#[derive(Deserialize)]
struct LegacyExperiment {
    name: String,
    description: Option<String>,
    source: Option<PathBuf>,
    variants: Vec<Variant>,
    cases: Vec<Case>,
    targets: Vec<Target>,
    repetitions: u32,
    #[serde(default)]
    checks: Vec<ParsedCheck>,
    #[serde(default)]
    objective: Option<Objective>,
    #[serde(default)]
    cache: CacheMode,
    #[serde(default)]
    graders: Vec<Target>,
}

impl From<LegacyExperiment> for Experiment {
    fn from(legacy: LegacyExperiment) -> Self {
        Experiment {
            name: legacy.name,
            description: legacy.description,
            source: legacy.source,
            variants: legacy.variants,
            cases: legacy.cases,
            targets: legacy.targets,
            repetitions: legacy.repetitions,
            checks: legacy.checks,
            objective: legacy.objective,
            cache: legacy.cache,
            graders: legacy.graders,
            search: Default::default(),
            budget: None,
            written: None,
        }
    }
}
