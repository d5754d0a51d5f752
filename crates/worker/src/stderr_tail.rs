//! The last lines a worker wrote to stderr: when it dies, they usually say why (ggml's assertion
//! message, an out-of-memory report), so they go into the failed run's message.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

const MAX_LINES: usize = 20;
const MAX_LINE_CHARS: usize = 400;

#[derive(Debug, Clone, Default)]
pub(crate) struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
}

impl StderrTail {
    /// Reads `stderr` until it closes, passing every line on to our own stderr (the worker's
    /// log messages are the user's diagnostics) and keeping the last ones.
    pub(crate) fn collect(&self, stderr: impl Read + Send + 'static) -> JoinHandle<()> {
        let lines = Arc::clone(&self.lines);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut buffer = Vec::new();
            loop {
                buffer.clear();
                match reader.read_until(b'\n', &mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let _ = std::io::stderr().write_all(&buffer);
                let line = String::from_utf8_lossy(&buffer);
                let line: String = line.trim_end().chars().take(MAX_LINE_CHARS).collect();
                if line.is_empty() {
                    continue;
                }
                let mut lines = lines.lock().unwrap_or_else(PoisonError::into_inner);
                if lines.len() == MAX_LINES {
                    lines.pop_front();
                }
                lines.push_back(line);
            }
        })
    }

    pub(crate) fn text(&self) -> String {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }
}
