//! Runs a load test in a `tradeoff load --json` child process (the app runs no load generator of
//! its own: the CLI's is the measured one) and forwards each finished level's line as progress.

use std::path::Path;
use std::process::{Command, Stdio};

use serde::Deserialize;
use specta::Type;

use crate::child::{BoundedLines, Line, MAX_EVENT_LINE_BYTES, spawn_limited};
use crate::error::{AppCode, AppError};
use crate::executor::path_option;

/// The Load screen's form.
#[derive(Debug, Clone, Deserialize, Type)]
pub struct LoadRunRequest {
    /// An OpenAI-compatible API: the served winner's, llama-server, vLLM…
    pub base_url: String,
    pub model: String,
    /// Closed-loop levels (clients); empty with `rates` empty: a sweep.
    pub concurrency: Vec<u32>,
    /// Open-loop levels (requests per second).
    pub rates: Vec<f64>,
    pub seconds_per_level: u32,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// `ttft=500ms,e2e=4s`; empty: none.
    pub slo: String,
}

/// The longest level the screen starts: a test is a few minutes, not an afternoon.
const MAX_SECONDS_PER_LEVEL: u32 = 600;

/// Runs the test (blocking); returns its id in the database.
pub fn run(
    binary: &Path,
    db: &Path,
    request: &LoadRunRequest,
    emit: &dyn Fn(String),
) -> Result<u32, AppError> {
    let bad = |message: String| AppError::new(AppCode::BadInput, message);
    if !(request.base_url.starts_with("http://") || request.base_url.starts_with("https://")) {
        return Err(bad(format!("`{}` is not an http(s) URL", request.base_url)));
    }
    if request.model.trim().is_empty() {
        return Err(bad("name the model the API serves".into()));
    }
    if request.seconds_per_level == 0 || request.seconds_per_level > MAX_SECONDS_PER_LEVEL {
        return Err(bad(format!(
            "seconds per level: between 1 and {MAX_SECONDS_PER_LEVEL}"
        )));
    }
    let mut command = Command::new(binary);
    // Every value as `--name=value`: one that starts with `-` is still a value.
    command
        .arg("load")
        .arg(format!("--base-url={}", request.base_url))
        .arg(format!("--model={}", request.model))
        .arg(format!("--duration={}s", request.seconds_per_level))
        .arg(format!("--input-tokens={}", request.input_tokens.max(1)))
        .arg(format!("--output-tokens={}", request.output_tokens.max(1)))
        .arg("--json")
        .arg(path_option("--db", db))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match (request.concurrency.is_empty(), request.rates.is_empty()) {
        (true, true) => {
            command.arg("--sweep");
        }
        (false, true) => {
            let list: Vec<String> = request.concurrency.iter().map(u32::to_string).collect();
            command.arg(format!("--concurrency={}", list.join(",")));
        }
        (true, false) => {
            let list: Vec<String> = request.rates.iter().map(f64::to_string).collect();
            command.arg(format!("--rate={}", list.join(",")));
        }
        (false, false) => return Err(bad("clients or rates: one of them (neither: a sweep)".into())),
    }
    if !request.slo.trim().is_empty() {
        command.arg(format!("--slo={}", request.slo.trim()));
    }
    let mut child = command.spawn().map_err(|e| {
        AppError::new(
            AppCode::Executor,
            format!("cannot start {}: {e}", binary.display()),
        )
    })?;
    let stdout = spawn_limited(child.stdout.take(), MAX_EVENT_LINE_BYTES);
    let mut said = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BoundedLines::new(stderr, MAX_EVENT_LINE_BYTES) {
            if let Line::Text(line) = line {
                emit(line.clone());
                said.push(line);
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| AppError::new(AppCode::Executor, e.to_string()))?;
    let (out, _) = stdout
        .join()
        .map_err(|_| AppError::new(AppCode::Executor, "reading the load test's output failed"))?;
    if !status.success() {
        let message = said
            .last()
            .cloned()
            .unwrap_or_else(|| format!("tradeoff load ended with {status}"));
        return Err(AppError {
            details: Some(said.join("\n")),
            ..AppError::new(AppCode::BadInput, message)
        });
    }
    #[derive(Deserialize)]
    struct Finished {
        id: u32,
    }
    serde_json::from_slice::<Finished>(&out)
        .map(|f| f.id)
        .map_err(|e| AppError::new(AppCode::Executor, format!("tradeoff load's report: {e}")))
}
