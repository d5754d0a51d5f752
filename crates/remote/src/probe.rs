//! "Test connection": ask a remote target's server for its models, which proves the URL, the
//! key and the API shape in one request without spending tokens.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::body::{BodyError, Stopped, read_whole};
use super::classify::{body_message, status_class};
use super::provider::key_header;
use super::redirect;
use super::secrets::{ApiKey, Redactor};
use super::{ProviderKind, RemoteTarget, anthropic};
use tradeoff_core::run::{ErrorClass, RunError};

/// A model list larger than this is not one: the biggest servers list a few hundred models in
/// tens of kilobytes.
const MAX_LISTING_BYTES: usize = 1 << 20;

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probe {
    pub latency_ms: f64,
    /// The models the server offers, as its API names them.
    pub models: Vec<String>,
    /// Whether the target's model is among them.
    pub model_listed: bool,
}

/// Lists the server's models (`GET {base_url}/models`).
pub async fn list_models(
    client: &reqwest::Client,
    target: &RemoteTarget,
    key: Option<&ApiKey>,
) -> Result<Probe, RunError> {
    let redactor = Redactor::new(key.cloned());
    let url = format!("{}/models", target.base_url);
    let mut request = client.get(&url);
    if let Some(key) = key {
        let (name, value) = key_header(target.provider, key.expose());
        let mut value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
            RunError::new(
                ErrorClass::Auth,
                "the key contains characters a header cannot hold",
            )
        })?;
        value.set_sensitive(true);
        request = request.header(name, value);
    }
    if target.provider == ProviderKind::Anthropic {
        request = request.header("anthropic-version", anthropic::API_VERSION);
    }
    let start = Instant::now();
    let limit = Duration::from_secs_f64(target.timeouts.first_token_s.min(30.0));
    let deadline = tokio::time::Instant::from_std(start + limit);
    let fail = |class: ErrorClass, message: String| redactor.error(class, &message);
    let response = request.timeout(limit).send().await.map_err(|e| {
        if let Some(refused) = redirect::refused(&e) {
            return fail(ErrorClass::BadResponse, format!("{url}: {refused}"));
        }
        let class = if e.is_timeout() {
            ErrorClass::TimeoutConnect
        } else {
            ErrorClass::Connect
        };
        fail(class, format!("{url}: {}", crate::call::error_chain(&e)))
    })?;
    let status = response.status().as_u16();
    let read = read_whole(response, MAX_LISTING_BYTES, deadline).await;
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    let body = String::from_utf8_lossy(&read.bytes);
    if !(200..300).contains(&status) {
        // What arrived of an error body is enough for its message.
        return Err(fail(
            status_class(status, &body),
            format!("HTTP {status} from {url}: {}", body_message(&body)),
        ));
    }
    match read.stopped {
        None => {}
        Some(Stopped::Body(BodyError::TooLarge)) => {
            return Err(fail(
                ErrorClass::BadResponse,
                format!(
                    "{url}: the answer exceeded {} MiB, which no list of models needs",
                    MAX_LISTING_BYTES >> 20
                ),
            ));
        }
        Some(Stopped::Deadline) => {
            return Err(fail(
                ErrorClass::TimeoutTotal,
                format!(
                    "{url}: the answer did not end within {:.1} s",
                    limit.as_secs_f64()
                ),
            ));
        }
        Some(Stopped::Body(BodyError::Http(e))) => {
            return Err(fail(ErrorClass::StreamBroken, format!("{url}: {e}")));
        }
    }
    let parsed: Value = serde_json::from_str(&body).map_err(|e| {
        fail(
            ErrorClass::BadResponse,
            format!("{url} did not answer with JSON: {e}"),
        )
    })?;
    let models = model_names(&parsed);
    let model_listed = models
        .iter()
        .any(|m| m == &target.model || m.strip_prefix("models/") == Some(target.model.as_str()));
    Ok(Probe {
        latency_ms,
        models,
        model_listed,
    })
}

/// Model names from a listing: `data[].id` (OpenAI-compatible, Anthropic) or `models[].name`
/// (Gemini).
fn model_names(body: &Value) -> Vec<String> {
    let listed = |list: &str, field: &str| -> Vec<String> {
        body.get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get(field).and_then(Value::as_str).map(str::to_string))
            .collect()
    };
    let mut names = listed("data", "id");
    names.extend(listed("models", "name"));
    names
}
