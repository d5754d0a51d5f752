//! The runner: executes a plan against an engine and hands every finished run to a sink the
//! moment it finishes, so an interrupted experiment keeps every run that completed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::execute::backends::{Backends, RemoteProgress, run_remote_jobs};
use crate::execute::cache::cache_key;
use crate::execute::context_budget::{cut_case_variable, hosted_count, local_count, with_cut};
use crate::execute::engine::LoadRequest;
use crate::execute::engine::{GenerateError, GenerateRequest, LocalEngine};
use crate::execute::grading::grade;
use crate::execute::record::RunRecord;
use crate::execute::remote::{RemoteEngine, RemoteJob};
use crate::execute::sink::{LoadEvent, RunObserver, RunOutcome, RunSink, RunnerError};
use crate::format::now_rfc3339;
use crate::run::{ErrorClass, RunError};
use crate::spec::budget::BudgetChoice;
use crate::spec::checks::{self, Subject};
use crate::spec::cost::run_cost;
use crate::spec::experiment::Sampling;
use crate::spec::experiment::{Experiment, LocalTarget, TargetKind};
use crate::spec::matrix::{ContextGroup, Plan, PlannedRun};
use crate::spec::prompt::{PromptRenderer, RenderedPrompt};
use crate::spec::target::LocalSettings;
use crate::spec::target::remote::RemoteTarget;

/// Runs every run of `plan` (then grades judge checks), handing each finished run to the sink.
pub fn run_experiment(
    experiment: &Experiment,
    plan: &Plan,
    backends: Backends<'_>,
) -> Result<RunOutcome, RunnerError> {
    let Backends {
        local: engine,
        remote,
        sink,
        observer,
        cancel,
    } = backends;
    let renderer = PromptRenderer::new(&experiment.variants)?;
    // Checks were parsed with the file; here only gathered per case.
    let case_checks = (0..experiment.cases.len())
        .map(|case| experiment.checks_for(case).map(|c| c.check()).collect())
        .collect();
    let mut run = Execution {
        experiment,
        plan,
        renderer,
        case_checks,
        sink,
        observer,
        cancel,
        total: plan.total_runs(),
        done: 0,
        cache_keys: HashMap::new(),
        ungraded: Vec::new(),
        cuts: HashMap::new(),
    };
    for group in &plan.groups {
        if cancel.load(Ordering::Relaxed) {
            return Ok(RunOutcome::Cancelled);
        }
        let target = &experiment.targets[group.target];
        let outcome = match (group.settings, &target.kind) {
            (Some(settings), TargetKind::Local(local)) => run.local_group(group, local, settings, engine)?,
            (None, TargetKind::Remote(remote_target)) => run.remote_group(group, remote_target, remote)?,
            // The plan gives every local config its settings and a remote one none.
            _ => RunOutcome::Completed,
        };
        if outcome == RunOutcome::Cancelled {
            return Ok(RunOutcome::Cancelled);
        }
    }
    if run.ungraded.is_empty() {
        return Ok(RunOutcome::Completed);
    }
    let judges_of_case: Vec<Vec<_>> = run
        .case_checks
        .iter()
        .map(|checks| checks.iter().map(|c| c.as_judge()).collect())
        .collect();
    let ungraded = std::mem::take(&mut run.ungraded);
    let backends = Backends {
        local: engine,
        remote,
        sink: run.sink,
        observer: run.observer,
        cancel,
    };
    grade(experiment, &judges_of_case, ungraded, backends)
}

/// Counts a text for a context budget: its tokens, and a note when they were estimated.
type BudgetCount<'a> = &'a mut dyn FnMut(&str) -> Result<(u32, Option<String>), RunError>;

/// A budgeted variable as cut (target, budget, case): the text kept and the count's note.
type Cuts = HashMap<(usize, BudgetChoice, usize), Result<(String, Option<String>), RunError>>;

/// One experiment being executed: what every group needs, and the progress count.
struct Execution<'a> {
    experiment: &'a Experiment,
    plan: &'a Plan,
    renderer: PromptRenderer,
    case_checks: Vec<Vec<&'a dyn checks::Check>>,
    sink: &'a mut dyn RunSink,
    observer: &'a mut dyn RunObserver,
    cancel: &'a AtomicBool,
    total: usize,
    done: usize,
    /// The cache key of every run that went to the model, to store its answer when it finishes.
    cache_keys: HashMap<(usize, usize, u32), String>,
    /// Runs with judge checks, graded once every run has finished.
    ungraded: Vec<RunRecord>,
    /// A case's budgeted variable as cut for a target (`execute::context_budget`), with a note
    /// when it was counted by estimate; shared by every variant and repetition.
    cuts: Cuts,
}

