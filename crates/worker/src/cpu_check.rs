//! The CPU self-test: before the first local run on a machine, a tiny decode of the model about
//! to run, in throw-away workers, proves which of llama.cpp's CPU variants works here.
//!
//! The variants are tried best first; one whose worker dies (SIGILL from an instruction the
//! CPU, kernel or hypervisor does not allow, or a miscompiled path) is skipped with the reason
//! kept, and the first that decodes is recorded ([`crate::cpu_record::CpuCheckRecord`]) and
//! pinned for every worker after it. A "CPU path unusable" thus becomes one clear error naming
//! the variants, their features and how each died, never a crash per run.

use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cpu_record::{CpuCheckRecord, RejectedVariant, write_record};
use crate::process::{Greeting, WorkerCommand, WorkerProcess, describe_exit};
use tradeoff_core::execute::bench::BenchRequest;
use tradeoff_core::execute::cpu_backend::CPU_BACKEND_ENV;
use tradeoff_core::execute::engine::LoadRequest;
use tradeoff_core::execute::worker_protocol::{Reply, Request};
use tradeoff_core::run::RunError;

/// Prompt tokens of the test decode: a batch of several rows goes through the matrix-matrix
/// kernels (AMX, AVX512 GEMM) that single-token generation never touches.
const TEST_PROMPT_TOKENS: u32 = 64;
/// Generated tokens of the test decode: the single-row kernels.
const TEST_GENERATED_TOKENS: u32 = 4;
/// A test decode that takes longer than this is stuck, not slow.
const TEST_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum CpuCheckError {
    #[error("{}", no_usable_backend(.rejected))]
    NoUsableBackend { rejected: Vec<RejectedVariant> },
    /// The test could not tell, for a reason that is not the CPU's (the model does not load,
    /// the worker does not start): the runs that follow report it themselves.
    #[error("the CPU self-test could not run: {0}")]
    Inconclusive(String),
}

fn no_usable_backend(rejected: &[RejectedVariant]) -> String {
    let mut message = String::from(
        "local inference cannot run on this CPU: every llama.cpp CPU variant this CPU claims to support failed a test decode",
    );
    for attempt in rejected {
        message.push_str(&format!(
            "\n  - {} (uses {}): {}",
            attempt.variant,
            if attempt.features.is_empty() {
                "no special features".to_string()
            } else {
                attempt.features.join(", ")
            },
            attempt.reason
        ));
    }
    message.push_str(&format!(
        "\nRemote targets still run. To force a variant, set {CPU_BACKEND_ENV} (e.g. {CPU_BACKEND_ENV}=x64, the most portable); please report this with the lines above."
    ));
    message
}

/// Tries the CPU variants best first with a test decode of `load`'s model and records the first
/// that works at `record_path`.
pub fn verify(
    command: &WorkerCommand,
    load: &LoadRequest,
    record_path: &std::path::Path,
) -> Result<CpuCheckRecord, CpuCheckError> {
    let build = command.build_key();
    let candidates = {
        let (_probe, greeting) =
            WorkerProcess::spawn(command, None).map_err(|e| CpuCheckError::Inconclusive(e.to_string()))?;
        greeting
            .cpu_backend
            .map_err(|e| CpuCheckError::Inconclusive(format!("the worker loads no CPU backend: {e}")))?
            .candidates
    };
    let pinned = tradeoff_core::execute::cpu_backend::user_pin();
    let candidates = candidates
        .into_iter()
        .filter(|c| pinned.as_ref().is_none_or(|pin| &c.name == pin));
    let mut rejected = Vec::new();
    for candidate in candidates {
        match test_decode(command, &candidate.name, load) {
            Ok(()) => {
                let record = CpuCheckRecord {
                    machine: crate::cpu_record::machine_signature(),
                    build,
                    variant: candidate.name,
                    rejected,
                    checked_at: SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs()),
                };
                // Not kept means tested again next time: slower, never wrong.
                if pinned.is_none() {
                    let _ = write_record(record_path, &record);
                }
                return Ok(record);
            }
            Err(Attempt::Died { features, reason }) => rejected.push(RejectedVariant {
                variant: candidate.name,
                features,
                reason,
            }),
            Err(Attempt::Inconclusive(reason)) => return Err(CpuCheckError::Inconclusive(reason)),
        }
    }
    Err(CpuCheckError::NoUsableBackend { rejected })
}

