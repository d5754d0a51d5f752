//! What a run measured and how it can fail: the vocabulary every layer shares (the finished run
//! itself, with its checks and attempts, is `execute::record::RunRecord`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a run measured. Raw llama.cpp perf counters are kept as they are and the rates derived
/// from them in one place, so a report can always be checked against the counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RunMetrics {
    /// Wall time from the request to the last token, in milliseconds. Never includes model
    /// loading or context creation, which are recorded separately.
    pub latency_ms: f64,
    /// Wall time from the request to the first generated token.
    pub ttft_ms: Option<f64>,
    /// Prompt tokens as the model's tokenizer counted them (including BOS).
    pub input_tokens: u32,
    /// Tokens generated, not counting the end-of-generation token.
    pub output_tokens: u32,
    /// llama.cpp's prompt-evaluation time and token count (`llama_perf_context`); for a remote
    /// llama.cpp server, the same counters from its `timings`.
    pub prompt_eval_ms: Option<f64>,
    pub prompt_eval_tokens: Option<u32>,
    /// llama.cpp's generation time and decode count (`llama_perf_context`). Remote: the server's
    /// counters where it reports them, else the client's time from the first to the last token
    /// and the tokens after the first, so the rate is the output rate after the first token.
    pub gen_eval_ms: Option<f64>,
    pub gen_eval_tokens: Option<u32>,
    /// The worker's peak resident memory since this run's model and context were set up
    /// (weights, KV cache and compute buffers as they were really touched).
    #[serde(default)]
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub peak_rss_bytes: Option<u64>,
    /// Memory of the KV cache of the context the run used.
    #[serde(default)]
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub kv_cache_bytes: Option<u64>,
    /// Wall time inside llama.cpp's decode calls: the engine's share of `latency_ms`; the rest
    /// is the runner's (tokenizing, sampling, detokenizing, stop sequences, streaming).
    #[serde(default)]
    pub decode_ms: Option<f64>,
    /// Prompt tokens taken from the KV cache instead of being evaluated (a `warm` run with
    /// prefix caching); 0 or `None` for a cold run.
    #[serde(default)]
    pub cached_tokens: Option<u32>,
    /// Throughput mode: how many runs were decoded together, and the wall time of that whole
    /// batch. Their latency and TTFT include waiting for each other, so they never mix with
    /// single-stream statistics (a config is either one or the other).
    #[serde(default)]
    pub batch_sequences: Option<u32>,
    #[serde(default)]
    pub batch_wall_ms: Option<f64>,
    /// Remote: when the first reasoning text arrived (providers that stream their reasoning).
    #[serde(default)]
    pub first_reasoning_ms: Option<f64>,
    /// Remote: `true` when the provider reported no usage and the token counts are estimates.
    #[serde(default)]
    pub tokens_estimated: Option<bool>,
    /// Remote: whether the request opened a new connection (`false`: it reused a pooled one,
    /// so its latency has no TCP/TLS handshake in it).
    #[serde(default)]
    pub new_connection: Option<bool>,
    /// Local: the CPU the rest of the machine used while the run decoded, in cores on average
    /// (Linux: `/proc/stat` less the worker's own time). Another program, the app's own window
    /// or a VM's neighbours (steal time) slow a run without a trace in its other numbers.
    #[serde(default)]
    pub other_cpu_cores: Option<f64>,
    /// Whether that was more than the run left free ([`contended`]): its timings measure the
    /// machine's load as well as the model.
    #[serde(default)]
    pub contended: Option<bool>,
    /// The model's confidence in what it wrote: the mean and the lowest natural-log probability
    /// of the generated tokens under its own distribution (temperature 1, before any sampler),
    /// local runs from the logits, remote ones from the server's `logprobs`. Routing policies
    /// escalate on them. `None` where nothing reported them (or nothing was generated).
    #[serde(default)]
    pub logprob_mean: Option<f64>,
    #[serde(default)]
    pub logprob_min: Option<f64>,
}

/// Adds up the log-probabilities of a run's generated tokens, one at a time as they come.
#[derive(Debug, Clone, Copy)]
pub struct LogprobTally {
    sum: f64,
    min: f64,
    count: u32,
}

impl Default for LogprobTally {
    fn default() -> Self {
        LogprobTally {
            sum: 0.0,
            min: f64::INFINITY,
            count: 0,
        }
    }
}

impl LogprobTally {
    pub fn add(&mut self, logprob: f64) {
        // A server may send nonsense (NaN, +inf): it is not a probability and is not counted.
        if logprob.is_nan() || logprob > 0.0 && logprob.is_infinite() {
            return;
        }
        let logprob = logprob.min(0.0);
        self.sum += logprob;
        self.min = self.min.min(logprob);
        self.count += 1;
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// The tally's `logprob_mean` and `logprob_min` on the run's metrics (absent when empty).
    pub fn record(&self, metrics: &mut RunMetrics) {
        if self.count > 0 {
            metrics.logprob_mean = Some(self.sum / f64::from(self.count));
            metrics.logprob_min = Some(self.min);
        }
    }
}

/// What others may use beside a run before its timings count as contended, in cores beyond those
/// the run's threads leave free. Not zero: the recording process itself and the kernel take a
/// little, and a run of a few hundred milliseconds is measured in 10 ms ticks.
pub const CONTENTION_ALLOWANCE_CORES: f64 = 0.25;

/// Whether a run with `threads` threads on a machine of `logical_cores` was slowed by others
/// using `other_cores` of the CPU.
pub fn contended(other_cores: f64, threads: u32, logical_cores: u32) -> bool {
    let free = f64::from(logical_cores.saturating_sub(threads));
    other_cores > free + CONTENTION_ALLOWANCE_CORES
}

impl RunMetrics {
    /// A run's wall time and token counts, every other measurement absent.
    pub fn new(latency_ms: f64, input_tokens: u32, output_tokens: u32) -> RunMetrics {
        RunMetrics {
            latency_ms,
            ttft_ms: None,
            input_tokens,
            output_tokens,
            prompt_eval_ms: None,
            prompt_eval_tokens: None,
            gen_eval_ms: None,
            gen_eval_tokens: None,
            peak_rss_bytes: None,
            kv_cache_bytes: None,
            decode_ms: None,
            cached_tokens: None,
            batch_sequences: None,
            batch_wall_ms: None,
            first_reasoning_ms: None,
            tokens_estimated: None,
            new_connection: None,
            other_cpu_cores: None,
            contended: None,
            logprob_mean: None,
            logprob_min: None,
        }
    }

