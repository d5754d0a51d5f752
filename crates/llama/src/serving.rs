//! Serving: continuous batching of requests that arrive at any time, as llama-server's slots do.
//!
//! The context holds `slots` sequences of `n_ctx` tokens each. Every step builds one batch: the
//! next token of every sequence that is generating, then as many prompt tokens of newly admitted
//! requests as the batch has room for. A request joins between two steps and leaves when it
//! ends, its slot's KV entries cleared for the next one; the weights are read once per step for
//! all of them, which is where the aggregate speed comes from.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use tradeoff_core::execute::engine::{GenerateRequest, Generation};
use tradeoff_core::run::{ErrorClass, RunError};

use crate::batched::{Sequence, accept};
use crate::generate::{add, decode_error, prompt_tokens};

/// What the serving loop receives.
pub(crate) enum ServeMessage {
    /// A request to generate; `cancel` ends it early (the client went away).
    Submit {
        id: u64,
        request: Box<GenerateRequest>,
        cancel: Arc<AtomicBool>,
        /// When it reached the worker: its TTFT and latency count from here.
        arrived: Instant,
    },
    /// The session is over: requests still running end as cancelled.
    End,
}

/// Where the serving loop gets requests and sends what they produce.
pub(crate) trait ServeChannel {
    /// The next message; waits for one when `wait`, else `None` when there is none yet.
    fn next(&mut self, wait: bool) -> Option<ServeMessage>;
    /// Text request `id` produced since the last call (never part of a stop sequence).
    fn text(&mut self, id: u64, text: String) -> std::io::Result<()>;
    /// Request `id` ended: its generation, or why not.
    fn finished(&mut self, id: u64, result: Result<Generation, RunError>) -> std::io::Result<()>;
}

/// A request in a slot.
struct Active {
    id: u64,
    cancel: Arc<AtomicBool>,
    sequence: Sequence,
    prompt: Vec<LlamaToken>,
    /// Prompt tokens evaluated so far.
    evaluated: usize,
    /// Where the last prompt token's logits are in this step's batch.
    first_logits: Option<i32>,
}

/// Serves requests from `channel` on `ctx` (which holds `slots` sequences of `n_ctx` tokens)
/// until it ends. Returns an error only when the channel cannot be written any more.
pub(crate) fn serve_in(
    model: &LlamaModel,
    ctx: &mut LlamaContext<'_>,
    slots: usize,
    n_ctx: usize,
    channel: &mut dyn ServeChannel,
) -> std::io::Result<()> {
    let vocab = model.vocab();
    ctx.synchronize();
    ctx.clear_kv_cache();
    let n_batch = (ctx.n_batch() as usize).max(slots).max(1);
    let mut batch = LlamaBatch::new(n_batch, slots.max(1) as i32);
    let mut active: Vec<Option<Active>> = (0..slots).map(|_| None).collect();
    let mut ending = false;
    loop {
        // Admit what arrived; wait only when nothing is running.
        while !ending && active.iter().any(Option::is_none) {
            let idle = active.iter().all(Option::is_none);
            match channel.next(idle) {
                None => break,
                Some(ServeMessage::End) => ending = true,
                Some(ServeMessage::Submit {
                    id,
                    request,
                    cancel,
                    arrived,
                }) => {
                    let Some(free) = active.iter().position(Option::is_none) else {
                        break;
                    };
                    match prompt_tokens(model, &request, n_ctx) {
                        Ok((prompt, warnings)) => {
                            let seq = free as i32;
                            let _ = ctx.clear_kv_cache_seq(Some(seq as u32), None, None);
                            active[free] = Some(Active {
                                id,
                                cancel,
                                sequence: Sequence::new(seq, &request, prompt.len(), warnings, arrived),
                                prompt,
                                evaluated: 0,
                                first_logits: None,
                            });
                        }
                        Err(error) => channel.finished(id, Err(error))?,
                    }
                }
            }
        }
        if ending {
            for slot in active.iter_mut() {
                if let Some(request) = slot.take() {
                    channel.finished(request.id, Err(cancelled()))?;
                }
            }
            ctx.clear_kv_cache();
            return Ok(());
        }
        // A request whose client went away leaves now.
        for (index, slot) in active.iter_mut().enumerate() {
            if slot.as_ref().is_some_and(|r| r.cancel.load(Ordering::Relaxed))
                && let Some(request) = slot.take()
            {
                let _ = ctx.clear_kv_cache_seq(Some(index as u32), None, None);
                channel.finished(request.id, Err(cancelled()))?;
            }
        }
        if active.iter().all(Option::is_none) {
            continue;
        }

        // One batch: every generating sequence's next token, then prompt tokens while room.
        batch.clear();
        let mut room = n_batch;
        let mut failed = None;
        for request in active.iter_mut().flatten() {
            let sequence = &mut request.sequence;
            if let Some((token, index)) = sequence.next.as_mut() {
                *index = batch.n_tokens();
                if let Err(e) = add(&mut batch, *token, sequence.position, sequence.id, true) {
                    failed = Some(e);
                    break;
                }
                sequence.position += 1;
                room -= 1;
            }
        }
        for request in active.iter_mut().flatten() {
            if failed.is_some() || room == 0 {
                break;
            }
            let remaining = request.prompt.len() - request.evaluated;
            if remaining == 0 {
                continue;
            }
            let take = remaining.min(room);
            let last = request.prompt.len() - 1;
            for position in request.evaluated..request.evaluated + take {
                if let Err(e) = add(
                    &mut batch,
                    request.prompt[position],
                    position,
                    request.sequence.id,
                    position == last,
                ) {
                    failed = Some(e);
                    break;
                }
            }
            request.evaluated += take;
            if request.evaluated == request.prompt.len() {
                // Its first token is sampled from this batch, at the last index added.
                request.first_logits = Some(batch.n_tokens() - 1);
            }
            room -= take;
        }
        let outcome = match failed {
            Some(error) => Err(error),
            None => ctx.decode(&mut batch).map_err(|e| decode_error(e, "serving")),
        };
        if let Err(error) = outcome {
            // The step is lost for every sequence in it: each ends with the error.
            for (index, slot) in active.iter_mut().enumerate() {
                if let Some(request) = slot.take() {
                    let _ = ctx.clear_kv_cache_seq(Some(index as u32), None, None);
                    channel.finished(request.id, Err(error.clone()))?;
                }
            }
            continue;
        }

        for (index, slot) in active.iter_mut().enumerate() {
            let Some(request) = slot.as_mut() else {
                continue;
            };
            let sequence = &mut request.sequence;
            let logits = match (sequence.next.take(), request.first_logits.take()) {
                (Some((_, at)), _) | (None, Some(at)) => at,
                (None, None) => continue,
            };
            let picked = sequence.picker.pick(ctx, logits);
            // Every token's text goes out as it comes, as llama-server streams: a client's
            // inter-token times are the model's, not a batching interval's.
            let emitted = accept(sequence, picked, &vocab, n_ctx);
            let done = sequence.finished.is_some();
            if !emitted.is_empty() {
                channel.text(request.id, emitted)?;
            }
            if done && let Some(request) = slot.take() {
                let _ = ctx.clear_kv_cache_seq(Some(index as u32), None, None);
                channel.finished(request.id, Ok(request.sequence.into_generation(None)))?;
            }
        }
    }
}

fn cancelled() -> RunError {
    RunError::new(ErrorClass::Internal, "cancelled: the client went away")
}
