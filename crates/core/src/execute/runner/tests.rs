use std::path::Path;

use super::*;
use crate::execute::backends::Backends;
use crate::execute::cache::CachedRun;
use crate::execute::engine::{Generation, LoadReport, LoadRequest};
use crate::execute::record::Judgement;
use std::ops::ControlFlow;

use crate::execute::remote::RemoteEvent;
use crate::execute::sink::{Quiet, SinkError};
use crate::run::{FinishReason, RunMetrics};
use crate::spec::load::{FileFormat, parse_str};

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
        Backends {
            local: engine,
            remote,
            sink,
            observer: &mut Quiet,
            cancel: &AtomicBool::new(false),
        },
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
        Backends {
            local: &mut engine,
            remote: &mut Unreachable,
            sink: &mut sink,
            observer: &mut Quiet,
            cancel: &cancel,
        },
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
            let attempt = crate::execute::remote::Attempt {
                started_after_ms: 0.0,
                status: Some(200),
                error: None,
                retry_after_ms: None,
                waited_ms: None,
            };
            let result = if text.contains("fail") {
                crate::execute::remote::RemoteResult {
                    outcome: Err(RunError::new(ErrorClass::StreamBroken, "the stream broke")),
                    partial_output: "half".into(),
                    attempts: vec![attempt],
                }
            } else {
                crate::execute::remote::RemoteResult {
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

mod budget;
