//! Captures llama.cpp's own messages during one call, so that a failure can say *why*
//! (llama-cpp-2 only reports a null pointer when a model does not load), and so that facts
//! llama.cpp only logs (the size of the KV cache it allocated) can be recorded.

use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

const MAX_LINES: usize = 200;

/// What llama.cpp logged during one call.
#[derive(Debug, Clone, Default)]
pub(crate) struct Logs {
    /// Warnings and errors: the explanation of a failure.
    pub problems: Vec<String>,
    /// Informational lines.
    pub info: Vec<String>,
}

impl Logs {
    /// The KV cache memory llama.cpp reports having allocated (one line per cache; models with
    /// sliding-window layers have two). llama.cpp prints MiB with two decimals, so this is
    /// exact to about 10 KB.
    pub(crate) fn kv_cache_bytes(&self) -> Option<u64> {
        let mut total = None;
        for line in &self.info {
            let Some((_, rest)) = line.split_once("KV buffer size =") else {
                continue;
            };
            let mib: f64 = rest.trim().trim_end_matches("MiB").trim().parse().ok()?;
            *total.get_or_insert(0u64) += (mib * 1_048_576.0).round() as u64;
        }
        total
    }
}

#[derive(Debug, Clone, Default)]
struct Capture {
    logs: Arc<Mutex<Logs>>,
}

/// Runs `f` with this thread's tracing output captured; returns its result and what llama.cpp
/// logged meanwhile.
pub(crate) fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, Logs) {
    let capture = Capture::default();
    let logs = Arc::clone(&capture.logs);
    let result = tracing::subscriber::with_default(capture, f);
    let logs = std::mem::take(&mut *logs.lock().unwrap_or_else(PoisonError::into_inner));
    (result, logs)
}

struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.trim().to_string();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" && self.0.is_empty() {
            self.0 = format!("{value:?}").trim().to_string();
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::INFO
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        if message.0.is_empty() {
            return;
        }
        let mut logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        let lines = if *event.metadata().level() <= Level::WARN {
            &mut logs.problems
        } else {
            &mut logs.info
        };
        if lines.len() < MAX_LINES {
            lines.push(message.0);
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_cache_bytes_add_up_every_cache_llama_cpp_reports() {
        let logs = Logs {
            problems: vec![],
            info: vec![
                "llama_context:        CPU  output buffer size =     1.00 MiB".into(),
                "llama_kv_cache:        CPU KV buffer size =     6.00 MiB".into(),
                "llama_kv_cache:        CPU KV buffer size =    13.50 MiB".into(),
            ],
        };
        assert_eq!(logs.kv_cache_bytes(), Some(19 * 1_048_576 + 524_288));
        assert_eq!(Logs::default().kv_cache_bytes(), None);
    }
}
