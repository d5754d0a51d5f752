//! The HTTP routes: `/v1/chat/completions`, `/v1/completions`, `/v1/variants/{id}/completions`
//! (the winner's own template filled with `vars`), `/v1/models` and `/health`, streaming as
//! server-sent events or not, behind the bearer key when one is set.

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
use tradeoff_core::spec::prompt::RenderedPrompt;
use tradeoff_worker::ServedEvent;

use crate::admission::{Admission, Slot};
use crate::deployment::Deployment;
use crate::error::ApiError;
use crate::local::{LocalBackend, Submission};
use crate::wire::{self, ChatRequest, CompletionRequest, Envelope, Overrides, Shape, VariantRequest};

/// A request body larger than this is refused (413): prompts fit the served n_ctx, far below.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug)]
pub struct Served {
    pub deployment: Deployment,
    pub backend: LocalBackend,
    pub admission: Admission,
    /// Clients must send it as `Authorization: Bearer <key>` (all routes but `/health`).
    pub key: Option<String>,
    pub next_id: AtomicU64,
}

pub fn router(served: Arc<Served>) -> Router {
    let protected = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/variants/{id}/completions", post(variant))
        .route("/v1/models", get(models))
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
        "slots": served.deployment.load.context.sequences,
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

async fn chat(State(served): State<Arc<Served>>, body: Bytes) -> Result<Response, ApiError> {
    let request: ChatRequest = wire::parse(&body)?;
    let prompt = request.prompt()?;
    complete(served, prompt, &request.overrides, Shape::Chat).await
}

async fn completions(State(served): State<Arc<Served>>, body: Bytes) -> Result<Response, ApiError> {
    let request: CompletionRequest = wire::parse(&body)?;
    let prompt = request.prompt()?;
    complete(served, prompt, &request.overrides, Shape::Text).await
}

async fn variant(
    State(served): State<Arc<Served>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if id != served.deployment.variant.id {
        return Err(ApiError::not_found(format!(
            "no variant `{id}` is served: this server serves `{}`",
            served.deployment.variant.id
        )));
    }
    let request: VariantRequest = wire::parse(&body)?;
    let prompt = served
        .deployment
        .render(request.vars.clone())
        .map_err(|e| ApiError::bad_request("template", e))?;
    complete(served, prompt, &request.overrides, Shape::Text).await
}

async fn complete(
    served: Arc<Served>,
    prompt: RenderedPrompt,
    overrides: &Overrides,
    shape: Shape,
) -> Result<Response, ApiError> {
    let deployment = &served.deployment;
    let sampling = overrides.sampling(&deployment.sampling, deployment.load.context.n_ctx)?;
    let slot = served
        .admission
        .admit()
        .await
        .map_err(|busy| ApiError::busy(busy.retry_after_s))?;
    let started = Instant::now();
    let mut submission = served
        .backend
        .submit(deployment.request(prompt, sampling))
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
                Some(ServedEvent::Text(_)) => {}
                Some(ServedEvent::Done(result)) => {
                    served.admission.record(started.elapsed());
                    drop(slot);
                    return match *result {
                        Ok(generation) => Ok(Json(envelope.response(&generation)).into_response()),
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
    started: Instant,
    envelope: Envelope,
    include_usage: bool,
    first: bool,
    pending: VecDeque<Event>,
    over: bool,
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
                    let chunk = self.envelope.text_chunk(&text, self.first);
                    self.first = false;
                    return Some(data(&chunk));
                }
                Some(ServedEvent::Done(result)) => {
                    self.over = true;
                    self.served.admission.record(self.started.elapsed());
                    self.slot = None;
                    match *result {
                        Ok(generation) => {
                            self.pending
                                .push_back(data(&self.envelope.finish_chunk(&generation)));
                            if self.include_usage {
                                self.pending
                                    .push_back(data(&self.envelope.usage_chunk(&generation)));
                            }
                            self.pending.push_back(Event::default().data("[DONE]"));
                        }
                        // The status is sent already: the error goes as an event, as OpenAI's do.
                        Err(error) => self.pending.push_back(data(&ApiError::from_run(&error).body())),
                    }
                }
                None => {
                    self.over = true;
                    self.slot = None;
                    self.pending.push_back(data(&ended_without_result().body()));
                }
            }
        }
    }
}

fn data(value: &Value) -> Event {
    Event::default().data(value.to_string())
}
