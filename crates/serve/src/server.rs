//! Starting and stopping the server: the key, the address (loopback by default; beyond it only
//! with a key, or with `--insecure-no-auth`), the model loaded before the first request, and a
//! clean stop on Ctrl-C that lets requests in flight finish.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::serve::ListenerExt;
use tradeoff_core::analyze::canary::CanaryRound;
use tradeoff_remote::RemoteCaller;
use tradeoff_store::traffic::{DeploymentRow, TrafficLog, now_ms};

use tradeoff_worker::WorkerCommand;

use crate::admission::Admission;
use crate::api::{Served, ServedEngine, router};
use crate::backend::{Backend, RemoteBackend};
use crate::canary::Canary;
use crate::deployment::Deployment;
use crate::deployment::Engine;
use crate::error::ServeError;
use crate::local::LocalBackend;
use crate::metrics::Metrics;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub host: String,
    /// 0: any free port (the ready callback says which).
    pub port: u16,
    /// Requests waiting for a slot before new ones get `429`.
    pub queue: usize,
    /// The environment variable holding the key clients must send.
    pub api_key_env: Option<String>,
    pub insecure_no_auth: bool,
    /// The database the traffic log goes to (`None`: no log).
    pub db: Option<PathBuf>,
    /// Log records older than this are deleted as the log goes.
    pub retain: Option<Duration>,
    /// Keep each answer's text in the log, not only its hash.
    pub log_text: bool,
    /// The winner file's path, as the log names the deployment.
    pub winner_path: PathBuf,
    /// Canary rounds to run, and what they are held to.
    pub canary: Option<Canary>,
    /// Stop when standard input closes: a parent (the app) that dies takes its server with it.
    pub exit_with_stdin: bool,
}

/// What the server says once it takes requests.
#[derive(Debug)]
pub struct Ready {
    pub address: SocketAddr,
    /// Whether the local model carries a chat template (`None`: a remote API).
    pub has_chat_template: Option<bool>,
    pub keyed: bool,
}

/// Serves `deployment` until Ctrl-C (or `stop` resolves). `ready` is called once the model is
/// loaded and the address listens.
pub async fn serve(
    deployment: Deployment,
    options: ServeOptions,
    worker: WorkerCommand,
    ready: impl FnOnce(&Ready),
    canary_report: impl Fn(&CanaryRound) + Send + 'static,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let key = match &options.api_key_env {
        Some(variable) => Some(
            std::env::var(variable)
                .ok()
                .filter(|k| !k.trim().is_empty())
                .ok_or_else(|| ServeError::MissingKey {
                    variable: variable.clone(),
                })?,
        ),
        None => None,
    };
    if key.is_none() && !options.insecure_no_auth && !is_loopback(&options.host) {
        return Err(ServeError::Unprotected {
            host: options.host.clone(),
        });
    }
    let address = format!("{}:{}", options.host, options.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|source| ServeError::Bind {
            address: address.clone(),
            source,
        })?;
    let slots = deployment.slots as usize;
    let mut engines = Vec::with_capacity(deployment.engines.len());
    for engine in &deployment.engines {
        let backend = match engine {
            Engine::Local(load, chat_template) => Backend::Local(Box::new(
                LocalBackend::start(worker.clone(), load.clone(), chat_template.clone())
                    .await
                    .map_err(ServeError::Worker)?,
            )),
            Engine::Remote(target) => Backend::Remote(RemoteBackend::new(
                RemoteCaller::new(target).map_err(|e| ServeError::Remote(e.to_string()))?,
            )),
        };
        engines.push(ServedEngine {
            backend,
            admission: Admission::new(slots, options.queue),
        });
    }
    let traffic = match &options.db {
        Some(db) => Some(
            TrafficLog::start(
                db,
                &DeploymentRow {
                    id: 0,
                    started_ms: now_ms(),
                    winner_path: options.winner_path.display().to_string(),
                    model_name: deployment.model_name.clone(),
                    label: deployment.label.clone(),
                    winner_json: serde_json::to_string(&deployment.winner)
                        .map_err(|e| ServeError::Io(std::io::Error::other(e)))?,
                },
                options.retain,
            )
            .map_err(ServeError::Log)?,
        ),
        None => None,
    };
    // Whether a local model lacks a chat template: any of them (a remote API's is its business).
    let has_chat_template = engines
        .iter()
        .filter_map(|e| e.backend.has_chat_template())
        .reduce(|a, b| a && b);
    let served = Arc::new(Served {
        metrics: Metrics::new(&deployment.model_name),
        deployment,
        engines,
        key,
        next_id: AtomicU64::new(1),
        traffic,
        log_text: options.log_text,
    });
    ready(&Ready {
        address: listener.local_addr()?,
        has_chat_template,
        keyed: served.key.is_some(),
    });
    let canary = options
        .canary
        .clone()
        .map(|canary| tokio::spawn(crate::canary::run(Arc::clone(&served), canary, canary_report)));
    // Every streamed token is a small write: with Nagle's algorithm on, each waited for the
    // client's delayed ACK (about 40 ms a token on Linux), so it is off on every connection.
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    axum::serve(listener, router(Arc::clone(&served)))
        .with_graceful_shutdown(stop)
        .await?;
    if let Some(canary) = canary {
        canary.abort();
        let _ = canary.await;
    }
    // The log's writer commits what it holds when the last handle to it goes.
    drop(served);
    Ok(())
}

/// [`serve`] on a runtime of its own, until Ctrl-C or SIGTERM; requests in flight finish first.
pub fn run(
    deployment: Deployment,
    options: ServeOptions,
    worker: WorkerCommand,
    ready: impl FnOnce(&Ready),
    canary_report: impl Fn(&CanaryRound) + Send + 'static,
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let stdin_closed = options.exit_with_stdin.then(stdin_closed);
    runtime.block_on(serve(
        deployment,
        options,
        worker,
        ready,
        canary_report,
        async move {
            match stdin_closed {
                Some(closed) => {
                    tokio::select! {
                        _ = interrupted() => {}
                        _ = closed => {}
                    }
                }
                None => interrupted().await,
            }
        },
    ))
}

/// Resolves when standard input reaches its end (read on a thread of its own: a blocking read).
fn stdin_closed() -> tokio::sync::oneshot::Receiver<()> {
    let (closed, receiver) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin().lock();
        while std::io::Read::read(&mut stdin, &mut sink).is_ok_and(|n| n > 0) {}
        let _ = closed.send(());
    });
    receiver
}

async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// `localhost`, `127.0.0.0/8` and `::1`: reachable from this machine only.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machines_own_addresses_count_as_loopback() {
        for host in ["127.0.0.1", "localhost", "::1", "[::1]", "127.8.9.10"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["0.0.0.0", "::", "192.168.1.5", "example.com", "10.0.0.1"] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
