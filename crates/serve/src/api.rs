//! The HTTP routes: `/v1/chat/completions`, `/v1/completions`, `/v1/variants/{id}/completions`
//! (the winner's own template filled with `vars`), `/v1/models`, `/metrics` and `/health`,
//! streaming as server-sent events or not, behind the bearer key when one is set. Every answer
//! of the completion routes, refusals included, ends as one [`TrafficRecord`]: counted in the
//! metrics and handed to the traffic log.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tradeoff_core::analyze::traffic::TrafficRecord;
use tradeoff_core::execute::engine::Generation;
use tradeoff_core::run::{ErrorClass, RunMetrics};
use tradeoff_core::spec::cost::run_cost;
use tradeoff_store::traffic::{TrafficLog, now_ms};
use tradeoff_worker::ServedEvent;

use crate::admission::Admission;
use crate::answering::{Input, Started, ended_without_result, start_answer};
use crate::backend::Backend;
use crate::deployment::Deployment;
use crate::error::ApiError;
use crate::metrics::{CONTENT_TYPE, Metrics};
use crate::wire::{self, ChatRequest, CompletionRequest, Envelope, Overrides, Shape, VariantRequest};

/// A request body larger than this is refused (413): prompts fit the served n_ctx, far below.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug)]
pub struct Served {
    pub deployment: Deployment,
    /// One per `deployment.engines`: its worker or API caller, and its slots.
    pub engines: Vec<ServedEngine>,
    /// Clients must send it as `Authorization: Bearer <key>` (all routes but `/health`).
    pub key: Option<String>,
    pub next_id: AtomicU64,
    pub metrics: Metrics,
    /// Where every request is recorded (`None`: `--no-log`).
    pub traffic: Option<TrafficLog>,
    /// Keep output texts in the log (`--log-text`), not only their hashes.
    pub log_text: bool,
}

#[derive(Debug)]
pub struct ServedEngine {
    pub backend: Backend,
    pub admission: Admission,
}

impl Served {
    /// The engine `config` (a place in `deployment.configs`) runs on.
    pub(crate) fn engine_of(&self, config: usize) -> &ServedEngine {
        &self.engines[self.deployment.configs[config].engine]
    }

    /// Requests waiting for a slot, over every engine.
    pub(crate) fn waiting(&self) -> usize {
        self.engines.iter().map(|e| e.admission.waiting()).sum()
    }

    /// What one call cost: `config`'s price for its tokens and its share of the machine (a rule,
    /// `None`, costs nothing; a call without its tokens is charged for its machine time alone).
    pub(crate) fn cost_of(
        &self,
        config: Option<usize>,
        generation: Option<&Generation>,
        machine_ms: f64,
    ) -> Option<f64> {
        let Some(config) = config else {
            return Some(0.0);
        };
        let (input, output) =
            generation.map_or((0, 0), |g| (g.metrics.input_tokens, g.metrics.output_tokens));
        let price = self.deployment.configs[config].price.as_ref()?;
        run_cost(price, &RunMetrics::new(machine_ms, input, output))
    }

    /// Counts a finished request and hands it to the traffic log.
    pub(crate) fn finish(&self, record: TrafficRecord) {
        self.metrics.observe(&record);
        if let Some(log) = &self.traffic {
            log.log(record);
        }
    }
}

pub fn router(served: Arc<Served>) -> Router {
    let protected = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/variants/{id}/completions", post(variant))
        .route("/v1/models", get(models))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&served),
            authorize,
        ));
    Router::new()
        .route("/health", get(health))
        .merge(protected)
        .fallback(|| async { ApiError::not_found("no such route: the routes are /v1/chat/completions, /v1/completions, /v1/variants/{id}/completions, /v1/models and /health") })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(served)
}

async fn authorize(State(served): State<Arc<Served>>, request: Request, next: Next) -> Response {
    if let Some(key) = &served.key {
        let sent = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !same(sent.as_bytes(), key.as_bytes()) {
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(request).await
}

/// Compares without stopping at the first difference, so the time taken says nothing of the key.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn health(State(served): State<Arc<Served>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "model": served.deployment.model_name,
        "slots": served.deployment.slots,
        "waiting": served.waiting(),
        "worker_restarts": served.engines.iter().map(|e| e.backend.restarts()).sum::<u32>(),
    }))
}

