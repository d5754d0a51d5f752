//! The OpenAI wire format as `tradeoff serve` speaks it: requests read into a prompt and the
//! sampling overrides the API lets a client choose, and responses and stream chunks written
//! from a generation. Fields that would change what was measured in ways the served config
//! cannot honour (`n > 1`, tools, penalties, log-probabilities) are refused by name rather than
//! ignored.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};
use tradeoff_core::execute::engine::Generation;
use tradeoff_core::run::FinishReason;
use tradeoff_core::spec::experiment::Sampling;
use tradeoff_core::spec::file::Role;
use tradeoff_core::spec::prompt::{ChatMessage, RenderedPrompt};

use crate::error::ApiError;

/// OpenAI's own bound on stop sequences.
const MAX_STOP: usize = 4;
const MAX_STOP_BYTES: usize = 256;
/// Messages in one chat request.
const MAX_MESSAGES: usize = 1024;

/// What every request may set, with OpenAI's names.
#[derive(Debug, Default, Deserialize)]
pub struct Overrides {
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub max_tokens: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    pub stop: Option<Stop>,
    pub seed: Option<i64>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub n: Option<u32>,
    pub model: Option<String>,
    // Accepted only at the values that change nothing.
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub logprobs: Option<Value>,
    pub tools: Option<Value>,
    pub functions: Option<Value>,
    pub response_format: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<WireMessage>,
    #[serde(flatten)]
    pub overrides: Overrides,
}

#[derive(Debug, Deserialize)]
pub struct WireMessage {
    pub role: String,
    pub content: Content,
}

/// A message's content: text, or parts of which only text ones are served.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Value>),
}

#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    pub prompt: Prompt,
    #[serde(flatten)]
    pub overrides: Overrides,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    One(String),
    Many(Vec<String>),
}

/// `POST /v1/variants/{id}/completions`: the winner's own template filled with `vars`.
#[derive(Debug, Deserialize)]
pub struct VariantRequest {
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    #[serde(flatten)]
    pub overrides: Overrides,
}

/// Reads a JSON body into `T`, the error saying where it is wrong.
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("the request body: {e}")))
}

impl ChatRequest {
    pub fn prompt(&self) -> Result<RenderedPrompt, ApiError> {
        if self.messages.is_empty() {
            return Err(ApiError::bad_request("invalid_messages", "`messages` is empty"));
        }
        if self.messages.len() > MAX_MESSAGES {
            return Err(ApiError::bad_request(
                "invalid_messages",
                format!(
                    "`messages` has {} entries; at most {MAX_MESSAGES}",
                    self.messages.len()
                ),
            ));
        }
        let messages = self
            .messages
            .iter()
            .enumerate()
            .map(|(index, message)| {
                let role = match message.role.as_str() {
                    "system" | "developer" => Role::System,
                    "user" => Role::User,
                    "assistant" => Role::Assistant,
                    other => {
                        return Err(ApiError::bad_request(
                            "invalid_messages",
                            format!("messages[{index}].role `{other}`: served roles are system, developer, user and assistant"),
                        ));
                    }
                };
                let content = match &message.content {
                    Content::Text(text) => text.clone(),
                    Content::Parts(parts) => parts
                        .iter()
                        .map(|part| match (part["type"].as_str(), part["text"].as_str()) {
                            (Some("text"), Some(text)) => Ok(text),
                            _ => Err(ApiError::bad_request(
                                "invalid_messages",
                                format!("messages[{index}].content: only text parts are served"),
                            )),
                        })
                        .collect::<Result<Vec<&str>, ApiError>>()?
                        .join(""),
                };
                Ok(ChatMessage { role, content })
            })
            .collect::<Result<Vec<ChatMessage>, ApiError>>()?;
        Ok(RenderedPrompt::Chat { messages })
    }
}

impl CompletionRequest {
    pub fn prompt(&self) -> Result<RenderedPrompt, ApiError> {
        let prompt = match &self.prompt {
            Prompt::One(text) => text.clone(),
            Prompt::Many(texts) if texts.len() == 1 => texts[0].clone(),
            Prompt::Many(texts) => {
                return Err(ApiError::bad_request(
                    "invalid_prompt",
                    format!("`prompt` has {} prompts; send one per request", texts.len()),
                ));
            }
        };
        Ok(RenderedPrompt::Raw { prompt })
    }
}

