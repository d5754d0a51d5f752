//! The runner: executes a plan against an engine and hands every finished run to a sink the
//! moment it finishes, so an interrupted experiment keeps every run that completed.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::cache::{CachedRun, cache_key};
use crate::checks::{self, Subject};
use crate::cost::run_cost;
use crate::engine::{GenerateError, GenerateRequest, LocalEngine, LocalSettings};
use crate::experiment::Experiment;
use crate::grading::{Judgement, grade};
use crate::matrix::{ContextGroup, Plan, PlannedRun};
use crate::prompt::{PromptRenderer, RenderedPrompt, TemplateError};
use crate::remote::{RemoteEngine, RemoteEvent, RemoteJob, RemoteResult, RemoteTarget};
use crate::run::{ErrorClass, RunError, RunRecord};

/// Model load and context creation for one group of runs, recorded beside the runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadEvent {
    pub target: usize,
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

    /// The response cache's answer for `key` (see `tradeoff_core::cache`); none by default.
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
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not record the result: {0}")]
pub struct SinkError(pub String);

/// Progress callbacks, for a progress bar or a live grid. All have empty defaults.
pub trait RunObserver {
    fn loading(&mut self, _target: &str, _n_ctx: u32) {}
    fn run_started(&mut self, _done: usize, _total: usize, _run: &PlannedRun) {}
    fn text(&mut self, _chunk: &str) {}
    fn run_finished(&mut self, _done: usize, _total: usize, _record: &RunRecord) {}
    /// A judge check was graded (see `tradeoff_core::grading`).
    fn graded(&mut self, _done: usize, _total: usize) {}
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
    #[error("a check cannot be used: {0}")]
    Check(#[from] checks::CheckError),
    #[error("remote runs stopped: {0}")]
    Remote(RunError),
}

pub fn run_experiment(
    experiment: &Experiment,
    plan: &Plan,
    engine: &mut dyn LocalEngine,
    remote: &mut dyn RemoteEngine,
    sink: &mut dyn RunSink,
    observer: &mut dyn RunObserver,
    cancel: &AtomicBool,
) -> Result<RunOutcome, RunnerError> {
    let renderer = PromptRenderer::new(&experiment.variants)?;
    // Checks were validated with the file; compiled once per case here.
    let case_checks = (0..experiment.cases.len())
        .map(|case| {
            experiment
                .checks_for(case)
                .map(checks::parse)
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
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
    };
    for group in &plan.groups {
        if cancel.load(Ordering::Relaxed) {
            return Ok(RunOutcome::Cancelled);
        }
        let target = &experiment.targets[group.target];
        let outcome = match (group.settings, &target.remote) {
            (Some(settings), _) => run.local_group(group, settings, engine)?,
            (None, Some(remote_target)) => run.remote_group(group, remote_target, remote)?,
            // The plan gives every local target its settings; nothing to run otherwise.
            (None, None) => RunOutcome::Completed,
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
    grade(
        experiment,
        &judges_of_case,
        std::mem::take(&mut run.ungraded),
        engine,
        remote,
        run.sink,
        run.observer,
        cancel,
    )
}

/// One experiment being executed: what every group needs, and the progress count.
struct Execution<'a> {
    experiment: &'a Experiment,
    plan: &'a Plan,
    renderer: PromptRenderer,
    case_checks: Vec<Vec<Box<dyn checks::Check>>>,
    sink: &'a mut dyn RunSink,
    observer: &'a mut dyn RunObserver,
    cancel: &'a AtomicBool,
    total: usize,
    done: usize,
    /// The cache key of every run that went to the model, to store its answer when it finishes.
    cache_keys: HashMap<(usize, usize, u32), String>,
    /// Runs with judge checks, graded once every run has finished.
    ungraded: Vec<RunRecord>,
}

impl Execution<'_> {
    fn new_record(&self, planned: &PlannedRun) -> RunRecord {
        RunRecord {
            config: planned.config,
            case: planned.case,
            repetition: planned.repetition,
            started_at: now_rfc3339(),
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
        let variant = &self.experiment.variants[self.plan.configs[planned.config].variant];
        self.renderer
            .render(variant, &self.experiment.cases[planned.case])
            .map_err(|error| RunError::new(ErrorClass::Template, error.to_string()))
    }

    /// Prices and checks a finished run, records it and reports it.
    fn finish(&mut self, mut record: RunRecord) -> Result<(), RunnerError> {
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
        settings: LocalSettings,
        engine: &mut dyn LocalEngine,
    ) -> Result<RunOutcome, RunnerError> {
        let runs = self.serve_from_cache(group)?;
        if runs.is_empty() {
            // Every run was answered from the cache: nothing to load.
            return Ok(RunOutcome::Completed);
        }
        let target = &self.experiment.targets[group.target];
        self.observer.loading(&target.id, settings.n_ctx);
        let load = settings.load_request(target.model.path.clone());
        let loaded = engine.load(&load);
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

        // Throughput mode decodes `parallel` runs at once; otherwise runs go one at a time.
        let chunk_size = settings.parallel.max(1) as usize;
        for chunk in runs.chunks(chunk_size) {
            if self.cancel.load(Ordering::Relaxed) {
                return Ok(RunOutcome::Cancelled);
            }
            let mut records = Vec::with_capacity(chunk.len());
            let mut requests = Vec::with_capacity(chunk.len());
            for (offset, planned) in chunk.iter().enumerate() {
                self.observer.run_started(self.done + offset, self.total, planned);
                let mut record = self.new_record(planned);
                if let Some(error) = &load_error {
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
                                chat_template: target.chat_template.clone(),
                                sampling: target.sampling.clone(),
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

/// A remote job's progress as [`run_remote_jobs`] reports it.
pub(crate) enum RemoteProgress {
    Started(usize),
    /// The job's index, when its first attempt started (RFC 3339), and its result.
    Finished(usize, Option<String>, Box<RemoteResult>),
}

/// Runs `jobs` on a remote target, reporting each start and each result with its start time;
/// an error from `on_progress` (a sink that cannot record) stops the target's other requests.
pub(crate) fn run_remote_jobs(
    remote: &mut dyn RemoteEngine,
    target: &RemoteTarget,
    jobs: Vec<RemoteJob>,
    cancel: &AtomicBool,
    on_progress: &mut dyn FnMut(RemoteProgress) -> Result<(), RunnerError>,
) -> Result<RunOutcome, RunnerError> {
    let mut started_at: Vec<Option<String>> = vec![None; jobs.len()];
    let mut failure: Option<RunnerError> = None;
    let outcome = remote.run_jobs(target, jobs, cancel, &mut |event| {
        let progress = match event {
            RemoteEvent::Started(index) => {
                if let Some(slot) = started_at.get_mut(index) {
                    *slot = Some(now_rfc3339());
                }
                RemoteProgress::Started(index)
            }
            RemoteEvent::Finished(index, result) => {
                let started = started_at.get_mut(index).and_then(Option::take);
                RemoteProgress::Finished(index, started, result)
            }
        };
        match on_progress(progress) {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => {
                failure = Some(error);
                ControlFlow::Break(())
            }
        }
    });
    if let Some(error) = failure {
        return Err(error);
    }
    match outcome {
        Ok(()) => Ok(RunOutcome::Completed),
        Err(GenerateError::Cancelled) => Ok(RunOutcome::Cancelled),
        Err(GenerateError::Failed(error)) => Err(RunnerError::Remote(error)),
    }
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::engine::{Generation, LoadReport, LoadRequest};
    use crate::experiment::{FileFormat, parse_str};
    use crate::run::{FinishReason, RunMetrics};

    /// An engine with scripted behaviour: a model whose file name starts with `broken` fails to
    /// load, and generation echoes the prompt. Real inference is tested in tests/ on the real model.
    #[derive(Default)]
    struct Scripted {
        loads: Vec<(String, u32)>,
        batches: Vec<usize>,
        cancel_after: Option<usize>,
        generated: usize,
    }

    impl LocalEngine for Scripted {
        fn load(&mut self, request: &LoadRequest) -> Result<LoadReport, RunError> {
            let name = request
                .model_path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            self.loads.push((name.clone(), request.context.n_ctx));
            if name.starts_with("broken") {
                return Err(RunError::new(
                    ErrorClass::ModelLoad,
                    format!("{name}: not a GGUF model file"),
                ));
            }
            Ok(LoadReport {
                model_load_ms: Some(1.0),
                context_create_ms: Some(0.5),
                kv_cache_bytes: None,
                has_chat_template: false,
                warnings: vec![],
            })
        }

        fn generate(
            &mut self,
            request: &GenerateRequest,
            on_text: &mut dyn FnMut(&str),
            cancel: &AtomicBool,
        ) -> Result<Generation, GenerateError> {
            self.generated += 1;
            if self.cancel_after == Some(self.generated) {
                cancel.store(true, Ordering::Relaxed);
                return Err(GenerateError::Cancelled);
            }
            let mut output = request.prompt.plain_text();
            // A model named `grader…` grades: PASS when the graded answer starts with "A".
            if request
                .load
                .model_path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("grader"))
            {
                let answer = output.rsplit("Answer: ").next().unwrap_or_default();
                output = if answer.starts_with('A') {
                    "PASS (starts with A)\n\nRubric: more few-shot text".into()
                } else {
                    "FAIL (it does not)".into()
                };
            }
            on_text(&output);
            Ok(Generation {
                output,
                finish_reason: FinishReason::EndOfText,
                metrics: RunMetrics {
                    ttft_ms: Some(1.0),
                    ..RunMetrics::new(2.0, 3, 3)
                },
                warnings: vec![],
            })
        }

        fn generate_batch(
            &mut self,
            requests: &[GenerateRequest],
            cancel: &AtomicBool,
        ) -> Result<Vec<Result<Generation, RunError>>, GenerateError> {
            self.batches.push(requests.len());
            requests
                .iter()
                .map(|r| self.generate(r, &mut |_| {}, cancel).map(Ok))
                .collect()
        }

        fn build_info(&self) -> String {
            "scripted".into()
        }
    }

    #[derive(Default)]
    struct Collect {
        loads: Vec<LoadEvent>,
        runs: Vec<RunRecord>,
        fail_after: Option<usize>,
        cache: HashMap<String, CachedRun>,
        judgements: Vec<Judgement>,
    }

    impl RunSink for Collect {
        fn record_load(&mut self, event: &LoadEvent) -> Result<(), SinkError> {
            self.loads.push(event.clone());
            Ok(())
        }
        fn cached(&mut self, key: &str) -> Result<Option<CachedRun>, SinkError> {
            Ok(self.cache.get(key).cloned())
        }
        fn remember(&mut self, key: &str, run: &RunRecord) -> Result<(), SinkError> {
            let cached = CachedRun {
                output: run.output.clone(),
                finish_reason: run.finish_reason.unwrap_or(FinishReason::EndOfText),
                metrics: run.metrics.clone().unwrap_or_else(|| RunMetrics::new(0.0, 0, 0)),
                warnings: run.warnings.clone(),
            };
            self.cache.insert(key.to_string(), cached);
            Ok(())
        }
        fn record_run(&mut self, run: &RunRecord) -> Result<(), SinkError> {
            if self.fail_after == Some(self.runs.len()) {
                return Err(SinkError("disk full".into()));
            }
            self.runs.push(run.clone());
            Ok(())
        }
        fn record_judgement(&mut self, judgement: &Judgement, run: &RunRecord) -> Result<(), SinkError> {
            self.judgements.push(judgement.clone());
            let recorded = self
                .runs
                .iter_mut()
                .find(|r| (r.config, r.case, r.repetition) == (run.config, run.case, run.repetition))
                .ok_or_else(|| SinkError("judgement of a run never recorded".into()))?;
            *recorded = run.clone();
            Ok(())
        }
    }

    fn experiment() -> Experiment {
        parse(
            "schema: 1
variants: [{id: a, prompt: 'A {{ x }}'}, {id: b, prompt: 'B {{ x }}'}]
cases: [{vars: {x: '1'}}, {vars: {x: '2'}}]
targets:
  - {id: good, model: good.gguf, n_ctx: [256, 512]}
  - {id: bad, model: broken.gguf, n_ctx: 256}
repetitions: 2
",
        )
    }

    fn parse(yaml: &str) -> Experiment {
        parse_str(yaml, FileFormat::Yaml, "t.yaml", Path::new("/m")).unwrap()
    }

    fn execute(
        experiment: &Experiment,
        engine: &mut Scripted,
        remote: &mut dyn RemoteEngine,
        sink: &mut Collect,
    ) -> Result<RunOutcome, RunnerError> {
        run_experiment(
            experiment,
            &Plan::new(experiment),
            engine,
            remote,
            sink,
            &mut Quiet,
            &AtomicBool::new(false),
        )
    }

    fn run(engine: &mut Scripted, sink: &mut Collect) -> Result<RunOutcome, RunnerError> {
        let experiment = experiment();
        execute(&experiment, engine, &mut Unreachable, sink)
    }

    /// These experiments have no remote target.
    struct Unreachable;
    impl RemoteEngine for Unreachable {
        fn run_jobs(
            &mut self,
            _: &RemoteTarget,
            _: Vec<RemoteJob>,
            _: &AtomicBool,
            _: &mut dyn FnMut(RemoteEvent) -> ControlFlow<()>,
        ) -> Result<(), GenerateError> {
            panic!("no remote target in this experiment")
        }
    }

    const JUDGED: &str = "schema: 1
variants: [{id: a, prompt: 'A {{ x }}'}, {id: b, prompt: 'B {{ x }}'}]
cases: [{vars: {x: '1'}, checks: [{type: judge, rubric: 'Starts with A for {{ x }}'}]}]
targets: [{id: t, model: model.gguf, price: {per_hour: 3.6}}]
graders: [{id: g, model: grader.gguf, max_tokens: 8, price: {per_hour: 36}}]
checks: [{type: contains, value: '1'}]
";

    #[test]
    fn judge_checks_are_graded_after_every_run_and_the_grader_costs_are_its_own() {
        let experiment = parse(JUDGED);
        let (mut engine, mut sink) = (Scripted::default(), Collect::default());
        execute(&experiment, &mut engine, &mut Unreachable, &mut sink).unwrap();
        let loads: Vec<&str> = engine.loads.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            loads,
            ["model.gguf", "grader.gguf"],
            "the grader is loaded once, after the runs"
        );
        assert_eq!(sink.judgements.len(), 2);
        let verdicts: Vec<(&str, bool, Option<&str>)> = sink
            .runs
            .iter()
            .map(|r| {
                (
                    r.output.as_str(),
                    r.checks[1].passed,
                    r.checks[1].detail.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            verdicts,
            [
                ("A 1", true, Some("starts with A")),
                ("B 1", false, Some("it does not"))
            ]
        );
        assert_eq!(
            sink.runs[0].checks[1].check,
            "judge \"Starts with A for {{ x }}\""
        );
        assert_eq!(sink.runs[0].passed(true), Some(true));
        assert_eq!(sink.runs[1].passed(true), Some(false));
        let judgement = &sink.judgements[0];
        assert_eq!(judgement.grader, "g");
        assert!(
            judgement
                .prompt
                .contains("Rubric: Starts with A for 1\nAnswer: A 1\nGrade:")
        );
        // The grader's 2 ms at $36/h are the judgement's; the run keeps its own 2 ms at $3.6/h.
        assert!((judgement.cost_usd.unwrap() - 2.0e-5).abs() < 1e-12);
        assert!((sink.runs[0].cost_usd.unwrap() - 2.0e-6).abs() < 1e-12);
        assert_eq!(sink.runs[0].metrics.as_ref().unwrap().latency_ms, 2.0);
    }

    #[test]
    fn a_judge_check_reads_as_not_passed_until_graded() {
        let experiment = parse(JUDGED);
        let (mut engine, mut sink) = (
            Scripted {
                // The third generation is the grader's first: cancelled there, nothing graded.
                cancel_after: Some(3),
                ..Scripted::default()
            },
            Collect::default(),
        );
        let cancel = AtomicBool::new(false);
        let plan = Plan::new(&experiment);
        let outcome = run_experiment(
            &experiment,
            &plan,
            &mut engine,
            &mut Unreachable,
            &mut sink,
            &mut Quiet,
            &cancel,
        )
        .unwrap();
        assert_eq!(outcome, RunOutcome::Cancelled);
        assert_eq!(sink.runs.len(), 2);
        assert!(sink.judgements.is_empty());
        for run in &sink.runs {
            assert!(!run.checks[1].passed);
            assert_eq!(run.checks[1].detail.as_deref(), Some(checks::judge::NOT_GRADED));
            assert_eq!(run.passed(true), Some(false));
        }
    }

    #[test]
    fn every_planned_run_reaches_the_sink_once() {
        let (mut engine, mut sink) = (Scripted::default(), Collect::default());
        assert_eq!(run(&mut engine, &mut sink).unwrap(), RunOutcome::Completed);
        // 2 variants × (2 + 1 contexts) × 2 cases × 2 repetitions
        assert_eq!(sink.runs.len(), 24);
        let mut keys: Vec<_> = sink
            .runs
            .iter()
            .map(|r| (r.config, r.case, r.repetition))
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 24);
        assert_eq!(sink.runs[0].output, "A 1");
    }

    #[test]
    fn a_model_is_loaded_once_per_context_not_per_run() {
        let (mut engine, mut sink) = (Scripted::default(), Collect::default());
        run(&mut engine, &mut sink).unwrap();
        let loads: Vec<(&str, u32)> = engine.loads.iter().map(|(n, c)| (n.as_str(), *c)).collect();
        assert_eq!(
            loads,
            [("good.gguf", 256), ("good.gguf", 512), ("broken.gguf", 256)]
        );
        assert_eq!(sink.loads.len(), 3);
    }

    #[test]
    fn runs_of_a_target_that_fails_to_load_are_recorded_as_failed_and_others_complete() {
        let (mut engine, mut sink) = (Scripted::default(), Collect::default());
        run(&mut engine, &mut sink).unwrap();
        let failed: Vec<&RunRecord> = sink.runs.iter().filter(|r| r.error.is_some()).collect();
        assert_eq!(failed.len(), 8);
        assert!(failed.iter().all(|r| {
            r.error
                .as_ref()
                .is_some_and(|e| e.class == ErrorClass::ModelLoad && e.message.contains("broken.gguf"))
        }));
        assert_eq!(sink.runs.iter().filter(|r| r.metrics.is_some()).count(), 16);
        assert!(sink.loads[2].error.is_some());
    }

    #[test]
    fn repetitions_are_interleaved_across_variants_within_a_context() {
        let (mut engine, mut sink) = (Scripted::default(), Collect::default());
        run(&mut engine, &mut sink).unwrap();
        let first_context: Vec<(String, u32)> = sink.runs[..8]
            .iter()
            .map(|r| (r.output.clone(), r.repetition))
            .collect();
        assert_eq!(
            first_context[..4],
            [
                ("A 1".into(), 0),
                ("A 2".into(), 0),
                ("B 1".into(), 0),
                ("B 2".into(), 0)
            ]
        );
        assert!(first_context[4..].iter().all(|(_, rep)| *rep == 1));
    }

    #[test]
    fn cancelling_keeps_finished_runs_and_records_no_partial_run() {
        let (mut engine, mut sink) = (
            Scripted {
                cancel_after: Some(4),
                ..Scripted::default()
            },
            Collect::default(),
        );
        assert_eq!(run(&mut engine, &mut sink).unwrap(), RunOutcome::Cancelled);
        assert_eq!(sink.runs.len(), 3);
    }

    #[test]
    fn a_sink_that_cannot_record_stops_the_experiment() {
        let (mut engine, mut sink) = (
            Scripted::default(),
            Collect {
                fail_after: Some(5),
                ..Collect::default()
            },
        );
        let error = run(&mut engine, &mut sink).unwrap_err();
        assert!(error.to_string().contains("disk full"), "{error}");
        assert_eq!(engine.generated, 6);
    }

    #[test]
    fn a_throughput_config_hands_its_runs_to_the_engine_in_batches_of_parallel() {
        let experiment = parse(
            "schema: 1
variants: [{id: a, prompt: 'A {{ x }}'}]
cases: [{vars: {x: '1'}}, {vars: {x: '2'}}, {vars: {x: '3'}}]
targets: [{id: t, model: good.gguf, n_ctx: 256, parallel: [1, 2]}]
repetitions: 2
",
        );
        let (mut engine, mut sink) = (Scripted::default(), Collect::default());
        let outcome = execute(&experiment, &mut engine, &mut Unreachable, &mut sink);
        assert_eq!(outcome.unwrap(), RunOutcome::Completed);
        // parallel 1: six single generations; parallel 2: three batches of two.
        assert_eq!(engine.generated, 12);
        assert_eq!(engine.batches, [2, 2, 2]);
        assert_eq!(sink.runs.len(), 12);
        assert!(sink.runs.iter().all(|r| r.error.is_none()));
    }

    #[test]
    fn every_finished_run_is_checked_and_failed_runs_are_not() {
        let experiment = parse(
            "schema: 1
variants: [{id: a, prompt: 'A {{ x }}'}]
cases: [{vars: {x: '1'}, checks: [{type: contains, value: '1'}]}, {vars: {x: '2'}}]
targets:
  - {id: good, model: good.gguf, n_ctx: 256}
  - {id: bad, model: broken.gguf, n_ctx: 256}
checks: [{type: starts_with, value: A}]
",
        );
        let (mut engine, mut sink) = (Scripted::default(), Collect::default());
        let plan = Plan::new(&experiment);
        execute(&experiment, &mut engine, &mut Unreachable, &mut sink).unwrap();
        let by_case = |target: usize, case: usize| {
            sink.runs
                .iter()
                .find(|r| plan.configs[r.config].target == target && r.case == case)
                .unwrap()
        };
        let first = by_case(0, 0);
        assert_eq!(first.checks.len(), 2, "the experiment's check and the case's own");
        assert_eq!(first.passed(true), Some(true));
        assert_eq!(by_case(0, 1).checks.len(), 1);
        let failed = by_case(1, 0);
        assert!(failed.error.is_some() && failed.checks.is_empty());
        assert_eq!(failed.passed(true), Some(false));
        assert_eq!(failed.score(true), Some(0.0));
    }

    /// Answers remote jobs in reverse order; the job whose prompt says `fail` breaks mid-stream.
    struct ScriptedRemote;
    impl RemoteEngine for ScriptedRemote {
        fn run_jobs(
            &mut self,
            _: &RemoteTarget,
            jobs: Vec<RemoteJob>,
            _: &AtomicBool,
            on_event: &mut dyn FnMut(RemoteEvent) -> ControlFlow<()>,
        ) -> Result<(), GenerateError> {
            for index in 0..jobs.len() {
                let _ = on_event(RemoteEvent::Started(index));
            }
            for (index, job) in jobs.iter().enumerate().rev() {
                let text = job.prompt.plain_text();
                let attempt = crate::remote::Attempt {
                    started_after_ms: 0.0,
                    status: Some(200),
                    error: None,
                    retry_after_ms: None,
                    waited_ms: None,
                };
                let result = if text.contains("fail") {
                    crate::remote::RemoteResult {
                        outcome: Err(RunError::new(ErrorClass::StreamBroken, "the stream broke")),
                        partial_output: "half".into(),
                        attempts: vec![attempt],
                    }
                } else {
                    crate::remote::RemoteResult {
                        outcome: Ok(Generation {
                            output: text,
                            finish_reason: FinishReason::EndOfText,
                            metrics: RunMetrics::new(10.0, 5, 2),
                            warnings: vec![],
                        }),
                        partial_output: String::new(),
                        attempts: vec![attempt.clone(), attempt],
                    }
                };
                if on_event(RemoteEvent::Finished(index, Box::new(result))).is_break() {
                    return Ok(());
                }
            }
            Ok(())
        }
    }

    #[test]
    fn remote_runs_are_recorded_as_they_finish_with_attempts_and_a_broken_one_keeps_its_partial_output() {
        let experiment = parse("schema: 1
variants: [{id: a, user: '{{ x }}'}]
cases: [{vars: {x: ok}}, {vars: {x: fail}}, {vars: {x: fine}}]
targets: [{id: api, provider: openai, model: m, base_url: 'http://127.0.0.1:9/v1', price: {output_per_mtok: 1000000}}]
checks: [{type: contains, value: 'f'}]
");
        let mut sink = Collect::default();
        let outcome = execute(
            &experiment,
            &mut Scripted::default(),
            &mut ScriptedRemote,
            &mut sink,
        );
        assert_eq!(outcome.unwrap(), RunOutcome::Completed);
        let outputs: Vec<&str> = sink.runs.iter().map(|r| r.output.as_str()).collect();
        assert_eq!(outputs, ["fine", "half", "ok"], "in the order they finished");
        assert_eq!(sink.runs[0].attempts.len(), 2);
        assert_eq!(sink.runs[0].cost_usd, Some(2.0));
        assert_eq!(sink.runs[0].passed(true), Some(true));
        assert_eq!(
            sink.runs[1].error.as_ref().map(|e| e.class),
            Some(ErrorClass::StreamBroken)
        );
        assert!(sink.runs[1].checks.is_empty());
        assert_eq!(sink.runs[2].passed(true), Some(false));
        assert!(sink.loads.is_empty(), "a remote target loads nothing");
    }

    #[test]
    fn a_sink_that_cannot_record_stops_the_remote_runs_too() {
        let experiment = parse(
            "schema: 1
variants: [{id: a, user: '{{ x }}'}]
cases: [{vars: {x: '1'}}, {vars: {x: '2'}}, {vars: {x: '3'}}]
targets: [{id: api, provider: openai, model: m, base_url: 'http://127.0.0.1:9/v1'}]
",
        );
        let mut sink = Collect {
            fail_after: Some(1),
            ..Collect::default()
        };
        let error = execute(
            &experiment,
            &mut Scripted::default(),
            &mut ScriptedRemote,
            &mut sink,
        )
        .unwrap_err();
        assert!(error.to_string().contains("disk full"), "{error}");
        assert_eq!(sink.runs.len(), 1);
    }

    #[test]
    fn a_cached_experiment_replays_stored_answers_without_loading_and_refresh_calls_again() {
        let file = |mode: &str| {
            parse(&format!(
                "schema: 1
variants: [{{id: a, prompt: 'A {{{{ x }}}}'}}]
cases: [{{vars: {{x: '1'}}}}, {{vars: {{x: '2'}}}}]
targets: [{{id: t, model: good.gguf, n_ctx: 256, price: {{per_hour: 3.6}}}}]
repetitions: 2
cache: {mode}
"
            ))
        };
        let mut engine = Scripted::default();
        let mut sink = Collect::default();
        let run = |experiment: &Experiment, engine: &mut Scripted, sink: &mut Collect| {
            sink.runs.clear();
            sink.loads.clear();
            execute(experiment, engine, &mut Unreachable, sink).unwrap()
        };
        run(&file("read_write"), &mut engine, &mut sink);
        assert_eq!(
            (engine.generated, sink.cache.len()),
            (4, 4),
            "every answer stored"
        );
        assert!(sink.runs.iter().all(|r| !r.cache_hit));

        run(&file("read_write"), &mut engine, &mut sink);
        assert_eq!(engine.generated, 4, "no new call");
        assert!(
            sink.loads.is_empty(),
            "nothing to load when every run is answered"
        );
        assert_eq!(sink.runs.len(), 4);
        for hit in &sink.runs {
            assert!(hit.cache_hit);
            assert_eq!(hit.output, format!("A {}", hit.case + 1));
            // 2 ms at $3.60 an hour: what the original run cost, saved; this one cost nothing.
            assert_eq!(hit.cost_usd, Some(0.0));
            assert!((hit.cache_saved_usd.unwrap() - 2e-6).abs() < 1e-15);
        }

        run(&file("refresh"), &mut engine, &mut sink);
        assert_eq!(engine.generated, 8, "refresh calls the model again");
        assert!(sink.runs.iter().all(|r| !r.cache_hit));
        run(&file("off"), &mut engine, &mut sink);
        assert_eq!(engine.generated, 12);
    }
}
