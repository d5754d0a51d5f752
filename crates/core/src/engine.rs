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
    /// Context length per sequence.
    pub n_ctx: u32,
    pub threads: u32,
    pub batch: u32,
    #[serde(default)]
    pub kv_type: KvType,
    /// Sequences decoded together (throughput mode); the KV cache holds `n_ctx` for each.
    #[serde(default = "one")]
    pub sequences: u32,
    /// Keep prompt prefixes in the KV cache between runs. Needs the full KV cache of
    /// sliding-window layers, which otherwise keep only their window and could not be reused.
    #[serde(default)]
    pub prefix_cache: bool,
}

fn one() -> u32 {
    1
}

/// ggml's own limit on threads (GGML_MAX_N_THREADS); more aborts the worker.
const GGML_MAX_THREADS: u32 = 512;
/// Oversubscribing cores is a legitimate experiment, up to a point.
const THREADS_PER_CORE: u32 = 4;

/// The most threads a run may ask for on this machine: four per logical core, within ggml's
/// limit of 512.
pub fn max_threads() -> u32 {
    let cores =
        std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX));
    cores.saturating_mul(THREADS_PER_CORE).clamp(1, GGML_MAX_THREADS)
}

/// Refuses a thread count this machine cannot use, before llama.cpp aborts on it.
pub fn check_threads(threads: u32) -> Result<(), String> {
    let most = max_threads();
    if threads == 0 || threads > most {
        return Err(format!(
            "threads {threads} is not usable here: between 1 and {most} ({THREADS_PER_CORE} per logical core, at most {GGML_MAX_THREADS})"
        ));
    }
    Ok(())
}

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

/// Element type of the KV cache. Quantized caches take less memory (and allow longer
/// contexts) at some cost in quality, which is exactly what an experiment can measure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KvType {
    #[default]
    #[serde(rename = "f16")]
    F16,
    #[serde(rename = "q8_0")]
    Q8_0,
    #[serde(rename = "q4_0")]
    Q4_0,
}

impl KvType {
    pub const ALL: [KvType; 3] = [KvType::F16, KvType::Q8_0, KvType::Q4_0];

    pub fn as_str(self) -> &'static str {
        match self {
            KvType::F16 => "f16",
            KvType::Q8_0 => "q8_0",
            KvType::Q4_0 => "q4_0",
        }
    }

    pub fn parse(text: &str) -> Option<KvType> {
        KvType::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Bytes per cached element (ggml block size ÷ elements per block).
    pub fn bytes_per_element(self) -> f64 {
        match self {
            KvType::F16 => 2.0,
            KvType::Q8_0 => 34.0 / 32.0,
            KvType::Q4_0 => 18.0 / 32.0,
        }
    }
}

impl std::fmt::Display for KvType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One point of a local target's sweep: everything that shapes how llama.cpp runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LocalSettings {
    pub n_ctx: u32,
    pub threads: u32,
    pub batch: u32,
    pub kv_type: KvType,
    pub n_gpu_layers: u32,
    /// Runs decoded together as parallel sequences (throughput mode); 1 = one at a time.
    #[serde(default = "one")]
    pub parallel: u32,
    /// Reuse the KV cache of a prompt prefix shared with the previous run (`warm` runs).
    #[serde(default)]
    pub prefix_cache: bool,
}

impl LocalSettings {
    pub fn context(&self) -> ContextSettings {
        ContextSettings {
            n_ctx: self.n_ctx,
            threads: self.threads,
            batch: self.batch,
            kv_type: self.kv_type,
            sequences: self.parallel,
            prefix_cache: self.prefix_cache,
        }
    }

    pub fn load_request(&self, model_path: PathBuf) -> LoadRequest {
        LoadRequest {
            model_path,
            n_gpu_layers: self.n_gpu_layers,
            context: self.context(),
        }
    }

    /// Short labels that tell these settings apart: `n_ctx 2048` always, and each other setting
    /// only when it differs between them (`n_ctx 2048 · kv q8_0 · 1 thread`).
    pub fn labels(all: &[LocalSettings]) -> Vec<String> {
        let varies = |f: fn(&LocalSettings) -> String| {
            all.iter().any(|s| f(s) != all.first().map(f).unwrap_or_default())
        };
        let threads = varies(|s| s.threads.to_string());
        let batch = varies(|s| s.batch.to_string());
        let kv = varies(|s| s.kv_type.to_string());
        let gpu = varies(|s| s.n_gpu_layers.to_string());
        let parallel = varies(|s| s.parallel.to_string());
        let prefix = varies(|s| s.prefix_cache.to_string());
        all.iter()
            .map(|s| {
                let mut label = format!("n_ctx {}", s.n_ctx);
                if threads {
                    let plural = if s.threads == 1 { "" } else { "s" };
                    label.push_str(&format!(" · {} thread{plural}", s.threads));
                }
                if batch {
                    label.push_str(&format!(" · batch {}", s.batch));
                }
                if kv {
                    label.push_str(&format!(" · kv {}", s.kv_type));
                }
                if gpu {
                    label.push_str(&format!(" · {} GPU layers", s.n_gpu_layers));
                }
                // Throughput and warm runs are labelled even when every config uses them: their
                // latencies mean something else than single-stream, cold ones do.
                if parallel || s.parallel > 1 {
                    label.push_str(&format!(" · {} parallel", s.parallel));
                }
                if prefix || s.prefix_cache {
                    label.push_str(if s.prefix_cache {
                        " · prefix cache"
                    } else {
                        " · cold"
                    });
                }
                label
            })
            .collect()
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
