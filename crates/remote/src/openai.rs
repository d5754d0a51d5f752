//! OpenAI-compatible servers: Chat Completions for chat-shaped variants, Completions for raw
//! prompts (base models served by llama-server or vLLM are used that way).

use serde_json::{Map, Value, json};

use super::RemoteTarget;
use super::provider::{HttpRequest, Sensitive, StreamItem, StreamParser, count_at, json, key_header};
use tradeoff_core::spec::experiment::Sampling;
use tradeoff_core::spec::prompt::RenderedPrompt;

pub(crate) fn prepare(
    target: &RemoteTarget,
    prompt: &RenderedPrompt,
    sampling: &Sampling,
    key: Option<&str>,
) -> (HttpRequest, Box<dyn StreamParser>) {
    let mut body = Map::new();
    body.insert("model".into(), json!(target.model));
    let (path, shape) = match prompt {
        RenderedPrompt::Chat { messages } => {
            let messages: Vec<Value> = messages
                .iter()
                .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
                .collect();
            body.insert("messages".into(), Value::Array(messages));
            ("chat/completions", Shape::Chat)
        }
        RenderedPrompt::Raw { prompt } => {
            body.insert("prompt".into(), json!(prompt));
            ("completions", Shape::Completion)
        }
    };
    body.insert("stream".into(), json!(true));
    if target.include_usage {
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    body.insert("max_tokens".into(), json!(sampling.max_tokens));
    body.insert("temperature".into(), json!(sampling.temperature));
    if let Some(top_p) = sampling.top_p {
        body.insert("top_p".into(), json!(top_p));
    }
    // Not in OpenAI's own API, but understood by llama-server, vLLM and others; sent only when
    // the experiment asks for it.
    if let Some(top_k) = sampling.top_k {
        body.insert("top_k".into(), json!(top_k));
    }
    body.insert("seed".into(), json!(sampling.seed));
    if !sampling.stop.is_empty() {
        body.insert("stop".into(), json!(sampling.stop));
    }
    if target.logprobs {
        // Chat Completions takes a flag; Completions the number of alternatives to list
        // besides the chosen token (1: the fewest every server accepts).
        let value = match shape {
            Shape::Chat => json!(true),
            Shape::Completion => json!(1),
        };
        body.insert("logprobs".into(), value);
    }
    let mut headers = Vec::new();
    if let Some(key) = key {
        let (name, value) = key_header(target.provider, key);
        headers.push((name, value, Sensitive::Yes));
    }
    let request = HttpRequest {
        url: format!("{}/{path}", target.base_url),
        headers,
        body: Value::Object(body),
        warnings: Vec::new(),
    };
    (request, Box::new(Parser { shape }))
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    Chat,
    Completion,
}

struct Parser {
    shape: Shape,
}

impl StreamParser for Parser {
    fn parse(&mut self, _event: &str, data: &str) -> Result<Vec<StreamItem>, String> {
        if data.trim() == "[DONE]" {
            return Ok(vec![StreamItem::Done]);
        }
        let value = json(data)?;
        let mut items = Vec::new();
        if let Some(error) = value.get("error") {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| error.to_string(), str::to_string);
            return Ok(vec![StreamItem::Error(message)]);
        }
        if let Some(choice) = value.pointer("/choices/0") {
            let text = match self.shape {
                Shape::Chat => choice.pointer("/delta/content"),
                Shape::Completion => choice.get("text"),
            };
            let reasoning = choice
                .pointer("/delta/reasoning_content")
                .or_else(|| choice.pointer("/delta/reasoning"));
            if let Some(reasoning) = reasoning.and_then(Value::as_str).filter(|t| !t.is_empty()) {
                items.push(StreamItem::Reasoning(reasoning.to_string()));
            }
            if let Some(text) = text.and_then(Value::as_str).filter(|t| !t.is_empty()) {
                items.push(StreamItem::Text(text.to_string()));
            }
            if let Some(logprobs) = choice.get("logprobs").filter(|l| !l.is_null()) {
                items.push(StreamItem::Logprobs(token_logprobs(logprobs)?));
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                items.push(StreamItem::Finish(reason.to_string()));
            }
        }
        if let Some(usage) = value.get("usage").filter(|u| u.is_object()) {
            let count = |pointer| count_at(usage, "usage", pointer);
            items.push(StreamItem::Usage {
                input: count("/prompt_tokens")?,
                output: count("/completion_tokens")?,
                cached_input: count("/prompt_tokens_details/cached_tokens")?,
            });
        }
        if let Some(timings) = value.get("timings") {
            let count = |pointer| count_at(timings, "timings", pointer);
            let ms = |name: &str| timings.get(name).and_then(Value::as_f64);
            // Counts are checked like usage: a cast would clamp 1e12 tokens to u32::MAX.
            let (prompt_n, predicted_n) = (count("/prompt_n")?, count("/predicted_n")?);
            if let (Some(pn), Some(pm), Some(gn), Some(gm)) =
                (prompt_n, ms("prompt_ms"), predicted_n, ms("predicted_ms"))
            {
                items.push(StreamItem::ServerTimings {
                    cached_tokens: count("/cache_n")?,
                    prompt_tokens: pn,
                    prompt_ms: pm,
                    predicted_tokens: gn,
                    predicted_ms: gm,
                });
            }
        }
        Ok(items)
    }
}

/// The chosen tokens' log-probabilities of one chunk: `content[].logprob` (Chat Completions,
/// and llama-server's Completions) or `token_logprobs[]` (OpenAI's legacy Completions).
fn token_logprobs(logprobs: &Value) -> Result<Vec<f64>, String> {
    let wrong = || format!("`logprobs` is not a list of token log-probabilities: {logprobs}");
    if let Some(content) = logprobs.get("content").filter(|c| !c.is_null()) {
        let entries = content.as_array().ok_or_else(wrong)?;
        return entries
            .iter()
            .map(|entry| entry.get("logprob").and_then(Value::as_f64).ok_or_else(wrong))
            .collect();
    }
    if let Some(values) = logprobs.get("token_logprobs") {
        let values = values.as_array().ok_or_else(wrong)?;
        // The first token of an echoed prompt has no probability (null): not a generated token.
        return Ok(values.iter().filter_map(Value::as_f64).collect());
    }
    Err(wrong())
}

#[cfg(test)]
mod tests {
    use super::token_logprobs;
    use serde_json::json;

    #[test]
    fn log_probabilities_are_read_from_chat_and_legacy_completion_chunks_and_nonsense_is_refused() {
        let chat = json!({"content": [{"token": "Ber", "logprob": -0.25, "bytes": [66], "top_logprobs": []}, {"token": "lin", "logprob": -0.0}]});
        assert_eq!(token_logprobs(&chat).unwrap(), [-0.25, 0.0]);
        let legacy = json!({"tokens": ["Ber", "lin"], "token_logprobs": [-1.5, -0.5], "top_logprobs": null});
        assert_eq!(token_logprobs(&legacy).unwrap(), [-1.5, -0.5]);
        let refused = token_logprobs(&json!({"content": [{"token": "x", "logprob": "high"}]})).unwrap_err();
        assert!(
            refused.contains("not a list of token log-probabilities"),
            "{refused}"
        );
        assert!(token_logprobs(&json!({"content": "nope"})).is_err());
    }
}
