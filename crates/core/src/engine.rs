//! The interface to a local inference engine, shaped as messages (request → text stream → final
//! result) so that the engine can live in another thread or another process without its callers
//! noticing. Every type here is serializable for that reason.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use crate::experiment::{ChatTemplateChoice, Sampling};
use crate::prompt::RenderedPrompt;
use crate::run::{FinishReason, RunError, RunMetrics};

/// The settings that decide which llama.cpp context a run needs. Changing any of them makes a
/// new context; the model itself stays loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextSettings {
    pub n_ctx: u32,
    pub threads: u32,
    pub batch: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadRequest {
    pub model_path: PathBuf,
    pub context: ContextSettings,
}

/// What preparing a model and context cost. `None` means it was already there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub model_load_ms: Option<f64>,
    pub context_create_ms: Option<f64>,
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

/// A local inference engine.
pub trait LocalEngine {
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
