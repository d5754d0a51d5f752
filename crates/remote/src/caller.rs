//! [`RemoteCaller`]: one request at a time to a remote target, its text streamed as it arrives,
//! for a server that proxies requests to the target (`tradeoff serve` of a remote winner). The
//! same wire formats, key handling and redirect policy as experiment runs; no retries: a proxy's
//! client decides whether to try again.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Mutex;

use tradeoff_core::execute::engine::Generation;
use tradeoff_core::execute::remote::RemoteJob;
use tradeoff_core::run::{ErrorClass, RunError};
use tradeoff_core::spec::experiment::Sampling;
use tradeoff_core::spec::prompt::RenderedPrompt;
use tradeoff_core::spec::target::remote::RemoteTarget;

use super::call::call_once;
use super::scheduler::{RemoteClientError, build_client};
use super::secrets::{ApiKey, Keyring, OsKeyring, Redactor, key_for};

#[derive(Debug)]
pub struct RemoteCaller {
    target: RemoteTarget,
    client: reqwest::Client,
    key: Option<ApiKey>,
    redactor: Redactor,
    connections: Mutex<HashSet<SocketAddr>>,
}

/// Why a caller could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    #[error(transparent)]
    Key(RunError),
    #[error(transparent)]
    Client(#[from] RemoteClientError),
}

impl RemoteCaller {
    /// A caller of `target` with its key from the environment or the OS keyring.
    pub fn new(target: &RemoteTarget) -> Result<RemoteCaller, CallerError> {
        RemoteCaller::with_keyring(target, &OsKeyring)
    }

    pub fn with_keyring(target: &RemoteTarget, keyring: &dyn Keyring) -> Result<RemoteCaller, CallerError> {
        let key = key_for(target.api_key_env.as_deref(), keyring).map_err(CallerError::Key)?;
        Ok(RemoteCaller {
            target: target.clone(),
            client: build_client(target)?,
            redactor: Redactor::new(key.clone()),
            key,
            connections: Mutex::default(),
        })
    }

    /// One request; `on_text` receives the output text as it arrives.
    pub async fn call(
        &self,
        prompt: RenderedPrompt,
        sampling: Sampling,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Generation, RunError> {
        let job = RemoteJob { prompt, sampling };
        let texted = std::sync::atomic::AtomicBool::new(false);
        let mut on_text = |piece: &str| {
            texted.store(true, std::sync::atomic::Ordering::Relaxed);
            on_text(piece);
        };
        // A request whose connection failed before any answer (a pooled connection the server
        // had closed: llama-server closes each one after a stream) never reached the server:
        // it is sent once more, on a new connection. Anything else is the client's to see.
        let mut resend = true;
        loop {
            let outcome = call_once(
                &self.client,
                &self.target,
                &job,
                self.key.as_ref(),
                &self.redactor,
                &self.connections,
                &mut on_text,
            )
            .await
            .outcome;
            match outcome {
                Err(error)
                    if resend
                        && error.class == ErrorClass::Connect
                        && !texted.load(std::sync::atomic::Ordering::Relaxed) =>
                {
                    resend = false;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use tradeoff_core::spec::target::remote::ProviderKind;

    use super::*;

    /// Answers the first request of each connection, keeps the connection open, and drops it
    /// when a second request comes on it: a server that closed an idle keep-alive connection
    /// the client still pooled.
    fn one_request_per_connection() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(8) {
                let Ok(mut stream) = stream else { continue };
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 65536];
                    let _ = stream.read(&mut buffer);
                    let body = "data: {\"choices\":[{\"index\":0,\"text\":\"ok\",\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    // The next request on this connection is read and dropped unanswered.
                    let _ = stream.read(&mut buffer);
                });
            }
        });
        format!("http://{address}/v1")
    }

    #[test]
    fn a_request_on_a_pooled_connection_the_server_dropped_is_sent_again_on_a_new_one() {
        let target = RemoteTarget::new(
            ProviderKind::Openai,
            "m".into(),
            one_request_per_connection(),
            None,
        );
        let caller = RemoteCaller::new(&target).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for _ in 0..3 {
            let prompt = RenderedPrompt::Raw { prompt: "x".into() };
            let sampling = Sampling {
                temperature: 0.0,
                top_p: None,
                top_k: None,
                seed: 0,
                max_tokens: 4,
                stop: Vec::new(),
            };
            let answer = runtime.block_on(caller.call(prompt, sampling, &mut |_| {}));
            assert_eq!(answer.map(|g| g.output).unwrap(), "ok");
        }
    }
}
