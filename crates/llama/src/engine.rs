//! [`LlamaEngine`]: the local engine on llama.cpp.

use std::num::NonZeroU32;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use tradeoff_core::execute::bench::{BenchRequest, BenchSamples};
use tradeoff_core::execute::engine::{
    GenerateError, GenerateRequest, Generation, LoadReport, LoadRequest, LocalEngine,
};
use tradeoff_core::models::gguf::{self, GgufInfo};

use crate::contention::CpuTimes;
use tradeoff_core::models::memory::{available_memory, human_bytes, try_estimate};
use tradeoff_core::run::{ErrorClass, RunError};
use tradeoff_core::spec::experiment::ChatTemplateChoice;
use tradeoff_core::spec::prompt::RenderedPrompt;
use tradeoff_core::spec::target::{ContextSettings, KvType};

use crate::backend::{backend, system_info};
use crate::batched::generate_batch_in;
use crate::bench::{TokenSource, time_generation, time_prompt};
use crate::chat::prompt_text;
use crate::generate::{elapsed_ms, generate_in};
use crate::log_capture::capture_logs;
use crate::memory;
use crate::serving::ServeChannel;
use crate::session::{ActiveContext, LoadedModel, ModelOwner};

/// Micro-batch size for prompt processing; llama.cpp's default.
const UBATCH: u32 = 512;

/// Local inference on one model at a time. Not `Sync`: one engine serves one thread.
#[derive(Debug, Default)]
pub struct LlamaEngine {
    loaded: Option<LoadedModel>,
}

impl LlamaEngine {
    pub fn new() -> Self {
        LlamaEngine::default()
    }

    /// Tokenizes `text` the way a generation would (with BOS, special tokens parsed), loading
    /// the model if needed. Lets callers check counts against llama.cpp's tokenizer.
    pub fn count_tokens(&mut self, request: &LoadRequest, text: &str) -> Result<usize, RunError> {
        self.load(request)?;
        let loaded = self.loaded.as_ref().ok_or_else(not_loaded)?;
        Ok(loaded
            .borrow_owner()
            .model
            .vocab()
            .tokenize(text.as_bytes(), true, true)
            .len())
    }

    /// The number of tokens a generation would feed the model for `prompt` (chat template
    /// applied as it would be), and the warnings that generation would record.
    pub fn count_prompt_tokens(
        &mut self,
        request: &LoadRequest,
        prompt: &RenderedPrompt,
        chat_template: &ChatTemplateChoice,
    ) -> Result<(u32, Vec<String>), RunError> {
        // Tokenizing needs the model's vocabulary only, not a context.
        let mut report = LoadReport::default();
        self.ensure_model(request, &mut report)?;
        let loaded = self.loaded.as_ref().ok_or_else(not_loaded)?;
        let model = &loaded.borrow_owner().model;
        let (text, warnings) = prompt_text(model, prompt, chat_template)?;
        let count = model.vocab().tokenize(text.as_bytes(), true, true).len();
        Ok((u32::try_from(count).unwrap_or(u32::MAX), warnings))
    }

