//! What every provider module supplies: the request for a prompt, and a parser of its stream.

use serde_json::Value;

use super::{ProviderKind, RemoteTarget, anthropic, gemini, openai};
use crate::experiment::Sampling;
use crate::prompt::RenderedPrompt;

/// A request ready to send: URL, headers (the key among them) and JSON body.
#[derive(Debug)]
pub(crate) struct HttpRequest {
    pub url: String,
    /// Headers besides `content-type`; the ones holding a key are marked sensitive when sent.
    pub headers: Vec<(&'static str, String, Sensitive)>,
    pub body: Value,
    /// Notes recorded with the run (a raw prompt sent as a user message, say).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sensitive {
    Yes,
    No,
}

/// What one server-sent event carried.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// Output text. Empty pieces are never produced: they do not count as a first token.
    Text(String),
    /// Reasoning text, streamed by some providers before the answer; not part of the output.
    Reasoning(String),
    /// Token usage as the provider reports it. Fields the event does not mention are `None`;
    /// later reports replace earlier ones field by field (Anthropic sends usage in two events).
    Usage {
        input: Option<u32>,
        output: Option<u32>,
        cached_input: Option<u32>,
    },
    /// llama.cpp server's own counters (`timings`).
    ServerTimings {
        /// Prompt tokens reused from the server's cache (`cache_n`).
        cached_tokens: Option<u32>,
        prompt_tokens: u32,
        prompt_ms: f64,
        predicted_tokens: u32,
        predicted_ms: f64,
    },
    /// The provider's reason for ending, as it names it.
    Finish(String),
    /// The stream is complete (`[DONE]`, `message_stop`).
    Done,
    /// The server reported an error inside the stream.
    Error(String),
}

/// Parses one provider's events. One parser per attempt: some keep state across events.
pub(crate) trait StreamParser: Send {
    /// `event` is the SSE event name (`message` when the server names none).
    fn parse(&mut self, event: &str, data: &str) -> Result<Vec<StreamItem>, String>;

    /// Whether the stream may end without an explicit done marker once it sent a finish reason
    /// (Gemini has no done marker).
    fn finish_ends_stream(&self) -> bool {
        false
    }
}

/// The request and parser for a target and prompt.
pub(crate) fn prepare(
    target: &RemoteTarget,
    prompt: &RenderedPrompt,
    sampling: &Sampling,
    key: Option<&str>,
) -> (HttpRequest, Box<dyn StreamParser>) {
    let (mut request, parser) = match target.provider {
        ProviderKind::Openai => openai::prepare(target, prompt, sampling, key),
        ProviderKind::Anthropic => anthropic::prepare(target, prompt, sampling, key),
        ProviderKind::Gemini => gemini::prepare(target, prompt, sampling, key),
    };
    // Validation keeps reserved fields out of `extra_body`, so nothing Tradeoff set is replaced.
    if let Value::Object(body) = &mut request.body {
        for (name, value) in &target.extra_body {
            body.entry(name.clone()).or_insert_with(|| value.clone());
        }
    }
    (request, parser)
}

/// Parses a `data:` payload as JSON, with a message that quotes the start of what came.
pub(crate) fn json(data: &str) -> Result<Value, String> {
    serde_json::from_str(data).map_err(|error| {
        let shown: String = data.chars().take(120).collect();
        format!("malformed JSON in the stream ({error}): {shown}")
    })
}

pub(crate) fn u32_at(value: &Value, pointer: &str) -> Option<u32> {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

/// A raw prompt sent to an API that only takes messages.
pub(crate) const RAW_AS_USER_MESSAGE: &str =
    "raw prompt sent as a single user message: this provider has no completion endpoint";
