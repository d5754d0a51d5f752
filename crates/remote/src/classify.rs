//! What went wrong with a remote call, as the error classes reports and the UI switch on, and
//! which of them are worth another attempt.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use tradeoff_core::run::ErrorClass;

/// The class of an HTTP error status; `body` decides between a too-long prompt and another
/// bad request, since providers use 400 for both.
pub(crate) fn status_class(status: u16, body: &str) -> ErrorClass {
    match status {
        401 | 403 => ErrorClass::Auth,
        429 => ErrorClass::RateLimited,
        413 => ErrorClass::ContextTooLong,
        400 | 422 if mentions_context_length(body) => ErrorClass::ContextTooLong,
        408 | 500..=599 => ErrorClass::ServerError,
        _ => ErrorClass::BadRequest,
    }
}

fn mentions_context_length(body: &str) -> bool {
    let body = body.to_ascii_lowercase();
    [
        "context length",
        "context_length",
        "context window",
        "maximum context",
        "prompt is too long",
        "too many tokens",
        "exceeds the available context",
        "input token count",
    ]
    .iter()
    .any(|phrase| body.contains(phrase))
}

/// Whether another attempt may succeed: rate limits, server errors and connections that could
/// not be made. A stream that broke after output arrived is not retried: half an answer was
/// measured, and retrying would hide that the server broke it.
pub(crate) fn retryable(class: ErrorClass) -> bool {
    matches!(
        class,
        ErrorClass::RateLimited | ErrorClass::ServerError | ErrorClass::Connect | ErrorClass::TimeoutConnect
    )
}

/// The provider's own message from an error body (`{"error": {"message": ...}}` in all three
/// wire formats), or the body as it came. Never shortened here: the body may hold a key, and
/// [`Redactor::error`](super::secrets::Redactor::error) shortens only after redacting all of it.
pub(crate) fn body_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .and_then(Value::as_str)
    });
    match message {
        Some(message) => message.to_string(),
        None => body.trim().to_string(),
    }
}

/// The wait a server asked for: `retry-after-ms` (OpenAI), else `Retry-After` in seconds or as
/// an HTTP date.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    // A value too large for a Duration is a wait longer than any retry is worth waiting for:
    // `Duration::MAX` (never retried), not a panic.
    let seconds = |s: f64| (s >= 0.0).then(|| Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX));
    if let Some(wait) = text("retry-after-ms")
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|ms| seconds(ms / 1000.0))
    {
        return Some(wait);
    }
    let value = text("retry-after")?;
    if let Ok(parsed) = value.parse::<f64>() {
        return seconds(parsed);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn statuses_map_to_the_classes_reports_use() {
        assert_eq!(status_class(401, ""), ErrorClass::Auth);
        assert_eq!(status_class(429, ""), ErrorClass::RateLimited);
        assert_eq!(status_class(503, ""), ErrorClass::ServerError);
        assert_eq!(status_class(529, ""), ErrorClass::ServerError);
        assert_eq!(status_class(404, ""), ErrorClass::BadRequest);
        assert_eq!(
            status_class(
                400,
                r#"{"error":{"message":"This model's maximum context length is 8192 tokens"}}"#
            ),
            ErrorClass::ContextTooLong
        );
        assert_eq!(
            status_class(400, r#"{"error":{"message":"unknown field"}}"#),
            ErrorClass::BadRequest
        );
    }

    #[test]
    fn retry_after_is_read_as_seconds_milliseconds_or_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(2)));
        headers.insert(
            "retry-after",
            HeaderValue::from_str(&httpdate::fmt_http_date(now + Duration::from_secs(30))).unwrap(),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
        headers.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_millis(150)));
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
        // Absurd values from a broken server are waits too long to retry, never a crash.
        let mut absurd = HeaderMap::new();
        absurd.insert("retry-after", HeaderValue::from_static("1e300"));
        assert_eq!(retry_after(&absurd, now), Some(Duration::MAX));
        absurd.insert("retry-after", HeaderValue::from_static("-5"));
        assert_eq!(retry_after(&absurd, now), None);
    }

    #[test]
    fn the_providers_message_is_taken_from_an_error_body() {
        assert_eq!(
            body_message(r#"{"error":{"message":"Rate limit reached","type":"x"}}"#),
            "Rate limit reached"
        );
        assert_eq!(body_message("upstream connect error"), "upstream connect error");
    }
}
