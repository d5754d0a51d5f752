//! How much memory a local config needs, estimated from the GGUF header before anything is
//! loaded, so that a config that cannot fit is refused with numbers instead of being tried (a
//! failed 300 GB allocation took llama.cpp 17 s of system time here; an OOM kill costs more).

use serde::{Deserialize, Serialize};

use crate::engine::LocalSettings;
use crate::gguf::{GgufInfo, MetaValue};

/// llama.cpp sizes KV caches in multiples of 256 cells.
const CELL_PADDING: u64 = 256;
/// llama.cpp's micro-batch, which also sizes the sliding-window caches.
const UBATCH: u64 = 512;
/// Buffers llama.cpp allocates besides weights and KV cache (graph, scratch), as measured on the
/// default model at n_ctx 512–8192: 20–40 MiB. Rounded up.
const BASE_OVERHEAD: u64 = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEstimate {
    pub weights_bytes: u64,
    pub kv_cache_bytes: u64,
    /// Output logits and llama.cpp's compute buffers.
    pub compute_bytes: u64,
}

impl MemoryEstimate {
    pub fn total_bytes(&self) -> u64 {
        self.weights_bytes
            .saturating_add(self.kv_cache_bytes)
            .saturating_add(self.compute_bytes)
    }
}

/// Estimates the memory of `info`'s model run with `settings`. The KV cache follows llama.cpp's
/// own sizing (padding, per-layer KV heads and head sizes, sliding-window layers keeping only
/// their window); layers of an architecture whose window pattern is not known here count as
/// full, so the estimate errs high, never low.
pub fn estimate(info: &GgufInfo, settings: &LocalSettings) -> MemoryEstimate {
    let layers = info.arch_u64("block_count").unwrap_or(0);
    let embedding = info.arch_u64("embedding_length").unwrap_or(0);
    let heads = info.arch_u64("attention.head_count").unwrap_or(1).max(1);
    let kv_heads = info.arch_u64("attention.head_count_kv").unwrap_or(heads);
    let key_length = info.arch_u64("attention.key_length").unwrap_or(embedding / heads);
    let value_length = info
        .arch_u64("attention.value_length")
        .unwrap_or(embedding / heads);
    // Each parallel sequence has a cache stream of its own, padded like a single context.
    let n_ctx = u64::from(settings.n_ctx).div_ceil(CELL_PADDING) * CELL_PADDING;
    let streams = u64::from(settings.parallel.max(1));

    let window = info.arch_u64("attention.sliding_window").filter(|w| *w > 0);
    let swa_pattern = info.architecture().and_then(swa_pattern);
    let cells_per_token_row = (kv_heads * (key_length + value_length)) as f64;
    let mut kv_cache_bytes = 0f64;
    for layer in 0..layers {
        // A prefix cache keeps the sliding-window layers' cache at full size (`swa_full`).
        let sliding = match (window, swa_pattern) {
            (Some(_), Some(pattern)) if !settings.prefix_cache => layer % pattern < pattern - 1,
            _ => false,
        };
        let cells = match window {
            Some(window) if sliding => n_ctx.min((window + UBATCH).div_ceil(CELL_PADDING) * CELL_PADDING),
            _ => n_ctx,
        };
        kv_cache_bytes +=
            (streams * cells) as f64 * cells_per_token_row * settings.kv_type.bytes_per_element();
    }

    let vocabulary = match info.metadata.get("tokenizer.ggml.tokens") {
        Some(MetaValue::Array { len, .. }) => *len,
        _ => 0,
    };
    let batch = u64::from(settings.batch.min(settings.n_ctx)).min(UBATCH);
    // Logits of one output row, and activations of a micro-batch (a few embedding-sized
    // buffers per token) on top of a fixed base.
    let compute_bytes = BASE_OVERHEAD + vocabulary * 4 + batch * embedding * 4 * 8;
    MemoryEstimate {
        weights_bytes: info.weight_bytes,
        kv_cache_bytes: kv_cache_bytes.ceil() as u64,
        compute_bytes,
    }
}

/// Every `pattern`-th layer attends globally; the others use the sliding window (llama.cpp's
/// `set_swa_pattern` for these architectures).
fn swa_pattern(architecture: &str) -> Option<u64> {
    match architecture {
        "gemma2" => Some(2),
        "gemma3" => Some(6),
        "cohere2" => Some(4),
        _ => None,
    }
}

/// Memory the system can give a new allocation without swapping (`MemAvailable`), in bytes.
pub fn available_memory() -> Option<u64> {
    proc_kib_field("/proc/meminfo", "MemAvailable")
}

/// A `Key:   1234 kB` field of a /proc file (meminfo, status), in bytes.
pub fn proc_kib_field(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?;
    let kib: u64 = value.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// Bytes as a person reads them (`241.3 MiB`, `3.2 GiB`).
pub fn human_bytes(bytes: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    let b = bytes as f64;
    if b >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else {
        format!("{:.1} MiB", b / MIB)
    }
}