    /// Times pp and tg repetitions as llama-bench does: each in a context of its own size
    /// (`n_prompt` for pp, `n_gen` for tg), after one warm-up.
    pub fn bench(&mut self, request: &BenchRequest) -> Result<BenchSamples, RunError> {
        let mut samples = BenchSamples {
            pp_ns: Vec::new(),
            tg_ns: Vec::new(),
        };
        for prompt_processing in [true, false] {
            let n = if prompt_processing {
                request.n_prompt
            } else {
                request.n_gen
            };
            if n == 0 {
                continue;
            }
            self.load(&LoadRequest {
                model_path: request.model_path.clone(),
                n_gpu_layers: 0,
                context: ContextSettings {
                    n_ctx: n,
                    threads: request.threads,
                    batch: request.batch,
                    kv_type: KvType::F16,
                    sequences: 1,
                    prefix_cache: false,
                },
            })?;
            let loaded = self.loaded.as_mut().ok_or_else(not_loaded)?;
            let times = loaded.with_dependent_mut(|owner, slot| {
                let ctx = &mut slot.as_mut().ok_or_else(not_loaded)?.ctx;
                let model = &owner.model;
                let mut tokens = TokenSource::new(model);
                // llama-bench's warm-up: one whole pp repetition, or a single generated token.
                if prompt_processing {
                    time_prompt(model, ctx, &mut tokens, n)?;
                } else {
                    time_generation(model, ctx, &mut tokens, 1)?;
                }
                (0..request.reps)
                    .map(|_| {
                        if prompt_processing {
                            time_prompt(model, ctx, &mut tokens, n)
                        } else {
                            time_generation(model, ctx, &mut tokens, n)
                        }
                    })
                    .collect::<Result<Vec<u64>, RunError>>()
            })?;
            if prompt_processing {
                samples.pp_ns = times;
            } else {
                samples.tg_ns = times;
            }
        }
        Ok(samples)
    }

    /// Frees the model and its context.
    /// Serves submissions from `channel` with continuous batching on `load`'s model, already
    /// loaded with one slot per context sequence, until the channel ends. Fails only when the
    /// channel cannot be written.
    pub(crate) fn serve(
        &mut self,
        load: &LoadRequest,
        channel: &mut dyn ServeChannel,
    ) -> std::io::Result<()> {
        let slots = load.context.sequences.max(1) as usize;
        let n_ctx = load.context.n_ctx as usize;
        let Some(loaded) = self.loaded.as_mut() else {
            return Ok(());
        };
        loaded.with_dependent_mut(|owner, slot| {
            let Some(active) = slot.as_mut() else {
                return Ok(());
            };
            // Serving replaces whatever a prefix cache held.
            active.cached.clear();
            crate::serving::serve_in(&owner.model, &mut active.ctx, slots, n_ctx, channel)
        })
    }

    pub fn unload(&mut self) {
        self.loaded = None;
    }

    fn ensure_model(&mut self, request: &LoadRequest, report: &mut LoadReport) -> Result<(), RunError> {
        if self.loaded.as_ref().is_some_and(|l| {
            let owner = l.borrow_owner();
            owner.path == request.model_path && owner.n_gpu_layers == request.n_gpu_layers
        }) {
            return Ok(());
        }
        // Free the old model (and its context) before loading the next one.
        self.loaded = None;
        // Everything it takes to have the model ready counts as its load time: the worker's
        // one-time backend start and the header check included.
        let started = Instant::now();
        let backend = backend()?;
        let path = &request.model_path;
        // Our own reader names the problem (missing, not GGUF, truncated) before llama.cpp,
        // which would only say that loading failed.
        let info = gguf::read(path).map_err(|e| RunError::new(ErrorClass::ModelLoad, e.to_string()))?;
        check_fits(&info, request, false)?;
        let params = LlamaModelParams::default().with_n_gpu_layers(request.n_gpu_layers);
        let (model, logs) = capture_logs(|| LlamaModel::load_from_file(backend, path, &params));
        let model = model.map_err(|e| {
            RunError::new(
                ErrorClass::ModelLoad,
                format!(
                    "llama.cpp could not load {}: {e}{}",
                    path.display(),
                    log_suffix(&logs.problems)
                ),
            )
        })?;
        report.model_load_ms = Some(elapsed_ms(started));
        self.loaded = Some(LoadedModel::new(
            ModelOwner {
                has_chat_template: model.chat_template(None).is_ok(),
                model,
                path: path.clone(),
                n_gpu_layers: request.n_gpu_layers,
                info,
            },
            |_| None,
        ));
        Ok(())
    }

