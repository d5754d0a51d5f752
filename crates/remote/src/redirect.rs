//! Which redirects a remote call follows. Keys travel in headers (`x-api-key`,
//! `x-goog-api-key`, `Authorization`) that the HTTP client would otherwise carry to wherever a
//! server points, and reqwest strips only `Authorization` on the way; the prompt goes along in
//! the body of a 307 or 308. So:
//!
//! - a redirect to another origin (scheme, host or port) is refused: keys and prompts go only to
//!   the configured host;
//! - a 301, 302 or 303 is refused even within the origin: it would turn a generation request
//!   (a POST) into a GET without its body, which no model API answers. The connection test's GET
//!   refuses it too: a redirect policy does not see the method, and the test should fail where
//!   runs would;
//! - a 307 or 308 within the origin is followed, at most [`MAX_REDIRECTS`] times: the same request
//!   to the same server. A run that took one says so in its warnings, because its latency
//!   includes the detour.

use reqwest::redirect::Policy;
use reqwest::{StatusCode, Url};

use tradeoff_core::spec::target::origin;

pub(crate) const MAX_REDIRECTS: usize = 5;

/// A redirect the client did not follow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RedirectRefused {
    #[error(
        "the server redirected to {to}; keys are sent only to the configured host ({from}): \
         set base_url to the address the server points to if it is trusted"
    )]
    OtherOrigin { status: u16, from: String, to: String },
    #[error(
        "the server redirected (HTTP {status}) to {to}, which turns a request into a GET \
         without its body (a run's prompt): set base_url to the address the server points to"
    )]
    ChangesMethod { status: u16, to: String },
    #[error("the server redirected more than {MAX_REDIRECTS} times")]
    TooMany { status: u16 },
}

impl RedirectRefused {
    /// The redirect's HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            RedirectRefused::OtherOrigin { status, .. }
            | RedirectRefused::ChangesMethod { status, .. }
            | RedirectRefused::TooMany { status } => *status,
        }
    }
}

/// The policy of every client that carries keys.
pub(crate) fn policy() -> Policy {
    Policy::custom(
        |attempt| match check(attempt.status(), attempt.url(), attempt.previous()) {
            Ok(()) => attempt.follow(),
            Err(refused) => attempt.error(refused),
        },
    )
}

/// `previous` holds the URLs requested so far, the configured one first.
fn check(status: StatusCode, next: &Url, previous: &[Url]) -> Result<(), RedirectRefused> {
    let status = status.as_u16();
    let Some(first) = previous.first() else {
        return Ok(());
    };
    let from = origin(first);
    let to = origin(next);
    if from != to {
        return Err(RedirectRefused::OtherOrigin { status, from, to });
    }
    if !matches!(status, 307 | 308) {
        return Err(RedirectRefused::ChangesMethod {
            status,
            to: next.to_string(),
        });
    }
    if previous.len() > MAX_REDIRECTS {
        return Err(RedirectRefused::TooMany { status });
    }
    Ok(())
}

/// The refused redirect behind a request's error, if that is why it failed.
pub(crate) fn refused(error: &reqwest::Error) -> Option<&RedirectRefused> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<RedirectRefused>() {
            return Some(refused);
        }
        source = cause.source();
    }
    None
}
