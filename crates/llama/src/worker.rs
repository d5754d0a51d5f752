//! The worker side of [`tradeoff_core::execute::worker_protocol`]: serves requests with a
//! [`LlamaEngine`] until its input closes.
//!
//! Requests are read on their own thread so that a `Cancel` arrives while a generation runs on
//! the serving thread. Replies are written by the serving thread only, one line each, flushed.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::time::{Duration, Instant};

use tradeoff_core::execute::engine::{GenerateError, LocalEngine};
use tradeoff_core::execute::worker_protocol::{PROTOCOL_VERSION, Reply, Request};
use tradeoff_core::run::{ErrorClass, RunError};

use crate::LlamaEngine;

/// Streamed text is sent at most this often.
const TEXT_INTERVAL: Duration = Duration::from_millis(20);

/// What the reading thread hands to the serving thread.
enum Incoming {
    Request(Request, Arc<AtomicBool>),
    Malformed(String),
}

/// Serves requests from `input` until it closes (the parent's way of saying goodbye), writing
/// replies to `output`. Returns an error only when `output` is gone.
pub fn serve(input: impl BufRead + Send + 'static, mut output: impl Write) -> std::io::Result<()> {
    let mut engine = LlamaEngine::new();
    write_reply(
        &mut output,
        &Reply::Hello {
            protocol: PROTOCOL_VERSION,
            pid: std::process::id(),
            build_info: engine.build_info(),
            cpu_backend: crate::backend::cpu_backend().cloned(),
        },
    )?;
    let (sender, incoming) = channel();
    std::thread::spawn(move || read_requests(input, &sender));
    for message in incoming {
        let (request, cancel) = match message {
            Incoming::Request(request, cancel) => (request, cancel),
            Incoming::Malformed(message) => {
                let error = RunError::new(ErrorClass::Internal, format!("malformed request: {message}"));
                write_reply(&mut output, &Reply::Failed(error))?;
                continue;
            }
        };
        if matches!(
            request,
            Request::Bench(_) | Request::Generate { .. } | Request::GenerateBatch { .. }
        ) {
            die_if_fault_injected();
        }
        let reply = match request {
            Request::Load(load) => match engine.load(&load) {
                Ok(report) => Reply::Loaded(report),
                Err(error) => Reply::Failed(error),
            },
            Request::Unload => {
                engine.unload();
                Reply::Unloaded
            }
            Request::Tokenize {
                load,
                prompt,
                chat_template,
            } => match engine.count_prompt_tokens(&load, &prompt, &chat_template) {
                Ok((count, warnings)) => Reply::Tokens { count, warnings },
                Err(error) => Reply::Failed(error),
            },
            Request::Bench(bench) => match engine.bench(&bench) {
                Ok(samples) => Reply::Benched(samples),
                Err(error) => Reply::Failed(error),
            },
            Request::Quantize(quantize) => {
                let mut write_error = None;
                let result = crate::quantize::quantize(&quantize, &mut |done, total| {
                    if write_error.is_none()
                        && let Err(e) = write_reply(&mut output, &Reply::Progress { done, total })
                    {
                        write_error = Some(e);
                    }
                });
                if let Some(error) = write_error {
                    return Err(error);
                }
                match result {
                    Ok(report) => Reply::Quantized(report),
                    Err(error) => Reply::Failed(error),
                }
            }
            Request::GenerateBatch { requests, .. } => match engine.generate_batch(&requests, &cancel) {
                Ok(results) => Reply::GeneratedBatch { results },
                Err(GenerateError::Cancelled) => Reply::Cancelled,
                Err(GenerateError::Failed(error)) => Reply::Failed(error),
            },
            Request::Generate { request, .. } => {
                // Text goes out in pieces of at most ~20 ms, not a line per token: a write and a
                // wake-up of the parent per token would count against every run's latency.
                let mut pending = String::new();
                let mut last_write = Instant::now();
                let mut write_error = None;
                let result = engine.generate(
                    &request,
                    &mut |text| {
                        pending.push_str(text);
                        if write_error.is_none() && last_write.elapsed() >= TEXT_INTERVAL {
                            last_write = Instant::now();
                            let reply = Reply::Text {
                                text: std::mem::take(&mut pending),
                            };
                            if let Err(e) = write_reply(&mut output, &reply) {
                                // Nobody is listening any more: stop generating.
                                cancel.store(true, Ordering::Relaxed);
                                write_error = Some(e);
                            }
                        }
                    },
                    &cancel,
                );
                if let Some(error) = write_error {
                    return Err(error);
                }
                if !pending.is_empty() {
                    write_reply(&mut output, &Reply::Text { text: pending })?;
                }
                match result {
                    Ok(generation) => Reply::Generated(generation),
                    Err(GenerateError::Cancelled) => Reply::Cancelled,
                    Err(GenerateError::Failed(error)) => Reply::Failed(error),
                }
            }
            // Handled by the reading thread.
            Request::Cancel { .. } => continue,
        };
        write_reply(&mut output, &reply)?;
    }
    Ok(())
}

fn read_requests(input: impl BufRead, sender: &Sender<Incoming>) {
    // Only the newest generation can be running: requests are served in order.
    let mut current: Option<(u64, Arc<AtomicBool>)> = None;
    for line in input.lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let message = match serde_json::from_str::<Request>(&line) {
            Err(e) => Incoming::Malformed(format!("{e}: {line}")),
            Ok(Request::Cancel { id }) => {
                if let Some((current_id, flag)) = &current
                    && *current_id == id
                {
                    flag.store(true, Ordering::Relaxed);
                }
                continue;
            }
            Ok(request) => {
                let flag = Arc::new(AtomicBool::new(false));
                if let Request::Generate { id, .. } | Request::GenerateBatch { id, .. } = &request {
                    current = Some((*id, Arc::clone(&flag)));
                }
                Incoming::Request(request, flag)
            }
        };
        if sender.send(message).is_err() {
            return;
        }
    }
    // The parent closed our input: stop what is running, then the serving loop ends.
    if let Some((_, flag)) = current {
        flag.store(true, Ordering::Relaxed);
    }
}

fn write_reply(output: &mut impl Write, reply: &Reply) -> std::io::Result<()> {
    let line = serde_json::to_string(reply).map_err(std::io::Error::other)?;
    writeln!(output, "{line}")?;
    output.flush()
}

/// Fault injection for the tests of the CPU self-test (tests/worker.rs): a worker whose CPU
/// variant is named by this variable dies by SIGILL when asked to compute, exactly as a worker
/// on a CPU path that cannot run here does. Unset in normal use.
pub const FAULT_SIGILL_CPU_VARIANT: &str = "TRADEOFF_FAULT_SIGILL_CPU_VARIANT";

#[allow(unsafe_code)]
fn die_if_fault_injected() {
    let Ok(variant) = std::env::var(FAULT_SIGILL_CPU_VARIANT) else {
        return;
    };
    if crate::backend::cpu_backend().is_ok_and(|cpu| cpu.variant == variant) {
        // SAFETY: raise() only delivers a signal to this process; SIGILL's default action ends it.
        unsafe {
            libc::raise(libc::SIGILL);
        }
    }
}
