//! A remote target: a model API reached over HTTP (OpenAI-compatible servers, Anthropic,
//! Gemini), where its requests go and within which limits.

use serde::{Deserialize, Serialize};

use super::{is_variable_name, looks_like_a_key, same_origin};

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenAI-compatible server: OpenAI, vLLM, llama.cpp's llama-server, Ollama, LM Studio…
    Openai,
    Anthropic,
    Gemini,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 3] = [
        ProviderKind::Openai,
        ProviderKind::Anthropic,
        ProviderKind::Gemini,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
        }
    }

    pub fn parse(text: &str) -> Option<ProviderKind> {
        ProviderKind::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// `openai, anthropic or gemini`: every provider, for messages that list them.
    pub fn names() -> String {
        let names: Vec<&str> = ProviderKind::ALL.iter().map(|p| p.as_str()).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }

    /// How people name the wire format (the app's provider menus).
    pub fn label(self) -> &'static str {
        match self {
            ProviderKind::Openai => "OpenAI-compatible",
            ProviderKind::Anthropic => "Anthropic",
            ProviderKind::Gemini => "Gemini",
        }
    }

    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::Openai => "https://api.openai.com/v1",
            ProviderKind::Anthropic => "https://api.anthropic.com/v1",
            ProviderKind::Gemini => "https://generativelanguage.googleapis.com/v1beta",
        }
    }

    /// The variable a key is looked up under when the target names none: only for the
    /// provider's own API (its default URL's origin). The provider's key sent to any other
    /// `base_url` would go to whoever runs that server, and a self-hosted one usually needs no
    /// key; a target that wants one there names its variable.
    pub fn default_key_variable(self, base_url: &str) -> Option<&'static str> {
        if !same_origin(base_url, self.default_base_url()) {
            return None;
        }
        Some(match self {
            ProviderKind::Openai => "OPENAI_API_KEY",
            ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
            ProviderKind::Gemini => "GEMINI_API_KEY",
        })
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated remote target: where to send requests and within which limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteTarget {
    pub provider: ProviderKind,
    /// The provider's model name.
    pub model: String,
    /// Without a trailing slash.
    pub base_url: String,
    /// The environment variable (and keyring entry) holding the key; `None`: no key is sent.
    pub api_key_env: Option<String>,
    pub max_concurrency: u32,
    pub requests_per_minute: Option<u32>,
    /// Attempts per run, the first included.
    pub max_attempts: u32,
    pub timeouts: Timeouts,
    /// OpenAI-compatible servers: ask for usage in the stream.
    pub include_usage: bool,
    /// OpenAI-compatible servers: ask for the generated tokens' log-probabilities (`logprobs`),
    /// recorded as each run's confidence. Off unless asked: some models refuse the field.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub logprobs: bool,
    /// Fields added to every request body (server-specific settings).
    #[serde(default)]
    pub extra_body: serde_json::Map<String, serde_json::Value>,
}

impl RemoteTarget {
    /// A target with the default limits (experiment files and the app's endpoints set more).
    pub fn new(
        provider: ProviderKind,
        model: String,
        base_url: String,
        api_key_env: Option<String>,
    ) -> RemoteTarget {
        RemoteTarget {
            provider,
            model,
            base_url,
            api_key_env,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            requests_per_minute: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            timeouts: Timeouts::default(),
            include_usage: true,
            logprobs: false,
            extra_body: serde_json::Map::new(),
        }
    }

    /// `openai gpt-4o-mini`: the settings part of a remote config's label.
    pub fn label(&self) -> String {
        format!("{} {}", self.provider, self.model)
    }
}

/// A target's or endpoint's base URL (the provider's default when none is given), without a
/// trailing slash; an error says what is wrong with it.
pub fn base_url(provider: ProviderKind, given: Option<&str>) -> Result<String, String> {
    let url = given
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .unwrap_or(provider.default_base_url())
        .trim_end_matches('/')
        .to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains(char::is_whitespace) {
        return Err(format!("`{url}` is not an http:// or https:// URL"));
    }
    Ok(url)
}

/// The variable that holds a target's key: the given name, or the provider's default for the
/// URL. A pasted key is refused without being repeated.
pub fn key_variable(
    provider: ProviderKind,
    base_url: &str,
    given: Option<&str>,
) -> Result<Option<String>, String> {
    match given.map(str::trim).filter(|v| !v.is_empty()) {
        Some(text) if looks_like_a_key(text) => Err(
            "looks like an API key; write the name of the environment variable that holds it \
             (for example OPENAI_API_KEY), and keep the key itself out of files"
                .into(),
        ),
        Some(text) if !is_variable_name(text) => Err(format!(
            "`{text}` is not an environment variable name (letters, digits and _)"
        )),
        Some(text) => Ok(Some(text.to_string())),
        None => Ok(provider.default_key_variable(base_url).map(str::to_string)),
    }
}

/// Request fields `extra_body` may not set: Tradeoff decides them, and the measurement depends
/// on them (the prompt, streaming, usage, the model and the sampling the file states).
pub const RESERVED_BODY_FIELDS: [&str; 19] = [
    "model",
    "messages",
    "prompt",
    "stream",
    "stream_options",
    "system",
    "contents",
    "systemInstruction",
    "generationConfig",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "stop",
    "stop_sequences",
    "n",
    "best_of",
    "logprobs",
];

pub const DEFAULT_MAX_CONCURRENCY: u32 = 4;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;

/// Time limits of one attempt, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timeouts {
    pub connect_s: f64,
    pub first_token_s: f64,
    pub total_s: f64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect_s: 10.0,
            first_token_s: 60.0,
            total_s: 300.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_every_provider() {
        assert_eq!(ProviderKind::names(), "openai, anthropic or gemini");
    }

    #[test]
    fn a_default_key_variable_is_used_only_with_the_providers_own_host() {
        for (provider, variable) in [
            (ProviderKind::Openai, "OPENAI_API_KEY"),
            (ProviderKind::Anthropic, "ANTHROPIC_API_KEY"),
            (ProviderKind::Gemini, "GEMINI_API_KEY"),
        ] {
            let own = provider.default_base_url();
            assert_eq!(key_variable(provider, own, None), Ok(Some(variable.into())));
            let own_host_other_path = format!("{own}/../v1");
            assert_eq!(
                key_variable(provider, &own_host_other_path, None),
                Ok(Some(variable.into()))
            );
            for elsewhere in [
                "https://attacker.example/v1",
                "http://127.0.0.1:8080/v1",
                // The same host over plain HTTP, or on another port, is another server.
                &own.replacen("https://", "http://", 1),
                &own.replacen(".com/", ".com:8443/", 1),
                "https://api.anthropic.com.attacker.example/v1",
            ] {
                assert_eq!(
                    key_variable(provider, elsewhere, None),
                    Ok(None),
                    "{provider} at {elsewhere}"
                );
                assert_eq!(
                    key_variable(provider, elsewhere, Some("FARM_KEY")),
                    Ok(Some("FARM_KEY".into())),
                    "a named variable is still used"
                );
            }
        }
    }
}
