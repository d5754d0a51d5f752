//! Runs a remote target's jobs: up to `max_concurrency` in flight, starts spaced by
//! `requests_per_minute`, failed attempts retried with exponential backoff and jitter (or after
//! the server's `Retry-After`), every attempt kept with its run, cancellation stopping requests
//! in flight.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::call::call_once;
use super::classify::retryable;
use super::secrets::{ApiKey, Keyring, OsKeyring, Redactor, key_for};
use super::{Attempt, RemoteEngine, RemoteEvent, RemoteJob, RemoteResult, RemoteTarget};
use tradeoff_core::execute::engine::GenerateError;
use tradeoff_core::run::RunError;
use tradeoff_core::stats::SplitMix64;

/// Waits longer than this are not retried: the run is recorded with the server's answer.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(600);
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum RemoteClientError {
    #[error("cannot start the HTTP client runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot create the HTTP client: {0}")]
    Client(String),
}

/// The HTTP engine for remote targets: its own Tokio runtime, one connection pool per target.
pub struct HttpRemote {
    runtime: tokio::runtime::Runtime,
    /// Per base URL and connect timeout: the client (its connection pool) and the local
    /// addresses of the connections it opened, which tell a new connection from a reused one.
    clients: HashMap<(String, u64), (reqwest::Client, Connections)>,
    keyring: Box<dyn Keyring>,
}

impl std::fmt::Debug for HttpRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRemote")
            .field("clients", &self.clients.len())
            .finish()
    }
}

impl HttpRemote {
    pub fn new() -> Result<HttpRemote, RemoteClientError> {
        HttpRemote::with_keyring(Box::new(OsKeyring))
    }

    pub fn with_keyring(keyring: Box<dyn Keyring>) -> Result<HttpRemote, RemoteClientError> {
        // Two workers keep up with hundreds of streams: the work per chunk is parsing a line.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tradeoff-http")
            .enable_all()
            .build()
            .map_err(RemoteClientError::Runtime)?;
        Ok(HttpRemote {
            runtime,
            clients: HashMap::new(),
            keyring,
        })
    }

    fn client(&mut self, target: &RemoteTarget) -> Result<(reqwest::Client, Connections), RemoteClientError> {
        let key = (target.base_url.clone(), target.timeouts.connect_s.to_bits());
        if let Some((client, connections)) = self.clients.get(&key) {
            return Ok((client.clone(), Arc::clone(connections)));
        }
        let client = build_client(target)?;
        let connections = Connections::default();
        self.clients
            .insert(key, (client.clone(), Arc::clone(&connections)));
        Ok((client, connections))
    }
}

/// One shared client (and so one connection pool) per target, following only the redirects
/// `redirect` allows.
pub fn build_client(target: &RemoteTarget) -> Result<reqwest::Client, RemoteClientError> {
    // rustls with ring; installing the process-wide provider twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs_f64(target.timeouts.connect_s))
        .tcp_nodelay(true)
        .pool_max_idle_per_host(target.max_concurrency as usize)
        .user_agent(concat!("tradeoff/", env!("CARGO_PKG_VERSION")))
        // The client carries keys: it must not carry them to wherever a server points.
        .redirect(super::redirect::policy())
        .build()
        .map_err(|e| RemoteClientError::Client(e.to_string()))
}

impl HttpRemote {
    /// Runs `future` on the client's runtime (the app's "test connection", model lists).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    pub fn client_for(&mut self, target: &RemoteTarget) -> Result<reqwest::Client, RemoteClientError> {
        self.client(target).map(|(client, _)| client)
    }
}

/// What every job of one target shares.
struct TargetState {
    target: RemoteTarget,
    client: reqwest::Client,
    key: Option<ApiKey>,
    redactor: Redactor,
    slots: Semaphore,
    next_start: tokio::sync::Mutex<tokio::time::Instant>,
    connections: Connections,
}

type Connections = Arc<Mutex<HashSet<SocketAddr>>>;

