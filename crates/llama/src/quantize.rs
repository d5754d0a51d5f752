//! llama.cpp's quantizer (`llama_model_quantize`), with progress read from its per-tensor log.

use std::ffi::CString;
use std::sync::mpsc::{Sender, channel};
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tradeoff_core::models::quantize::{QuantizeReport, QuantizeRequest};
use tradeoff_core::run::{ErrorClass, RunError};

use crate::backend::backend;

/// Quantizes `request.source` into `request.destination`, calling `progress(done, total)` as
/// tensors are written. The file is written under a temporary name and renamed at the end, so a
/// failed or killed quantization never leaves a half-written model where a model is expected.
pub fn quantize(
    request: &QuantizeRequest,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<QuantizeReport, RunError> {
    backend()?;
    let failure = |message: String| RunError::new(ErrorClass::Internal, message);
    let partial = request.destination.with_extension("gguf.partial");
    let source = path_cstring(&request.source)?;
    let destination = path_cstring(&partial)?;
    if let Some(parent) = request.destination.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| failure(format!("cannot create {}: {e}", parent.display())))?;
    }
    let file_type = request.file_type;
    let allow_requantize = request.allow_requantize;
    let threads = i32::try_from(request.threads).unwrap_or(1);
    let started = Instant::now();
    let (sender, updates) = channel();
    // llama.cpp logs each tensor from the thread that calls it; a subscriber scoped to that
    // thread turns those lines into progress without touching anyone else's logging.
    let worker = std::thread::spawn(move || {
        let subscriber = ProgressSubscriber {
            sender: sender.clone(),
        };
        let status = tracing::subscriber::with_default(subscriber, || {
            run_quantizer(&source, &destination, file_type, allow_requantize, threads)
        });
        let _ = sender.send(Update::Finished(status));
    });
    let mut warnings = Vec::new();
    let status = loop {
        match updates.recv() {
            Ok(Update::Progress(done, total)) => progress(done, total),
            Ok(Update::Warning(warning)) => {
                if !warnings.contains(&warning) {
                    warnings.push(warning);
                }
            }
            Ok(Update::Finished(status)) => break status,
            Err(_) => break Err("the quantizer thread ended without a result".to_string()),
        }
    };
    let _ = worker.join();
    if let Err(message) = status {
        let _ = std::fs::remove_file(&partial);
        return Err(failure(format!(
            "llama.cpp could not quantize {}: {message}",
            request.source.display()
        )));
    }
    std::fs::rename(&partial, &request.destination).map_err(|e| {
        failure(format!(
            "cannot move the quantized model to {}: {e}",
            request.destination.display()
        ))
    })?;
    let bytes = std::fs::metadata(&request.destination)
        .map(|m| m.len())
        .unwrap_or(0);
    Ok(QuantizeReport {
        destination: request.destination.clone(),
        bytes,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        warnings,
    })
}

#[allow(unsafe_code)]
fn run_quantizer(
    source: &CString,
    destination: &CString,
    file_type: u64,
    allow_requantize: bool,
    threads: i32,
) -> Result<(), String> {
    let ftype =
        llama_cpp_sys_2::llama_ftype::try_from(file_type).map_err(|_| format!("file type {file_type}"))?;
    // SAFETY: `llama_model_quantize_default_params` returns a plain struct by value whose
    // pointers are null; the paths are valid NUL-terminated strings that outlive the call and
    // `params` is only read by llama.cpp.
    let code = unsafe {
        let mut params = llama_cpp_sys_2::llama_model_quantize_default_params();
        params.ftype = ftype;
        params.nthread = threads;
        params.allow_requantize = allow_requantize;
        llama_cpp_sys_2::llama_model_quantize(source.as_ptr(), destination.as_ptr(), &params)
    };
    if code == 0 {
        Ok(())
    } else {
        Err(format!(
            "llama_model_quantize returned {code} (see the log above)"
        ))
    }
}

fn path_cstring(path: &std::path::Path) -> Result<CString, RunError> {
    CString::new(path.to_string_lossy().as_bytes()).map_err(|_| {
        RunError::new(
            ErrorClass::Internal,
            format!(
                "{}: a path with a NUL byte cannot be passed to llama.cpp",
                path.display()
            ),
        )
    })
}

enum Update {
    Progress(u32, u32),
    Warning(String),
    Finished(Result<(), String>),
}

struct ProgressSubscriber {
    sender: Sender<Update>,
}

/// llama.cpp warns once per tensor that falls back to another type, then sums it up
/// (`WARNING: 90 of 236 tensor(s) required fallback quantization`); llama-cpp-2 adds notes about
/// lines arriving in pieces. Only the summaries are worth a user's attention.
fn is_summary_warning(line: &str) -> bool {
    !(line.contains("buffered") || line.contains("falling back to") || line.contains("not divisible by"))
}

/// `[  12/ 236] blk.1.attn_k.weight - ...` → (12, 236).
fn tensor_progress(line: &str) -> Option<(u32, u32)> {
    let inside = line.trim_start().strip_prefix('[')?;
    let (counts, _) = inside.split_once(']')?;
    let (done, total) = counts.split_once('/')?;
    Some((done.trim().parse().ok()?, total.trim().parse().ok()?))
}

struct MessageText(String);

impl Visit for MessageText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" && self.0.is_empty() {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for ProgressSubscriber {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut text = MessageText(String::new());
        event.record(&mut text);
        if let Some((done, total)) = tensor_progress(&text.0) {
            let _ = self.sender.send(Update::Progress(done, total));
        } else if *event.metadata().level() <= tracing::Level::WARN && is_summary_warning(&text.0) {
            let _ = self.sender.send(Update::Warning(text.0.trim().to_string()));
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[cfg(test)]
mod tests {
    use super::tensor_progress;

    #[test]
    fn progress_is_read_from_llama_cpp_tensor_lines() {
        assert_eq!(
            tensor_progress(
                "[  12/ 236]                 blk.1.attn_k.weight - [  640,   256,     1,     1], type =   q8_0, "
            ),
            Some((12, 236))
        );
        assert_eq!(
            tensor_progress("llama_model_quantize_impl: model size = 241 MiB"),
            None
        );
    }
}
