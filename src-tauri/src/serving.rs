//! The winner card's Serve: `tradeoff serve` as a child process of the app, one at a time, logging
//! into the app's database (so the Monitor shows it). Its standard input is a pipe the app holds:
//! when the app ends, however it ends, the pipe closes and the server stops with it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use specta::Type;

use crate::child::{STDERR_TAIL_BYTES, spawn_tail};
use crate::error::{AppCode, AppError};
use crate::executor::path_option;

/// How long a server may take to load its model and listen.
const START_LIMIT: Duration = Duration::from_secs(300);
/// How long a stopping server may take to finish its requests before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The server the app runs, as the winner card shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Type)]
pub struct ServingView {
    /// Where clients send requests (`http://127.0.0.1:PORT/v1`).
    pub url: String,
    /// The winner file it serves.
    pub winner: String,
    pub pid: u32,
}

#[derive(Debug)]
struct Server {
    child: Child,
    /// Held, never written: the server stops when it closes.
    _stdin: Option<ChildStdin>,
    view: ServingView,
}

#[derive(Debug, Default)]
pub struct Serving {
    server: Mutex<Option<Server>>,
}

impl Serving {
    /// Starts `tradeoff serve WINNER` on a free loopback port (stopping the one running), and
    /// waits until it listens.
    pub fn start(&self, binary: &Path, db: &Path, winner: &Path) -> Result<ServingView, AppError> {
        self.stop()?;
        let mut child = Command::new(binary)
            .arg("serve")
            .arg(path_option("--db", db))
            .args(["--port", "0", "--exit-with-stdin", "--"])
            .arg(winner)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                AppError::new(
                    AppCode::Executor,
                    format!("could not start {}: {e}", binary.display()),
                )
            })?;
        let stderr = spawn_tail(child.stderr.take(), STDERR_TAIL_BYTES);
        let (lines, first) = channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                // Read to the end, so that the server never blocks on a full pipe.
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let _ = lines.send(line);
                }
            });
        }
        let started = Instant::now();
        let url = loop {
            match first.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        break url.to_string();
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = child.wait();
                    let tail = stderr.join().unwrap_or_default();
                    let message = tail
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("tradeoff serve stopped before it listened")
                        .trim_start_matches("error: ")
                        .to_string();
                    return Err(AppError {
                        details: Some(tail),
                        ..AppError::new(AppCode::Executor, message)
                    });
                }
                Err(RecvTimeoutError::Timeout) if started.elapsed() > START_LIMIT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(AppError::new(
                        AppCode::Executor,
                        format!("tradeoff serve did not listen within {} s", START_LIMIT.as_secs()),
                    ));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        };
        let view = ServingView {
            url,
            winner: winner.display().to_string(),
            pid: child.id(),
        };
        let stdin = child.stdin.take();
        *self.server.lock().unwrap_or_else(PoisonError::into_inner) = Some(Server {
            child,
            _stdin: stdin,
            view: view.clone(),
        });
        Ok(view)
    }

    /// The server running, if it still runs.
    pub fn status(&self) -> Option<ServingView> {
        let mut guard = self.server.lock().unwrap_or_else(PoisonError::into_inner);
        let running = guard
            .as_mut()
            .is_some_and(|server| matches!(server.child.try_wait(), Ok(None)));
        if !running {
            *guard = None;
        }
        guard.as_ref().map(|server| server.view.clone())
    }

    /// Stops the server: its input closes, it finishes the requests in flight, and is killed if it
    /// has not ended after a grace period.
    pub fn stop(&self) -> Result<(), AppError> {
        let server = self.server.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some(mut server) = server else {
            return Ok(());
        };
        drop(server._stdin.take());
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if !matches!(server.child.try_wait(), Ok(None)) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = server.child.kill();
        let _ = server.child.wait();
        Ok(())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::child::fake_tradeoff;

    #[test]
    fn a_started_server_is_reported_until_stopped_and_stops_when_its_input_closes() {
        let dir = tempfile::tempdir().unwrap();
        // Listens, then waits for its input to close, as `tradeoff serve --exit-with-stdin` does.
        let binary = fake_tradeoff(
            dir.path(),
            "echo 'listening on http://127.0.0.1:40123/v1'\ncat > /dev/null\nexit 0",
        );
        let serving = Serving::default();
        let view = serving
            .start(&binary, &dir.path().join("db"), &dir.path().join("w.json"))
            .unwrap();
        assert_eq!(view.url, "http://127.0.0.1:40123/v1");
        assert_eq!(serving.status(), Some(view));
        let started = Instant::now();
        serving.stop().unwrap();
        assert!(
            started.elapsed() < STOP_GRACE,
            "it ended with its input, not by the kill"
        );
        assert_eq!(serving.status(), None);
    }

    #[test]
    fn a_server_that_refuses_to_start_says_why_with_its_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let binary = fake_tradeoff(
            dir.path(),
            "echo 'error: w.json: `winner.target`: the winner runs on OpenAI-compatible (gpt-4o-mini)' >&2\nexit 2",
        );
        let error = Serving::default()
            .start(&binary, &dir.path().join("db"), &dir.path().join("w.json"))
            .unwrap_err();
        assert!(
            error.message.starts_with("w.json: `winner.target`"),
            "{}",
            error.message
        );
        assert!(error.details.unwrap().contains("OpenAI-compatible"));
    }
}
