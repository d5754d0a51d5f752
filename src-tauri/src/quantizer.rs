//! Quantizes models in a `tradeoff quantize --events` child process (the app never links
//! llama.cpp) and forwards its progress.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use tradeoff_core::quantize::QuantizeEvent;

use crate::dto::QuantizeProgress;
use crate::error::AppError;

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
            "bad_input",
            "choose at least one type to quantize to",
        ));
    }
    let mut command = Command::new(binary);
    command
        .arg("quantize")
        .arg(source)
        .arg("--type")
        .arg(types.join(","))
        .arg("--events")
        .arg("--db")
        .arg(db)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if allow_requantize {
        command.arg("--allow-requantize");
    }
    let mut child = command
        .spawn()
        .map_err(|e| AppError::new("executor", format!("cannot start {}: {e}", binary.display())))?;
    let stderr = child.stderr.take();
    let stderr_text = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    });
    let mut written = Vec::new();
    let mut failure = None;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
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
        .map_err(|e| AppError::new("executor", format!("lost the quantize process: {e}")))?;
    let stderr = stderr_text.join().unwrap_or_default();
    if let Some(message) = failure {
        return Err(AppError::new("bad_input", message));
    }
    if written.is_empty() && !status.success() {
        let mut error = AppError::new("executor", format!("quantization failed ({status})"));
        error.details = Some(stderr);
        return Err(error);
    }
    Ok(written)
}
