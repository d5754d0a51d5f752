//! Anthropic Messages API (`POST {base_url}/messages`, streaming).

use serde_json::{Map, Value, json};

use super::RemoteTarget;
use super::provider::{
    Conversation, HttpRequest, Sensitive, StreamItem, StreamParser, add_counts, count_at, json, key_header,
};
use tradeoff_core::spec::experiment::Sampling;
use tradeoff_core::spec::prompt::RenderedPrompt;

pub(crate) const API_VERSION: &str = "2023-06-01";

pub(crate) fn prepare(
    target: &RemoteTarget,
    prompt: &RenderedPrompt,
    sampling: &Sampling,
    key: Option<&str>,
) -> (HttpRequest, Box<dyn StreamParser>) {
    let conversation = Conversation::of(prompt);
    let messages: Vec<Value> = conversation
        .turns
        .iter()
        .map(|(role, content)| json!({"role": role.as_str(), "content": content}))
        .collect();
    let mut body = Map::new();
    body.insert("model".into(), json!(target.model));
    body.insert("max_tokens".into(), json!(sampling.max_tokens));
    if let Some(system) = conversation.system {
        body.insert("system".into(), json!(system));
    }
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), json!(true));
    body.insert("temperature".into(), json!(sampling.temperature));
    if let Some(top_p) = sampling.top_p {
        body.insert("top_p".into(), json!(top_p));
    }
    if let Some(top_k) = sampling.top_k {
        body.insert("top_k".into(), json!(top_k));
    }
    if !sampling.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(sampling.stop));
    }
    let mut headers = vec![("anthropic-version", API_VERSION.to_string(), Sensitive::No)];
    if let Some(key) = key {
        let (name, value) = key_header(target.provider, key);
        headers.push((name, value, Sensitive::Yes));
    }
    let request = HttpRequest {
        url: format!("{}/messages", target.base_url),
        headers,
        body: Value::Object(body),
        warnings: conversation.warnings,
    };
    (request, Box::new(Parser))
}

struct Parser;

impl StreamParser for Parser {
    fn parse(&mut self, event: &str, data: &str) -> Result<Vec<StreamItem>, String> {
        let value = json(data)?;
        // The event name is repeated as `type` in the data; the data is what is parsed, so a
        // proxy that drops `event:` lines changes nothing.
        let kind = value.get("type").and_then(Value::as_str).unwrap_or(event);
        let items = match kind {
            "message_start" => {
                let usage = value.pointer("/message/usage");
                match usage {
                    Some(usage) => vec![usage_item(usage)?],
                    None => Vec::new(),
                }
            }
            "content_block_delta" => {
                let delta = value.get("delta");
                let text = |field: &str| {
                    delta
                        .and_then(|d| d.get(field))
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                        .map(str::to_string)
                };
                match delta.and_then(|d| d.get("type")).and_then(Value::as_str) {
                    Some("text_delta") => text("text").map(StreamItem::Text).into_iter().collect(),
                    Some("thinking_delta") => {
                        text("thinking").map(StreamItem::Reasoning).into_iter().collect()
                    }
                    _ => Vec::new(),
                }
            }
            "message_delta" => {
                let mut items = Vec::new();
                if let Some(reason) = value.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    items.push(StreamItem::Finish(reason.to_string()));
                }
                if let Some(usage) = value.get("usage") {
                    items.push(usage_item(usage)?);
                }
                items
            }
            "message_stop" => vec![StreamItem::Done],
            "error" => {
                let message = value
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error");
                let kind = value
                    .pointer("/error/type")
                    .and_then(Value::as_str)
                    .unwrap_or("error");
                vec![StreamItem::Error(format!("{kind}: {message}"))]
            }
            _ => Vec::new(),
        };
        Ok(items)
    }
}

/// Anthropic's usage: input tokens exclude cached ones, which are reported apart. Counts that
/// are no counts, or whose sum does not fit, are a bad response (see [`count_at`]).
fn usage_item(usage: &Value) -> Result<StreamItem, String> {
    let count = |pointer| count_at(usage, "usage", pointer);
    let uncached = count("/input_tokens")?;
    let cache_read = count("/cache_read_input_tokens")?;
    let cache_write = count("/cache_creation_input_tokens")?;
    let input = match uncached {
        Some(uncached) => Some(add_counts(&[
            ("usage.input_tokens", uncached),
            ("usage.cache_read_input_tokens", cache_read.unwrap_or(0)),
            ("usage.cache_creation_input_tokens", cache_write.unwrap_or(0)),
        ])?),
        None => None,
    };
    Ok(StreamItem::Usage {
        input,
        output: count("/output_tokens")?,
        cached_input: cache_read,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(data: &str) -> Result<Vec<StreamItem>, String> {
        Parser.parse("message_start", data)
    }

    #[test]
    fn usage_whose_input_and_cached_tokens_add_past_u32_max_is_a_bad_response_naming_the_fields() {
        let error = parse(
            r#"{"type":"message_start","message":{"usage":{"input_tokens":4294967295,"cache_read_input_tokens":1,"output_tokens":1}}}"#,
        )
        .unwrap_err();
        assert!(
            error.contains("`usage.input_tokens` 4294967295 + `usage.cache_read_input_tokens` 1"),
            "{error}"
        );
        assert!(error.contains("more than 4294967295"), "{error}");
    }

    #[test]
    fn usage_adds_cached_input_to_input_tokens_and_refuses_counts_that_are_no_counts() {
        let items = parse(
            r#"{"type":"message_start","message":{"usage":{"input_tokens":10,"cache_read_input_tokens":5,"cache_creation_input_tokens":2,"output_tokens":1}}}"#,
        )
        .unwrap();
        assert_eq!(
            items,
            [StreamItem::Usage {
                input: Some(17),
                output: Some(1),
                cached_input: Some(5),
            }]
        );
        for count in ["-1", "1.5", "4294967296"] {
            let error = Parser
                .parse(
                    "message_delta",
                    &format!(r#"{{"type":"message_delta","usage":{{"output_tokens":{count}}}}}"#),
                )
                .unwrap_err();
            assert!(error.contains("`usage.output_tokens`"), "{count}: {error}");
        }
    }
}
