//! Grading: the `judge` checks of finished runs, sent to their graders after every run of the
//! experiment has finished (a local grader would otherwise take the CPU from measured runs, and
//! swap models between them). Each grader call is a judgement, recorded with its own latency,
//! tokens and cost; the run's own numbers never include it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::execute::backends::{Backends, RemoteProgress, run_remote_jobs};
use crate::execute::engine::{GenerateError, GenerateRequest, LocalEngine};
use crate::execute::record::{Judgement, RunRecord};
use crate::execute::remote::{RemoteEngine, RemoteJob};
use crate::execute::sink::{RunObserver, RunOutcome, RunSink, RunnerError};
use crate::format::now_rfc3339;
use crate::run::{ErrorClass, RunError, RunMetrics};
use crate::spec::checks::CheckResult;
use crate::spec::checks::judge::Judge;
use crate::spec::cost::run_cost;
use crate::spec::experiment::{Experiment, LocalTarget, Target, TargetKind};
use crate::spec::file::Role;
use crate::spec::prompt::{ChatMessage, RenderedPrompt};

impl Judgement {
    /// The run's check result this judgement gives.
    pub fn check_result(&self, label: String) -> CheckResult {
        let detail = match (&self.error, &self.reason) {
            (Some(error), _) => Some(format!("grader {}: {error}", self.grader)),
            (None, Some(reason)) => Some(reason.clone()),
            (None, None) => None,
        };
        CheckResult {
            check: label,
            passed: self.passed && self.error.is_none(),
            score: if self.error.is_some() { 0.0 } else { self.score },
            detail,
        }
    }
}

/// One grader call to make.
struct Call {
    run: usize,
    check_index: usize,
    prompt: Result<String, String>,
}

/// Grades every waiting run, grader by grader, handing each judgement (and the run with its
/// updated checks) to the sink as it arrives.
pub(crate) fn grade(
    experiment: &Experiment,
    judges_of_case: &[Vec<Option<&Judge>>],
    mut ungraded: Vec<RunRecord>,
    backends: Backends<'_>,
) -> Result<RunOutcome, RunnerError> {
    let Backends {
        local: engine,
        remote,
        sink,
        observer,
        cancel,
    } = backends;
    let grader_index: HashMap<&str, usize> = experiment
        .graders
        .iter()
        .enumerate()
        .map(|(i, g)| (g.id.as_str(), i))
        .collect();
    let mut calls_by_grader: Vec<Vec<Call>> = experiment.graders.iter().map(|_| Vec::new()).collect();
    for (run, record) in ungraded.iter().enumerate() {
        let case = &experiment.cases[record.case];
        let judges = judges_of_case[record.case].iter().enumerate();
        for (check_index, judge) in judges.filter_map(|(i, j)| j.map(|j| (i, j))) {
            // Validation made sure the grader exists (or that there is exactly one).
            let grader = judge
                .grader
                .as_deref()
                .and_then(|id| grader_index.get(id).copied())
                .unwrap_or(0);
            if let Some(calls) = calls_by_grader.get_mut(grader) {
                calls.push(Call {
                    run,
                    check_index,
                    prompt: judge.grading_prompt(&record.output, case.expected.as_deref(), &case.vars),
                });
            }
        }
    }
    let total: usize = calls_by_grader.iter().map(Vec::len).sum();
    let mut grading = Grading {
        judges_of_case,
        ungraded: &mut ungraded,
        sink,
        observer,
        done: 0,
        total,
    };
    for (grader, calls) in experiment.graders.iter().zip(calls_by_grader) {
        if calls.is_empty() {
            continue;
        }
        if cancel.load(Ordering::Relaxed) {
            return Ok(RunOutcome::Cancelled);
        }
        let outcome = match &grader.kind {
            TargetKind::Remote(_) => grading.remote(grader, calls, remote, cancel)?,
            TargetKind::Local(local) => grading.local(grader, local, calls, engine, cancel)?,
        };
        if outcome == RunOutcome::Cancelled {
            return Ok(RunOutcome::Cancelled);
        }
    }
    Ok(RunOutcome::Completed)
}

struct Grading<'a, 'j> {
    judges_of_case: &'a [Vec<Option<&'j Judge>>],
    ungraded: &'a mut [RunRecord],
    sink: &'a mut dyn RunSink,
    observer: &'a mut dyn RunObserver,
    done: usize,
    total: usize,
}

fn grading_prompt(text: String) -> RenderedPrompt {
    RenderedPrompt::Chat {
        messages: vec![ChatMessage {
            role: Role::User,
            content: text,
        }],
    }
}

impl Grading<'_, '_> {
    fn judgement(&self, grader: &Target, call: &Call) -> Judgement {
        let record = &self.ungraded[call.run];
        Judgement {
            config: record.config,
            case: record.case,
            repetition: record.repetition,
            check_index: call.check_index,
            grader: grader.id.clone(),
            started_at: now_rfc3339(),
            prompt: call.prompt.clone().unwrap_or_default(),
            answer: String::new(),
            passed: false,
            score: 0.0,
            reason: None,
            error: None,
            metrics: None,
            cost_usd: None,
            warnings: Vec::new(),
        }
    }

