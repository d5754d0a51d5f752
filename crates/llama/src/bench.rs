//! pp and tg repetitions timed as llama-bench times them (see `tradeoff_core::execute::bench`).

use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use tradeoff_core::run::{ErrorClass, RunError};

/// Random token ids: the speed of a decode does not depend on which tokens it sees, and
/// llama-bench uses random ones too. Fixed seed, so every bench decodes the same tokens.
pub(crate) struct TokenSource {
    state: u64,
    n_vocab: u64,
}

impl TokenSource {
    pub(crate) fn new(model: &LlamaModel) -> TokenSource {
        TokenSource {
            state: 0x9E37_79B9_7F4A_7C15,
            n_vocab: u64::try_from(model.n_vocab()).unwrap_or(1).max(1),
        }
    }

    fn next(&mut self) -> LlamaToken {
        // xorshift64
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        LlamaToken::new(i32::try_from(self.state % self.n_vocab).unwrap_or(0))
    }
}

/// Processes `n_prompt` tokens (BOS first) in batches of the context's `n_batch`; returns the
/// wall time in nanoseconds up to llama.cpp's synchronization.
pub(crate) fn time_prompt(
    model: &LlamaModel,
    ctx: &mut LlamaContext<'_>,
    tokens: &mut TokenSource,
    n_prompt: u32,
) -> Result<u64, RunError> {
    let n_prompt = n_prompt as usize;
    let n_batch = (ctx.n_batch() as usize).max(1);
    let mut batch = LlamaBatch::new(n_batch, 1);
    ctx.clear_kv_cache();
    ctx.synchronize();
    let started = Instant::now();
    let mut position = 0;
    while position < n_prompt {
        batch.clear();
        let end = (position + n_batch).min(n_prompt);
        for p in position..end {
            let token = if p == 0 {
                model.vocab().bos()
            } else {
                tokens.next()
            };
            // As llama_batch_get_one: logits for the last token of each batch only.
            batch
                .add(token, p as i32, &[0], p + 1 == end)
                .map_err(|e| internal(format!("batch: {e}")))?;
        }
        ctx.decode(&mut batch)
            .map_err(|e| RunError::new(ErrorClass::Decode, format!("bench pp decode: {e}")))?;
        position = end;
    }
    ctx.synchronize();
    Ok(elapsed_ns(started))
}

/// Generates `n_gen` tokens one decode at a time without sampling (the next token is random);
/// returns the wall time in nanoseconds.
pub(crate) fn time_generation(
    model: &LlamaModel,
    ctx: &mut LlamaContext<'_>,
    tokens: &mut TokenSource,
    n_gen: u32,
) -> Result<u64, RunError> {
    let mut batch = LlamaBatch::new(1, 1);
    ctx.clear_kv_cache();
    ctx.synchronize();
    let started = Instant::now();
    let mut token = model.vocab().bos();
    for position in 0..n_gen {
        batch.clear();
        batch
            .add(token, position as i32, &[0], true)
            .map_err(|e| internal(format!("batch: {e}")))?;
        ctx.decode(&mut batch)
            .map_err(|e| RunError::new(ErrorClass::Decode, format!("bench tg decode: {e}")))?;
        ctx.synchronize();
        token = tokens.next();
    }
    Ok(elapsed_ns(started))
}

fn elapsed_ns(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn internal(message: String) -> RunError {
    RunError::new(ErrorClass::Internal, message)
}
