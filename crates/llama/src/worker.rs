//! The worker side of [`tradeoff_core::execute::worker_protocol`]: serves requests with a
//! [`LlamaEngine`] until its input closes.
//!
//! Requests are read on their own thread so that a `Cancel` arrives while a generation runs on
//! the serving thread. Replies are written by the serving thread only, one line each, flushed.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::{Duration, Instant};

use tradeoff_core::execute::engine::{GenerateError, Generation, LocalEngine};
use tradeoff_core::execute::worker_protocol::{PROTOCOL_VERSION, Reply, Request};
use tradeoff_core::run::{ErrorClass, RunError};

use crate::LlamaEngine;
use crate::serving::{ServeChannel, ServeMessage};

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
    while let Ok(message) = incoming.recv() {
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
            Request::Bench(_) | Request::Generate { .. } | Request::GenerateBatch { .. } | Request::Serve(_)
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
            Request::Serve(load) => match engine.load(&load) {
                Ok(report) => {
                    write_reply(&mut output, &Reply::Serving(report))?;
                    let mut session = Session {
                        incoming: &incoming,
                        output: &mut output,
                    };
                    engine.serve(&load, &mut session)?;
                    Reply::ServeEnded
                }
                Err(error) => Reply::Failed(error),
            },
            Request::Submit { id, .. } => Reply::Served {
                id,
                result: Err(outside_session()),
            },
            // No session is running: there is nothing to end.
            Request::EndServe => Reply::ServeEnded,
            // Handled by the reading thread.
            Request::Cancel { .. } => continue,
        };
        write_reply(&mut output, &reply)?;
    }
    Ok(())
}

/// A serving session's side of the protocol: submissions from the reading thread, text and
/// results to the parent.
struct Session<'a, W: Write> {
    incoming: &'a Receiver<Incoming>,
    output: &'a mut W,
}

impl<W: Write> ServeChannel for Session<'_, W> {
    fn next(&mut self, wait: bool) -> Option<ServeMessage> {
        loop {
            let message = if wait {
                self.incoming.recv().map_err(|_| TryRecvError::Disconnected)
            } else {
                self.incoming.try_recv()
            };
            let refused = match message {
                Err(TryRecvError::Empty) => return None,
                // The parent closed our input: the session ends with it.
                Err(TryRecvError::Disconnected) => return Some(ServeMessage::End),
                Ok(Incoming::Request(Request::Submit { id, request }, cancel)) => {
                    return Some(ServeMessage::Submit {
                        id,
                        request: Box::new(request),
                        cancel,
                        arrived: Instant::now(),
                    });
                }
                Ok(Incoming::Request(Request::EndServe, _)) => return Some(ServeMessage::End),
                Ok(Incoming::Request(Request::Cancel { .. }, _)) => continue,
                Ok(Incoming::Request(other, _)) => RunError::new(
                    ErrorClass::Internal,
                    format!("{other:?} cannot be served while a serving session runs; end it first"),
                ),
                Ok(Incoming::Malformed(message)) => {
                    RunError::new(ErrorClass::Internal, format!("malformed request: {message}"))
                }
            };
            // A write that fails here fails again at the next text or result, which ends the session.
            let _ = write_reply(self.output, &Reply::Failed(refused));
        }
    }

    fn text(&mut self, id: u64, text: String) -> std::io::Result<()> {
        write_reply(self.output, &Reply::Streamed { id, text })
    }

    fn finished(&mut self, id: u64, result: Result<Generation, RunError>) -> std::io::Result<()> {
        write_reply(self.output, &Reply::Served { id, result })
    }
}

fn outside_session() -> RunError {
    RunError::new(
        ErrorClass::Internal,
        "a submission outside a serving session: send `serve` first",
    )
}

fn read_requests(input: impl BufRead, sender: &Sender<Incoming>) {
    // Only the newest generation can be running: requests are served in order. Submissions
    // of a serving session run side by side, each cancelled by its own id.
    let mut current: Option<(u64, Arc<AtomicBool>)> = None;
    let mut submitted: HashMap<u64, Arc<AtomicBool>> = HashMap::new();
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
                if let Some(flag) = submitted.get(&id) {
                    flag.store(true, Ordering::Relaxed);
                }
                continue;
            }
            Ok(request) => {
                let flag = Arc::new(AtomicBool::new(false));
                match &request {
                    Request::Generate { id, .. } | Request::GenerateBatch { id, .. } => {
                        current = Some((*id, Arc::clone(&flag)));
                    }
                    Request::Submit { id, .. } => {
                        // Submissions the serving loop has let go of need no cancelling.
                        submitted.retain(|_, flag| Arc::strong_count(flag) > 1);
                        submitted.insert(*id, Arc::clone(&flag));
                    }
                    _ => {}
                }
                Incoming::Request(request, flag)
            }
        };
        if sender.send(message).is_err() {
            return;
        }
    }
    // The parent closed our input: stop what is running, then the serving loop ends.
    for flag in current
        .map(|(_, flag)| flag)
        .into_iter()
        .chain(submitted.into_values())
    {
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
