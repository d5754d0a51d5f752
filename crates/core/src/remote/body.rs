//! Response bodies read within a size limit. The server decides how much it sends: a body larger
//! than any answer it could mean (an endless stream, a flood without line breaks) must neither
//! grow memory nor hold a run or the connection test until a timeout.

use futures_util::{Stream, StreamExt};
use tokio::time::timeout_at;

/// How much of a body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit {
    pub total: usize,
    /// Bytes without a line break: a parser of lines rescans an unfinished line on every chunk.
    pub line: usize,
}

impl Limit {
    /// A streamed model answer: no answer is this large, nor one of its events this long.
    pub const STREAM: Limit = Limit {
        total: 64 << 20,
        line: 1 << 20,
    };

    /// A whole body read at once (an error, a model list): only its size is bounded.
    pub const fn whole(total: usize) -> Limit {
        Limit {
            total,
            line: usize::MAX,
        }
    }
}

/// Why a body stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error(transparent)]
    Http(reqwest::Error),
    #[error("the response is too large")]
    TooLarge,
}

/// The body's chunks, ending in [`BodyError::TooLarge`] at the first chunk past `limit` (which is
/// not passed on: memory stays within the limit and one chunk).
pub(crate) fn limited(
    response: reqwest::Response,
    limit: Limit,
) -> impl Stream<Item = Result<impl AsRef<[u8]>, BodyError>> {
    let mut received = 0usize;
    let mut since_line_break = 0usize;
    response.bytes_stream().map(move |chunk| match chunk {
        Err(error) => Err(BodyError::Http(error)),
        Ok(bytes) => {
            received = received.saturating_add(bytes.len());
            since_line_break = match bytes.iter().rposition(|&b| b == b'\n') {
                Some(at) => bytes.len() - at - 1,
                None => since_line_break.saturating_add(bytes.len()),
            };
            if received > limit.total || since_line_break > limit.line {
                Err(BodyError::TooLarge)
            } else {
                Ok(bytes)
            }
        }
    })
}

/// A body read whole: what arrived, and why reading stopped before the body's end, if it did.
#[derive(Debug)]
pub(crate) struct Read {
    pub bytes: Vec<u8>,
    pub stopped: Option<Stopped>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Stopped {
    #[error(transparent)]
    Body(BodyError),
    #[error("the response did not end in time")]
    Deadline,
}

/// Reads a body whole within `limit` bytes by `deadline`.
pub(crate) async fn read_whole(
    response: reqwest::Response,
    limit: usize,
    deadline: tokio::time::Instant,
) -> Read {
    let mut bytes = Vec::new();
    let mut chunks = std::pin::pin!(limited(response, Limit::whole(limit)));
    let stopped = loop {
        match timeout_at(deadline, chunks.next()).await {
            Err(_) => break Some(Stopped::Deadline),
            Ok(None) => break None,
            Ok(Some(Ok(chunk))) => bytes.extend_from_slice(chunk.as_ref()),
            Ok(Some(Err(error))) => break Some(Stopped::Body(error)),
        }
    };
    Read { bytes, stopped }
}
