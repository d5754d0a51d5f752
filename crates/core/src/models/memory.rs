//! How much memory a local config needs, estimated from the GGUF header before anything is
//! loaded, so that a config that cannot fit is refused with numbers instead of being tried (a
//! failed 300 GB allocation took llama.cpp 17 s of system time here; an OOM kill costs more).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::models::gguf::{GgufInfo, MetaValue};
use crate::spec::target::{KvType, LocalSettings};

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

/// A header whose sizes multiply past 64 bits: `gguf::read` bounds each value by the file's size,
/// so only a header built some other way, or a file of exabytes, gets here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: the memory estimate overflows 64 bits at {what}; the model's header is corrupt")]
pub struct EstimateOverflow {
    pub path: PathBuf,
    pub what: &'static str,
}

/// Estimates the memory of `info`'s model run with `settings`; see [`try_estimate`]. An estimate
/// that overflows is as large as a `u64` holds, so that it never fits any machine.
pub fn estimate(info: &GgufInfo, settings: &LocalSettings) -> MemoryEstimate {
    try_estimate(info, settings).unwrap_or(MemoryEstimate {
        weights_bytes: info.weight_bytes,
        kv_cache_bytes: u64::MAX,
        compute_bytes: u64::MAX,
    })
}

/// Estimates the memory of `info`'s model run with `settings`. The KV cache follows llama.cpp's
/// own sizing (padding, per-layer KV heads and head sizes, sliding-window layers keeping only
/// their window); layers of an architecture whose window pattern is not known here count as
/// full, so the estimate errs high, never low. Every product is checked: a wrapped estimate
/// would be small and let a config through that cannot fit.
pub fn try_estimate(info: &GgufInfo, settings: &LocalSettings) -> Result<MemoryEstimate, EstimateOverflow> {
    let overflow = |what: &'static str| EstimateOverflow {
        path: info.path.clone(),
        what,
    };
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
    // A prefix cache keeps the sliding-window layers' cache at full size (`swa_full`). Of each
    // run of `pattern` layers, all but the last slide; counted, not looped over, since the
    // header's layer count is only bounded by the file's size.
    let (sliding_layers, window_cells) = match (window, swa_pattern) {
        (Some(window), Some(pattern)) if !settings.prefix_cache => {
            let sliding = layers / pattern * (pattern - 1) + layers % pattern;
            // A window too large to pad is larger than any context: the layer keeps n_ctx cells.
            let cells = window
                .checked_add(UBATCH)
                .and_then(|w| w.checked_next_multiple_of(CELL_PADDING))
                .map_or(n_ctx, |w| w.min(n_ctx));
            (sliding, cells)
        }
        _ => (0, n_ctx),
    };
    let full_layers = layers - sliding_layers;
    let cells = full_layers
        .checked_mul(n_ctx)
        .zip(sliding_layers.checked_mul(window_cells))
        .and_then(|(full, sliding)| full.checked_add(sliding))
        .and_then(|cells| cells.checked_mul(streams))
        .ok_or_else(|| overflow("the KV cells of all layers"))?;
    let row = key_length
        .checked_add(value_length)
        .and_then(|length| length.checked_mul(kv_heads))
        .ok_or_else(|| overflow("the KV width (heads × key and value lengths)"))?;
    let (block_bytes, block_elements) = kv_block(settings.kv_type);
    let kv_cache_bytes = cells
        .checked_mul(row)
        .and_then(|elements| elements.checked_mul(block_bytes))
        .map(|bytes| bytes.div_ceil(block_elements))
        .ok_or_else(|| overflow("the KV cache"))?;

    let vocabulary = match info.metadata.get("tokenizer.ggml.tokens") {
        Some(MetaValue::Array { len, .. }) => *len,
        _ => 0,
    };
    let batch = u64::from(settings.batch.min(settings.n_ctx)).min(UBATCH);
    // Logits of one output row, and activations of a micro-batch (a few embedding-sized
    // buffers per token) on top of a fixed base.
    let compute_bytes = vocabulary
        .checked_mul(4)
        .zip(batch.checked_mul(embedding).and_then(|e| e.checked_mul(4 * 8)))
        .and_then(|(logits, activations)| logits.checked_add(activations))
        .and_then(|bytes| bytes.checked_add(BASE_OVERHEAD))
        .ok_or_else(|| overflow("the compute buffers"))?;
    let estimate = MemoryEstimate {
        weights_bytes: info.weight_bytes,
        kv_cache_bytes,
        compute_bytes,
    };
    estimate
        .weights_bytes
        .checked_add(estimate.kv_cache_bytes)
        .and_then(|bytes| bytes.checked_add(estimate.compute_bytes))
        .ok_or_else(|| overflow("the total"))?;
    Ok(estimate)
}