impl Execution<'_> {
    fn new_record(&self, planned: &PlannedRun) -> RunRecord {
        RunRecord::new(planned.config, planned.case, planned.repetition, now_rfc3339())
    }

    /// Records the runs the response cache answers and returns the others, in order. With the
    /// cache off every run is returned.
    fn serve_from_cache(&mut self, group: &ContextGroup) -> Result<Vec<PlannedRun>, RunnerError> {
        let mode = self.experiment.cache;
        if !mode.writes() {
            return Ok(group.runs.clone());
        }
        let target = &self.experiment.targets[group.target];
        let mut misses = Vec::with_capacity(group.runs.len());
        for planned in &group.runs {
            // A run whose prompt does not render is recorded with that error by the caller.
            let Ok(prompt) = self.render(planned) else {
                misses.push(*planned);
                continue;
            };
            let key = cache_key(target, group.settings, &prompt, planned.repetition);
            let hit = if mode.reads() {
                self.sink.cached(&key)?
            } else {
                None
            };
            match hit {
                None => {
                    self.cache_keys
                        .insert((planned.config, planned.case, planned.repetition), key);
                    misses.push(*planned);
                }
                Some(cached) => {
                    self.observer.run_started(self.done, self.total, planned);
                    let mut record = self.new_record(planned);
                    record.output = cached.output;
                    record.finish_reason = Some(cached.finish_reason);
                    record.metrics = Some(cached.metrics);
                    record.warnings = cached.warnings;
                    record.cache_hit = true;
                    self.finish(record)?;
                }
            }
        }
        Ok(misses)
    }

    fn render(&self, planned: &PlannedRun) -> Result<RenderedPrompt, RunError> {
        let config = &self.plan.configs[planned.config];
        let variant = &self.experiment.variants[config.variant];
        let case = &self.experiment.cases[planned.case];
        let rendered = match (variant.budget, &self.experiment.budget) {
            (Some(choice), Some(budget)) => {
                let (text, _) = self
                    .cuts
                    .get(&(config.target, choice, planned.case))
                    .cloned()
                    .unwrap_or_else(|| {
                        Err(RunError::new(
                            ErrorClass::Template,
                            "the context budget was not cut before rendering",
                        ))
                    })?;
                self.renderer.render(variant, &with_cut(budget, case, &text))
            }
            _ => self.renderer.render(variant, case),
        };
        rendered.map_err(|error| RunError::new(ErrorClass::Template, error.to_string()))
    }

    /// The note a budgeted run carries when its budget was counted by estimate.
    fn budget_note(&self, planned: &PlannedRun) -> Option<String> {
        let config = &self.plan.configs[planned.config];
        let choice = self.experiment.variants[config.variant].budget?;
        match self.cuts.get(&(config.target, choice, planned.case)) {
            Some(Ok((_, note))) => note.clone(),
            _ => None,
        }
    }

    /// Cuts every budgeted variable the group's runs render, counting with `count`, once per
    /// (target, budget, case).
    fn prepare_cuts(&mut self, group: &ContextGroup, count: BudgetCount<'_>) {
        let Some(budget) = &self.experiment.budget else {
            return;
        };
        for planned in &group.runs {
            let Some(choice) = self.experiment.variants[self.plan.configs[planned.config].variant].budget
            else {
                continue;
            };
            let key = (group.target, choice, planned.case);
            if self.cuts.contains_key(&key) {
                continue;
            }
            let mut note = None;
            let case = &self.experiment.cases[planned.case];
            let cut = cut_case_variable(budget, choice, case, &mut |piece| {
                let (tokens, estimated) = count(piece)?;
                note = note.take().or(estimated);
                Ok(tokens)
            })
            .map(|cut| (cut.text, note));
            self.cuts.insert(key, cut);
        }
    }

    fn group_is_budgeted(&self, group: &ContextGroup) -> bool {
        group.runs.iter().any(|r| {
            self.experiment.variants[self.plan.configs[r.config].variant]
                .budget
                .is_some()
        })
    }

    /// Prices and checks a finished run, records it and reports it.
    fn finish(&mut self, mut record: RunRecord) -> Result<(), RunnerError> {
        let planned = PlannedRun {
            config: record.config,
            case: record.case,
            repetition: record.repetition,
        };
        if let Some(note) = self.budget_note(&planned)
            && !record.warnings.contains(&note)
        {
            record.warnings.push(note);
        }
        let target = &self.experiment.targets[self.plan.configs[record.config].target];
        let cost = target
            .price
            .as_ref()
            .zip(record.metrics.as_ref())
            .and_then(|(price, metrics)| run_cost(price, metrics));
        // A cache hit made no call: it cost nothing and saved what the original run cost.
        if record.cache_hit {
            record.cost_usd = cost.map(|_| 0.0);
            record.cache_saved_usd = cost;
        } else {
            record.cost_usd = cost;
        }
        if record.error.is_none() {
            let subject = Subject {
                output: &record.output,
                expected: self.experiment.cases[record.case].expected.as_deref(),
                metrics: record.metrics.as_ref(),
                cost_usd: record.cost_usd,
            };
            record.checks = checks::evaluate(&self.case_checks[record.case], &subject);
        }
        self.sink.record_run(&record)?;
        if record.error.is_none()
            && self.case_checks[record.case]
                .iter()
                .any(|c| c.as_judge().is_some())
        {
            self.ungraded.push(record.clone());
        }
        if self.experiment.cache.writes()
            && !record.cache_hit
            && record.error.is_none()
            && let Some(key) = self
                .cache_keys
                .remove(&(record.config, record.case, record.repetition))
        {
            self.sink.remember(&key, &record)?;
        }
        self.done += 1;
        self.observer.run_finished(self.done, self.total, &record);
        Ok(())
    }

    fn local_group(
        &mut self,
        group: &ContextGroup,
        local: &LocalTarget,
        settings: LocalSettings,
        engine: &mut dyn LocalEngine,
    ) -> Result<RunOutcome, RunnerError> {
        let target = &self.experiment.targets[group.target];
        let load = settings.load_request(local.model.path.clone());
        // A budget is cut with the model's tokenizer, so the model loads first (its load time
        // stays the load's); without one, a group the cache answers whole loads nothing.
        let (runs, load_error) = if self.group_is_budgeted(group) {
            let load_error = self.load_group(group, &target.id, settings, &load, engine)?;
            match &load_error {
                None => self.prepare_cuts(group, &mut |text| {
                    local_count(&mut *engine, &load, text).map(|tokens| (tokens, None))
                }),
                Some(error) => self.prepare_cuts(group, &mut |_| Err(error.clone())),
            }
            (self.serve_from_cache(group)?, load_error)
        } else {
            let runs = self.serve_from_cache(group)?;
            if runs.is_empty() {
                // Every run was answered from the cache: nothing to load.
                return Ok(RunOutcome::Completed);
            }
            let load_error = self.load_group(group, &target.id, settings, &load, engine)?;
            (runs, load_error)
        };
        let sampling = &target.sampling;

        // Throughput mode decodes `parallel` runs at once; otherwise runs go one at a time.
        let chunk_size = settings.parallel.max(1) as usize;
        self.local_runs(
            &runs,
            chunk_size,
            &load,
            load_error.as_ref(),
            local,
            sampling,
            engine,
        )
    }

    /// Loads a local group's model and context and records how it went; the error, if it could
    /// not, is every run's.
    fn load_group(
        &mut self,
        group: &ContextGroup,
        target_id: &str,
        settings: LocalSettings,
        load: &LoadRequest,
        engine: &mut dyn LocalEngine,
    ) -> Result<Option<RunError>, RunnerError> {
        self.observer.loading(target_id, settings.n_ctx);
        let loaded = engine.load(load);
        let (event, load_error) = match loaded {
            Ok(report) => (
                LoadEvent {
                    target: group.target,
                    settings,
                    model_load_ms: report.model_load_ms,
                    context_create_ms: report.context_create_ms,
                    kv_cache_bytes: report.kv_cache_bytes,
                    error: None,
                    warnings: report.warnings,
                },
                None,
            ),
            Err(error) => (
                LoadEvent {
                    target: group.target,
                    settings,
                    model_load_ms: None,
                    context_create_ms: None,
                    kv_cache_bytes: None,
                    error: Some(error.clone()),
                    warnings: Vec::new(),
                },
                Some(error),
            ),
        };
        self.sink.record_load(&event)?;
        Ok(load_error)
    }

    #[allow(clippy::too_many_arguments)]
    fn local_runs(
        &mut self,
        runs: &[PlannedRun],
        chunk_size: usize,
        load: &LoadRequest,
        load_error: Option<&RunError>,
        local: &LocalTarget,
        sampling: &Sampling,
        engine: &mut dyn LocalEngine,
    ) -> Result<RunOutcome, RunnerError> {
        for chunk in runs.chunks(chunk_size) {
            if self.cancel.load(Ordering::Relaxed) {
                return Ok(RunOutcome::Cancelled);
            }
            let mut records = Vec::with_capacity(chunk.len());
            let mut requests = Vec::with_capacity(chunk.len());
            for (offset, planned) in chunk.iter().enumerate() {
                self.observer.run_started(self.done + offset, self.total, planned);
                let mut record = self.new_record(planned);
                if let Some(error) = load_error {
                    // The run was planned and could not happen: it is recorded as failed, so the
                    // report shows the hole instead of a config that silently has fewer runs.
                    record.error = Some(error.clone());
                } else {
                    match self.render(planned) {
                        Err(error) => record.error = Some(error),
                        Ok(prompt) => requests.push((
                            records.len(),
                            GenerateRequest {
                                load: load.clone(),
                                prompt,
                                chat_template: local.chat_template.clone(),
                                sampling: sampling.clone(),
                            },
                        )),
                    }
                }
                records.push(record);
            }

            let observer = &mut *self.observer;
            let outcomes = match requests.as_slice() {
                [] => Ok(Vec::new()),
                [(_, single)] if chunk_size == 1 => engine
                    .generate(single, &mut |text| observer.text(text), self.cancel)
                    .map(|generation| vec![Ok(generation)]),
                many => {
                    let batch: Vec<GenerateRequest> = many.iter().map(|(_, r)| r.clone()).collect();
                    engine.generate_batch(&batch, self.cancel)
                }
            };
            let outcomes = match outcomes {
                Ok(outcomes) => outcomes,
                Err(GenerateError::Failed(error)) => vec![Err(error); requests.len()],
                // A half-finished run is not a measurement: nothing is recorded.
                Err(GenerateError::Cancelled) => return Ok(RunOutcome::Cancelled),
            };
            for ((index, _), outcome) in requests.iter().zip(outcomes) {
                let record = &mut records[*index];
                match outcome {
                    Ok(generation) => {
                        record.output = generation.output;
                        record.finish_reason = Some(generation.finish_reason);
                        record.metrics = Some(generation.metrics);
                        record.warnings = generation.warnings;
                    }
                    Err(error) => record.error = Some(error),
                }
            }
            for record in records {
                self.finish(record)?;
            }
        }
        Ok(RunOutcome::Completed)
    }

    /// A remote target's runs go to the remote engine all at once; it runs them concurrently
    /// within the target's limits and they are recorded in the order they finish.
    fn remote_group(
        &mut self,
        group: &ContextGroup,
        target: &RemoteTarget,
        remote: &mut dyn RemoteEngine,
    ) -> Result<RunOutcome, RunnerError> {
        self.prepare_cuts(group, &mut |text| Ok(hosted_count(target, text)));
        let runs = self.serve_from_cache(group)?;
        let sampling = &self.experiment.targets[group.target].sampling;
        let mut jobs = Vec::with_capacity(runs.len());
        let mut job_runs = Vec::with_capacity(runs.len());
        for planned in &runs {
            match self.render(planned) {
                Ok(prompt) => {
                    jobs.push(RemoteJob {
                        prompt,
                        sampling: sampling.clone(),
                    });
                    job_runs.push(*planned);
                }
                Err(error) => {
                    self.observer.run_started(self.done, self.total, planned);
                    let mut record = self.new_record(planned);
                    record.error = Some(error);
                    self.finish(record)?;
                }
            }
        }
        if jobs.is_empty() {
            return Ok(RunOutcome::Completed);
        }
        run_remote_jobs(remote, target, jobs, self.cancel, &mut |event| match event {
            RemoteProgress::Started(index) => {
                self.observer.run_started(self.done, self.total, &job_runs[index]);
                Ok(())
            }
            RemoteProgress::Finished(index, started_at, result) => {
                let mut record = self.new_record(&job_runs[index]);
                if let Some(started) = started_at {
                    record.started_at = started;
                }
                let result = *result;
                record.attempts = result.attempts;
                match result.outcome {
                    Ok(generation) => {
                        record.output = generation.output;
                        record.finish_reason = Some(generation.finish_reason);
                        record.metrics = Some(generation.metrics);
                        record.warnings = generation.warnings;
                    }
                    Err(error) => {
                        record.output = result.partial_output;
                        record.error = Some(error);
                    }
                }
                self.finish(record)
            }
        })
    }
}

#[cfg(test)]
mod tests;
