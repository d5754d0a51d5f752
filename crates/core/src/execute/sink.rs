//! Where a plan's runs go and who watches them: the [`RunSink`] the store implements, the
//! [`RunObserver`] a progress bar or the app's live grid implements, and how a run of a plan ends.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::execute::cache::CachedRun;
use crate::execute::record::Judgement;
use crate::execute::record::RunRecord;
use crate::execute::search_log::{Elimination, SearchRecord, SearchRound};
use crate::run::RunError;
use crate::spec::matrix::PlannedRun;
use crate::spec::prompt::TemplateError;
use crate::spec::target::LocalSettings;

/// Model load and context creation for one group of runs, recorded beside the runs and shown
/// under its target in reports (whose JSON names the settings beside the timings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadEvent {
    /// The target's position; a report lists loads under their target, so it is not written.
    #[serde(skip_serializing, default)]
    pub target: usize,
    #[serde(flatten)]
    pub settings: LocalSettings,
    pub model_load_ms: Option<f64>,
    pub context_create_ms: Option<f64>,
    pub kv_cache_bytes: Option<u64>,
    pub error: Option<RunError>,
    pub warnings: Vec<String>,
}

/// Where finished runs go (the store implements it).
pub trait RunSink {
    fn record_load(&mut self, event: &LoadEvent) -> Result<(), SinkError>;
    fn record_run(&mut self, run: &RunRecord) -> Result<(), SinkError>;

    /// The response cache's answer for `key` (see `execute::cache`); none by default.
    fn cached(&mut self, _key: &str) -> Result<Option<CachedRun>, SinkError> {
        Ok(None)
    }

    /// Stores a finished run's answer under `key`.
    fn remember(&mut self, _key: &str, _run: &RunRecord) -> Result<(), SinkError> {
        Ok(())
    }

    /// A grader's judgement of one of `run`'s checks; `run` carries its checks with that
    /// judgement applied, to replace the ones recorded before grading.
    fn record_judgement(&mut self, judgement: &Judgement, run: &RunRecord) -> Result<(), SinkError>;

    /// A search dropped a config (see the `search` layer); recorded at once, so an interrupted
    /// search keeps what it decided.
    fn record_elimination(&mut self, _elimination: &Elimination) -> Result<(), SinkError> {
        Ok(())
    }

    /// How a search ended.
    fn record_search(&mut self, _search: &SearchRecord) -> Result<(), SinkError> {
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not record the result: {0}")]
pub struct SinkError(pub String);

/// Records through `inner` and keeps every run as it was last recorded (a judgement replaces
/// it), for a caller that decides what to run next from them: a policy's next stage, a search's
/// next round.
pub struct Capture<'a> {
    inner: &'a mut dyn RunSink,
    records: HashMap<(usize, usize, u32), RunRecord>,
}

impl<'a> Capture<'a> {
    pub fn new(inner: &'a mut dyn RunSink) -> Capture<'a> {
        Capture {
            inner,
            records: HashMap::new(),
        }
    }

    pub fn into_records(self) -> Vec<RunRecord> {
        self.records.into_values().collect()
    }

    fn keep(&mut self, run: &RunRecord) {
        self.records
            .insert((run.config, run.case, run.repetition), run.clone());
    }
}

impl std::fmt::Debug for Capture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("records", &self.records.len())
            .finish_non_exhaustive()
    }
}

impl RunSink for Capture<'_> {
    fn record_load(&mut self, event: &LoadEvent) -> Result<(), SinkError> {
        self.inner.record_load(event)
    }

    fn record_run(&mut self, run: &RunRecord) -> Result<(), SinkError> {
        self.inner.record_run(run)?;
        self.keep(run);
        Ok(())
    }

    fn cached(&mut self, key: &str) -> Result<Option<CachedRun>, SinkError> {
        self.inner.cached(key)
    }

    fn remember(&mut self, key: &str, run: &RunRecord) -> Result<(), SinkError> {
        self.inner.remember(key, run)
    }

    fn record_judgement(&mut self, judgement: &Judgement, run: &RunRecord) -> Result<(), SinkError> {
        self.inner.record_judgement(judgement, run)?;
        self.keep(run);
        Ok(())
    }

    fn record_elimination(&mut self, elimination: &Elimination) -> Result<(), SinkError> {
        self.inner.record_elimination(elimination)
    }

    fn record_search(&mut self, search: &SearchRecord) -> Result<(), SinkError> {
        self.inner.record_search(search)
    }
}

/// Progress callbacks, for a progress bar or a live grid. All have empty defaults.
pub trait RunObserver {
    fn loading(&mut self, _target: &str, _n_ctx: u32) {}
    fn run_started(&mut self, _done: usize, _total: usize, _run: &PlannedRun) {}
    fn text(&mut self, _chunk: &str) {}
    fn run_finished(&mut self, _done: usize, _total: usize, _record: &RunRecord) {}
    /// A judge check was graded (see `execute::grading`).
    fn graded(&mut self, _done: usize, _total: usize) {}
    /// A round of a search finished (configs left, configs dropped, runs used).
    fn search_round(&mut self, _round: &SearchRound) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct Quiet;
impl RunObserver for Quiet {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Completed,
    Cancelled,
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("remote runs stopped: {0}")]
    Remote(RunError),
}
