//! Why serving could not start ([`ServeError`]), and a request's error as the OpenAI API
//! writes it ([`ApiError`]: `{"error": {"message", "type", "code"}}` with its HTTP status).

use std::path::PathBuf;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tradeoff_core::run::{ErrorClass, RunError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{path}: {message}")]
    Winner { path: PathBuf, message: String },
    #[error("{path}: `{field}`: {message}")]
    Field {
        path: PathBuf,
        field: &'static str,
        message: String,
    },
    #[error(
        "--host {host}: serving beyond this machine without a key lets anyone who reaches it use the model; give --api-key-env VAR (clients then send that key as a bearer token), or --insecure-no-auth if that is really meant"
    )]
    Unprotected { host: String },
    #[error("--api-key-env {variable}: the variable is not set or empty")]
    MissingKey { variable: String },
    #[error("cannot listen on {address}: {source}")]
    Bind { address: String, source: std::io::Error },
    #[error("the model could not be served: {0}")]
    Worker(RunError),
    #[error("the remote API cannot be called: {0}")]
    Remote(String),
    #[error("the traffic log: {0}")]
    Log(tradeoff_store::StoreError),
    #[error("the server stopped: {0}")]
    Io(#[from] std::io::Error),
}

/// The longest error message a response carries: a worker's stderr tail can be long.
const MAX_MESSAGE: usize = 2000;

/// A request's error, answered as the OpenAI API answers one.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    /// `invalid_request_error`, `authentication_error`, `rate_limit_error`, `server_error`.
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    /// Seconds, for a `429`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: "not_found",
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn unauthorized() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            kind: "authentication_error",
            code: "invalid_api_key",
            message: "this server needs its key: send `Authorization: Bearer <key>`".into(),
            retry_after: None,
        }
    }

    pub fn busy(retry_after: u64) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "rate_limit_error",
            code: "server_busy",
            message: format!("every slot is decoding and the queue is full; retry in {retry_after} s"),
            retry_after: Some(retry_after),
        }
    }

    /// A generation that failed: the prompt's fault is the client's (400), the rest the server's.
    pub fn from_run(error: &RunError) -> ApiError {
        let (status, kind) = match error.class {
            ErrorClass::ContextOverflow
            | ErrorClass::Tokenize
            | ErrorClass::Template
            | ErrorClass::ChatTemplate => (StatusCode::BAD_REQUEST, "invalid_request_error"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
        };
        ApiError {
            status,
            kind,
            code: error.class.as_str(),
            message: error.message.clone(),
            retry_after: None,
        }
    }

    /// The body, as JSON: `{"error": {...}}`.
    pub fn body(&self) -> serde_json::Value {
        let mut message = self.message.clone();
        if message.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        serde_json::json!({
            "error": {"message": message, "type": self.kind, "code": self.code, "param": null}
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
