//! The experiment file as written by users (schema 1), before validation.
//!
//! Every struct denies unknown fields so that a typo (`temprature`) is an error that names the
//! field instead of a silently ignored setting. JSON and YAML share these types.

pub mod policies;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::spec::one_or_many::OneOrMany;

/// A check as written in an experiment file: its `type` and that kind's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckSpec {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub params: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    pub schema: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub variants: Vec<VariantSpec>,
    pub cases: Vec<CaseSpec>,
    pub targets: Vec<TargetSpec>,
    #[serde(default = "one")]
    pub repetitions: u32,
    /// Which config wins: constraints and order words (see `spec::objective`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<crate::spec::objective::Objective>,
    /// The response cache: `off` (default), `read_write` or `refresh` (see `execute::cache`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    /// Checks every case's runs must pass (besides each case's own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckSpec>,
    /// Models that grade `judge` checks: targets written the same way, one setting each. They
    /// are not configs of the experiment; their calls are recorded as judgements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub graders: Vec<TargetSpec>,
    /// Routing policies (cascades and routes over the configs), simulated on the recorded runs
    /// by `tradeoff route` (see `spec::policy`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<policies::PolicySpec>,
    /// How the configs are searched: the full grid (default), racing or successive halving
    /// (see `spec::search`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<crate::spec::search::SearchSpec>,
    /// A context budget: a case variable cut to each of these token counts, each a config (see
    /// `spec::budget`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::spec::budget::BudgetSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Extra messages (typically few-shot user/assistant pairs) placed after `system`, before `user`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<MessageSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A raw completion prompt: sent as text, never through a chat template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSpec {
    pub role: Role,
    pub content: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    pub id: String,
    /// Local: a GGUF file path (relative to the experiment file) or the word `default`.
    /// Remote: the provider's model name.
    pub model: String,
    /// A remote API (`openai` for any OpenAI-compatible server, `anthropic`, `gemini`);
    /// absent for a local model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Remote: the API root; for `openai` it includes `/v1` (requests go to
    /// `{base_url}/chat/completions`). Each provider has its public default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Remote: the environment variable (and OS keyring entry) that holds the API key. The key
    /// itself is never written in an experiment file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Remote: requests in flight at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    /// Remote: attempts per run, the first included (retries on 429, 5xx and connect errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<TimeoutSpec>,
    /// OpenAI-compatible: ask for usage in the stream (`stream_options.include_usage`); some
    /// servers reject the option, and then token counts are estimated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    /// OpenAI-compatible: ask for the generated tokens' log-probabilities, recorded as each
    /// run's confidence (`logprob_mean`, `logprob_min`) for routing policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// Remote: fields added to every request body as given, for server-specific settings
    /// (`{cache_prompt: false}` for llama-server, `{min_p: 0.05}` for vLLM…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_body: Option<serde_json::Map<String, serde_json::Value>>,
    /// Settings that take one value or a list to sweep; every combination makes its own config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_ctx: Option<OneOrMany<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<OneOrMany<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<OneOrMany<u32>>,
    /// KV cache element type: `f16`, `q8_0` or `q4_0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_type: Option<OneOrMany<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_gpu_layers: Option<OneOrMany<u32>>,
    /// Runs decoded together as parallel sequences (throughput mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<OneOrMany<u32>>,
    /// Reuse the KV cache of a prompt prefix shared with the previous run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_cache: Option<OneOrMany<bool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// What runs on this target cost (token prices, machine time): see `spec::cost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<crate::spec::cost::Price>,
}

fn one() -> u32 {
    1
}

/// Time limits of a remote request, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutSpec {
    /// Establishing the connection (TCP and TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<f64>,
    /// From sending the request to the first token of output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token: Option<f64>,
    /// From sending the request to the end of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
}