async fn models(State(served): State<Arc<Served>>) -> Json<Value> {
    Json(json!({
        "object": "list",
        "data": [{
            "id": served.deployment.model_name,
            "object": "model",
            "created": 0,
            "owned_by": "tradeoff",
        }],
    }))
}

async fn metrics(State(served): State<Arc<Served>>) -> Response {
    served.metrics.set_waiting(served.waiting());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], served.metrics.encode()).into_response()
}

async fn chat(State(served): State<Arc<Served>>, body: Bytes) -> Response {
    let tracker = Tracker::new("chat");
    let request = own_prompt_allowed(&served).and_then(|()| {
        let request = wire::parse::<ChatRequest>(&body)?;
        Ok((Input::Prompt(request.prompt()?), request.overrides))
    });
    answer(served, tracker, request, Shape::Chat).await
}

async fn completions(State(served): State<Arc<Served>>, body: Bytes) -> Response {
    let tracker = Tracker::new("completions");
    let request = own_prompt_allowed(&served).and_then(|()| {
        let request = wire::parse::<CompletionRequest>(&body)?;
        Ok((Input::Prompt(request.prompt()?), request.overrides))
    });
    answer(served, tracker, request, Shape::Text).await
}

/// A policy that decides by the request's variables cannot answer a prompt that has none.
fn own_prompt_allowed(served: &Served) -> Result<(), ApiError> {
    let Some(policy) = &served.deployment.policy else {
        return Ok(());
    };
    match policy.reads_vars() {
        None => Ok(()),
        Some(var) => Err(ApiError::bad_request(
            "policy_needs_vars",
            format!(
                "policy `{}` decides by the request's variable `{var}`, which a prompt does not carry: POST /v1/variants/{}/completions with {{\"vars\": {{...}}}}",
                policy.id, policy.id
            ),
        )),
    }
}

async fn variant(State(served): State<Arc<Served>>, Path(id): Path<String>, body: Bytes) -> Response {
    let tracker = Tracker::new("variant");
    let served_id = served.deployment.variant_route();
    let request = if id == served_id {
        wire::parse::<VariantRequest>(&body).map(|request| (Input::Vars(request.vars), request.overrides))
    } else {
        Err(ApiError::not_found(format!(
            "no variant `{id}` is served: this server serves `{served_id}`"
        )))
    };
    answer(served, tracker, request, Shape::Text).await
}

/// Answers a completion request; a refusal is recorded like an answer.
async fn answer(
    served: Arc<Served>,
    tracker: Tracker,
    request: Result<(Input, Overrides), ApiError>,
    shape: Shape,
) -> Response {
    let mut watch = Watch {
        served: Arc::clone(&served),
        tracker,
        settled: false,
    };
    let refused = match request {
        Ok((input, overrides)) => {
            match complete(Arc::clone(&served), &mut watch.tracker, input, &overrides, shape).await {
                Ok(response) => {
                    watch.settled = true;
                    return response;
                }
                Err(error) => error,
            }
        }
        Err(error) => error,
    };
    watch.settled = true;
    served.finish(watch.tracker.refused(&refused));
    refused.into_response()
}

/// A request whose client goes away before its answer (waiting for a slot, or for a whole
/// answer it did not stream) is dropped with its handler: it is recorded as cut off.
struct Watch {
    served: Arc<Served>,
    tracker: Tracker,
    /// Its answer or refusal is recorded elsewhere.
    settled: bool,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.settled {
            self.served
                .finish(self.tracker.record(499, Some(ErrorClass::StreamBroken)));
        }
    }
}

