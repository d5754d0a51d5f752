//! The editable form of an experiment file (what the editor shows and saves), converted to and
//! from the file schema in `tradeoff-core`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use specta::Type;
use tradeoff_core::spec::file::{
    CaseSpec, CheckSpec, MessageSpec, OneOrMany, TargetSpec, TimeoutSpec, VariantSpec,
};
use tradeoff_core::spec::file::{ExperimentFile, Role};

use crate::error::{AppCode, AppError};

#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct ExperimentDraft {
    pub name: Option<String>,
    pub description: Option<String>,
    pub variants: Vec<VariantDraft>,
    pub cases: Vec<CaseDraft>,
    pub targets: Vec<TargetDraft>,
    pub repetitions: u32,
    /// Checks for every case, as a JSON list (`[{"type": "contains", "value": "..."}]`).
    pub checks: String,
    /// The objective as JSON (`{"constraints": [...], "order": [...]}`); empty: none.
    pub objective: String,
    /// The response cache: `off`, `read_write` or `refresh`; `None`: off.
    pub cache: Option<String>,
    /// Models that grade `judge` checks, as a JSON list of targets (`[{"id": "grader",
    /// "provider": "openai", "model": "gpt-4o-mini"}]`); empty: none.
    pub graders: String,
    /// Routing policies as a JSON list (`[{"id": "small-first", "cascade": [...]}]`); empty:
    /// none. The editor keeps them as they are; the results' routing view builds them.
    pub policies: String,
    /// How the configs are searched, as JSON (`{"strategy": "racing", "confidence": 0.95}`);
    /// empty: the full grid.
    pub search: String,
    /// A context budget, as JSON (`{"var": "document", "tokens": [128, 512], "strategy":
    /// ["head", "relevant"], "query": "question"}`); empty: none.
    pub budget: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct VariantDraft {
    pub id: String,
    pub description: Option<String>,
    pub system: Option<String>,
    pub messages: Vec<MessageDraft>,
    pub user: Option<String>,
    pub prompt: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct MessageDraft {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct CaseDraft {
    pub id: Option<String>,
    /// Variable values as text (non-text values in a file appear as JSON).
    pub vars: BTreeMap<String, String>,
    pub expected: Option<String>,
    /// The case's own checks, as a JSON list.
    pub checks: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct TargetDraft {
    pub id: String,
    pub model: String,
    /// Swept settings: one value, or several to compare. Empty means the default.
    pub n_ctx: Vec<u32>,
    pub threads: Vec<u32>,
    pub batch: Vec<u32>,
    pub kv_type: Vec<String>,
    pub n_gpu_layers: Vec<u32>,
    pub parallel: Vec<u32>,
    pub prefix_cache: Vec<bool>,
    /// The target's price as JSON (`{"per_hour": 0.35}`, `{"input_per_mtok": 1, ...}`); empty: none.
    pub price: String,
    pub chat_template: Option<String>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<u32>,
    pub seed: Option<u32>,
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
    /// Remote targets: `openai`, `anthropic` or `gemini`; `None` for a local model file.
    pub provider: Option<String>,
    pub base_url: Option<String>,
    /// The name of the variable holding the key, never the key.
    pub api_key_env: Option<String>,
    pub max_concurrency: Option<u32>,
    pub requests_per_minute: Option<u32>,
    pub max_attempts: Option<u32>,
    pub timeout: Option<TimeoutDraft>,
    pub include_usage: Option<bool>,
    pub logprobs: Option<bool>,
    /// Fields added to every request body, as a JSON object; empty: none.
    pub extra_body: String,
}

/// A remote target's time limits in seconds.
#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct TimeoutDraft {
    pub connect: Option<f64>,
    pub first_token: Option<f64>,
    pub total: Option<f64>,
}

impl From<ExperimentFile> for ExperimentDraft {
    fn from(f: ExperimentFile) -> Self {
        ExperimentDraft {
            name: f.name,
            description: f.description,
            variants: f
                .variants
                .into_iter()
                .map(|v| VariantDraft {
                    id: v.id,
                    description: v.description,
                    system: v.system,
                    messages: v
                        .messages
                        .into_iter()
                        .map(|m| MessageDraft {
                            role: m.role.as_str().to_string(),
                            content: m.content,
                        })
                        .collect(),
                    user: v.user,
                    prompt: v.prompt,
                })
                .collect(),
            cases: f
                .cases
                .into_iter()
                .map(|c| CaseDraft {
                    id: c.id,
                    vars: c
                        .vars
                        .into_iter()
                        .map(|(k, v)| match v {
                            serde_json::Value::String(text) => (k, text),
                            other => (k, other.to_string()),
                        })
                        .collect(),
                    expected: c.expected,
                    checks: checks_text(&c.checks),
                })
                .collect(),
            checks: checks_text(&f.checks),
            cache: f.cache,
            graders: if f.graders.is_empty() {
                String::new()
            } else {
                serde_json::to_string_pretty(&f.graders).unwrap_or_default()
            },
            policies: if f.policies.is_empty() {
                String::new()
            } else {
                serde_json::to_string_pretty(&f.policies).unwrap_or_default()
            },
            budget: f
                .budget
                .as_ref()
                .and_then(|b| serde_json::to_string(b).ok())
                .unwrap_or_default(),
            search: f
                .search
                .as_ref()
                .and_then(|s| serde_json::to_string(s).ok())
                .unwrap_or_default(),
            objective: f
                .objective
                .as_ref()
                .and_then(|o| serde_json::to_string(o).ok())
                .unwrap_or_default(),
            targets: f
                .targets
                .into_iter()
                .map(|t| TargetDraft {
                    id: t.id,
                    model: t.model,
                    n_ctx: t.n_ctx.map(|v| v.0).unwrap_or_default(),
                    threads: t.threads.map(|v| v.0).unwrap_or_default(),
                    batch: t.batch.map(|v| v.0).unwrap_or_default(),
                    kv_type: t.kv_type.map(|v| v.0).unwrap_or_default(),
                    n_gpu_layers: t.n_gpu_layers.map(|v| v.0).unwrap_or_default(),
                    parallel: t.parallel.map(|v| v.0).unwrap_or_default(),
                    prefix_cache: t.prefix_cache.map(|v| v.0).unwrap_or_default(),
                    price: t
                        .price
                        .as_ref()
                        .and_then(|p| serde_json::to_string(p).ok())
                        .unwrap_or_default(),
                    chat_template: t.chat_template,
                    temperature: t.temperature,
                    top_p: t.top_p,
                    top_k: t.top_k,
                    seed: t.seed,
                    max_tokens: t.max_tokens,
                    stop: t.stop,
                    provider: t.provider,
                    base_url: t.base_url,
                    api_key_env: t.api_key_env,
                    max_concurrency: t.max_concurrency,
                    requests_per_minute: t.requests_per_minute,
                    max_attempts: t.max_attempts,
                    timeout: t.timeout.map(|t| TimeoutDraft {
                        connect: t.connect,
                        first_token: t.first_token,
                        total: t.total,
                    }),
                    include_usage: t.include_usage,
                    logprobs: t.logprobs,
                    extra_body: t
                        .extra_body
                        .as_ref()
                        .and_then(|b| serde_json::to_string(b).ok())
                        .unwrap_or_default(),
                })
                .collect(),
            repetitions: f.repetitions,
        }
    }
}

impl TryFrom<ExperimentDraft> for ExperimentFile {
    type Error = AppError;

    fn try_from(d: ExperimentDraft) -> Result<Self, AppError> {
        let mut variants = Vec::with_capacity(d.variants.len());
        for (index, v) in d.variants.into_iter().enumerate() {
            let mut messages = Vec::with_capacity(v.messages.len());
            for (m_index, m) in v.messages.into_iter().enumerate() {
                let role = match m.role.as_str() {
                    "system" => Role::System,
                    "user" => Role::User,
                    "assistant" => Role::Assistant,
                    other => {
                        return Err(AppError::new(
                            AppCode::BadInput,
                            format!(
                                "variants[{index}].messages[{m_index}].role: `{other}` is not system, user or assistant"
                            ),
                        ));
                    }
                };
                messages.push(MessageSpec {
                    role,
                    content: m.content,
                });
            }
            variants.push(VariantSpec {
                id: v.id,
                description: v.description,
                system: v.system,
                messages,
                user: v.user,
                prompt: v.prompt,
            });
        }
        let checks = parse_checks("checks", &d.checks)?;
        let mut cases = Vec::with_capacity(d.cases.len());
        for (index, c) in d.cases.into_iter().enumerate() {
            cases.push(CaseSpec {
                id: c.id,
                vars: c
                    .vars
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect(),
                expected: c.expected,
                checks: parse_checks(&format!("cases[{index}].checks"), &c.checks)?,
            });
        }
        let mut targets = Vec::with_capacity(d.targets.len());
        for (index, t) in d.targets.into_iter().enumerate() {
            let price = optional_json(&format!("targets[{index}].price"), &t.price)?;
            let extra_body = optional_json(&format!("targets[{index}].extra_body"), &t.extra_body)?;
            targets.push(TargetSpec {
                id: t.id,
                model: t.model,
                n_ctx: sweep(t.n_ctx),
                threads: sweep(t.threads),
                batch: sweep(t.batch),
                kv_type: sweep(t.kv_type),
                n_gpu_layers: sweep(t.n_gpu_layers),
                parallel: sweep(t.parallel),
                prefix_cache: sweep(t.prefix_cache),
                chat_template: t.chat_template,
                temperature: t.temperature,
                top_p: t.top_p,
                top_k: t.top_k,
                seed: t.seed,
                max_tokens: t.max_tokens,
                stop: t.stop,
                price,
                provider: t.provider.filter(|p| !p.trim().is_empty()),
                base_url: t.base_url.filter(|u| !u.trim().is_empty()),
                api_key_env: t.api_key_env.filter(|v| !v.trim().is_empty()),
                max_concurrency: t.max_concurrency,
                requests_per_minute: t.requests_per_minute,
                max_attempts: t.max_attempts,
                timeout: t.timeout.map(|t| TimeoutSpec {
                    connect: t.connect,
                    first_token: t.first_token,
                    total: t.total,
                }),
                include_usage: t.include_usage,
                logprobs: t.logprobs,
                extra_body,
            });
        }
        let objective = optional_json("objective", &d.objective)?;
        let graders = optional_json::<Vec<TargetSpec>>("graders", &d.graders)?.unwrap_or_default();
        let policies = optional_json("policies", &d.policies)?.unwrap_or_default();
        let search = optional_json("search", &d.search)?;
        let budget = optional_json("budget", &d.budget)?;
        Ok(ExperimentFile {
            search,
            budget,
            graders,
            policies,
            schema: 1,
            checks,
            objective,
            cache: d.cache.filter(|c| !c.trim().is_empty() && c != "off"),
            targets,
            name: d.name,
            description: d.description,
            variants,
            cases,
            repetitions: d.repetitions,
        })
    }
}

/// An empty list in the form means "not set" in the file.
fn sweep<T>(values: Vec<T>) -> Option<OneOrMany<T>> {
    (!values.is_empty()).then_some(OneOrMany(values))
}

fn checks_text(checks: &[CheckSpec]) -> String {
    if checks.is_empty() {
        "[]".into()
    } else {
        serde_json::to_string_pretty(checks).unwrap_or_else(|_| "[]".into())
    }
}

/// Checks typed in the editor; the file's own validation then checks each one.
fn parse_checks(field: &str, text: &str) -> Result<Vec<CheckSpec>, AppError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(text).map_err(|e| {
        AppError::new(
            AppCode::BadInput,
            format!("{field}: not a JSON list of checks such as [{{\"type\": \"contains\", \"value\": \"Berlin\"}}]: {e}"),
        )
    })
}

/// A JSON field of the editor: empty means not set; anything else must parse.
fn optional_json<T: serde::de::DeserializeOwned>(field: &str, text: &str) -> Result<Option<T>, AppError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| AppError::new(AppCode::BadInput, format!("{field}: {e}")))
}
