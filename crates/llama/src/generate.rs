//! One generation on one sequence, measured with wall clocks and llama.cpp's perf counters, and
//! the pieces every generation shares (prompt tokens, sampler, errors).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use tradeoff_core::execute::engine::{GenerateError, GenerateRequest, Generation};
use tradeoff_core::run::{ErrorClass, FinishReason, LogprobTally, RunError, RunMetrics};
use tradeoff_core::spec::experiment::Sampling;

use crate::chat::prompt_text;
use crate::logprob::{lane_max, token_logprob};
use crate::output::TextAssembler;

/// The prompt's tokens (chat template applied, BOS included) and the warnings of how it was
/// made; refused when it leaves no room to generate in `n_ctx` (per sequence).
pub(crate) fn prompt_tokens(
    model: &LlamaModel,
    request: &GenerateRequest,
    n_ctx: usize,
) -> Result<(Vec<LlamaToken>, Vec<String>), RunError> {
    let (text, warnings) = prompt_text(model, &request.prompt, &request.chat_template)?;
    let tokens = model.vocab().tokenize(text.as_bytes(), true, true);
    if tokens.is_empty() {
        return Err(RunError::new(
            ErrorClass::Tokenize,
            "the prompt is empty after tokenization",
        ));
    }
    if tokens.len() >= n_ctx {
        let requested = request.load.context.n_ctx as usize;
        let padded = if requested == n_ctx {
            String::new()
        } else {
            format!(" (llama.cpp padded it to {n_ctx})")
        };
        return Err(RunError::new(
            ErrorClass::ContextOverflow,
            format!(
                "the prompt is {} tokens but n_ctx is {requested}{padded}, leaving no room to generate; raise n_ctx or shorten the prompt",
                tokens.len()
            ),
        ));
    }
    Ok((tokens, warnings))
}

/// Generates on sequence 0 of `ctx`. `cached` holds the tokens whose KV entries the context
/// still has from the previous run; with `reuse_prefix`, the longest common prefix of those and
/// this prompt is kept instead of evaluated again (a warm run, `cached_tokens` > 0).
pub(crate) fn generate_in(
    model: &LlamaModel,
    ctx: &mut LlamaContext<'_>,
    cached: &mut Vec<LlamaToken>,
    request: &GenerateRequest,
    on_text: &mut dyn FnMut(&str),
    cancel: &AtomicBool,
) -> Result<Generation, GenerateError> {
    let started = Instant::now();
    let n_ctx = ctx.n_ctx() as usize;
    let (tokens, warnings) = prompt_tokens(model, request, n_ctx)?;
    let vocab = model.vocab();

    // Settle anything still queued (a cancelled run's last decode) before the counters reset,
    // so this run's perf counters hold exactly this run's work.
    ctx.synchronize();
    let mut reused = 0;
    if request.load.context.prefix_cache {
        // At least the last prompt token is evaluated: its logits start the generation.
        let common = cached.iter().zip(&tokens).take_while(|(a, b)| a == b).count();
        reused = common.min(tokens.len() - 1);
    }
    let removed = reused > 0
        && ctx
            .clear_kv_cache_seq(Some(0), Some(reused as u32), None)
            .unwrap_or(false);
    if !removed {
        reused = 0;
        ctx.clear_kv_cache();
    }
    // From here `cached` describes the KV cache only up to `reused`; what this run adds is
    // appended when it succeeds (a failed run's extra entries are removed by the next one).
    cached.clear();
    cached.extend_from_slice(&tokens[..reused]);
    let mut decoded: Vec<LlamaToken> = Vec::with_capacity(tokens.len() - reused + 64);
    let mut decode_ms = 0.0;
    ctx.reset_timings();

    let mut picker = Picker::new(&request.sampling);
    let n_batch = (ctx.n_batch() as usize).max(1);
    let mut batch = LlamaBatch::new(n_batch, 1);
    let last = tokens.len() - 1;
    for (chunk_index, chunk) in tokens[reused..].chunks(n_batch).enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(GenerateError::Cancelled);
        }
        batch.clear();
        for (offset, token) in chunk.iter().enumerate() {
            let position = reused + chunk_index * n_batch + offset;
            add(&mut batch, *token, position, 0, position == last)?;
        }
        let decode_started = Instant::now();
        ctx.decode(&mut batch).map_err(|e| decode_error(e, "prompt"))?;
        decode_ms += elapsed_ms(decode_started);
        decoded.extend_from_slice(chunk);
    }

    let mut text = TextAssembler::new(&request.sampling.stop);
    let mut ttft_ms = None;
    let mut output_tokens: u32 = 0;
    let mut confidence = LogprobTally::default();
    let mut position = tokens.len();
    let mut logits_index = batch.n_tokens() - 1;
    let max_tokens = request.sampling.max_tokens;
    let finish_reason = loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(GenerateError::Cancelled);
        }
        let (token, logprob) = picker.pick(ctx, logits_index);
        if vocab.is_eog(token) {
            break FinishReason::EndOfText;
        }
        confidence.add(logprob);
        output_tokens += 1;
        if ttft_ms.is_none() {
            ttft_ms = Some(elapsed_ms(started));
        }
        let fed = text.push(&vocab, token);
        if !fed.emit.is_empty() {
            on_text(&fed.emit);
        }
        if fed.stopped {
            break FinishReason::Stop;
        }
        if output_tokens >= max_tokens {
            break FinishReason::MaxTokens;
        }
        if position >= n_ctx {
            break FinishReason::ContextFull;
        }
        batch.clear();
        add(&mut batch, token, position, 0, true)?;
        position += 1;
        let decode_started = Instant::now();
        ctx.decode(&mut batch)
            .map_err(|e| decode_error(e, "generation"))?;
        decode_ms += elapsed_ms(decode_started);
        decoded.push(token);
        logits_index = 0;
    };
    if finish_reason != FinishReason::Stop {
        let rest = text.finish();
        if !rest.is_empty() {
            on_text(&rest);
        }
    }
    let latency_ms = elapsed_ms(started);
    cached.extend(decoded);
    let timings = ctx.timings();
    let counter = |n: i32| u32::try_from(n).ok();
    let mut metrics = RunMetrics {
        ttft_ms,
        prompt_eval_ms: Some(timings.t_p_eval_ms()),
        prompt_eval_tokens: counter(timings.n_p_eval()),
        gen_eval_ms: Some(timings.t_eval_ms()),
        gen_eval_tokens: counter(timings.n_eval()),
        cached_tokens: request.load.context.prefix_cache.then_some(reused as u32),
        decode_ms: Some(decode_ms),
        // Memory is the worker's to add (it reads /proc after the run); the rest is remote.
        ..RunMetrics::new(latency_ms, tokens.len() as u32, output_tokens)
    };
    confidence.record(&mut metrics);
    Ok(Generation {
        output: text.into_output(),
        finish_reason,
        metrics,
        warnings,
    })
}