async fn complete(
    served: Arc<Served>,
    tracker: &mut Tracker,
    input: Input,
    overrides: &Overrides,
    shape: Shape,
) -> Result<Response, ApiError> {
    let mut started = start_answer(&served, tracker, input, overrides).await?;
    let deployment = &served.deployment;
    let number = served.next_id.fetch_add(1, Ordering::Relaxed);
    let envelope = Envelope {
        id: match shape {
            Shape::Chat => format!("chatcmpl-{number}"),
            Shape::Text => format!("cmpl-{number}"),
        },
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        model: deployment.model_name.clone(),
        shape,
    };
    if !overrides.stream {
        loop {
            match started.submission.next().await {
                Some(ServedEvent::Text(_)) => tracker.text(),
                Some(ServedEvent::Done(result)) => {
                    let machine_ms = started.settle(&served);
                    return match *result {
                        Ok(generation) => {
                            let response = Json(envelope.response(&generation)).into_response();
                            served.finish(tracker.answered(&served, started.config, &generation, machine_ms));
                            Ok(response)
                        }
                        Err(error) => Err(ApiError::from_run(&error)),
                    };
                }
                None => return Err(ApiError::from_run(&ended_without_result())),
            }
        }
    }
    let stream = Stream {
        started,
        served: Arc::clone(&served),
        tracker: tracker.take(),
        envelope,
        include_usage: overrides.include_usage(),
        first: true,
        pending: VecDeque::new(),
        over: false,
    };
    let events = futures_util::stream::unfold(stream, |mut stream| async move {
        let event = stream.next_event().await?;
        Some((Ok::<Event, Infallible>(event), stream))
    });
    Ok(Sse::new(events).into_response())
}

/// One streamed response: text chunks as the worker sends them, then the finish chunk, the
/// usage chunk when asked for, and `[DONE]`.
struct Stream {
    /// Its slot is held until the generation ends, not until the client has read everything.
    started: Started,
    served: Arc<Served>,
    tracker: Tracker,
    envelope: Envelope,
    include_usage: bool,
    first: bool,
    pending: VecDeque<Event>,
    over: bool,
}

impl Drop for Stream {
    /// A client that went away before the end is recorded too: its request was cut off.
    fn drop(&mut self) {
        if !self.over {
            let mut record = self.tracker.record(499, Some(ErrorClass::StreamBroken));
            record.cost_usd = None;
            self.served.finish(record);
        }
    }
}

impl Stream {
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.over {
                return None;
            }
            match self.started.submission.next().await {
                Some(ServedEvent::Text(text)) => {
                    self.tracker.text();
                    let chunk = self.envelope.text_chunk(&text, self.first);
                    self.first = false;
                    return Some(data(&chunk));
                }
                Some(ServedEvent::Done(result)) => {
                    self.over = true;
                    let machine_ms = self.started.settle(&self.served);
                    match *result {
                        Ok(generation) => {
                            let record = self.tracker.answered(
                                &self.served,
                                self.started.config,
                                &generation,
                                machine_ms,
                            );
                            self.served.finish(record);
                            self.pending
                                .push_back(data(&self.envelope.finish_chunk(&generation)));
                            if self.include_usage {
                                self.pending
                                    .push_back(data(&self.envelope.usage_chunk(&generation)));
                            }
                            self.pending.push_back(Event::default().data("[DONE]"));
                        }
                        // The status is sent already: the error goes as an event, as OpenAI's do.
                        Err(error) => {
                            let error = ApiError::from_run(&error);
                            self.served.finish(self.tracker.refused(&error));
                            self.pending.push_back(data(&error.body()));
                        }
                    }
                }
                None => {
                    self.over = true;
                    self.started.settle(&self.served);
                    let error = ApiError::from_run(&ended_without_result());
                    self.served.finish(self.tracker.refused(&error));
                    self.pending.push_back(data(&error.body()));
                }
            }
        }
    }
}

fn data(value: &Value) -> Event {
    Event::default().data(value.to_string())
}

/// One request's times as it goes: arrival, admission, each piece of text.
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    route: &'static str,
    canary: bool,
    at_ms: i64,
    arrived: Instant,
    admitted: Option<Instant>,
    first_text: Option<Instant>,
    last_text: Option<Instant>,
    gaps_ms: Vec<f64>,
    /// A policy's stages the request went through, the answering one last.
    stages: Vec<String>,
    /// What the stages before the answering one used: tokens, and cost (`None`: unpriced).
    spent_input_tokens: u32,
    spent_output_tokens: u32,
    spent_cost_usd: Option<f64>,
}

