//! Proves at start-up that local inference works on this machine: `tradeoff doctor --json` runs
//! once in the background (a test decode with each llama.cpp CPU variant, best first, in a
//! child — the app never links llama.cpp) and its verdict is kept for Settings and the run
//! screen. A run waits for the verdict so the self-test never shares the CPU with a measured run.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use specta::Type;
use tauri::State;

use crate::AppState;
use crate::child::{STDERR_TAIL_BYTES, spawn_limited, spawn_tail};
use crate::error::AppError;

/// How long the self-test may take: the first one on a machine decodes once per failing
/// variant, each in a fresh worker; minutes would mean it hangs.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// The doctor's JSON report is a few KiB; more is not a report.
const MAX_REPORT_BYTES: usize = 1024 * 1024;

/// What the start-up self-test found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LocalInferenceView {
    /// The self-test is running.
    Checking,
    /// A test decode with this CPU variant worked on this machine.
    Verified {
        /// e.g. `zen4`, or `built-in` for a build with one CPU backend.
        variant: String,
        /// The CPU features that variant's code uses (AVX2, AVX512, …).
        features: Vec<String>,
    },
    /// Local inference cannot run here; `message` says which variants failed and how, and the
    /// way out (`TRADEOFF_CPU_BACKEND`).
    Failed { message: String },
    /// The self-test did not run (the default model it decodes with is missing).
    NotChecked { reason: String },
}

/// The verdict, and a way to wait for it.
#[derive(Debug)]
pub struct LocalInference {
    view: Mutex<LocalInferenceView>,
    changed: Condvar,
}

impl Default for LocalInference {
    fn default() -> Self {
        LocalInference {
            view: Mutex::new(LocalInferenceView::Checking),
            changed: Condvar::new(),
        }
    }
}

impl LocalInference {
    pub fn view(&self) -> LocalInferenceView {
        self.view.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set(&self, view: LocalInferenceView) {
        *self.view.lock().unwrap_or_else(PoisonError::into_inner) = view;
        self.changed.notify_all();
    }

    /// Blocks while the self-test runs, at most `limit`.
    pub fn wait_while_checking(&self, limit: Duration) {
        let guard = self.view.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self
            .changed
            .wait_timeout_while(guard, limit, |view| *view == LocalInferenceView::Checking);
    }
}

/// Starts the self-test on a thread of its own; its verdict lands in `state`.
pub fn start(state: Arc<LocalInference>, binary: PathBuf) {
    let spawned = std::thread::Builder::new()
        .name("local-inference-check".into())
        .spawn({
            let state = Arc::clone(&state);
            move || {
                state.set(check(
                    &binary,
                    &tradeoff_core::paths::default_model(),
                    CHECK_TIMEOUT,
                ))
            }
        });
    if let Err(e) = spawned {
        state.set(LocalInferenceView::Failed {
            message: format!("the CPU self-test could not start: {e}"),
        });
    }
}

/// Runs `binary doctor --json` with the default model at `model` (blocking, at most `timeout`).
pub fn check(binary: &Path, model: &Path, timeout: Duration) -> LocalInferenceView {
    if !model.is_file() {
        return LocalInferenceView::NotChecked {
            reason: format!(
                "the default model is missing at {}, so no test decode ran; fetch it with `make model` and restart the app",
                model.display()
            ),
        };
    }
    let mut command = Command::new(binary);
    command
        .arg("doctor")
        .arg("--json")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A group of its own: on timeout the doctor and the worker it started end together.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return LocalInferenceView::Failed {
                message: format!("cannot start {}: {e}", binary.display()),
            };
        }
    };
    let stdout = spawn_limited(child.stdout.take(), MAX_REPORT_BYTES);
    let stderr = spawn_tail(child.stderr.take(), STDERR_TAIL_BYTES);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => {
                return LocalInferenceView::Failed {
                    message: format!("lost the self-test process: {e}"),
                };
            }
        }
    };
    let Some(status) = status else {
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = child.wait();
        return LocalInferenceView::Failed {
            message: format!(
                "the CPU self-test did not finish within {} and was stopped; `tradeoff doctor` in a \
                 terminal shows where it stops, and TRADEOFF_CPU_BACKEND=<variant> pins a CPU variant",
                match timeout.as_secs() {
                    s if s >= 120 => format!("{} minutes", s / 60),
                    s => format!("{s} s"),
                }
            ),
        };
    };
    let (report, _) = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    verdict(status, &report, &stderr)
}

/// The part of `tradeoff doctor --json`'s report the app shows (its `cpu_backend`, written from
/// `tradeoff_core::execute::cpu_backend::CpuBackend`; other fields are ignored). Read as the wire format
/// it is, so the app needs nothing of the worker's code.
#[derive(Debug, Deserialize)]
struct Report {
    cpu_backend: Option<Backend>,
}

#[derive(Debug, Deserialize)]
struct Backend {
    variant: String,
    features: Vec<String>,
    #[serde(default)]
    verified: bool,
}

/// The doctor's exit status, JSON report and stderr as a verdict.
fn verdict(status: ExitStatus, report: &[u8], stderr: &str) -> LocalInferenceView {
    let backend = serde_json::from_slice::<Report>(report)
        .ok()
        .and_then(|r| r.cpu_backend);
    match backend {
        Some(cpu) if status.success() && cpu.verified => LocalInferenceView::Verified {
            variant: cpu.variant,
            features: cpu.features,
        },
        _ => LocalInferenceView::Failed {
            message: error_message(stderr).unwrap_or_else(|| {
                let tail = stderr.trim();
                if tail.is_empty() {
                    format!("the CPU self-test failed ({status})")
                } else {
                    format!("the CPU self-test failed ({status}): {tail}")
                }
            }),
        },
    }
}

