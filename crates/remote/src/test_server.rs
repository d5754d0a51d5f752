//! Test support: real HTTP servers on 127.0.0.1 that answer as a test says and keep what they
//! were sent, and a keyring held in memory so tests hand keys over without environment variables
//! (those are process-wide, and tests run in parallel).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use super::secrets::Keyring;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Answer = dyn Fn(&Seen) -> Response + Send + Sync;

#[derive(Debug)]
pub(crate) struct TestServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    /// Starts a server that answers every request with `answer(request)`.
    pub fn start(answer: impl Fn(&Seen) -> Response + Send + Sync + 'static) -> TestServer {
        let answer: Arc<Answer> = Arc::new(answer);
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let kept = Arc::clone(&seen);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                addr_tx
                    .send(listener.local_addr().expect("address"))
                    .expect("send address");
                let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
                    let request = Seen {
                        path: uri.path_and_query().map_or("", |p| p.as_str()).to_string(),
                        headers: headers
                            .iter()
                            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
                            .collect(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    };
                    kept.lock().expect("requests").push(request.clone());
                    let response = answer(&request);
                    async move { response }
                });
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = shutdown_rx.await;
                    })
                    .await;
            });
        });
        TestServer {
            addr: addr_rx.recv().expect("server address"),
            seen,
            shutdown: Some(shutdown),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("requests").clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // The server's thread ends once its connections close; it is not waited for.
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A response with a status, headers and body.
pub(crate) fn respond(status: u16, headers: &[(&str, &str)], body: impl Into<Body>) -> Response {
    let mut response = Response::builder().status(StatusCode::from_u16(status).expect("status"));
    for (name, value) in headers {
        response = response.header(*name, *value);
    }
    response.body(body.into()).expect("response")
}

/// An OpenAI-compatible stream that answers `text`.
pub(crate) fn openai_stream(text: &str) -> Response {
    let chunk = serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}}]});
    let end = serde_json::json!({
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1}
    });
    respond(
        200,
        &[("content-type", "text/event-stream")],
        format!("data: {chunk}\n\ndata: {end}\n\ndata: [DONE]\n\n"),
    )
}

/// A keyring held in memory, so tests never touch the machine's own.
#[derive(Debug, Default)]
pub(crate) struct MemoryKeyring(Mutex<HashMap<String, String>>);

impl MemoryKeyring {
    pub fn with(variable: &str, key: &str) -> Box<MemoryKeyring> {
        let keyring = MemoryKeyring::default();
        keyring
            .0
            .lock()
            .expect("keyring")
            .insert(variable.into(), key.into());
        Box::new(keyring)
    }
}

impl Keyring for MemoryKeyring {
    fn get(&self, variable: &str) -> Result<Option<String>, String> {
        Ok(self.0.lock().map_err(|e| e.to_string())?.get(variable).cloned())
    }
    fn set(&self, variable: &str, key: &str) -> Result<(), String> {
        self.0
            .lock()
            .map_err(|e| e.to_string())?
            .insert(variable.into(), key.into());
        Ok(())
    }
    fn delete(&self, variable: &str) -> Result<(), String> {
        self.0.lock().map_err(|e| e.to_string())?.remove(variable);
        Ok(())
    }
}
