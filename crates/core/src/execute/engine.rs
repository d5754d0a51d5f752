//! The interface to a local inference engine, shaped as messages (request → text stream → final
//! result) so that the engine can live in another thread or another process without its callers
//! noticing. Every type here is serializable for that reason.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use crate::run::{FinishReason, RunError, RunMetrics};
use crate::spec::experiment::{ChatTemplateChoice, Sampling};
use crate::spec::prompt::RenderedPrompt;
use crate::spec::target::{ContextSettings, LocalSettings};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadRequest {
    pub model_path: PathBuf,
    /// Layers offloaded to a GPU (a model setting: changing it reloads the model).
    #[serde(default)]
    pub n_gpu_layers: u32,
    pub context: ContextSettings,
}

impl LoadRequest {
    pub fn settings(&self) -> LocalSettings {
        LocalSettings {
            n_ctx: self.context.n_ctx,
            threads: self.context.threads,
            batch: self.context.batch,
            kv_type: self.context.kv_type,
            n_gpu_layers: self.n_gpu_layers,
            parallel: self.context.sequences,
            prefix_cache: self.context.prefix_cache,
        }
    }
}

/// Where a config's settings meet the engine: the request that loads its model and context.
impl LocalSettings {
    pub fn load_request(&self, model_path: PathBuf) -> LoadRequest {
        LoadRequest {
            model_path,
            n_gpu_layers: self.n_gpu_layers,
            context: self.context(),
        }
    }
}

/// What preparing a model and context cost. `None` means it was already there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub model_load_ms: Option<f64>,
    pub context_create_ms: Option<f64>,
    /// Memory of the context's KV cache, as llama.cpp allocated it.
    #[serde(default)]
    pub kv_cache_bytes: Option<u64>,
    /// Whether the model carries its own chat template.
    pub has_chat_template: bool,
    /// Notes worth recording, e.g. an `n_ctx` beyond the model's trained context.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    pub load: LoadRequest,
    pub prompt: RenderedPrompt,
    pub chat_template: ChatTemplateChoice,
    pub sampling: Sampling,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    pub output: String,
    pub finish_reason: FinishReason,
    pub metrics: RunMetrics,
    pub warnings: Vec<String>,
}

/// Counts a local model's prompt tokens with the model's own tokenizer (the worker does).
pub trait LocalTokenCounter {
    fn count_prompt_tokens(
        &mut self,
        load: &LoadRequest,
        prompt: &RenderedPrompt,
        chat_template: &ChatTemplateChoice,
    ) -> Result<(u32, Vec<String>), RunError>;
}

/// A local inference engine. It counts tokens with the model's own tokenizer too (the plan view
/// and context budgets need that).
pub trait LocalEngine: LocalTokenCounter {
    /// Loads the model (if another or none is loaded) and creates the context (if its settings
    /// changed), so that loading never counts towards a run's latency.
    fn load(&mut self, request: &LoadRequest) -> Result<LoadReport, RunError>;

    /// Generates one completion. `on_text` receives output text as it is produced (never any part
    /// of a stop sequence). Returns early with an error when `cancel` becomes true.
    fn generate(
        &mut self,
        request: &GenerateRequest,
        on_text: &mut dyn FnMut(&str),
        cancel: &AtomicBool,
    ) -> Result<Generation, GenerateError>;

    /// Generates completions for several requests at once, as parallel sequences of one
    /// context (throughput mode). Each request gets its own result, in order; the whole batch
    /// fails only when cancelled or when the engine itself fails.
    fn generate_batch(
        &mut self,
        requests: &[GenerateRequest],
        cancel: &AtomicBool,
    ) -> Result<Vec<Result<Generation, RunError>>, GenerateError>;

    /// The llama.cpp build and CPU features, recorded with every experiment.
    fn build_info(&self) -> String;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Failed(#[from] RunError),
    #[error("cancelled")]
    Cancelled,
}