    /// Reads the grader's answer into the judgement, prices it, updates the run's check and
    /// records both.
    fn finish(
        &mut self,
        grader: &Target,
        call: &Call,
        mut judgement: Judgement,
        answer: Result<(String, RunMetrics, Vec<String>), RunError>,
    ) -> Result<(), RunnerError> {
        let record = &mut self.ungraded[call.run];
        let Some(judge) = self.judges_of_case[record.case][call.check_index] else {
            return Ok(());
        };
        match answer {
            Err(error) => judgement.error = Some(error),
            Ok((text, metrics, warnings)) => {
                judgement.cost_usd = grader.price.as_ref().and_then(|p| run_cost(p, &metrics));
                judgement.metrics = Some(metrics);
                judgement.warnings = warnings;
                match judge.read_verdict(&text) {
                    Ok(verdict) => {
                        judgement.passed = verdict.passed;
                        judgement.score = verdict.score;
                        judgement.reason = verdict.reason;
                    }
                    Err(message) => {
                        judgement.error = Some(RunError::new(ErrorClass::UnreadableVerdict, message));
                    }
                }
                judgement.answer = text;
            }
        }
        if let Some(check) = record.checks.get_mut(call.check_index) {
            *check = judgement.check_result(judge.label());
        }
        self.sink.record_judgement(&judgement, record)?;
        self.done += 1;
        self.observer.graded(self.done, self.total);
        Ok(())
    }

    fn local(
        &mut self,
        grader: &Target,
        local: &LocalTarget,
        calls: Vec<Call>,
        engine: &mut dyn LocalEngine,
        cancel: &AtomicBool,
    ) -> Result<RunOutcome, RunnerError> {
        // Validation allows a grader one setting.
        let Some(settings) = local.settings().into_iter().next() else {
            return Ok(RunOutcome::Completed);
        };
        self.observer.loading(&grader.id, settings.n_ctx);
        let load = settings.load_request(local.model.path.clone());
        let loaded = engine.load(&load);
        for call in &calls {
            if cancel.load(Ordering::Relaxed) {
                return Ok(RunOutcome::Cancelled);
            }
            let judgement = self.judgement(grader, call);
            let answer = match (&loaded, &call.prompt) {
                (Err(error), _) => Err(error.clone()),
                (Ok(_), Err(message)) => Err(RunError::new(ErrorClass::Template, message.clone())),
                (Ok(report), Ok(prompt)) => {
                    let request = GenerateRequest {
                        load: load.clone(),
                        prompt: grading_prompt(prompt.clone()),
                        chat_template: local.chat_template.clone(),
                        sampling: grader.sampling.clone(),
                    };
                    match engine.generate(&request, &mut |_| {}, cancel) {
                        Ok(generation) => {
                            let mut warnings = report.warnings.clone();
                            warnings.extend(generation.warnings);
                            Ok((generation.output, generation.metrics, warnings))
                        }
                        Err(GenerateError::Failed(error)) => Err(error),
                        Err(GenerateError::Cancelled) => return Ok(RunOutcome::Cancelled),
                    }
                }
            };
            self.finish(grader, call, judgement, answer)?;
        }
        Ok(RunOutcome::Completed)
    }

    fn remote(
        &mut self,
        grader: &Target,
        calls: Vec<Call>,
        remote: &mut dyn RemoteEngine,
        cancel: &AtomicBool,
    ) -> Result<RunOutcome, RunnerError> {
        let Some(remote_target) = grader.remote() else {
            return Ok(RunOutcome::Completed);
        };
        let mut jobs = Vec::with_capacity(calls.len());
        let mut job_calls = Vec::with_capacity(calls.len());
        for call in calls {
            match &call.prompt {
                Ok(prompt) => {
                    jobs.push(RemoteJob {
                        prompt: grading_prompt(prompt.clone()),
                        sampling: grader.sampling.clone(),
                    });
                    job_calls.push(call);
                }
                Err(message) => {
                    let judgement = self.judgement(grader, &call);
                    let error = RunError::new(ErrorClass::Template, message.clone());
                    self.finish(grader, &call, judgement, Err(error))?;
                }
            }
        }
        if jobs.is_empty() {
            return Ok(RunOutcome::Completed);
        }
        run_remote_jobs(remote, remote_target, jobs, cancel, &mut |event| match event {
            RemoteProgress::Started(_) => Ok(()),
            RemoteProgress::Finished(index, started_at, result) => {
                let call = &job_calls[index];
                let mut judgement = self.judgement(grader, call);
                if let Some(started) = started_at {
                    judgement.started_at = started;
                }
                let answer = result
                    .outcome
                    .map(|generation| (generation.output, generation.metrics, generation.warnings));
                self.finish(grader, call, judgement, answer)
            }
        })
    }
}
