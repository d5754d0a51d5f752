//! What every provider module supplies: the request for a prompt, and a parser of its stream.

use serde_json::Value;

use super::ProviderKind;
use tradeoff_core::spec::file::Role;
use tradeoff_core::spec::prompt::RenderedPrompt;

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
    /// The log-probabilities of the tokens of this event's text (OpenAI-compatible `logprobs`).
    Logprobs(Vec<f64>),
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

/// Parses a `data:` payload as JSON, with a message that quotes what came. The quote is whole:
/// it may hold a key, and the error is shortened only after redaction (`Redactor::error`).
pub(crate) fn json(data: &str) -> Result<Value, String> {
    serde_json::from_str(data).map_err(|error| format!("malformed JSON in the stream ({error}): {data}"))
}

/// The token count at `pointer` in `object` (`usage`, `timings`, …, named for errors): `None`
/// when the field is absent or not a number. A number that cannot be a count (negative,
/// fractional, past `u32::MAX`) is a bad response: token counts are what users trust, so one is
/// never clamped, wrapped or quietly dropped for an estimate.
pub(crate) fn count_at(value: &Value, object: &str, pointer: &str) -> Result<Option<u32>, String> {
    let Some(number) = value.pointer(pointer).filter(|v| v.is_number()) else {
        return Ok(None);
    };
    let count = match number.as_u64() {
        Some(n) => u32::try_from(n).ok(),
        // Some servers write counts as floats (`12.0`): whole ones in range are counts too.
        None => number
            .as_f64()
            .filter(|n| n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(n))
            .map(|n| n as u32),
    };
    count.map(Some).ok_or_else(|| {
        format!(
            "the server reported {number} as `{}`, which is not a token count (a whole number up to {})",
            field_name(object, pointer),
            u32::MAX
        )
    })
}

/// The sum of token counts the server reported, each with its field's name: a sum past
/// `u32::MAX` means the counts are wrong, and is a bad response naming them.
pub(crate) fn add_counts(counts: &[(&str, u32)]) -> Result<u32, String> {
    counts
        .iter()
        .try_fold(0u32, |sum, (_, n)| sum.checked_add(*n))
        .ok_or_else(|| {
            let terms: Vec<String> = counts.iter().map(|(name, n)| format!("`{name}` {n}")).collect();
            format!(
                "the server reported token counts that add up to more than {}: {}",
                u32::MAX,
                terms.join(" + ")
            )
        })
}

/// `usage` and `/prompt_tokens_details/cached_tokens` → `usage.prompt_tokens_details.cached_tokens`.
pub(crate) fn field_name(object: &str, pointer: &str) -> String {
    format!("{object}{}", pointer.replace('/', "."))
}

/// A raw prompt sent to an API that only takes messages.
pub(crate) const RAW_AS_USER_MESSAGE: &str =
    "raw prompt sent as a single user message: this provider has no completion endpoint";

/// The header that carries a provider's key, and its value.
pub(crate) fn key_header(provider: ProviderKind, key: &str) -> (&'static str, String) {
    match provider {
        ProviderKind::Openai => ("authorization", format!("Bearer {key}")),
        ProviderKind::Anthropic => ("x-api-key", key.to_string()),
        ProviderKind::Gemini => ("x-goog-api-key", key.to_string()),
    }
}

/// A prompt for an API that takes the system prompt apart from the turns (Anthropic, Gemini).
pub(crate) struct Conversation<'a> {
    /// System messages joined by blank lines; `None` without any.
    pub system: Option<String>,
    pub turns: Vec<(Role, &'a str)>,
    pub warnings: Vec<String>,
}

impl<'a> Conversation<'a> {
    /// A raw prompt becomes one user turn, with a warning: these APIs have no completion endpoint.
    pub fn of(prompt: &'a RenderedPrompt) -> Conversation<'a> {
        match prompt {
            RenderedPrompt::Chat { messages } => {
                let system: Vec<&str> = messages
                    .iter()
                    .filter(|m| m.role == Role::System)
                    .map(|m| m.content.as_str())
                    .collect();
                Conversation {
                    system: (!system.is_empty()).then(|| system.join("\n\n")),
                    turns: messages
                        .iter()
                        .filter(|m| m.role != Role::System)
                        .map(|m| (m.role, m.content.as_str()))
                        .collect(),
                    warnings: Vec::new(),
                }
            }
            RenderedPrompt::Raw { prompt } => Conversation {
                system: None,
                turns: vec![(Role::User, prompt.as_str())],
                warnings: vec![RAW_AS_USER_MESSAGE.to_string()],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradeoff_core::spec::prompt::ChatMessage;

    #[test]
    fn system_messages_go_apart_and_a_raw_prompt_becomes_one_user_turn_with_a_warning() {
        let message = |role, content: &str| ChatMessage {
            role,
            content: content.into(),
        };
        let chat = RenderedPrompt::Chat {
            messages: vec![
                message(Role::System, "Be brief."),
                message(Role::User, "Q"),
                message(Role::Assistant, "A"),
                message(Role::System, "JSON only."),
                message(Role::User, "Q2"),
            ],
        };
        let c = Conversation::of(&chat);
        assert_eq!(c.system.as_deref(), Some("Be brief.\n\nJSON only."));
        assert_eq!(
            c.turns,
            [(Role::User, "Q"), (Role::Assistant, "A"), (Role::User, "Q2")]
        );
        assert!(c.warnings.is_empty());
        let raw = RenderedPrompt::Raw {
            prompt: "Text:".into(),
        };
        let c = Conversation::of(&raw);
        assert_eq!((c.system, c.turns), (None, vec![(Role::User, "Text:")]));
        assert_eq!(c.warnings, [RAW_AS_USER_MESSAGE]);
    }
}
