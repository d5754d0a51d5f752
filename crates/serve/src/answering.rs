//! Who answers a request: the winner's one config, or its routing policy live. A policy's
//! cascade sends the request to each stage in turn: a rule answers from the request's variables
//! without a model; a model stage's answer is kept unless one of its `escalate_when` conditions
//! holds, read on the whole answer (as the simulation on recorded runs reads it), so only the
//! last stage streams as it decodes; an earlier stage's kept answer reaches the client when it is
//! complete. A route picks one config by the request's variables. Every stage a request went
//! through is named in its traffic record.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tokio::sync::mpsc;
use tradeoff_core::execute::engine::Generation;
use tradeoff_core::run::{ErrorClass, FinishReason, RunError, RunMetrics};
use tradeoff_core::spec::policy::{Answer, Policy, PolicyPlan, Stage, escalates};
use tradeoff_core::spec::prompt::RenderedPrompt;
use tradeoff_worker::ServedEvent;

use crate::admission::Slot;
use crate::api::{Served, Tracker};
use crate::backend::Submission;
use crate::deployment::ServedConfig;
use crate::error::ApiError;
use crate::wire::Overrides;

/// What a request brings: a prompt of its own, or the variables the served templates fill.
#[derive(Debug)]
pub(crate) enum Input {
    Prompt(RenderedPrompt),
    Vars(BTreeMap<String, Value>),
}

impl Input {
    /// The prompt `config` is sent: the client's own, or the config's template filled.
    fn prompt_for(&self, config: &ServedConfig) -> Result<RenderedPrompt, ApiError> {
        match self {
            Input::Prompt(prompt) => Ok(prompt.clone()),
            Input::Vars(vars) => config
                .render(vars.clone())
                .map_err(|e| ApiError::bad_request("template", e)),
        }
    }

    fn vars(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Input::Vars(vars) => Some(vars),
            Input::Prompt(_) => None,
        }
    }
}

/// The answer under way: its events, and the slot it holds until its generation ends.
pub(crate) struct Started {
    pub(crate) submission: Submission,
    slot: Option<Slot>,
    /// The config answering (`None`: a rule).
    pub(crate) config: Option<usize>,
    started: Instant,
    /// The request's share of the machine, once its slot is given back.
    machine_ms: f64,
}

impl Started {
    /// Gives the slot back (once) and returns the generation's share of the machine.
    pub(crate) fn settle(&mut self, served: &Served) -> f64 {
        if let (Some(slot), Some(config)) = (self.slot.take(), self.config) {
            served.engine_of(config).admission.record(self.started.elapsed());
            self.machine_ms = slot.release();
        }
        self.machine_ms
    }

    /// The whole answer, read without passing its text on (a stage that may still escalate).
    async fn finish(mut self, served: &Served) -> (Result<Generation, RunError>, f64) {
        let result = loop {
            match self.submission.next().await {
                Some(ServedEvent::Text(_)) => {}
                Some(ServedEvent::Done(result)) => break *result,
                None => break Err(ended_without_result()),
            }
        };
        let machine_ms = self.settle(served);
        (result, machine_ms)
    }

    /// An answer complete already (a rule's, or a stage's that was kept), handed on as if it
    /// were decoding: its text, then its end.
    fn answered(generation: Generation, config: Option<usize>, machine_ms: f64) -> Started {
        let (sender, events) = mpsc::unbounded_channel();
        if !generation.output.is_empty() {
            let _ = sender.send(ServedEvent::Text(generation.output.clone()));
        }
        let _ = sender.send(ServedEvent::Done(Box::new(Ok(generation))));
        Started {
            submission: Submission::new(events, Box::new(|| {})),
            slot: None,
            config,
            started: Instant::now(),
            machine_ms,
        }
    }
}

pub(crate) fn ended_without_result() -> RunError {
    RunError::new(
        ErrorClass::WorkerCrashed,
        "the worker ended the request without a result",
    )
}

/// Starts the answer to `input`: the single config's, or the policy's.
pub(crate) async fn start_answer(
    served: &Arc<Served>,
    tracker: &mut Tracker,
    input: Input,
    overrides: &Overrides,
) -> Result<Started, ApiError> {
    match &served.deployment.policy {
        None => {
            let prompt = input.prompt_for(served.deployment.first())?;
            start(served, 0, prompt, overrides, tracker).await
        }
        Some(policy) => walk(served, policy, tracker, &input, overrides).await,
    }
}