enum Attempt {
    /// The variant's worker died: the variant cannot run here.
    Died { features: Vec<String>, reason: String },
    /// Something else went wrong; no conclusion about the variant.
    Inconclusive(String),
}

fn test_decode(command: &WorkerCommand, variant: &str, load: &LoadRequest) -> Result<(), Attempt> {
    let (mut worker, greeting) = match WorkerProcess::spawn(command, Some(variant)) {
        Ok(started) => started,
        // Dying while loading the variant's library is the variant's fault.
        Err(e) => {
            return Err(Attempt::Died {
                features: Vec::new(),
                reason: e.to_string(),
            });
        }
    };
    let features = features_of(&greeting);
    let request = Request::Bench(BenchRequest {
        model_path: load.model_path.clone(),
        threads: load.context.threads,
        n_prompt: TEST_PROMPT_TOKENS,
        n_gen: TEST_GENERATED_TOKENS,
        reps: 1,
        batch: TEST_PROMPT_TOKENS,
    });
    let died = |worker: WorkerProcess, features: Vec<String>| {
        let (status, tail) = worker.end();
        // SIGKILL is the kernel's out-of-memory killer or a user, not the CPU.
        if is_sigkill(status) {
            return Attempt::Inconclusive(format!("the test worker was killed (SIGKILL); {tail}"));
        }
        let mut reason = format!("the test decode {}", describe_exit(status));
        if let Some(line) = tail.lines().rev().find(|l| !l.trim().is_empty()) {
            reason.push_str(&format!("; its last message: {}", line.trim()));
        }
        Attempt::Died { features, reason }
    };
    if worker.send(&request).is_err() {
        return Err(died(worker, features));
    }
    let deadline = Instant::now() + TEST_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match worker.replies.recv_timeout(left) {
            Ok(Ok(Reply::Benched(_))) => return Ok(()),
            Ok(Ok(Reply::Failed(error))) => return Err(Attempt::Inconclusive(describe(&error))),
            Ok(Ok(_)) => {}
            Ok(Err(line)) => {
                return Err(Attempt::Inconclusive(format!(
                    "the test worker sent a malformed reply: {line}"
                )));
            }
            Err(RecvTimeoutError::Disconnected) => return Err(died(worker, features)),
            Err(RecvTimeoutError::Timeout) => {
                return Err(Attempt::Died {
                    features,
                    reason: format!(
                        "the test decode did not finish within {} s",
                        TEST_TIMEOUT.as_secs()
                    ),
                });
            }
        }
    }
}

fn features_of(greeting: &Greeting) -> Vec<String> {
    greeting
        .cpu_backend
        .as_ref()
        .map(|cpu| cpu.features.clone())
        .unwrap_or_default()
}

fn describe(error: &RunError) -> String {
    format!("{}: {}", error.class, error.message)
}

fn is_sigkill(status: Option<std::process::ExitStatus>) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        status.and_then(|s| s.signal()) == Some(9)
    }
    #[cfg(not(unix))]
    {
        let _ = status;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_without_a_usable_variant_names_each_variant_its_features_and_the_way_out() {
        let error = CpuCheckError::NoUsableBackend {
            rejected: vec![
                RejectedVariant {
                    variant: "sapphirerapids".into(),
                    features: vec!["AVX512".into(), "AMX_INT8".into()],
                    reason: "the test decode killed by signal 4 (SIGILL)".into(),
                },
                RejectedVariant {
                    variant: "x64".into(),
                    features: vec![],
                    reason: "the test decode killed by signal 11 (SIGSEGV)".into(),
                },
            ],
        };
        let text = error.to_string();
        assert!(
            text.contains(
                "sapphirerapids (uses AVX512, AMX_INT8): the test decode killed by signal 4 (SIGILL)"
            )
        );
        assert!(text.contains("x64 (uses no special features)"));
        assert!(text.contains("TRADEOFF_CPU_BACKEND=x64"));
        assert!(text.contains("Remote targets still run"));
    }
}
