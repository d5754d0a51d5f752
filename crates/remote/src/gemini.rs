//! Google Gemini (`POST {base_url}/models/{model}:streamGenerateContent?alt=sse`).

use serde_json::{Map, Value, json};

use super::RemoteTarget;
use super::provider::{
    Conversation, HttpRequest, Sensitive, StreamItem, StreamParser, add_counts, count_at, json, key_header,
};
use tradeoff_core::spec::experiment::Sampling;
use tradeoff_core::spec::file::Role;
use tradeoff_core::spec::prompt::RenderedPrompt;

pub(crate) fn prepare(
    target: &RemoteTarget,
    prompt: &RenderedPrompt,
    sampling: &Sampling,
    key: Option<&str>,
) -> (HttpRequest, Box<dyn StreamParser>) {
    let conversation = Conversation::of(prompt);
    // Gemini calls the assistant `model`.
    let contents: Vec<Value> = conversation
        .turns
        .iter()
        .map(|(role, text)| {
            let role = if *role == Role::Assistant { "model" } else { "user" };
            json!({"role": role, "parts": [{"text": text}]})
        })
        .collect();
    let mut generation = Map::new();
    generation.insert("temperature".into(), json!(sampling.temperature));
    generation.insert("maxOutputTokens".into(), json!(sampling.max_tokens));
    generation.insert("seed".into(), json!(sampling.seed));
    if let Some(top_p) = sampling.top_p {
        generation.insert("topP".into(), json!(top_p));
    }
    if let Some(top_k) = sampling.top_k {
        generation.insert("topK".into(), json!(top_k));
    }
    if !sampling.stop.is_empty() {
        generation.insert("stopSequences".into(), json!(sampling.stop));
    }
    let mut body = Map::new();
    if let Some(system) = conversation.system {
        body.insert("systemInstruction".into(), json!({"parts": [{"text": system}]}));
    }
    body.insert("contents".into(), Value::Array(contents));
    body.insert("generationConfig".into(), Value::Object(generation));
    let mut headers = Vec::new();
    if let Some(key) = key {
        let (name, value) = key_header(target.provider, key);
        headers.push((name, value, Sensitive::Yes));
    }
    let request = HttpRequest {
        url: format!(
            "{}/models/{}:streamGenerateContent?alt=sse",
            target.base_url, target.model
        ),
        headers,
        body: Value::Object(body),
        warnings: conversation.warnings,
    };
    (request, Box::new(Parser))
}

struct Parser;

impl StreamParser for Parser {
    fn parse(&mut self, _event: &str, data: &str) -> Result<Vec<StreamItem>, String> {
        let value = json(data)?;
        if let Some(error) = value.get("error") {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            return Ok(vec![StreamItem::Error(message.to_string())]);
        }
        let mut items = Vec::new();
        if let Some(candidate) = value.pointer("/candidates/0") {
            let parts = candidate.pointer("/content/parts").and_then(Value::as_array);
            for part in parts.into_iter().flatten() {
                let Some(text) = part.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) else {
                    continue;
                };
                if part.get("thought").and_then(Value::as_bool) == Some(true) {
                    items.push(StreamItem::Reasoning(text.to_string()));
                } else {
                    items.push(StreamItem::Text(text.to_string()));
                }
            }
            if let Some(reason) = candidate.get("finishReason").and_then(Value::as_str) {
                items.push(StreamItem::Finish(reason.to_string()));
            }
        }
        if let Some(usage) = value.get("usageMetadata") {
            let count = |pointer| count_at(usage, "usageMetadata", pointer);
            // Thinking tokens are billed as output.
            let output = match (count("/candidatesTokenCount")?, count("/thoughtsTokenCount")?) {
                (None, None) => None,
                (answer, thoughts) => Some(add_counts(&[
                    ("usageMetadata.candidatesTokenCount", answer.unwrap_or(0)),
                    ("usageMetadata.thoughtsTokenCount", thoughts.unwrap_or(0)),
                ])?),
            };
            items.push(StreamItem::Usage {
                input: count("/promptTokenCount")?,
                output,
                cached_input: count("/cachedContentTokenCount")?,
            });
        }
        Ok(items)
    }

    fn finish_ends_stream(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_whose_answer_and_thought_tokens_add_past_u32_max_is_a_bad_response_naming_the_fields() {
        let error = Parser
            .parse(
                "message",
                r#"{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":4294967295,"thoughtsTokenCount":1}}"#,
            )
            .unwrap_err();
        assert!(
            error.contains(
                "`usageMetadata.candidatesTokenCount` 4294967295 + `usageMetadata.thoughtsTokenCount` 1"
            ),
            "{error}"
        );
        let items = Parser
            .parse(
                "message",
                r#"{"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":3,"thoughtsTokenCount":2}}"#,
            )
            .unwrap();
        assert_eq!(
            items,
            [StreamItem::Usage {
                input: Some(7),
                output: Some(5),
                cached_input: None,
            }]
        );
    }
}