impl RemoteEngine for HttpRemote {
    fn run_jobs(
        &mut self,
        target: &RemoteTarget,
        jobs: Vec<RemoteJob>,
        cancel: &AtomicBool,
        on_event: &mut dyn FnMut(RemoteEvent) -> ControlFlow<()>,
    ) -> Result<(), GenerateError> {
        let prepared = key_for(target.api_key_env.as_deref(), self.keyring.as_ref()).and_then(|key| {
            self.client(target)
                .map(|client| (key, client))
                .map_err(|e| RunError::new(tradeoff_core::run::ErrorClass::Internal, e.to_string()))
        });
        let (key, (client, connections)) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                // Every planned run is recorded, each with the reason it could not be made.
                for index in 0..jobs.len() {
                    let _ = on_event(RemoteEvent::Started(index));
                    let result = RemoteResult {
                        outcome: Err(error.clone()),
                        partial_output: String::new(),
                        attempts: Vec::new(),
                    };
                    if on_event(RemoteEvent::Finished(index, Box::new(result))).is_break() {
                        break;
                    }
                }
                return Ok(());
            }
        };
        let state = Arc::new(TargetState {
            target: target.clone(),
            client,
            redactor: Redactor::new(key.clone()),
            key,
            slots: Semaphore::new(target.max_concurrency.max(1) as usize),
            next_start: tokio::sync::Mutex::new(tokio::time::Instant::now()),
            connections,
        });
        self.runtime.block_on(async {
            let (started_tx, mut started_rx) = mpsc::unbounded_channel();
            let mut tasks = JoinSet::new();
            for (index, job) in jobs.into_iter().enumerate() {
                let state = Arc::clone(&state);
                let started = started_tx.clone();
                tasks.spawn(async move { (index, run_job(index, job, &state, started).await) });
            }
            drop(started_tx);
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tokio::select! {
                    Some(index) = started_rx.recv() => {
                        let _ = on_event(RemoteEvent::Started(index));
                    }
                    joined = tasks.join_next() => match joined {
                        None => break,
                        Some(Ok((index, result))) => {
                            // A job can finish before its start notice is read.
                            while let Ok(started) = started_rx.try_recv() {
                                let _ = on_event(RemoteEvent::Started(started));
                            }
                            if on_event(RemoteEvent::Finished(index, Box::new(result))).is_break() {
                                tasks.abort_all();
                                break;
                            }
                        }
                        Some(Err(error)) => {
                            // A panicking task would lose its run; that is a bug, reported as one.
                            return Err(GenerateError::Failed(RunError::new(
                                tradeoff_core::run::ErrorClass::Internal,
                                format!("a remote request task failed: {error}"),
                            )));
                        }
                    },
                    _ = tick.tick() => {
                        if cancel.load(Ordering::Relaxed) {
                            // Dropping the tasks drops their requests: connections close at once.
                            tasks.abort_all();
                            return Err(GenerateError::Cancelled);
                        }
                    }
                }
            }
            Ok(())
        })
    }
}

async fn run_job(
    index: usize,
    job: RemoteJob,
    state: &TargetState,
    started: mpsc::UnboundedSender<usize>,
) -> RemoteResult {
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut first_request: Option<Instant> = None;
    let mut rng = SplitMix64(jitter_seed(index));
    let max_attempts = state.target.max_attempts.max(1);
    loop {
        let report = {
            // The slot is held for the attempt only, never while waiting to retry. (The
            // semaphore is never closed, so acquiring cannot fail.)
            let _slot = state.slots.acquire().await.ok();
            wait_for_rate_limit(state).await;
            let now = Instant::now();
            let first = *first_request.get_or_insert(now);
            if attempts.is_empty() {
                let _ = started.send(index);
            }
            let report = call_once(
                &state.client,
                &state.target,
                &job,
                state.key.as_ref(),
                &state.redactor,
                &state.connections,
                &mut |_| {},
            )
            .await;
            attempts.push(Attempt {
                started_after_ms: now.duration_since(first).as_secs_f64() * 1000.0,
                status: report.status,
                error: report.outcome.as_ref().err().cloned(),
                retry_after_ms: report.retry_after.map(|d| d.as_secs_f64() * 1000.0),
                waited_ms: None,
            });
            report
        };
        let error = match report.outcome {
            Ok(generation) => {
                return RemoteResult {
                    outcome: Ok(generation),
                    partial_output: String::new(),
                    attempts,
                };
            }
            Err(error) => error,
        };
        let wait = report
            .retry_after
            .unwrap_or_else(|| backoff(attempts.len() as u32, &mut rng));
        let again = retryable(error.class)
            && report.partial_output.is_empty()
            && (attempts.len() as u32) < max_attempts
            && wait <= MAX_RETRY_WAIT;
        if !again {
            let mut error = error;
            if attempts.len() > 1 {
                error.message = format!("{} (after {} attempts)", error.message, attempts.len());
            }
            return RemoteResult {
                outcome: Err(error),
                partial_output: report.partial_output,
                attempts,
            };
        }
        if let Some(last) = attempts.last_mut() {
            last.waited_ms = Some(wait.as_secs_f64() * 1000.0);
        }
        tokio::time::sleep(wait).await;
    }
}

/// Spaces request starts `60 / requests_per_minute` seconds apart.
async fn wait_for_rate_limit(state: &TargetState) {
    let Some(per_minute) = state.target.requests_per_minute.filter(|n| *n > 0) else {
        return;
    };
    let interval = Duration::from_secs_f64(60.0 / f64::from(per_minute));
    let slot = {
        let mut next = state.next_start.lock().await;
        let slot = (*next).max(tokio::time::Instant::now());
        *next = slot + interval;
        slot
    };
    tokio::time::sleep_until(slot).await;
}

/// Exponential backoff with jitter: base × 2^(attempt−1), capped, scaled by a random factor in
/// [0.5, 1) so that runs that failed together do not retry together.
fn backoff(attempt: u32, rng: &mut SplitMix64) -> Duration {
    let exponential = BACKOFF_BASE.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    let capped = exponential.min(BACKOFF_CAP);
    let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    capped.mul_f64(0.5 + 0.5 * unit)
}

fn jitter_seed(index: usize) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u64::from(nanos) ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_is_capped() {
        let mut rng = SplitMix64(1);
        for attempt in 1..=10 {
            let expected = BACKOFF_BASE.saturating_mul(1 << (attempt - 1)).min(BACKOFF_CAP);
            let wait = backoff(attempt, &mut rng);
            assert!(
                wait >= expected / 2 && wait < expected,
                "attempt {attempt}: {wait:?}"
            );
        }
    }
}
