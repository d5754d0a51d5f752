//! One attempt of a remote run: send the request, read the event stream, measure it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::StreamExt;
use tokio::time::timeout_at;

use super::body::{BodyError, Limit, limited, read_whole, without_leading_bom};
use super::classify::{body_message, retry_after, status_class};
use super::provider::{Sensitive, StreamItem, add_counts};
use super::redirect;
use super::request::prepare;
use super::secrets::{ApiKey, MAX_ERROR_CHARS, Redactor};
use super::{RemoteJob, RemoteTarget};
use tradeoff_core::execute::engine::Generation;
use tradeoff_core::models::tokens::estimate_tokens;
use tradeoff_core::run::{ErrorClass, FinishReason, LogprobTally, RunError, RunMetrics};

/// What one attempt gave: a generation or an error, and what the scheduler needs to decide on
/// another attempt.
#[derive(Debug)]
pub struct CallReport {
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    pub outcome: Result<Generation, RunError>,
    /// Output text received before a failure.
    pub partial_output: String,
}

/// How long to wait for the server to close a response after its end marker.
const DRAIN_AFTER_END: Duration = Duration::from_millis(100);

/// Error bodies are read up to this size: enough for any provider's message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Makes one request. `connections` collects the local addresses of connections this target
/// used, which tells a request on a new connection from one on a pooled connection. `on_text`
/// receives the output text as it arrives (a proxy streams it on).
pub async fn call_once(
    client: &reqwest::Client,
    target: &RemoteTarget,
    job: &RemoteJob,
    key: Option<&ApiKey>,
    redactor: &Redactor,
    connections: &Mutex<HashSet<SocketAddr>>,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> CallReport {
    let (request, mut parser) = prepare(target, &job.prompt, &job.sampling, key.map(ApiKey::expose));
    let fail = |status: Option<u16>, class: ErrorClass, message: String| CallReport {
        status,
        retry_after: None,
        outcome: Err(redactor.error(class, &message)),
        partial_output: String::new(),
    };
    let body = match serde_json::to_vec(&request.body) {
        Ok(body) => body,
        Err(error) => {
            return fail(
                None,
                ErrorClass::Internal,
                format!("cannot encode the request: {error}"),
            );
        }
    };
    let mut builder = client
        .post(&request.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "text/event-stream");
    for (name, value, sensitive) in &request.headers {
        let Ok(mut value) = reqwest::header::HeaderValue::from_str(value) else {
            return fail(
                None,
                ErrorClass::Auth,
                format!(
                    "the `{name}` header cannot be sent: the key contains characters a header cannot hold"
                ),
            );
        };
        value.set_sensitive(*sensitive == Sensitive::Yes);
        builder = builder.header(*name, value);
    }
    let limits = target.timeouts;
    let start = Instant::now();
    let total_deadline = tokio::time::Instant::from_std(start + Duration::from_secs_f64(limits.total_s));
    let first_token_deadline =
        tokio::time::Instant::from_std(start + Duration::from_secs_f64(limits.first_token_s))
            .min(total_deadline);
    let response = match timeout_at(first_token_deadline, builder.body(body).send()).await {
        Err(_) => {
            return fail(
                None,
                timeout_class(first_token_deadline, total_deadline),
                format!(
                    "no response from {} within {}",
                    request.url,
                    seconds(start.elapsed())
                ),
            );
        }
        Ok(Err(error)) => {
            if let Some(refused) = redirect::refused(&error) {
                // Not retried: the server would only point elsewhere again.
                return fail(
                    Some(refused.status()),
                    ErrorClass::BadResponse,
                    format!("{}: {refused}", request.url),
                );
            }
            let class =
                if error.is_timeout() || (error.is_connect() && start.elapsed() >= secs(limits.connect_s)) {
                    ErrorClass::TimeoutConnect
                } else {
                    ErrorClass::Connect
                };
            return fail(None, class, format!("{}: {}", request.url, error_chain(&error)));
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status().as_u16();
    if !response.status().is_success() {
        let retry_after = retry_after(response.headers(), SystemTime::now());
        let body = read_error_body(response, total_deadline).await;
        let message = format!("HTTP {status} from {}: {}", request.url, body_message(&body));
        let mut report = fail(Some(status), status_class(status, &body), message);
        report.retry_after = retry_after;
        return report;
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !content_type.starts_with("text/event-stream") {
        let body = read_error_body(response, total_deadline).await;
        return fail(
            Some(status),
            ErrorClass::BadResponse,
            format!(
                "{} answered with `{content_type}` instead of an event stream: {}",
                request.url,
                body_message(&body)
            ),
        );
    }
    // A followed redirect (the same request to the same server) is part of the measured latency.
    let redirected = reqwest::Url::parse(&request.url)
        .is_ok_and(|sent| &sent != response.url())
        .then(|| {
            format!(
                "the server redirected the request to {}: the latency includes the detour; set \
                 base_url to where it points",
                response.url()
            )
        });
    let new_connection = response
        .extensions()
        .get::<hyper_util::client::legacy::connect::HttpInfo>()
        .map(|info| {
            connections
                .lock()
                .map_or(true, |mut seen| seen.insert(info.local_addr()))
        });

    let mut state = StreamState::default();
    // A server that never ends a line would otherwise grow the parser's buffer (and its
    // rescanning, which is quadratic) until the total timeout. A leading byte order mark would
    // make the parser panic.
    let mut events = without_leading_bom(limited(response, Limit::STREAM)).eventsource();
    let ended: Result<(), (ErrorClass, String)> = loop {
        let deadline = if state.first_token.is_none() {
            first_token_deadline
        } else {
            total_deadline
        };
        let next = match timeout_at(deadline, events.next()).await {
            Err(_) => {
                let class = timeout_class(deadline, total_deadline);
                let what = if class == ErrorClass::TimeoutFirstToken {
                    "no output text"
                } else {
                    "the response did not end"
                };
                break Err((class, format!("{what} within {}", seconds(start.elapsed()))));
            }
            Ok(next) => next,
        };
        match next {
            None if state.done || (state.finish.is_some() && parser.finish_ends_stream()) => break Ok(()),
            None if state.finish.is_some() => {
                state
                    .warnings
                    .push("the stream ended without its end-of-stream marker".into());
                break Ok(());
            }
            None => {
                break Err((
                    ErrorClass::StreamBroken,
                    "the stream ended before the response was complete".into(),
                ));
            }
            Some(Err(EventStreamError::Transport(BodyError::TooLarge))) => {
                break Err((
                    ErrorClass::BadResponse,
                    format!(
                        "the response exceeded {} MiB, or one of its lines {} MiB",
                        Limit::STREAM.total >> 20,
                        Limit::STREAM.line >> 20
                    ),
                ));
            }
            Some(Err(EventStreamError::Transport(BodyError::Http(error)))) => {
                break Err((
                    ErrorClass::StreamBroken,
                    format!("the stream broke: {}", error_chain(&error)),
                ));
            }
            Some(Err(error)) => {
                break Err((
                    ErrorClass::BadResponse,
                    format!("unreadable event stream: {error}"),
                ));
            }
            Some(Ok(event)) => {
                let items = match parser.parse(&event.event, &event.data) {
                    Ok(items) => items,
                    Err(message) => break Err((ErrorClass::BadResponse, message)),
                };
                let now = Instant::now();
                for item in &items {
                    if let StreamItem::Text(text) = item
                        && !text.is_empty()
                    {
                        on_text(text);
                    }
                }
                if let Err(failure) = state.absorb(items, now) {
                    break Err(failure);
                }
                if state.done {
                    break Ok(());
                }
            }
        }
    };
    let end = Instant::now();
    if ended.is_ok() {
        // The server closes the response right after its end marker. Reading that close lets
        // the connection go back to the pool (a dropped, unfinished body closes it), so the
        // next request does not pay for a new connection. Not part of the run's latency.
        let drain = async { while events.next().await.is_some() {} };
        let _ = tokio::time::timeout(DRAIN_AFTER_END, drain).await;
    }
    // Counts that only disagree once the stream is whole (llama-server's evaluated and cached
    // prompt tokens) are checked now, as a bad response like any other wrong count.
    let ended = ended.and_then(|()| {
        state
            .server_tokens()
            .map_err(|message| (ErrorClass::BadResponse, message))
    });
    match ended {
        Err((class, message)) => {
            let class = if class == ErrorClass::ServerError && !state.output.is_empty() {
                ErrorClass::StreamBroken
            } else {
                class
            };
            CallReport {
                status: Some(status),
                retry_after: None,
                outcome: Err(redactor.error(class, &format!("{}: {message}", request.url))),
                partial_output: state.output,
            }
        }
        Ok(server_tokens) => {
            let mut warnings = request.warnings;
            warnings.extend(redirected);
            warnings.append(&mut state.warnings);
            let generation = state.into_generation(
                start,
                end,
                new_connection,
                server_tokens,
                &job.prompt.plain_text(),
                &mut warnings,
            );
            // Some warnings quote the server (an unknown finish reason), which may echo a key.
            let warnings = warnings
                .iter()
                .map(|w| redactor.redact_and_shorten(w, MAX_ERROR_CHARS))
                .collect();
            CallReport {
                status: Some(status),
                retry_after: None,
                outcome: Ok(Generation {
                    warnings,
                    ..generation
                }),
                partial_output: String::new(),
            }
        }
    }
}

/// What the stream said so far.
#[derive(Debug, Default)]
struct StreamState {
    output: String,
    first_token: Option<Instant>,
    first_reasoning: Option<Instant>,
    usage_input: Option<u32>,
    usage_output: Option<u32>,
    cached_input: Option<u32>,
    /// Whether `cached_input` is llama-server's `timings.cache_n` rather than usage's count.
    cached_from_timings: bool,
    server: Option<(u32, f64, u32, f64)>,
    confidence: LogprobTally,
    finish: Option<String>,
    done: bool,
    warnings: Vec<String>,
}

impl StreamState {
    fn absorb(&mut self, items: Vec<StreamItem>, now: Instant) -> Result<(), (ErrorClass, String)> {
        for item in items {
            match item {
                StreamItem::Text(text) => {
                    self.first_token.get_or_insert(now);
                    self.output.push_str(&text);
                }
                StreamItem::Reasoning(_) => {
                    self.first_reasoning.get_or_insert(now);
                }
                StreamItem::Usage {
                    input,
                    output,
                    cached_input,
                } => {
                    self.usage_input = input.or(self.usage_input);
                    self.usage_output = output.or(self.usage_output);
                    if cached_input.is_some() {
                        self.cached_input = cached_input;
                        self.cached_from_timings = false;
                    }
                }
                StreamItem::ServerTimings {
                    cached_tokens,
                    prompt_tokens,
                    prompt_ms,
                    predicted_tokens,
                    predicted_ms,
                } => {
                    self.server = Some((prompt_tokens, prompt_ms, predicted_tokens, predicted_ms));
                    // llama-server reuses a cached prompt prefix by default; older builds say so
                    // only in `timings`.
                    if self.cached_input.is_none() && cached_tokens.is_some() {
                        self.cached_input = cached_tokens;
                        self.cached_from_timings = true;
                    }
                }
                StreamItem::Logprobs(logprobs) => {
                    for logprob in logprobs {
                        self.confidence.add(logprob);
                    }
                }
                StreamItem::Finish(reason) => self.finish = Some(reason),
                StreamItem::Done => self.done = true,
                StreamItem::Error(message) => {
                    return Err((
                        ErrorClass::ServerError,
                        format!("the server reported an error in the stream: {message}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// llama-server's (input, output) tokens from its `timings`, if it sent them. `prompt_n`
    /// counts only the prompt tokens the server evaluated, not those it reused from its cache,
    /// so the cached ones are added; a sum past `u32::MAX` is a bad response naming both.
    fn server_tokens(&self) -> Result<Option<(u32, u32)>, String> {
        let Some((prompt, _, predicted, _)) = self.server else {
            return Ok(None);
        };
        // Only OpenAI-compatible servers send `timings`: usage's cached count is theirs.
        let cached = if self.cached_from_timings {
            "timings.cache_n"
        } else {
            "usage.prompt_tokens_details.cached_tokens"
        };
        let input = add_counts(&[
            ("timings.prompt_n", prompt),
            (cached, self.cached_input.unwrap_or(0)),
        ])?;
        Ok(Some((input, predicted)))
    }

    /// The generation the stream made; `server_tokens` is [`StreamState::server_tokens`].
    fn into_generation(
        self,
        start: Instant,
        end: Instant,
        new_connection: Option<bool>,
        server_tokens: Option<(u32, u32)>,
        prompt_text: &str,
        warnings: &mut Vec<String>,
    ) -> Generation {
        let ms = |at: Instant| at.duration_since(start).as_secs_f64() * 1000.0;
        let latency_ms = ms(end);
        // Usage from the provider is the truth; llama.cpp's server counters are exact too;
        // otherwise the counts are estimates and say so.
        let (input, output, estimated) = match (self.usage_input, self.usage_output, server_tokens) {
            (Some(input), Some(output), _) => (input, output, false),
            (_, _, Some((input, output))) => (input, output, false),
            (input, output, None) => (
                input.unwrap_or_else(|| estimate_tokens(prompt_text)),
                output.unwrap_or_else(|| estimate_tokens(&self.output)),
                true,
            ),
        };
        if estimated {
            warnings.push("the server reported no token usage: token counts are estimates (about 4 characters per token)".into());
        }
        let ttft_ms = self.first_token.map(ms);
        let mut metrics = RunMetrics::new(latency_ms, input, output);
        metrics.ttft_ms = ttft_ms;
        metrics.first_reasoning_ms = self.first_reasoning.map(ms);
        metrics.tokens_estimated = Some(estimated);
        metrics.new_connection = new_connection;
        metrics.cached_tokens = self.cached_input;
        self.confidence.record(&mut metrics);
        match self.server {
            Some((prompt_tokens, prompt_ms, predicted_tokens, predicted_ms)) => {
                metrics.prompt_eval_tokens = Some(prompt_tokens);
                metrics.prompt_eval_ms = Some(prompt_ms);
                // llama-server counts the first token in `predicted`; its decode count is one less,
                // as in llama.cpp's own perf counters.
                metrics.gen_eval_tokens = Some(predicted_tokens.saturating_sub(1));
                metrics.gen_eval_ms = Some(predicted_ms);
            }
            None => {
                if let Some(ttft) = ttft_ms
                    && output > 1
                {
                    metrics.gen_eval_tokens = Some(output - 1);
                    metrics.gen_eval_ms = Some(latency_ms - ttft);
                }
            }
        }
        let finish_reason = match self.finish.as_deref() {
            Some(reason) => finish_reason(reason).unwrap_or_else(|| {
                warnings.push(format!("the server ended the output for `{reason}`"));
                FinishReason::EndOfText
            }),
            None => FinishReason::EndOfText,
        };
        Generation {
            output: self.output,
            finish_reason,
            metrics,
            warnings: Vec::new(),
        }
    }
}

/// Finish reasons of the three wire formats (their names do not collide).
fn finish_reason(reason: &str) -> Option<FinishReason> {
    match reason {
        "stop" | "end_turn" | "STOP" | "eos" => Some(FinishReason::EndOfText),
        "stop_sequence" => Some(FinishReason::Stop),
        "length" | "max_tokens" | "MAX_TOKENS" => Some(FinishReason::MaxTokens),
        _ => None,
    }
}

fn timeout_class(deadline: tokio::time::Instant, total: tokio::time::Instant) -> ErrorClass {
    if deadline >= total {
        ErrorClass::TimeoutTotal
    } else {
        ErrorClass::TimeoutFirstToken
    }
}

/// The start of an error body; the rest, past the limit or the deadline, is not waited for.
async fn read_error_body(response: reqwest::Response, deadline: tokio::time::Instant) -> String {
    let read = read_whole(response, MAX_ERROR_BODY, deadline).await;
    String::from_utf8_lossy(&read.bytes).into_owned()
}

/// An error with its causes (reqwest's top-level message alone says little: "error sending request";
/// the cause says "Connection refused").
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}
