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
use tradeoff_core::spec::cost::{Price, run_cost};
use tradeoff_core::spec::prompt::RenderedPrompt;
use tradeoff_store::traffic::{TrafficLog, now_ms};
use tradeoff_worker::ServedEvent;

use crate::admission::{Admission, Slot};
use crate::backend::{Backend, Submission};
use crate::deployment::Deployment;
use crate::error::ApiError;
use crate::metrics::{CONTENT_TYPE, Metrics};
use crate::wire::{self, ChatRequest, CompletionRequest, Envelope, Overrides, Shape, VariantRequest};

/// A request body larger than this is refused (413): prompts fit the served n_ctx, far below.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug)]
pub struct Served {
    pub deployment: Deployment,
    pub backend: Backend,
    pub admission: Admission,
    /// Clients must send it as `Authorization: Bearer <key>` (all routes but `/health`).
    pub key: Option<String>,
    pub next_id: AtomicU64,
    pub metrics: Metrics,
    /// Where every request is recorded (`None`: `--no-log`).
    pub traffic: Option<TrafficLog>,
    /// Keep output texts in the log (`--log-text`), not only their hashes.
    pub log_text: bool,
    /// The winner's price, for each request's cost.
    pub price: Option<Price>,
}

impl Served {
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
        "waiting": served.admission.waiting(),
        "worker_restarts": served.backend.restarts(),
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
    served.metrics.set_waiting(served.admission.waiting());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], served.metrics.encode()).into_response()
}

async fn chat(State(served): State<Arc<Served>>, body: Bytes) -> Response {
    let tracker = Tracker::new("chat");
    let request =
        wire::parse::<ChatRequest>(&body).and_then(|request| Ok((request.prompt()?, request.overrides)));
    answer(served, tracker, request, Shape::Chat).await
}

async fn completions(State(served): State<Arc<Served>>, body: Bytes) -> Response {
    let tracker = Tracker::new("completions");
    let request = wire::parse::<CompletionRequest>(&body)
        .and_then(|request| Ok((request.prompt()?, request.overrides)));
    answer(served, tracker, request, Shape::Text).await
}

async fn variant(State(served): State<Arc<Served>>, Path(id): Path<String>, body: Bytes) -> Response {
    let tracker = Tracker::new("variant");
    let request = if id == served.deployment.variant.id {
        wire::parse::<VariantRequest>(&body).and_then(|request| {
            let prompt = served
                .deployment
                .render(request.vars)
                .map_err(|e| ApiError::bad_request("template", e))?;
            Ok((prompt, request.overrides))
        })
    } else {
        Err(ApiError::not_found(format!(
            "no variant `{id}` is served: this server serves `{}`",
            served.deployment.variant.id
        )))
    };
    answer(served, tracker, request, Shape::Text).await
}

/// Answers a completion request; a refusal is recorded like an answer.
async fn answer(
    served: Arc<Served>,
    tracker: Tracker,
    request: Result<(RenderedPrompt, Overrides), ApiError>,
    shape: Shape,
) -> Response {
    let mut watch = Watch {
        served: Arc::clone(&served),
        tracker,
        settled: false,
    };
    let refused = match request {
        Ok((prompt, overrides)) => {
            match complete(Arc::clone(&served), &mut watch.tracker, prompt, &overrides, shape).await {
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
    prompt: RenderedPrompt,
    overrides: &Overrides,
    shape: Shape,
) -> Result<Response, ApiError> {
    let deployment = &served.deployment;
    let sampling = overrides.sampling(&deployment.sampling, deployment.max_tokens_limit())?;
    let slot = served
        .admission
        .admit()
        .await
        .map_err(|busy| ApiError::busy(busy.retry_after_s))?;
    tracker.admitted();
    let started = Instant::now();
    let mut submission = served
        .backend
        .submit(prompt, sampling)
        .await
        .map_err(|e| ApiError::from_run(&e))?;
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
            match submission.next().await {
                Some(ServedEvent::Text(_)) => tracker.text(),
                Some(ServedEvent::Done(result)) => {
                    served.admission.record(started.elapsed());
                    let machine_ms = slot.release();
                    return match *result {
                        Ok(generation) => {
                            let response = Json(envelope.response(&generation)).into_response();
                            served.finish(tracker.answered(&served, &generation, machine_ms));
                            Ok(response)
                        }
                        Err(error) => Err(ApiError::from_run(&error)),
                    };
                }
                None => return Err(ended_without_result()),
            }
        }
    }
    let stream = Stream {
        submission,
        slot: Some(slot),
        served: Arc::clone(&served),
        tracker: tracker.take(),
        started,
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

fn ended_without_result() -> ApiError {
    ApiError::from_run(&tradeoff_core::run::RunError::new(
        tradeoff_core::run::ErrorClass::WorkerCrashed,
        "the worker ended the request without a result",
    ))
}

/// One streamed response: text chunks as the worker sends them, then the finish chunk, the
/// usage chunk when asked for, and `[DONE]`.
struct Stream {
    submission: Submission,
    /// Held until the generation ends, not until the client has read everything.
    slot: Option<Slot>,
    served: Arc<Served>,
    tracker: Tracker,
    started: Instant,
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
            match self.submission.next().await {
                Some(ServedEvent::Text(text)) => {
                    self.tracker.text();
                    let chunk = self.envelope.text_chunk(&text, self.first);
                    self.first = false;
                    return Some(data(&chunk));
                }
                Some(ServedEvent::Done(result)) => {
                    self.over = true;
                    self.served.admission.record(self.started.elapsed());
                    let machine_ms = self.slot.take().map_or(0.0, Slot::release);
                    match *result {
                        Ok(generation) => {
                            let record = self.tracker.answered(&self.served, &generation, machine_ms);
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
                    self.slot = None;
                    let error = ended_without_result();
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
        }
    }

    /// A canary's request (`route` canary, marked as such in the log).
    pub(crate) fn canary() -> Tracker {
        Tracker {
            canary: true,
            ..Tracker::new("canary")
        }
    }

    pub(crate) fn admitted(&mut self) {
        self.admitted = Some(Instant::now());
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
            stage: None,
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

    /// `machine_ms`: the request's share of the machine while it held a slot.
    pub(crate) fn answered(
        &self,
        served: &Served,
        generation: &Generation,
        machine_ms: f64,
    ) -> TrafficRecord {
        let metrics = &generation.metrics;
        let mut record = self.record(200, None);
        record.input_tokens = Some(metrics.input_tokens);
        record.output_tokens = Some(metrics.output_tokens);
        record.cost_usd = served.price.as_ref().and_then(|price| {
            run_cost(
                price,
                &RunMetrics::new(machine_ms, metrics.input_tokens, metrics.output_tokens),
            )
        });
        record.output_hash = Some(blake3::hash(generation.output.as_bytes()).to_hex().to_string());
        record.output_text = served.log_text.then(|| generation.output.clone());
        record
    }
}

fn ms(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