/// Takes a slot of `config`'s engine (waiting in its queue) and sends the generation.
async fn start(
    served: &Arc<Served>,
    config: usize,
    prompt: RenderedPrompt,
    overrides: &Overrides,
    tracker: &mut Tracker,
) -> Result<Started, ApiError> {
    let served_config = &served.deployment.configs[config];
    let sampling = overrides.sampling(&served_config.sampling, served_config.max_tokens_limit())?;
    let engine = served.engine_of(config);
    let slot = engine
        .admission
        .admit()
        .await
        .map_err(|busy| ApiError::busy(busy.retry_after_s))?;
    tracker.admitted();
    let started = Instant::now();
    let submission = engine
        .backend
        .submit(prompt, sampling)
        .await
        .map_err(|e| ApiError::from_run(&e))?;
    Ok(Started {
        submission,
        slot: Some(slot),
        config: Some(config),
        started,
        machine_ms: 0.0,
    })
}

async fn walk(
    served: &Arc<Served>,
    policy: &Policy,
    tracker: &mut Tracker,
    input: &Input,
    overrides: &Overrides,
) -> Result<Started, ApiError> {
    let configs = &served.deployment.configs;
    match &policy.plan {
        PolicyPlan::Route(routes) => {
            // The last route has no condition: one is always taken.
            let taken = routes
                .iter()
                .find(|route| match &route.when {
                    None => true,
                    Some(condition) => input
                        .vars()
                        .and_then(|vars| condition.measure.of_vars(vars))
                        .is_some_and(|measured| condition.holds(measured)),
                })
                .ok_or_else(|| ApiError::from_run(&RunError::new(ErrorClass::Internal, "no route taken")))?;
            let config = taken.config.index;
            tracker.stage(taken.config.label.clone());
            let prompt = input.prompt_for(&configs[config])?;
            start(served, config, prompt, overrides, tracker).await
        }
        PolicyPlan::Cascade(stages) => {
            for (index, stage) in stages.iter().enumerate() {
                tracker.stage(stage.label());
                let (config, escalate_when) = match stage {
                    Stage::Rule(rule) => {
                        // A rule that fails on the request hands it on, as one that does not match.
                        if let Some(Ok(Some(text))) = input.vars().map(|vars| rule.answer(vars)) {
                            return Ok(Started::answered(rule_answer(text), None, 0.0));
                        }
                        continue;
                    }
                    Stage::Model {
                        config,
                        escalate_when,
                    } => (config.index, escalate_when),
                };
                let prompt = input.prompt_for(&configs[config])?;
                let started = start(served, config, prompt, overrides, tracker).await?;
                if index + 1 == stages.len() {
                    return Ok(started);
                }
                let (result, machine_ms) = started.finish(served).await;
                let generation = result.as_ref().ok();
                let cost_usd = served.cost_of(Some(config), generation, machine_ms);
                let answer = match generation {
                    Some(generation) => Answer {
                        output: &generation.output,
                        failed: false,
                        metrics: Some(&generation.metrics),
                        finish_reason: Some(generation.finish_reason),
                        cost_usd,
                    },
                    None => Answer {
                        output: "",
                        failed: true,
                        metrics: None,
                        finish_reason: None,
                        cost_usd,
                    },
                };
                // A signal the answer lacks was refused when the winner was read; should one be
                // missing, the request goes on, as in the simulation.
                if !escalates(escalate_when, &answer).unwrap_or(true) {
                    return match result {
                        Ok(generation) => Ok(Started::answered(generation, Some(config), machine_ms)),
                        Err(error) => Err(ApiError::from_run(&error)),
                    };
                }
                tracker.spend(generation, cost_usd);
            }
            Err(ApiError::from_run(&RunError::new(
                ErrorClass::Internal,
                "the cascade's last stage did not answer",
            )))
        }
    }
}

fn rule_answer(text: String) -> Generation {
    Generation {
        output: text,
        finish_reason: FinishReason::Stop,
        metrics: RunMetrics::new(0.0, 0, 0),
        warnings: Vec::new(),
    }
}