    fn ensure_context(
        &mut self,
        settings: &ContextSettings,
        report: &mut LoadReport,
    ) -> Result<(), RunError> {
        let backend = backend()?;
        let loaded = self.loaded.as_mut().ok_or_else(not_loaded)?;
        loaded.with_dependent_mut(|owner, slot| {
            report.has_chat_template = owner.has_chat_template;
            if let Some(active) = slot.as_ref().filter(|active| active.settings == *settings) {
                report.kv_cache_bytes = active.kv_cache_bytes;
                return Ok(());
            }
            let trained = owner.model.n_ctx_train();
            if settings.n_ctx > trained {
                report.warnings.push(format!(
                    "n_ctx {} exceeds the model's trained context of {trained} tokens; quality beyond it is not what the model was trained for",
                    settings.n_ctx
                ));
            }
            // Drop the old context first: two KV caches at once can exhaust memory.
            *slot = None;
            memory::reset_peak_rss();
            let sequences = settings.sequences.max(1);
            let total_ctx = settings.n_ctx.saturating_mul(sequences);
            let n_batch = settings.batch.min(total_ctx).max(1);
            let threads = i32::try_from(settings.threads).unwrap_or(i32::MAX);
            let params = LlamaContextParams::default()
                .with_n_ctx(NonZeroU32::new(total_ctx))
                .with_n_seq_max(sequences)
                .with_n_batch(n_batch)
                .with_n_ubatch(UBATCH.min(n_batch))
                .with_n_threads(threads)
                .with_n_threads_batch(threads)
                // Perf counters are off by default; they are the cross-check of our timings.
                .with_no_perf(false)
                // Sliding-window layers keep only their window of KV cache (less memory, same
                // speed), unless prefixes are reused: positions outside the window would be gone.
                .with_swa_full(settings.prefix_cache)
                .with_type_k(cache_type(settings.kv_type))
                .with_type_v(cache_type(settings.kv_type));
            let started = Instant::now();
            let (ctx, logs) = capture_logs(|| owner.model.new_context(backend, params));
            let mut ctx = ctx.map_err(|e| {
                RunError::new(
                    ErrorClass::ContextCreate,
                    format!(
                        "llama.cpp could not create a context with n_ctx {} and a {} KV cache: {e}{}",
                        settings.n_ctx,
                        settings.kv_type,
                        log_suffix(&logs.problems)
                    ),
                )
            })?;
            // One decode warms caches and thread pools, as llama-bench's warm-up run does,
            // so the first measured run is not slower for reasons no later run shares.
            let bos = owner.model.vocab().bos();
            let mut batch = LlamaBatch::new(1, 1);
            if batch.add(bos, 0, &[0], true).is_ok() && ctx.decode(&mut batch).is_ok() {
                // llama.cpp books a decode into its perf counters only at the next
                // synchronization; without this the warm-up token would count as prompt.
                ctx.synchronize();
            }
            ctx.clear_kv_cache();
            let actual = ctx.n_ctx();
            if actual != total_ctx {
                report.warnings.push(format!(
                    "llama.cpp sized the context for n_ctx {total_ctx} at {actual} tokens (it pads context sizes)"
                ));
            }
            report.context_create_ms = Some(elapsed_ms(started));
            report.kv_cache_bytes = logs.kv_cache_bytes();
            *slot = Some(ActiveContext {
                settings: settings.clone(),
                kv_cache_bytes: report.kv_cache_bytes,
                cached: Vec::new(),
                ctx,
            });
            Ok(())
        })
    }
}

impl tradeoff_core::execute::engine::LocalTokenCounter for LlamaEngine {
    fn count_prompt_tokens(
        &mut self,
        load: &LoadRequest,
        prompt: &RenderedPrompt,
        chat_template: &ChatTemplateChoice,
    ) -> Result<(u32, Vec<String>), RunError> {
        LlamaEngine::count_prompt_tokens(self, load, prompt, chat_template)
    }
}

