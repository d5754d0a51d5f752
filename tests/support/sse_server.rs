//! A real HTTP server on 127.0.0.1 that answers like a model provider: recorded event streams
//! from `fixtures/streams/` sent on a schedule, and the faults real servers produce (429 with
//! Retry-After, 5xx, resets mid-stream, malformed events, stalls, endless streams).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::serve::ListenerExt;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub arrived: Instant,
    /// When each event was handed to the connection, and when the stream ended.
    pub sent: Arc<Mutex<Vec<Instant>>>,
    pub ended: Arc<Mutex<Option<Instant>>>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// How the stream ends after its events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum End {
    /// The response completes normally.
    Close,
    /// The connection is cut without completing the response.
    Reset,
    /// Nothing more is ever sent; the connection stays open.
    Stall,
    /// The last event is repeated every `Duration`, forever.
    Repeat(Duration),
    /// Bytes without a line break, as fast as the connection takes them, forever.
    Flood,
}

#[derive(Debug, Clone)]
pub enum Reply {
    /// SSE events (each a complete block without its blank line), each sent `gap` after the
    /// previous one (the first `first` after the request arrived).
    Stream {
        events: Vec<String>,
        first: Duration,
        gap: Duration,
        end: End,
    },
    Status {
        code: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
}

impl Reply {
    pub fn stream(events: Vec<String>, first_ms: u64, gap_ms: u64) -> Reply {
        Reply::Stream {
            events,
            first: Duration::from_millis(first_ms),
            gap: Duration::from_millis(gap_ms),
            end: End::Close,
        }
    }

    pub fn status(code: u16, body: &str) -> Reply {
        Reply::Status {
            code,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }
}

type Behaviour = dyn Fn(usize, &Seen) -> Reply + Send + Sync;

pub struct FakeProvider {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeProvider {
    /// Starts a server whose answer to the n-th request (0-based) is `behaviour(n, request)`.
    pub fn start(behaviour: impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static) -> FakeProvider {
        let behaviour: Arc<Behaviour> = Arc::new(behaviour);
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let state = (Arc::clone(&behaviour), Arc::clone(&seen));
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                // As real servers do: each event leaves at once instead of waiting for an ACK.
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                let app = Router::new().fallback(
                    move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                        let (behaviour, seen) = state.clone();
                        async move { answer(method, uri, headers, body, behaviour, seen) }
                    },
                );
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = shutdown_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        FakeProvider {
            addr: addr_rx.recv().unwrap(),
            seen,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/v1`, as an OpenAI-compatible `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        // Streams that never end keep graceful shutdown waiting: the thread is left to the
        // process's exit instead of joined.
        if let Some(thread) = self.thread.take()
            && thread.is_finished()
        {
            let _ = thread.join();
        }
    }
}

fn answer(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    behaviour: Arc<Behaviour>,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Response {
    let request = Seen {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_string(), |p| p.to_string()),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        arrived: Instant::now(),
        sent: Arc::new(Mutex::new(Vec::new())),
        ended: Arc::new(Mutex::new(None)),
    };
    let index = {
        let mut all = seen.lock().unwrap();
        all.push(request.clone());
        all.len() - 1
    };
    match behaviour(index, &request) {
        Reply::Status { code, headers, body } => {
            let mut response = Response::builder().status(StatusCode::from_u16(code).unwrap());
            for (name, value) in headers {
                response = response.header(name, value);
            }
            response
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap()
        }
        Reply::Stream {
            events,
            first,
            gap,
            end,
        } => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
            let arrived = request.arrived;
            let (sent, ended) = (Arc::clone(&request.sent), Arc::clone(&request.ended));
            tokio::spawn(async move {
                let mut at = tokio::time::Instant::from_std(arrived) + first;
                for event in &events {
                    tokio::time::sleep_until(at).await;
                    if tx.send(Ok(Bytes::from(format!("{event}\n\n")))).await.is_err() {
                        return;
                    }
                    sent.lock().unwrap().push(Instant::now());
                    at += gap;
                }
                match end {
                    End::Close => {}
                    End::Reset => {
                        // Let what was sent reach the client first: hyper drops unflushed
                        // data when the body fails.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        let _ = tx
                            .send(Err(std::io::Error::new(
                                std::io::ErrorKind::ConnectionReset,
                                "cut",
                            )))
                            .await;
                    }
                    End::Stall => {
                        tx.closed().await;
                    }
                    End::Flood => {
                        let block = Bytes::from(vec![b'a'; 1 << 20]);
                        while tx.send(Ok(block.clone())).await.is_ok() {}
                        return;
                    }
                    End::Repeat(every) => {
                        let last = events.last().cloned().unwrap_or_default();
                        loop {
                            tokio::time::sleep(every).await;
                            if tx.send(Ok(Bytes::from(format!("{last}\n\n")))).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                *ended.lock().unwrap() = Some(Instant::now());
            });
            let stream =
                futures_util::stream::unfold(
                    rx,
                    |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
                );
            Response::builder()
                .status(200)
                .header("content-type", "text/event-stream")
                .header("cache-control", "no-cache")
                .body(Body::from_stream(stream))
                .unwrap()
        }
    }
}

/// The events of a committed recording, in order (blocks separated by blank lines).
pub fn fixture_events(name: &str) -> Vec<String> {
    let path = super::repo_root().join("fixtures/streams").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.split("\n\n")
        .map(str::trim)
        .filter(|block| !block.is_empty())
        .map(str::to_string)
        .collect()
}

/// An OpenAI chat stream (in the shape of the committed recording) that says `text` and
/// reports the given usage.
pub fn openai_chat_events(text: &str, prompt_tokens: u32, completion_tokens: u32) -> Vec<String> {
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        let body = serde_json::json!({
            "id": "chatcmpl-grader", "object": "chat.completion.chunk", "created": 1735000000,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
            "usage": null
        });
        format!("data: {body}")
    };
    let usage = serde_json::json!({
        "id": "chatcmpl-grader", "object": "chat.completion.chunk", "created": 1735000000,
        "model": "gpt-4o-mini-2024-07-18", "choices": [],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens}
    });
    vec![
        chunk(serde_json::json!({"role": "assistant", "content": ""}), None),
        chunk(serde_json::json!({"content": text}), None),
        chunk(serde_json::json!({}), Some("stop")),
        format!("data: {usage}"),
        "data: [DONE]".to_string(),
    ]
}
