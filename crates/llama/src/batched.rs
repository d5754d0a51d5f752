//! Throughput mode: several requests decoded together as parallel sequences of one context.
//!
//! Each sequence's prompt is evaluated on its own (its first token is sampled right away), then
//! every step decodes one token of every unfinished sequence in a single batch: the weights are
//! read once per step for all of them, which is where the aggregate speed comes from. A
//! sequence's TTFT and latency include waiting for the others, which is why these runs are
//! labelled and summarized apart from single-stream ones.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use tradeoff_core::execute::engine::{GenerateError, GenerateRequest, Generation};
use tradeoff_core::run::{FinishReason, LogprobTally, RunError, RunMetrics};

use crate::generate::{Picker, add, decode_error, elapsed_ms, prompt_tokens};
use crate::output::TextAssembler;

/// One request's generation on one sequence of a context, shared by throughput mode and serving.
pub(crate) struct Sequence {
    pub(crate) id: i32,
    pub(crate) picker: Picker,
    text: TextAssembler,
    input_tokens: u32,
    output_tokens: u32,
    max_tokens: u32,
    /// Where its next token goes in the sequence.
    pub(crate) position: usize,
    started: Instant,
    ttft_ms: Option<f64>,
    confidence: LogprobTally,
    /// The token to decode next, and where its logits will be in the step's batch.
    pub(crate) next: Option<(LlamaToken, i32)>,
    pub(crate) finished: Option<(FinishReason, f64)>,
    warnings: Vec<String>,
}

impl Sequence {
    /// A sequence whose `input_tokens` prompt tokens are (or are being) evaluated; its TTFT and
    /// latency count from `started` (when its request arrived).
    pub(crate) fn new(
        id: i32,
        request: &GenerateRequest,
        input_tokens: usize,
        warnings: Vec<String>,
        started: Instant,
    ) -> Sequence {
        Sequence {
            id,
            picker: Picker::new(&request.sampling),
            text: TextAssembler::new(&request.sampling.stop),
            input_tokens: input_tokens as u32,
            output_tokens: 0,
            max_tokens: request.sampling.max_tokens,
            position: input_tokens,
            started,
            ttft_ms: None,
            confidence: LogprobTally::default(),
            next: None,
            finished: None,
            warnings,
        }
    }

    /// What it generated and measured. `batch` is throughput mode's (sequences, wall ms):
    /// llama.cpp's perf counters cover the whole batch, not one sequence, so they are left out.
    pub(crate) fn into_generation(self, batch: Option<(u32, f64)>) -> Generation {
        let wall_ms = batch.map_or_else(|| elapsed_ms(self.started), |(_, wall)| wall);
        let (finish_reason, latency_ms) = self.finished.unwrap_or((FinishReason::MaxTokens, wall_ms));
        let mut metrics = RunMetrics {
            ttft_ms: self.ttft_ms,
            batch_sequences: batch.map(|(count, _)| count),
            batch_wall_ms: batch.map(|(_, wall)| wall),
            ..RunMetrics::new(latency_ms, self.input_tokens, self.output_tokens)
        };
        self.confidence.record(&mut metrics);
        Generation {
            output: self.text.into_output(),
            finish_reason,
            metrics,
            warnings: self.warnings,
        }
    }
}

/// Generates every request as its own sequence (ids 0..n) of `ctx`, which must hold
/// `requests.len()` sequences of `n_ctx` each.
pub(crate) fn generate_batch_in(
    model: &LlamaModel,
    ctx: &mut LlamaContext<'_>,
    requests: &[GenerateRequest],
    n_ctx: usize,
    cancel: &AtomicBool,
) -> Result<Vec<Result<Generation, RunError>>, GenerateError> {
    let started = Instant::now();
    let vocab = model.vocab();
    ctx.synchronize();
    ctx.clear_kv_cache();
    ctx.reset_timings();
    let n_batch = (ctx.n_batch() as usize).max(requests.len()).max(1);
    let mut batch = LlamaBatch::new(n_batch, requests.len().max(1) as i32);

    let mut sequences: Vec<Result<Sequence, RunError>> = Vec::with_capacity(requests.len());
    for (index, request) in requests.iter().enumerate() {
        let id = index as i32;
        let (tokens, warnings) = match prompt_tokens(model, request, n_ctx) {
            Ok(prompt) => prompt,
            Err(error) => {
                sequences.push(Err(error));
                continue;
            }
        };
        let last = tokens.len() - 1;
        for (chunk_index, chunk) in tokens.chunks(n_batch).enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return Err(GenerateError::Cancelled);
            }
            batch.clear();
            for (offset, token) in chunk.iter().enumerate() {
                let position = chunk_index * n_batch + offset;
                add(&mut batch, *token, position, id, position == last)?;
            }
            ctx.decode(&mut batch).map_err(|e| decode_error(e, "prompt"))?;
        }
        let mut sequence = Sequence::new(id, request, tokens.len(), warnings, started);
        // The prompt's logits are overwritten by the next decode: sample now.
        let picked = sequence.picker.pick(ctx, batch.n_tokens() - 1);
        accept(&mut sequence, picked, &vocab, n_ctx);
        sequences.push(Ok(sequence));
    }

    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(GenerateError::Cancelled);
        }
        batch.clear();
        for sequence in sequences.iter_mut().flatten() {
            if let Some((token, index)) = sequence.next.as_mut() {
                *index = batch.n_tokens();
                add(&mut batch, *token, sequence.position, sequence.id, true)?;
                sequence.position += 1;
            }
        }
        if batch.n_tokens() == 0 {
            break;
        }
        ctx.decode(&mut batch)
            .map_err(|e| decode_error(e, "generation"))?;
        for sequence in sequences.iter_mut().flatten() {
            if let Some((_, index)) = sequence.next.take() {
                let picked = sequence.picker.pick(ctx, index);
                accept(sequence, picked, &vocab, n_ctx);
            }
        }
    }

    let batch = Some((requests.len() as u32, elapsed_ms(started)));
    Ok(sequences
        .into_iter()
        .map(|sequence| Ok(sequence?.into_generation(batch)))
        .collect())
}

/// Takes a sampled token into its sequence: ends it (end of text, stop sequence, max tokens,
/// full context) or queues the token for the next step. Returns the text it released.
pub(crate) fn accept(
    sequence: &mut Sequence,
    (token, logprob): (LlamaToken, f64),
    vocab: &llama_cpp_2::vocab::LlamaVocab<'_>,
    n_ctx: usize,
) -> String {
    let finish = |sequence: &mut Sequence, reason: FinishReason| {
        let rest = if reason == FinishReason::Stop {
            String::new()
        } else {
            sequence.text.finish()
        };
        sequence.finished = Some((reason, elapsed_ms(sequence.started)));
        rest
    };
    if vocab.is_eog(token) {
        return finish(sequence, FinishReason::EndOfText);
    }
    sequence.confidence.add(logprob);
    sequence.output_tokens += 1;
    if sequence.ttft_ms.is_none() {
        sequence.ttft_ms = Some(elapsed_ms(sequence.started));
    }
    let fed = sequence.text.push(vocab, token);
    let mut emitted = fed.emit;
    if fed.stopped {
        finish(sequence, FinishReason::Stop);
        return emitted;
    }
    if sequence.output_tokens >= sequence.max_tokens {
        emitted.push_str(&finish(sequence, FinishReason::MaxTokens));
        return emitted;
    }
    if sequence.position >= n_ctx {
        emitted.push_str(&finish(sequence, FinishReason::ContextFull));
        return emitted;
    }
    sequence.next = Some((token, 0));
    emitted
}
