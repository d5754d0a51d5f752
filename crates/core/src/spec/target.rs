//! What a target is, as an experiment names it: a local model with the llama.cpp settings it
//! sweeps, or a remote API (`remote`). The engine adapters turn these into requests.

mod key_names;
mod origin;
pub mod remote;

use serde::{Deserialize, Serialize};

pub use key_names::{is_variable_name, looks_like_a_key};
pub use origin::{origin, same_origin};
pub use remote::{ProviderKind, RemoteTarget, Timeouts};

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

/// Refuses a thread count beyond `most` (this machine's [`max_threads`]), before llama.cpp
/// aborts on it.
pub fn check_threads(threads: u32, most: u32) -> Result<(), String> {
    if threads == 0 || threads > most {
        return Err(format!(
            "threads {threads} is not usable here: between 1 and {most} ({THREADS_PER_CORE} per logical core, at most {GGML_MAX_THREADS})"
        ));
    }
    Ok(())
}
/// Element type of the KV cache. Quantized caches take less memory (and allow longer
/// contexts) at some cost in quality, which is exactly what an experiment can measure.
#[cfg_attr(feature = "specta", derive(specta::Type))]
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
#[cfg_attr(feature = "specta", derive(specta::Type))]
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