/// ggml's block of a KV cache type: (bytes, elements), so that bytes per element are an exact
/// fraction rounded up once over the whole cache.
fn kv_block(kv_type: KvType) -> (u64, u64) {
    match kv_type {
        KvType::F16 => (2, 1),
        KvType::Q8_0 => (34, 32),
        KvType::Q4_0 => (18, 32),
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
    kib.checked_mul(1024)
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    fn info(arch: &str, values: &[(&str, u64)]) -> GgufInfo {
        let mut metadata = BTreeMap::new();
        metadata.insert("general.architecture".to_string(), MetaValue::String(arch.into()));
        for (key, value) in values {
            metadata.insert(format!("{arch}.{key}"), MetaValue::Uint(*value));
        }
        GgufInfo {
            path: PathBuf::from("/models/m.gguf"),
            version: 3,
            file_size: 1 << 30,
            metadata,
            tensor_count: 1,
            parameter_count: 1,
            data_offset: 32,
            weight_bytes: 1 << 20,
            bytes_read_per_token: 1 << 20,
        }
    }

    fn settings(n_ctx: u32) -> LocalSettings {
        LocalSettings {
            n_ctx,
            threads: 1,
            batch: 512,
            kv_type: KvType::F16,
            n_gpu_layers: 0,
            parallel: 1,
            prefix_cache: false,
        }
    }

    /// Runs `f` on a thread of its own, so that a hang fails the test instead of stalling it.
    fn within_seconds<T: Send + 'static>(seconds: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(f());
        });
        receiver
            .recv_timeout(Duration::from_secs(seconds))
            .unwrap_or_else(|_| panic!("no answer within {seconds} s"))
    }

    /// The estimate as it was before layers were counted instead of looped over: one layer at a
    /// time, in floating point.
    fn kv_bytes_layer_by_layer(info: &GgufInfo, settings: &LocalSettings) -> u64 {
        let layers = info.arch_u64("block_count").unwrap_or(0);
        let embedding = info.arch_u64("embedding_length").unwrap_or(0);
        let heads = info.arch_u64("attention.head_count").unwrap_or(1).max(1);
        let kv_heads = info.arch_u64("attention.head_count_kv").unwrap_or(heads);
        let key = info.arch_u64("attention.key_length").unwrap_or(embedding / heads);
        let value = info
            .arch_u64("attention.value_length")
            .unwrap_or(embedding / heads);
        let n_ctx = u64::from(settings.n_ctx).div_ceil(256) * 256;
        let streams = u64::from(settings.parallel.max(1));
        let window = info.arch_u64("attention.sliding_window").filter(|w| *w > 0);
        let pattern = info.architecture().and_then(swa_pattern);
        let mut bytes = 0f64;
        for layer in 0..layers {
            let sliding = match (window, pattern) {
                (Some(_), Some(p)) if !settings.prefix_cache => layer % p < p - 1,
                _ => false,
            };
            let cells = match window {
                Some(w) if sliding => n_ctx.min((w + 512).div_ceil(256) * 256),
                _ => n_ctx,
            };
            bytes += (streams * cells) as f64
                * (kv_heads * (key + value)) as f64
                * settings.kv_type.bytes_per_element();
        }
        bytes.ceil() as u64
    }

    #[test]
    fn counting_sliding_layers_gives_the_bytes_of_sizing_each_layer() {
        for arch in ["gemma3", "gemma2", "cohere2", "llama"] {
            for layers in 0..40 {
                for window in [0, 512, 1000, 100_000] {
                    let info = info(
                        arch,
                        &[
                            ("block_count", layers),
                            ("embedding_length", 640),
                            ("attention.head_count", 4),
                            ("attention.head_count_kv", 1),
                            ("attention.key_length", 256),
                            ("attention.value_length", 256),
                            ("attention.sliding_window", window),
                        ],
                    );
                    for n_ctx in [1, 256, 4096, 5000] {
                        for kv_type in KvType::ALL {
                            for (parallel, prefix_cache) in [(1, false), (3, false), (2, true)] {
                                let settings = LocalSettings {
                                    kv_type,
                                    parallel,
                                    prefix_cache,
                                    ..settings(n_ctx)
                                };
                                assert_eq!(
                                    try_estimate(&info, &settings).unwrap().kv_cache_bytes,
                                    kv_bytes_layer_by_layer(&info, &settings),
                                    "{arch} {layers} layers, window {window}, {settings:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_block_count_of_u64_max_is_an_overflow_found_at_once_not_a_loop_over_every_layer() {
        let info = info(
            "gemma3",
            &[("block_count", u64::MAX), ("attention.sliding_window", 512)],
        );
        let (tried, estimated) = within_seconds(5, move || {
            (
                try_estimate(&info, &settings(4096)),
                estimate(&info, &settings(4096)),
            )
        });
        assert!(matches!(tried, Err(EstimateOverflow { .. })), "{tried:?}");
        assert_eq!(
            estimated.total_bytes(),
            u64::MAX,
            "an overflowing estimate never fits"
        );
    }

    #[test]
    fn a_huge_embedding_length_overflows_the_estimate_instead_of_wrapping_it_to_a_small_one() {
        let info = info("llama", &[("block_count", 2), ("embedding_length", u64::MAX / 8)]);
        let error = try_estimate(&info, &settings(512)).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("/models/m.gguf: the memory estimate overflows"),
            "{error}"
        );
        let estimate = estimate(&info, &settings(512));
        assert_eq!(estimate.total_bytes(), u64::MAX);
        assert!(
            estimate.total_bytes() - estimate.weights_bytes > 1 << 60,
            "a resident model's context never fits either"
        );
    }
}