    pub fn prompt_tokens_per_s(&self) -> Option<f64> {
        tokens_per_s(self.prompt_eval_tokens, self.prompt_eval_ms)
    }

    pub fn gen_tokens_per_s(&self) -> Option<f64> {
        tokens_per_s(self.gen_eval_tokens, self.gen_eval_ms)
    }
}

/// Tokens per second from a token count and the milliseconds they took.
pub fn tokens_per_s(tokens: Option<u32>, ms: Option<f64>) -> Option<f64> {
    match (tokens, ms) {
        (Some(tokens), Some(ms)) if tokens > 0 && ms > 0.0 => Some(f64::from(tokens) * 1000.0 / ms),
        _ => None,
    }
}

/// Why generation ended.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A stop sequence appeared; it is not part of the output.
    Stop,
    /// The model produced its end-of-generation token.
    EndOfText,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The context window filled up before any other reason applied.
    ContextFull,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::EndOfText => "end_of_text",
            FinishReason::MaxTokens => "max_tokens",
            FinishReason::ContextFull => "context_full",
        }
    }

    pub fn parse(text: &str) -> Option<FinishReason> {
        [
            FinishReason::Stop,
            FinishReason::EndOfText,
            FinishReason::MaxTokens,
            FinishReason::ContextFull,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }
}

/// Stable names for what went wrong, for reports and for the UI to switch on.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    ModelLoad,
    ContextCreate,
    /// The config would need more memory than the machine has available; refused before trying.
    InsufficientMemory,
    ContextOverflow,
    ChatTemplate,
    Template,
    Tokenize,
    Decode,
    WorkerCrashed,
    Internal,
    /// Remote: the server answered 429.
    RateLimited,
    /// Remote: a 5xx answer (or 408).
    ServerError,
    /// Remote: the connection could not be made in time.
    TimeoutConnect,
    /// Remote: no output text arrived in time.
    TimeoutFirstToken,
    /// Remote: the response did not end in time.
    TimeoutTotal,
    /// Remote: the connection closed or failed in the middle of the stream.
    StreamBroken,
    /// Remote: the server sent something that is not its API's wire format.
    BadResponse,
    /// Remote: the key is missing or was refused (401/403).
    Auth,
    /// Remote: the prompt and `max_tokens` do not fit the model's context window.
    ContextTooLong,
    /// Remote: no connection (refused, unreachable, DNS, TLS).
    Connect,
    /// Remote: another 4xx answer (unknown model, a parameter the server rejects…).
    BadRequest,
    /// A grader answered, but not with a verdict (PASS/FAIL or a JSON verdict).
    UnreadableVerdict,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 22] = [
        ErrorClass::ModelLoad,
        ErrorClass::ContextCreate,
        ErrorClass::InsufficientMemory,
        ErrorClass::ContextOverflow,
        ErrorClass::ChatTemplate,
        ErrorClass::Template,
        ErrorClass::Tokenize,
        ErrorClass::Decode,
        ErrorClass::WorkerCrashed,
        ErrorClass::Internal,
        ErrorClass::RateLimited,
        ErrorClass::ServerError,
        ErrorClass::TimeoutConnect,
        ErrorClass::TimeoutFirstToken,
        ErrorClass::TimeoutTotal,
        ErrorClass::StreamBroken,
        ErrorClass::BadResponse,
        ErrorClass::Auth,
        ErrorClass::ContextTooLong,
        ErrorClass::Connect,
        ErrorClass::BadRequest,
        ErrorClass::UnreadableVerdict,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::ModelLoad => "model_load",
            ErrorClass::ContextCreate => "context_create",
            ErrorClass::InsufficientMemory => "insufficient_memory",
            ErrorClass::ContextOverflow => "context_overflow",
            ErrorClass::ChatTemplate => "chat_template",
            ErrorClass::Template => "template",
            ErrorClass::Tokenize => "tokenize",
            ErrorClass::Decode => "decode",
            ErrorClass::WorkerCrashed => "worker_crashed",
            ErrorClass::Internal => "internal",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::ServerError => "server_error",
            ErrorClass::TimeoutConnect => "timeout_connect",
            ErrorClass::TimeoutFirstToken => "timeout_first_token",
            ErrorClass::TimeoutTotal => "timeout_total",
            ErrorClass::StreamBroken => "stream_broken",
            ErrorClass::BadResponse => "bad_response",
            ErrorClass::Auth => "auth",
            ErrorClass::ContextTooLong => "context_too_long",
            ErrorClass::Connect => "connect",
            ErrorClass::BadRequest => "bad_request",
            ErrorClass::UnreadableVerdict => "unreadable_verdict",
        }
    }

    pub fn parse(text: &str) -> Option<ErrorClass> {
        ErrorClass::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure recorded as data: the run exists, with its class and message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{class}: {message}")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RunError {
    pub class: ErrorClass,
    pub message: String,
}

impl RunError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        RunError {
            class,
            message: message.into(),
        }
    }
}