impl Tracker {
    fn new(route: &'static str) -> Tracker {
        Tracker {
            route,
            canary: false,
            at_ms: now_ms(),
            arrived: Instant::now(),
            admitted: None,
            first_text: None,
            last_text: None,
            gaps_ms: Vec::new(),
            stages: Vec::new(),
            spent_input_tokens: 0,
            spent_output_tokens: 0,
            spent_cost_usd: Some(0.0),
        }
    }

    /// A canary's request (`route` canary, marked as such in the log).
    pub(crate) fn canary() -> Tracker {
        Tracker {
            canary: true,
            ..Tracker::new("canary")
        }
    }

    /// The request got its first slot (a later stage's wait is not queueing for the server).
    pub(crate) fn admitted(&mut self) {
        self.admitted.get_or_insert_with(Instant::now);
    }

    /// The request reached a policy's stage.
    pub(crate) fn stage(&mut self, label: String) {
        self.stages.push(label);
    }

    /// A stage answered and the request went on: its tokens and cost count towards the request's.
    pub(crate) fn spend(&mut self, generation: Option<&Generation>, cost_usd: Option<f64>) {
        if let Some(generation) = generation {
            self.spent_input_tokens += generation.metrics.input_tokens;
            self.spent_output_tokens += generation.metrics.output_tokens;
        }
        self.spent_cost_usd = self.spent_cost_usd.zip(cost_usd).map(|(a, b)| a + b);
    }

    /// A piece of text arrived from the worker (one per token, unless held back for a stop
    /// sequence): its gap from the previous one is an inter-token latency.
    pub(crate) fn text(&mut self) {
        let now = Instant::now();
        match self.last_text {
            Some(last) => self.gaps_ms.push(ms(now - last)),
            None => self.first_text = Some(now),
        }
        self.last_text = Some(now);
    }

    fn take(&mut self) -> Tracker {
        self.clone()
    }

    fn record(&self, status: u16, error_class: Option<ErrorClass>) -> TrafficRecord {
        let queue_ms = self.admitted.map_or(0.0, |at| ms(at - self.arrived));
        TrafficRecord {
            at_ms: self.at_ms,
            route: self.route.to_string(),
            stage: (!self.stages.is_empty()).then(|| self.stages.join(" → ")),
            status,
            error_class,
            input_tokens: None,
            output_tokens: None,
            queue_ms,
            ttft_ms: self.first_text.map(|at| ms(at - self.arrived)),
            itl_p50_ms: tradeoff_core::stats::percentile(&self.gaps_ms, 50.0),
            itl_p95_ms: tradeoff_core::stats::percentile(&self.gaps_ms, 95.0),
            latency_ms: ms(self.arrived.elapsed()),
            cost_usd: None,
            output_hash: None,
            output_text: None,
            canary: self.canary,
            passed: None,
        }
    }

    pub(crate) fn refused(&self, error: &ApiError) -> TrafficRecord {
        let class = match error.status.as_u16() {
            429 => ErrorClass::RateLimited,
            400..=499 if error.code == "template" => ErrorClass::Template,
            400..=499 => ErrorClass::BadRequest,
            _ => ErrorClass::parse(error.code).unwrap_or(ErrorClass::Internal),
        };
        self.record(error.status.as_u16(), Some(class))
    }

    /// `config` answered (`None`: a rule); `machine_ms`: its share of the machine while it held
    /// a slot. Tokens and cost add up every stage the request went through.
    pub(crate) fn answered(
        &self,
        served: &Served,
        config: Option<usize>,
        generation: &Generation,
        machine_ms: f64,
    ) -> TrafficRecord {
        let metrics = &generation.metrics;
        let mut record = self.record(200, None);
        record.input_tokens = Some(metrics.input_tokens + self.spent_input_tokens);
        record.output_tokens = Some(metrics.output_tokens + self.spent_output_tokens);
        record.cost_usd = served
            .cost_of(config, Some(generation), machine_ms)
            .zip(self.spent_cost_usd)
            .map(|(own, spent)| own + spent);
        record.output_hash = Some(blake3::hash(generation.output.as_bytes()).to_hex().to_string());
        record.output_text = served.log_text.then(|| generation.output.clone());
        record
    }
}

fn ms(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