pub(crate) fn add(
    batch: &mut LlamaBatch,
    token: LlamaToken,
    position: usize,
    sequence: i32,
    logits: bool,
) -> Result<(), RunError> {
    batch
        .add(token, position as i32, &[sequence], logits)
        .map_err(|e| RunError::new(ErrorClass::Internal, format!("batch: {e}")))
}

/// Chooses each next token. Greedy decoding reads the logits directly: llama.cpp's sampler
/// copies all candidates (262,144 for Gemma) into a fresh array on every call, a cost that
/// counts against every generated token and grows with parallel sequences.
pub(crate) enum Picker {
    Greedy,
    Sampler(LlamaSampler),
}

impl Picker {
    pub(crate) fn new(settings: &Sampling) -> Picker {
        if settings.temperature <= 0.0 {
            Picker::Greedy
        } else {
            Picker::Sampler(sampler(settings))
        }
    }

    /// The next token from the logits at batch index `index`, and its log-probability under the
    /// model's own distribution (see `logprob`).
    pub(crate) fn pick(&mut self, ctx: &LlamaContext<'_>, index: i32) -> (LlamaToken, f64) {
        let logits = ctx.get_logits_ith(index);
        let max = lane_max(logits);
        let token = match self {
            // `sample` also accepts the token into the sampler chain (penalties, grammar); it
            // reads the logits without changing them.
            Picker::Sampler(sampler) => sampler.sample(ctx, index),
            Picker::Greedy => LlamaToken::new(first_position(logits, max) as i32),
        };
        let logprob = usize::try_from(token.0).map_or(f64::NEG_INFINITY, |t| token_logprob(logits, t, max));
        (token, logprob)
    }
}

/// The first position holding `max`, as llama.cpp's greedy sampler picks ties.
fn first_position(values: &[f32], max: f32) -> usize {
    values.iter().position(|v| *v == max).unwrap_or(0)
}

fn sampler(settings: &Sampling) -> LlamaSampler {
    let mut chain = Vec::new();
    if let Some(k) = settings.top_k {
        chain.push(LlamaSampler::top_k(i32::try_from(k).unwrap_or(i32::MAX)));
    }
    if let Some(p) = settings.top_p {
        chain.push(LlamaSampler::top_p(p, 1));
    }
    chain.push(LlamaSampler::temp(settings.temperature));
    chain.push(LlamaSampler::dist(settings.seed));
    LlamaSampler::chain_simple(chain)
}

pub(crate) fn decode_error(error: llama_cpp_2::DecodeError, phase: &str) -> RunError {
    RunError::new(
        ErrorClass::Decode,
        format!("llama.cpp decode failed during {phase}: {error}"),
    )
}

pub(crate) fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::first_position;
    use crate::logprob::lane_max;

    fn argmax(values: &[f32]) -> usize {
        first_position(values, lane_max(values))
    }

    #[test]
    fn argmax_finds_the_first_maximum_anywhere_in_the_vocabulary() {
        let mut logits = vec![0.0f32; 262_147];
        assert_eq!(argmax(&logits), 0, "ties go to the first");
        logits[70_001] = 3.5;
        logits[200_000] = 3.5;
        assert_eq!(argmax(&logits), 70_001);
        logits[262_146] = 9.0;
        assert_eq!(argmax(&logits), 262_146, "the remainder after the lanes counts");
        logits[5] = f32::NAN;
        assert_eq!(argmax(&logits), 262_146, "NaN is never the maximum");
    }
}
