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

/// UTF-8's byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A chunk of a body, its leading byte order marks left out.
pub(crate) enum Chunk<B> {
    /// A chunk of the body from byte `from` on.
    Body { bytes: B, from: usize },
    /// The body's first bytes, when they came in chunks too short to tell a byte order mark
    /// from text.
    Start(Vec<u8>),
}

impl<B: AsRef<[u8]>> AsRef<[u8]> for Chunk<B> {
    fn as_ref(&self) -> &[u8] {
        match self {
            Chunk::Body { bytes, from } => bytes.as_ref().get(*from..).unwrap_or_default(),
            Chunk::Start(bytes) => bytes,
        }
    }
}

/// The length of the byte order marks `bytes` starts with, or `None` while `bytes` could still
/// be the start of one (an empty chunk, or one split inside a mark).
fn leading_boms(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let rest = bytes.get(at..).unwrap_or_default();
        if rest.starts_with(BOM) {
            at += BOM.len();
        } else if BOM.starts_with(rest) {
            return None;
        } else {
            return Some(at);
        }
    }
}

/// `chunks` without the byte order marks at the body's start. The event-stream spec says a
/// leading one is ignored; eventsource-stream 0.2.3 means to, but cuts it one byte in and
/// panics (event_stream.rs:271), which would fail every job of the target. Every mark at the
/// start is left out, not only the first: the parser would meet the second one the same way.
/// A body that is nothing but the start of a mark is passed on as it came, so the parser
/// reports it as text that is not UTF-8.
pub(crate) fn without_leading_bom<S, B, E>(chunks: S) -> impl Stream<Item = Result<Chunk<B>, E>> + Unpin
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
{
    // The start of the body while it is undecided; `None` once it has been passed on.
    let start: Option<Vec<u8>> = Some(Vec::new());
    // Boxed: the stream is polled in place (`next()`), which needs it `Unpin`.
    Box::pin(futures_util::stream::unfold(
        (chunks.fuse(), start),
        |(mut chunks, mut start)| async move {
            loop {
                let next = chunks.next().await;
                let Some(held) = start.as_mut() else {
                    let chunk = next?.map(|bytes| Chunk::Body { bytes, from: 0 });
                    return Some((chunk, (chunks, None)));
                };
                let chunk = match next {
                    Some(Ok(bytes)) if held.is_empty() => match leading_boms(bytes.as_ref()) {
                        // The usual case: the first chunk decides, and is passed on uncopied.
                        Some(from) => Chunk::Body { bytes, from },
                        None => {
                            held.extend_from_slice(bytes.as_ref());
                            continue;
                        }
                    },
                    Some(Ok(bytes)) => {
                        held.extend_from_slice(bytes.as_ref());
                        match leading_boms(held) {
                            Some(from) => Chunk::Start(held.split_off(from)),
                            None => continue,
                        }
                    }
                    Some(Err(error)) => return Some((Err(error), (chunks, None))),
                    None => {
                        let marks = held.len() / BOM.len() * BOM.len();
                        let rest = held.split_off(marks);
                        if rest.is_empty() {
                            return None;
                        }
                        Chunk::Start(rest)
                    }
                };
                return Some((Ok(chunk), (chunks, None)));
            }
        },
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the body becomes, read in `chunks`.
    fn stripped(chunks: &[&[u8]]) -> Vec<u8> {
        let chunks: Vec<Result<Vec<u8>, ()>> = chunks.iter().map(|c| Ok(c.to_vec())).collect();
        let stream = without_leading_bom(futures_util::stream::iter(chunks));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let read: Vec<Result<Chunk<Vec<u8>>, ()>> = runtime.block_on(stream.collect());
        read.into_iter()
            .flat_map(|chunk| chunk.map(|c| c.as_ref().to_vec()).unwrap_or_default())
            .collect()
    }

    #[test]
    fn byte_order_marks_at_the_start_are_left_out_however_the_chunks_split_them() {
        let body = "\u{feff}\u{feff}data: x\n\n".as_bytes();
        for split in 0..=body.len() {
            for second in split..=body.len() {
                let chunks = [&body[..split], &body[split..second], &body[second..]];
                assert_eq!(stripped(&chunks), b"data: x\n\n", "split at {split} and {second}");
            }
        }
        // A mark anywhere else is text, and a body without one is passed on as it came.
        assert_eq!(stripped(&[b"data: \xEF\xBB\xBF\n"]), b"data: \xEF\xBB\xBF\n");
        assert_eq!(stripped(&[b"da", b"ta"]), b"data");
        assert_eq!(stripped(&[]), b"");
        // Only the start of a mark: not UTF-8, and left for the parser to say so.
        assert_eq!(stripped(&[b"\xEF", b"\xBB"]), b"\xEF\xBB");
        assert_eq!(stripped(&[b"\xEF\xBB\xBF\xEF"]), b"\xEF");
    }
}
