//! Experiments: what to run. Loaded from a JSON or YAML file (schema 1), validated once, and
//! then only handled through the validated domain types below.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

mod target_json;

use crate::spec::checks::ParsedCheck;
use crate::spec::file::{ExperimentFile, Role};
use crate::spec::surroundings::Surroundings;
use crate::spec::target::{KvType, LocalSettings};

/// A validated experiment: variants × targets × n_ctx × cases × repetitions. Never stored as
/// such: the store keeps the file as written and the resolved facts (`spec::resolve`).
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    pub name: String,
    pub description: Option<String>,
    /// The file it was loaded from, when it came from one.
    pub source: Option<PathBuf>,
    pub variants: Vec<Variant>,
    pub cases: Vec<Case>,
    pub targets: Vec<Target>,
    pub repetitions: u32,
    /// Checks for every case (validated when loaded).
    pub checks: Vec<ParsedCheck>,
    pub objective: Option<crate::spec::objective::Objective>,
    pub cache: CacheMode,
    /// The models that grade `judge` checks (see `spec::checks::judge`).
    pub graders: Vec<Target>,
    /// How its configs are searched (the full grid when the file says nothing).
    pub search: crate::spec::search::Search,
    /// The context budget the variants were multiplied by, if any.
    pub budget: Option<crate::spec::budget::ContextBudget>,
    /// What it was validated from; `None` for an experiment read from a database older than
    /// that record (migration 011).
    pub written: Option<Written>,
}

/// The file an experiment was validated from, as the user wrote it, and what validation read
/// around it: together they validate to the same experiment again (`spec::recorded`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Written {
    pub file: ExperimentFile,
    /// The name errors give the file (its path as given).
    pub origin: String,
    pub surroundings: Surroundings,
}

impl Experiment {
    /// The checks that apply to a case's runs: the experiment's, then the case's own.
    pub fn checks_for(&self, case: usize) -> impl Iterator<Item = &ParsedCheck> {
        self.checks
            .iter()
            .chain(self.cases.get(case).into_iter().flat_map(|c| c.checks.iter()))
    }
}

/// One prompt version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    pub id: String,
    pub description: Option<String>,
    pub template: PromptTemplate,
    /// The budget this variant's case variable is cut to (`Experiment::budget` names the
    /// variable); the file's variant made one variant per budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::spec::budget::BudgetChoice>,
}

/// The two prompt formats. They are kept apart on purpose: a base model without a chat
/// template is used through raw completion prompts, and the tool must never silently turn one
/// format into the other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum PromptTemplate {
    Chat {
        system: Option<String>,
        messages: Vec<Message>,
        user: Option<String>,
    },
    Raw {
        prompt: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// One row of test input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    pub vars: BTreeMap<String, serde_json::Value>,
    pub expected: Option<String>,
    #[serde(default)]
    pub checks: Vec<ParsedCheck>,
}

/// Where inference happens, with every setting that shapes the result: what every target has
/// (its id, sampling and price) and what only its kind has. Its JSON form is flat
/// (`target_json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "target_json::TargetJson", from = "target_json::TargetJson")]
pub struct Target {
    pub id: String,
    pub kind: TargetKind,
    pub sampling: Sampling,
    pub price: Option<crate::spec::cost::Price>,
    /// Where `price` came from when the file did not give one: the price table's entry
    /// (`built-in: openai gpt-4o-mini, $0.15/$0.60 per M tokens, https://…, as of 2025-06`).
    pub price_source: Option<String>,
}

/// A local model or a remote API, each with only the settings it has.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetKind {
    Local(LocalTarget),
    /// A remote API: exactly one config per variant, no local settings.
    Remote(crate::spec::target::remote::RemoteTarget),
}

/// A GGUF model run by llama.cpp and the settings it sweeps: every combination of these lists
/// makes its own config.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalTarget {
    pub model: ModelRef,
    pub n_ctx: Vec<u32>,
    pub threads: Vec<u32>,
    /// llama.cpp's logical batch size (`n_batch`) for prompt processing.
    pub batch: Vec<u32>,
    pub kv_type: Vec<KvType>,
    /// Layers offloaded to a GPU; 0 on a CPU-only build.
    pub n_gpu_layers: Vec<u32>,
    pub parallel: Vec<u32>,
    pub prefix_cache: Vec<bool>,
    pub chat_template: ChatTemplateChoice,
    /// The model file's sha256, once resolved (`spec::resolve`): part of the response cache's
    /// key and of provenance.
    pub model_sha256: Option<String>,
}

impl Target {
    pub fn local(&self) -> Option<&LocalTarget> {
        match &self.kind {
            TargetKind::Local(local) => Some(local),
            TargetKind::Remote(_) => None,
        }
    }

    pub fn remote(&self) -> Option<&crate::spec::target::remote::RemoteTarget> {
        match &self.kind {
            TargetKind::Remote(remote) => Some(remote),
            TargetKind::Local(_) => None,
        }
    }

    /// The settings of each of the target's configs: every local combination, or one `None`
    /// for a remote target.
    pub fn config_settings(&self) -> Vec<Option<LocalSettings>> {
        match &self.kind {
            TargetKind::Local(local) => local.settings().into_iter().map(Some).collect(),
            TargetKind::Remote(_) => vec![None],
        }
    }

    /// The model as the file names it: a GGUF path or `default`, or the provider's model name.
    pub fn model_name(&self) -> &str {
        match &self.kind {
            TargetKind::Local(local) => &local.model.spec,
            TargetKind::Remote(remote) => &remote.model,
        }
    }
}

