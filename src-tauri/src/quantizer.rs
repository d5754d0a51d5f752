//! Quantizes models in a `tradeoff quantize --events` child process (the app never links
//! llama.cpp) and forwards its progress.

use std::path::Path;
use std::process::{Command, Stdio};

use tradeoff_core::models::quantize::QuantizeEvent;

use crate::child::{BoundedLines, Line, MAX_EVENT_LINE_BYTES, STDERR_TAIL_BYTES, spawn_tail};
use crate::dto::QuantizeProgress;
use crate::error::{AppCode, AppError};
use crate::executor::path_option;

/// Makes every type in `types` from `source` (blocking); returns the paths written. Types that
/// fail are reported through `emit` and do not stop the others.
pub fn quantize(
    binary: &Path,
    db: &Path,
    source: &str,
    types: &[String],
    allow_requantize: bool,
    emit: &dyn Fn(QuantizeProgress),
) -> Result<Vec<String>, AppError> {
    if types.is_empty() {
        return Err(AppError::new(
            AppCode::BadInput,
            "choose at least one type to quantize to",
        ));
    }
    // Type names are llama.cpp's (Q4_K_M, IQ2_XXS, F16…): letters, digits and `_`, nothing
    // that could read as another option or a second list.
    if let Some(bad) = types
        .iter()
        .find(|t| t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(AppError::new(
            AppCode::BadInput,
            format!("`{bad}` is not a quantization type (letters, digits and _)"),
        ));
    }
    // `default` or a regular file, checked before the child sees it.
    if source != "default" {
        crate::file_access::readable_file(source)?;
    }
    let mut command = Command::new(binary);
    command
        .arg("quantize")
        .arg(format!("--type={}", types.join(",")))
        .arg("--events")
        .arg(path_option("--db", db))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if allow_requantize {
        command.arg("--allow-requantize");
    }
    // The source last, after `--`, so no path is ever taken for an option.
    command.arg("--").arg(source);
    let mut child = command.spawn().map_err(|e| {
        AppError::new(
            AppCode::Executor,
            format!("cannot start {}: {e}", binary.display()),
        )
    })?;
    // llama.cpp logs every tensor: all of stderr is read, only its end is kept.
    let stderr_text = spawn_tail(child.stderr.take(), STDERR_TAIL_BYTES);
    let mut written = Vec::new();
    let mut failure = None;
    if let Some(stdout) = child.stdout.take() {
        // Read to the end whatever a line holds, so the child never blocks on a full pipe.
        for line in BoundedLines::new(stdout, MAX_EVENT_LINE_BYTES) {
            let Line::Text(line) = line else { continue };
            let Ok(event) = serde_json::from_str::<QuantizeEvent>(&line) else {
                continue;
            };
            emit(match event {
                QuantizeEvent::Progress {
                    type_name,
                    done,
                    total,
                } => QuantizeProgress::Progress {
                    type_name,
                    done,
                    total,
                },
                QuantizeEvent::Quantized {
                    type_name,
                    path,
                    bytes,
                    duration_ms,
                    warnings,
                    ..
                } => {
                    let path = path.to_string_lossy().into_owned();
                    written.push(path.clone());
                    QuantizeProgress::Quantized {
                        type_name,
                        path,
                        file_size_bytes: bytes as f64,
                        duration_ms,
                        warnings,
                    }
                }
                QuantizeEvent::Failed { type_name, message } => {
                    if type_name.is_none() {
                        failure = Some(message.clone());
                    }
                    QuantizeProgress::Failed { type_name, message }
                }
            });
        }
    }
    let status = child
        .wait()
        .map_err(|e| AppError::new(AppCode::Executor, format!("lost the quantize process: {e}")))?;
    let stderr = stderr_text.join().unwrap_or_default();
    if let Some(message) = failure {
        return Err(AppError::new(AppCode::BadInput, message));
    }
    if written.is_empty() && !status.success() {
        let mut error = AppError::new(AppCode::Executor, format!("quantization failed ({status})"));
        error.details = Some(stderr);
        return Err(error);
    }
    Ok(written)
}