impl LocalEngine for LlamaEngine {
    fn load(&mut self, request: &LoadRequest) -> Result<LoadReport, RunError> {
        tradeoff_core::spec::target::check_threads(
            request.context.threads,
            tradeoff_core::spec::target::max_threads(),
        )
        .map_err(|e| RunError::new(ErrorClass::ContextCreate, e))?;
        let mut report = LoadReport::default();
        self.ensure_model(request, &mut report)?;
        if let Some(loaded) = &self.loaded {
            let owner = loaded.borrow_owner();
            let current = loaded.with_dependent(|_, slot| slot.as_ref().map(|a| a.settings.clone()));
            if current.as_ref() != Some(&request.context) {
                check_fits(&owner.info, request, true)?;
            }
        }
        self.ensure_context(&request.context, &mut report)?;
        Ok(report)
    }

    fn generate(
        &mut self,
        request: &GenerateRequest,
        on_text: &mut dyn FnMut(&str),
        cancel: &AtomicBool,
    ) -> Result<Generation, GenerateError> {
        self.load(&request.load)?;
        let threads = request.load.context.threads;
        let loaded = self.loaded.as_mut().ok_or_else(not_loaded)?;
        loaded.with_dependent_mut(|owner, slot| {
            let active = slot.as_mut().ok_or_else(not_loaded)?;
            let cpu_before = CpuTimes::now();
            let mut generation = generate_in(
                &owner.model,
                &mut active.ctx,
                &mut active.cached,
                request,
                on_text,
                cancel,
            )?;
            if let Some(contention) = cpu_before.and_then(|before| before.since(threads)) {
                contention.record(&mut generation.metrics);
            }
            generation.metrics.kv_cache_bytes = active.kv_cache_bytes;
            generation.metrics.peak_rss_bytes = memory::peak_rss_bytes();
            Ok(generation)
        })
    }

    fn generate_batch(
        &mut self,
        requests: &[GenerateRequest],
        cancel: &AtomicBool,
    ) -> Result<Vec<Result<Generation, RunError>>, GenerateError> {
        let Some(first) = requests.first() else {
            return Ok(Vec::new());
        };
        if let Some(other) = requests.iter().find(|r| r.load != first.load) {
            return Err(RunError::new(
                ErrorClass::Internal,
                format!("a batch mixes settings: {:?} and {:?}", first.load, other.load),
            )
            .into());
        }
        let sequences = first.load.context.sequences as usize;
        if requests.len() > sequences {
            return Err(RunError::new(
                ErrorClass::Internal,
                format!(
                    "{} requests for a context of {sequences} sequences",
                    requests.len()
                ),
            )
            .into());
        }
        self.load(&first.load)?;
        let n_ctx = first.load.context.n_ctx as usize;
        let threads = first.load.context.threads;
        let loaded = self.loaded.as_mut().ok_or_else(not_loaded)?;
        loaded.with_dependent_mut(|owner, slot| {
            let active = slot.as_mut().ok_or_else(not_loaded)?;
            // Batched decoding replaces whatever a prefix cache held.
            active.cached.clear();
            let cpu_before = CpuTimes::now();
            let mut results = generate_batch_in(&owner.model, &mut active.ctx, requests, n_ctx, cancel)?;
            let peak = memory::peak_rss_bytes();
            // The sequences decoded together: the batch's window is each one's.
            let contention = cpu_before.and_then(|before| before.since(threads));
            for generation in results.iter_mut().flatten() {
                if let Some(contention) = contention {
                    contention.record(&mut generation.metrics);
                }
                generation.metrics.kv_cache_bytes = active.kv_cache_bytes;
                generation.metrics.peak_rss_bytes = peak;
            }
            Ok(results)
        })
    }

    fn build_info(&self) -> String {
        let cpu = match crate::backend::cpu_backend() {
            Ok(cpu) => format!("CPU backend {}", cpu.variant),
            Err(e) => format!("no CPU backend: {e}"),
        };
        format!(
            "llama-cpp-2 0.1.160 (llama-cpp-sys-2 0.1.161), {cpu}; {}",
            system_info()
        )
    }
}