impl LocalTarget {
    /// Each swept setting's name and how many values it lists.
    pub fn sweep_lengths(&self) -> [(&'static str, usize); 7] {
        [
            ("n_ctx", self.n_ctx.len()),
            ("threads", self.threads.len()),
            ("batch", self.batch.len()),
            ("kv_type", self.kv_type.len()),
            ("n_gpu_layers", self.n_gpu_layers.len()),
            ("parallel", self.parallel.len()),
            ("prefix_cache", self.prefix_cache.len()),
        ]
    }

    /// Every combination of the target's swept settings, in the order the runner uses them:
    /// model settings (GPU layers) outermost so a model loads once, then the context settings.
    pub fn settings(&self) -> Vec<LocalSettings> {
        let mut all = Vec::new();
        for &n_gpu_layers in &self.n_gpu_layers {
            for &n_ctx in &self.n_ctx {
                for &kv_type in &self.kv_type {
                    for &batch in &self.batch {
                        for &threads in &self.threads {
                            for &parallel in &self.parallel {
                                for &prefix_cache in &self.prefix_cache {
                                    all.push(LocalSettings {
                                        n_ctx,
                                        threads,
                                        batch,
                                        kv_type,
                                        n_gpu_layers,
                                        parallel,
                                        prefix_cache,
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        all
    }
}

/// A model as written in the file (`default` or a path) and the file it resolved to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    pub spec: String,
    pub path: PathBuf,
}

impl ModelRef {
    pub fn is_default(&self) -> bool {
        self.spec == "default"
    }
}

/// How a chat-shaped variant becomes text for a local model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ChatTemplateChoice {
    /// The GGUF's own template; plain text with a recorded warning when it has none.
    Auto,
    /// Always plain text.
    None,
    /// One of llama.cpp's built-in templates by name (`gemma`, `chatml`, `llama3`, ...).
    Named(String),
}

impl From<String> for ChatTemplateChoice {
    fn from(value: String) -> Self {
        match value.as_str() {
            "auto" => ChatTemplateChoice::Auto,
            "none" => ChatTemplateChoice::None,
            _ => ChatTemplateChoice::Named(value),
        }
    }
}

impl From<ChatTemplateChoice> for String {
    fn from(value: ChatTemplateChoice) -> Self {
        value.to_string()
    }
}

impl fmt::Display for ChatTemplateChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChatTemplateChoice::Auto => f.write_str("auto"),
            ChatTemplateChoice::None => f.write_str("none"),
            ChatTemplateChoice::Named(name) => f.write_str(name),
        }
    }
}

/// Sampling settings. Defaults favour reproducible measurement: greedy decoding, fixed seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// 0 means greedy decoding.
    #[serde(deserialize_with = "finite_f32")]
    pub temperature: f32,
    #[serde(default, deserialize_with = "finite_f32_option")]
    pub top_p: Option<f32>,
    pub top_k: Option<u32>,
    pub seed: u32,
    pub max_tokens: u32,
    /// Generation ends where one of these appears; the stop text is not part of the output.
    pub stop: Vec<String>,
}

/// An `f32` that is a number. JSON numbers past `f32::MAX` (a worker protocol line with
/// `1e308`) become infinity as `f32`, which is no temperature, and which serde_json writes back
/// as `null`: refused where it is read. (Experiment files are checked in validation.)
fn finite_f32<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f32, D::Error> {
    let value = f32::deserialize(deserializer)?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(serde::de::Error::custom(format!(
            "{value} is not a finite number within f32's range"
        )))
    }
}

fn finite_f32_option<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<f32>, D::Error> {
    match Option::<f32>::deserialize(deserializer)? {
        Some(value) if !value.is_finite() => Err(serde::de::Error::custom(format!(
            "{value} is not a finite number within f32's range"
        ))),
        value => Ok(value),
    }
}

pub const DEFAULT_MAX_TOKENS: u32 = 256;
pub const DEFAULT_N_CTX: u32 = 2048;
pub const DEFAULT_BATCH: u32 = 2048;

/// Why an experiment file was refused. Each variant says where: file, line and column when the
/// file could not be read as the schema, or the field path when a value is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error("{path}: cannot read the experiment file: {source}")]
    Read {
        path: String,
        source: crate::files::ReadError,
    },
    #[error("{path}: unknown experiment file type; use .yaml, .yml or .json")]
    UnknownFormat { path: String },
    #[error("{path}: cannot write the experiment file: {message}")]
    Write { path: String, message: String },
    #[error("{0}")]
    Parse(Problem),
    #[error("{0}")]
    Invalid(Problem),
}

impl ExperimentError {
    /// A value of file `file` refused at `field` (a path such as `targets[0].n_ctx`).
    pub fn invalid(file: &str, field: impl Into<String>, message: impl Into<String>) -> ExperimentError {
        ExperimentError::Invalid(Problem {
            file: file.to_string(),
            line: None,
            column: None,
            field: Some(field.into()),
            message: message.into(),
        })
    }

    /// The problem behind a parse or validation error, for callers that show fields separately.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ExperimentError::Parse(p) | ExperimentError::Invalid(p) => Some(p),
            _ => None,
        }
    }
}

/// What is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Field path such as `targets[0].n_ctx`.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// How an experiment uses the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheMode {
    /// Every run calls the model (the default: measurements are measurements).
    #[default]
    Off,
    /// Stored answers are used; new answers are stored.
    ReadWrite,
    /// Every run calls the model and its answer replaces the stored one.
    Refresh,
}

impl CacheMode {
    pub fn parse(text: &str) -> Option<CacheMode> {
        match text {
            "off" => Some(CacheMode::Off),
            "read_write" => Some(CacheMode::ReadWrite),
            "refresh" => Some(CacheMode::Refresh),
            _ => None,
        }
    }

    pub fn reads(self) -> bool {
        self == CacheMode::ReadWrite
    }

    pub fn writes(self) -> bool {
        self != CacheMode::Off
    }
}