impl Overrides {
    /// The winner's sampling with what this request may change, checked.
    pub fn sampling(&self, defaults: &Sampling, n_ctx: u32) -> Result<Sampling, ApiError> {
        let refuse = |field: &str, why: &str| -> Result<Sampling, ApiError> {
            Err(ApiError::bad_request(
                "unsupported_parameter",
                format!("`{field}`: {why}"),
            ))
        };
        if self.n.is_some_and(|n| n != 1) {
            return refuse("n", "one completion per request is served");
        }
        for (field, value) in [
            ("presence_penalty", self.presence_penalty),
            ("frequency_penalty", self.frequency_penalty),
        ] {
            if value.is_some_and(|v| v != 0.0) {
                return refuse(field, "the winner was measured without penalties");
            }
        }
        if self
            .logprobs
            .as_ref()
            .is_some_and(|v| v != &Value::Bool(false) && !v.is_null())
        {
            return refuse("logprobs", "log-probabilities are not served yet");
        }
        for (field, value) in [
            ("tools", &self.tools),
            ("functions", &self.functions),
            ("response_format", &self.response_format),
        ] {
            if value.as_ref().is_some_and(|v| !v.is_null()) {
                return refuse(field, "not served: the winner answers with its own prompt only");
            }
        }
        let mut sampling = defaults.clone();
        if let Some(temperature) = self.temperature {
            if !(0.0..=2.0).contains(&temperature) {
                return refuse("temperature", "must be between 0 and 2");
            }
            sampling.temperature = temperature;
        }
        if let Some(top_p) = self.top_p {
            if !(top_p > 0.0 && top_p <= 1.0) {
                return refuse("top_p", "must be above 0 and at most 1");
            }
            sampling.top_p = Some(top_p);
        }
        if let Some(max) = self.max_completion_tokens.or(self.max_tokens) {
            if max == 0 || max >= n_ctx {
                return Err(ApiError::bad_request(
                    "unsupported_parameter",
                    format!("`max_tokens` {max}: must be at least 1 and below the served n_ctx of {n_ctx}"),
                ));
            }
            sampling.max_tokens = max;
        }
        if let Some(stop) = &self.stop {
            let stop = match stop {
                Stop::One(one) => vec![one.clone()],
                Stop::Many(many) => many.clone(),
            };
            if stop.len() > MAX_STOP || stop.iter().any(|s| s.is_empty() || s.len() > MAX_STOP_BYTES) {
                return refuse("stop", "at most 4 sequences, each of 1 to 256 bytes");
            }
            sampling.stop = stop;
        }
        if let Some(seed) = self.seed {
            let Ok(seed) = u32::try_from(seed) else {
                return refuse("seed", "must be between 0 and 4294967295");
            };
            sampling.seed = seed;
        }
        Ok(sampling)
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options.as_ref().is_some_and(|o| o.include_usage)
    }
}

/// OpenAI's finish reasons: a stop sequence or end of text is `stop`; a limit is `length`.
pub fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::EndOfText => "stop",
        FinishReason::MaxTokens | FinishReason::ContextFull => "length",
    }
}

/// Which response shape: Chat Completions or (text) Completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Chat,
    Text,
}

/// What every response and chunk of one request carries.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub shape: Shape,
}