/// Refuses a config whose estimated memory exceeds what the machine has available, before
/// llama.cpp tries (and takes seconds to fail, or gets the process killed). With the model
/// already resident only the new context has to fit. A header whose sizes overflow the estimate
/// is refused as corrupt, whatever memory is available: reported as "needs 16 EiB", it would
/// send the user after memory instead of after the file.
fn check_fits(info: &GgufInfo, request: &LoadRequest, model_resident: bool) -> Result<(), RunError> {
    let estimate = try_estimate(info, &request.settings()).map_err(|overflow| {
        let class = if model_resident {
            ErrorClass::ContextCreate
        } else {
            ErrorClass::ModelLoad
        };
        RunError::new(class, overflow.to_string())
    })?;
    let Some(available) = available_memory() else {
        return Ok(());
    };
    let needed = if model_resident {
        estimate.total_bytes() - estimate.weights_bytes
    } else {
        estimate.total_bytes()
    };
    if needed <= available {
        return Ok(());
    }
    Err(RunError::new(
        ErrorClass::InsufficientMemory,
        format!(
            "this config needs about {} (weights {}{}, KV cache {} for n_ctx {} as {}, buffers {}) but only {} of memory is available; lower n_ctx, use a quantized KV cache (kv_type q8_0 or q4_0), or a smaller model",
            human_bytes(needed),
            human_bytes(estimate.weights_bytes),
            if model_resident { ", already loaded" } else { "" },
            human_bytes(estimate.kv_cache_bytes),
            request.context.n_ctx,
            request.context.kv_type,
            human_bytes(estimate.compute_bytes),
            human_bytes(available),
        ),
    ))
}

fn cache_type(kv_type: KvType) -> KvCacheType {
    match kv_type {
        KvType::F16 => KvCacheType::F16,
        KvType::Q8_0 => KvCacheType::Q8_0,
        KvType::Q4_0 => KvCacheType::Q4_0,
    }
}

fn not_loaded() -> RunError {
    RunError::new(ErrorClass::Internal, "no model is loaded")
}

fn log_suffix(logs: &[String]) -> String {
    if logs.is_empty() {
        String::new()
    } else {
        format!(" (llama.cpp: {})", logs.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use tradeoff_core::models::gguf::MetaValue;

    use super::*;

    #[test]
    fn a_header_whose_memory_estimate_overflows_is_refused_as_corrupt_not_as_too_large() {
        let metadata = BTreeMap::from([
            (
                "general.architecture".to_string(),
                MetaValue::String("llama".into()),
            ),
            ("llama.block_count".to_string(), MetaValue::Uint(2)),
            (
                "llama.embedding_length".to_string(),
                MetaValue::Uint(u64::MAX / 8),
            ),
        ]);
        let info = GgufInfo {
            path: PathBuf::from("/models/corrupt.gguf"),
            version: 3,
            file_size: 1 << 20,
            metadata,
            tensor_count: 0,
            parameter_count: 0,
            data_offset: 0,
            weight_bytes: 0,
            bytes_read_per_token: 0,
        };
        let request = LoadRequest {
            model_path: info.path.clone(),
            n_gpu_layers: 0,
            context: ContextSettings {
                n_ctx: 512,
                threads: 1,
                batch: 512,
                kv_type: KvType::F16,
                sequences: 1,
                prefix_cache: false,
            },
        };
        for (resident, class) in [(false, ErrorClass::ModelLoad), (true, ErrorClass::ContextCreate)] {
            let error = check_fits(&info, &request, resident).unwrap_err();
            assert_eq!(error.class, class);
            assert!(
                error
                    .message
                    .starts_with("/models/corrupt.gguf: the memory estimate overflows")
                    && error.message.contains("header is corrupt"),
                "{}",
                error.message
            );
        }
    }
}