/// The CLI's own message: everything from its last `error: ` line (the message may span lines).
fn error_message(stderr: &str) -> Option<String> {
    let start = stderr
        .match_indices("error: ")
        .filter(|(i, _)| *i == 0 || stderr.as_bytes().get(i - 1) == Some(&b'\n'))
        .map(|(i, _)| i + "error: ".len())
        .last()?;
    Some(stderr[start..].trim_end().to_string())
}

/// Whether local inference was proved on this machine (the start-up self-test's verdict).
#[tauri::command]
#[specta::specta]
pub async fn local_inference(state: State<'_, AppState>) -> Result<LocalInferenceView, AppError> {
    Ok(state.local_inference.view())
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt as _;

    use super::*;
    use crate::child::fake_tradeoff;

    const VERIFIED: &str = r#"{"machine": {"cpu_model": "AMD EPYC"}, "cpu_backend": {"variant": "zen4",
        "features": ["AVX2", "AVX512"], "candidates": [{"name": "zen4", "score": 90}], "verified": true},
        "build": "b1", "record": "/x/cpu-check.json"}"#;

    fn exit(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn a_verified_report_with_exit_zero_names_the_variant_and_its_features() {
        assert_eq!(
            verdict(exit(0), VERIFIED.as_bytes(), ""),
            LocalInferenceView::Verified {
                variant: "zen4".into(),
                features: vec!["AVX2".into(), "AVX512".into()],
            }
        );
    }

    #[test]
    fn a_failed_self_test_shows_the_clis_whole_error_message() {
        let report = VERIFIED.replace("\"verified\": true", "\"verified\": false");
        let stderr = "llama log line\nerror: no CPU variant decoded: sapphirerapids (AMX_INT8) \
                      killed by signal 4 (SIGILL)\nhaswell (AVX2) killed by signal 4; \
                      set TRADEOFF_CPU_BACKEND to choose one\n";
        let LocalInferenceView::Failed { message } = verdict(exit(1), report.as_bytes(), stderr) else {
            panic!("a failed self-test must be a failure");
        };
        assert!(
            message.starts_with("no CPU variant decoded: sapphirerapids"),
            "{message}"
        );
        assert!(
            message.ends_with("set TRADEOFF_CPU_BACKEND to choose one"),
            "{message}"
        );
        assert!(!message.contains("llama log line"), "{message}");
    }

    #[test]
    fn a_crash_without_a_message_or_report_is_a_failure_that_says_how_it_ended() {
        let killed = ExitStatus::from_raw(9);
        let LocalInferenceView::Failed { message } = verdict(killed, b"", "") else {
            panic!("a crash must be a failure");
        };
        assert!(message.contains("signal: 9"), "{message}");
        // Exit 0 without a verified backend is no proof either.
        assert!(matches!(
            verdict(exit(0), b"{\"cpu_backend\": null}", ""),
            LocalInferenceView::Failed { .. }
        ));
    }

    #[test]
    fn without_the_default_model_nothing_runs_and_the_reason_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("models/gemma.gguf");
        // The binary does not exist: had it been started, the verdict would say so.
        let view = check(
            Path::new("/nonexistent/tradeoff"),
            &missing,
            Duration::from_secs(1),
        );
        let LocalInferenceView::NotChecked { reason } = view else {
            panic!("expected not checked, got {view:?}");
        };
        assert!(reason.contains("default model is missing"), "{reason}");
        assert!(reason.contains(&missing.display().to_string()), "{reason}");
    }

    #[test]
    fn the_check_runs_the_doctor_and_reads_its_report() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model.gguf");
        std::fs::write(&model, "GGUF").unwrap();
        let report = VERIFIED.replace('\n', " ");
        let binary = fake_tradeoff(
            dir.path(),
            &format!("[ \"$1 $2\" = 'doctor --json' ] || exit 3\necho '{report}'"),
        );
        let view = check(&binary, &model, Duration::from_secs(30));
        assert!(matches!(view, LocalInferenceView::Verified { .. }), "{view:?}");
    }

    #[test]
    fn a_self_test_that_hangs_is_stopped_at_the_timeout_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model.gguf");
        std::fs::write(&model, "GGUF").unwrap();
        // The grandchild holds stdout open: only killing the whole group ends the reads.
        let binary = fake_tradeoff(dir.path(), "sleep 600 &\nsleep 600");
        let started = Instant::now();
        let view = check(&binary, &model, Duration::from_millis(500));
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
        let LocalInferenceView::Failed { message } = view else {
            panic!("a hang must be a failure, got {view:?}");
        };
        assert!(message.contains("did not finish"), "{message}");
        assert!(message.contains("TRADEOFF_CPU_BACKEND"), "{message}");
    }

    #[test]
    fn waiting_for_the_verdict_ends_when_it_arrives() {
        let state = Arc::new(LocalInference::default());
        let setter = Arc::clone(&state);
        let started = Instant::now();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            setter.set(LocalInferenceView::Failed { message: "x".into() });
        });
        state.wait_while_checking(Duration::from_secs(30));
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(matches!(state.view(), LocalInferenceView::Failed { .. }));
    }
}