impl Envelope {
    fn object(&self, chunk: bool) -> &'static str {
        match (self.shape, chunk) {
            (Shape::Chat, false) => "chat.completion",
            (Shape::Chat, true) => "chat.completion.chunk",
            (Shape::Text, _) => "text_completion",
        }
    }

    /// The whole response of a request that did not stream.
    pub fn response(&self, generation: &Generation) -> Value {
        let reason = finish_reason(generation.finish_reason);
        let choice = match self.shape {
            Shape::Chat => json!({
                "index": 0,
                "message": {"role": "assistant", "content": generation.output},
                "logprobs": null,
                "finish_reason": reason,
            }),
            Shape::Text => json!({
                "index": 0, "text": generation.output, "logprobs": null, "finish_reason": reason,
            }),
        };
        json!({
            "id": self.id,
            "object": self.object(false),
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": usage(generation),
        })
    }

    /// A chunk of streamed text (`first`: the chat chunk that also names the role).
    pub fn text_chunk(&self, text: &str, first: bool) -> Value {
        let choice = match self.shape {
            Shape::Chat if first => {
                json!({"index": 0, "delta": {"role": "assistant", "content": text}, "logprobs": null, "finish_reason": null})
            }
            Shape::Chat => {
                json!({"index": 0, "delta": {"content": text}, "logprobs": null, "finish_reason": null})
            }
            Shape::Text => json!({"index": 0, "text": text, "logprobs": null, "finish_reason": null}),
        };
        self.chunk(vec![choice], None)
    }

    /// The last chunk with a choice: its finish reason.
    pub fn finish_chunk(&self, generation: &Generation) -> Value {
        let reason = finish_reason(generation.finish_reason);
        let choice = match self.shape {
            Shape::Chat => json!({"index": 0, "delta": {}, "logprobs": null, "finish_reason": reason}),
            Shape::Text => json!({"index": 0, "text": "", "logprobs": null, "finish_reason": reason}),
        };
        self.chunk(vec![choice], None)
    }

    /// `stream_options.include_usage`: a chunk with no choices and the usage.
    pub fn usage_chunk(&self, generation: &Generation) -> Value {
        self.chunk(Vec::new(), Some(usage(generation)))
    }

    fn chunk(&self, choices: Vec<Value>, usage: Option<Value>) -> Value {
        let mut chunk = json!({
            "id": self.id,
            "object": self.object(true),
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        if let Some(usage) = usage {
            chunk["usage"] = usage;
        }
        chunk
    }
}

fn usage(generation: &Generation) -> Value {
    let metrics = &generation.metrics;
    json!({
        "prompt_tokens": metrics.input_tokens,
        "completion_tokens": metrics.output_tokens,
        "total_tokens": metrics.input_tokens + metrics.output_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Sampling {
        Sampling {
            temperature: 0.0,
            top_p: None,
            top_k: Some(40),
            seed: 1,
            max_tokens: 64,
            stop: vec!["\n".into()],
        }
    }

    #[test]
    fn a_request_overrides_only_what_the_api_lets_it_and_keeps_the_winners_other_defaults() {
        let chat: ChatRequest = parse(
            br#"{"model": "x", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.7, "max_tokens": 12, "stop": "END", "seed": 5, "user": "someone"}"#,
        )
        .unwrap();
        let sampling = chat.overrides.sampling(&defaults(), 512).unwrap();
        assert_eq!(sampling.temperature, 0.7);
        assert_eq!(sampling.max_tokens, 12);
        assert_eq!(sampling.stop, ["END"]);
        assert_eq!(sampling.seed, 5);
        assert_eq!(sampling.top_k, Some(40), "top_k is not OpenAI's to set");
        let untouched: ChatRequest = parse(br#"{"messages": [{"role": "user", "content": "hi"}]}"#).unwrap();
        assert_eq!(
            untouched.overrides.sampling(&defaults(), 512).unwrap(),
            defaults()
        );
    }

    #[test]
    fn fields_the_served_config_cannot_honour_are_refused_by_name() {
        for (body, field) in [
            (r#""n": 2"#, "`n`"),
            (r#""presence_penalty": 0.5"#, "`presence_penalty`"),
            (r#""logprobs": true"#, "`logprobs`"),
            (r#""tools": [{"type": "function"}]"#, "`tools`"),
            (r#""temperature": 3"#, "`temperature`"),
            (r#""max_tokens": 512"#, "`max_tokens` 512"),
            (r#""stop": ["a", "b", "c", "d", "e"]"#, "`stop`"),
            (r#""seed": -1"#, "`seed`"),
        ] {
            let chat: ChatRequest =
                parse(format!(r#"{{"messages": [{{"role": "user", "content": "hi"}}], {body}}}"#).as_bytes())
                    .unwrap();
            let error = chat.overrides.sampling(&defaults(), 512).unwrap_err();
            assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(error.message.starts_with(field), "{body}: {}", error.message);
        }
        let tool: ChatRequest = parse(br#"{"messages": [{"role": "tool", "content": "42"}]}"#).unwrap();
        assert!(
            tool.prompt()
                .unwrap_err()
                .message
                .contains("messages[0].role `tool`")
        );
        let broken = parse::<ChatRequest>(b"{\"messages\": [").unwrap_err();
        assert!(broken.message.contains("line 1"), "{}", broken.message);
    }

    #[test]
    fn chat_messages_keep_their_roles_and_text_parts_join() {
        let chat: ChatRequest = parse(
            br#"{"messages": [{"role": "developer", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]}"#,
        )
        .unwrap();
        let RenderedPrompt::Chat { messages } = chat.prompt().unwrap() else {
            panic!("a chat prompt")
        };
        assert_eq!(messages[0].role, Role::System);
        assert_eq!(messages[1].content, "ab");
    }
}
