//! `tradeoff bench`: prompt processing (pp) and text generation (tg) speed measured the way
//! llama.cpp's `llama-bench` measures them, so the two can be compared number for number.
//!
//! As in llama-bench: random tokens (no tokenizer, no sampling), a fresh context sized
//! `n_prompt` for pp and `n_gen` for tg, one warm-up repetition, the KV cache cleared before each
//! repetition, each repetition timed to llama.cpp's synchronization, and tokens/s computed per
//! repetition before taking the mean and the sample standard deviation.

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::stats;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchRequest {
    pub model_path: PathBuf,
    pub threads: u32,
    /// Prompt tokens per pp repetition; 0 skips pp.
    pub n_prompt: u32,
    /// Generated tokens per tg repetition; 0 skips tg.
    pub n_gen: u32,
    pub reps: u32,
    /// Logical batch size (`n_batch`) for pp; llama-bench's default is 2048.
    pub batch: u32,
}

/// Wall time of each repetition, in nanoseconds, as the worker measured it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchSamples {
    pub pp_ns: Vec<u64>,
    pub tg_ns: Vec<u64>,
}

/// Mean and sample standard deviation of per-repetition tokens/s, with the samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub mean: f64,
    pub sd: f64,
    pub samples: Vec<f64>,
}

impl Rate {
    /// `None` when there are no samples.
    pub fn from_ns(tokens: u32, samples_ns: &[u64]) -> Option<Rate> {
        let samples: Vec<f64> = samples_ns
            .iter()
            .filter(|ns| **ns > 0)
            .map(|ns| f64::from(tokens) * 1e9 / *ns as f64)
            .collect();
        Some(Rate {
            mean: stats::mean(&samples)?,
            sd: stats::std_dev(&samples).unwrap_or(0.0),
            samples,
        })
    }
}

/// How close generation comes to the limit set by memory bandwidth: every generated token reads
/// (nearly) every weight once, so `bandwidth / bytes per token` bounds tg from above.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandwidthBound {
    pub read_gb_per_s: f64,
    pub bytes_read_per_token: u64,
    pub bound_tokens_per_s: f64,
    /// Measured tg mean ÷ bound. Well below 1 means generation is compute-bound on this machine
    /// (more threads or batched decoding help); near 1 means memory-bound (a smaller
    /// quantization helps).
    pub tg_fraction_of_bound: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub model: PathBuf,
    pub model_description: String,
    pub threads: u32,
    pub n_prompt: u32,
    pub n_gen: u32,
    pub reps: u32,
    pub build: String,
    pub pp_tokens_per_s: Option<Rate>,
    pub tg_tokens_per_s: Option<Rate>,
    pub bandwidth: Option<BandwidthBound>,
}

/// Read bandwidth of main memory with `threads` threads, in GB/s: the best of a few passes
/// summing a buffer much larger than any CPU cache.
pub fn measure_read_bandwidth(threads: u32) -> f64 {
    const BUFFER_BYTES: usize = 512 << 20;
    const PASSES: usize = 10;
    let threads = threads.max(1) as usize;
    // Written once so that every page is really backed by memory before it is timed.
    let buffer: Vec<u64> = (0..BUFFER_BYTES / 8).map(|i| i as u64).collect();
    let chunk = buffer.len().div_ceil(threads);
    let mut best = 0.0f64;
    for _ in 0..PASSES {
        let started = Instant::now();
        std::thread::scope(|scope| {
            for part in buffer.chunks(chunk) {
                scope.spawn(move || std::hint::black_box(sum(part)));
            }
        });
        let seconds = started.elapsed().as_secs_f64();
        if seconds > 0.0 {
            best = best.max(BUFFER_BYTES as f64 / seconds / 1e9);
        }
    }
    best
}

/// Four independent accumulators so the loop vectorizes and is limited by memory, not by
/// the latency of one chain of additions.
fn sum(values: &[u64]) -> u64 {
    let mut acc = [0u64; 4];
    let mut quads = values.chunks_exact(4);
    for quad in &mut quads {
        for (a, v) in acc.iter_mut().zip(quad) {
            *a = a.wrapping_add(*v);
        }
    }
    let rest: u64 = quads.remainder().iter().fold(0, |a, v| a.wrapping_add(*v));
    acc.iter().fold(rest, |a, v| a.wrapping_add(*v))
}

impl BandwidthBound {
    pub fn new(read_gb_per_s: f64, bytes_read_per_token: u64, tg_mean: Option<f64>) -> Self {
        let bound_tokens_per_s = if bytes_read_per_token == 0 {
            0.0
        } else {
            read_gb_per_s * 1e9 / bytes_read_per_token as f64
        };
        BandwidthBound {
            read_gb_per_s,
            bytes_read_per_token,
            bound_tokens_per_s,
            tg_fraction_of_bound: tg_mean
                .filter(|_| bound_tokens_per_s > 0.0)
                .map(|tg| tg / bound_tokens_per_s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_computed_per_repetition_then_averaged_as_llama_bench_does() {
        // 100 tokens in 0.5 s and in 0.25 s: 200 and 400 t/s, mean 300 (not 100*2/0.75 = 267).
        let rate = Rate::from_ns(100, &[500_000_000, 250_000_000]).unwrap();
        assert_eq!(rate.samples, vec![200.0, 400.0]);
        assert!((rate.mean - 300.0).abs() < 1e-9);
        assert!((rate.sd - 141.421_356_237).abs() < 1e-6);
        assert!(Rate::from_ns(100, &[]).is_none());
    }

    #[test]
    fn the_bandwidth_bound_divides_bandwidth_by_bytes_per_token() {
        let bound = BandwidthBound::new(40.0, 200_000_000, Some(50.0));
        assert!((bound.bound_tokens_per_s - 200.0).abs() < 1e-9);
        assert_eq!(bound.tg_fraction_of_bound, Some(0.25));
    }

    #[test]
    fn the_summing_kernel_adds_every_value() {
        let values: Vec<u64> = (1..=1003).collect();
        assert_eq!(sum(&values), 1003 * 1004 / 2);
    }
}
