//! The llama.cpp engine on the real default model.

use std::sync::atomic::AtomicBool;

use tradeoff_core::execute::engine::{GenerateRequest, LoadRequest, LocalEngine};
use tradeoff_core::run::FinishReason;
use tradeoff_core::spec::experiment::{ChatTemplateChoice, Sampling};
use tradeoff_core::spec::file::Role;
use tradeoff_core::spec::prompt::{ChatMessage, RenderedPrompt};
use tradeoff_core::spec::target::{ContextSettings, KvType};
use tradeoff_llama::LlamaEngine;

use crate::support::{FEWSHOT, default_model, model_turn};

fn load(n_ctx: u32) -> LoadRequest {
    LoadRequest {
        model_path: default_model(),
        n_gpu_layers: 0,
        context: ContextSettings {
            n_ctx,
            threads: 2,
            batch: 2048,
            kv_type: KvType::F16,
            sequences: 1,
            prefix_cache: false,
        },
    }
}

fn request(prompt: RenderedPrompt, max_tokens: u32, stop: &[&str]) -> GenerateRequest {
    GenerateRequest {
        load: load(512),
        prompt,
        chat_template: ChatTemplateChoice::Auto,
        sampling: Sampling {
            temperature: 0.0,
            top_p: None,
            top_k: None,
            seed: 1,
            max_tokens,
            stop: stop.iter().map(|s| s.to_string()).collect(),
        },
    }
}

fn raw(prompt: &str) -> RenderedPrompt {
    RenderedPrompt::Raw {
        prompt: prompt.to_string(),
    }
}

#[test]
fn greedy_generation_on_the_default_model_is_deterministic_and_correct() {
    let _turn = model_turn();
    let mut engine = LlamaEngine::new();
    let request = request(raw(FEWSHOT), 32, &["\n"]);
    let never = AtomicBool::new(false);
    let mut streamed = String::new();
    let first = engine
        .generate(&request, &mut |t| streamed.push_str(t), &never)
        .unwrap();
    let second = engine.generate(&request, &mut |_| {}, &never).unwrap();
    assert_eq!(first.output.trim(), r#"{"city": "Berlin", "year": 1989}"#);
    assert_eq!(first.output, second.output);
    assert_eq!(streamed, first.output, "the stream carries exactly the output");
    assert_eq!(first.finish_reason, FinishReason::Stop);
}

#[test]
fn recorded_token_counts_equal_llama_cpp_counts_and_rates_come_from_perf_counters() {
    let _turn = model_turn();
    let mut engine = LlamaEngine::new();
    let request = request(raw(FEWSHOT), 8, &[]);
    let generation = engine
        .generate(&request, &mut |_| {}, &AtomicBool::new(false))
        .unwrap();
    let m = &generation.metrics;
    let tokenized = engine.count_tokens(&request.load, FEWSHOT).unwrap();
    assert_eq!(m.input_tokens as usize, tokenized);
    assert_eq!(
        m.prompt_eval_tokens,
        Some(m.input_tokens),
        "llama.cpp evaluated exactly the prompt"
    );
    assert_eq!(generation.finish_reason, FinishReason::MaxTokens);
    assert_eq!(m.output_tokens, 8);
    // The last generated token is sampled but never decoded.
    assert_eq!(m.gen_eval_tokens, Some(m.output_tokens - 1));
    assert!(m.prompt_tokens_per_s().is_some_and(|r| r > 0.0));
    assert!(m.gen_tokens_per_s().is_some_and(|r| r > 0.0));
    let ttft = m.ttft_ms.unwrap();
    assert!(
        ttft > 0.0 && ttft < m.latency_ms,
        "ttft {ttft} latency {}",
        m.latency_ms
    );
    // Our wall clock encloses llama.cpp's own timings of the same work.
    assert!(m.prompt_eval_ms.unwrap() + m.gen_eval_ms.unwrap() <= m.latency_ms);
}

#[test]
fn a_new_context_length_recreates_the_context_and_keeps_the_model() {
    let _turn = model_turn();
    let mut engine = LlamaEngine::new();
    let first = engine.load(&load(512)).unwrap();
    assert!(first.model_load_ms.is_some() && first.context_create_ms.is_some());
    assert!(
        !first.has_chat_template,
        "the default model is a base model without a chat template"
    );
    let resized = engine.load(&load(1024)).unwrap();
    assert_eq!(resized.model_load_ms, None);
    assert!(resized.context_create_ms.is_some());
    let same = engine.load(&load(1024)).unwrap();
    assert_eq!((same.model_load_ms, same.context_create_ms), (None, None));
}

#[test]
fn a_chat_variant_on_a_model_without_template_runs_as_plain_text_with_a_warning() {
    let _turn = model_turn();
    let mut engine = LlamaEngine::new();
    let chat = RenderedPrompt::Chat {
        messages: vec![ChatMessage {
            role: Role::User,
            content: "Name a colour.".into(),
        }],
    };
    let generation = engine
        .generate(
            &request(chat.clone(), 4, &[]),
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .unwrap();
    assert_eq!(generation.warnings.len(), 1);
    assert!(
        generation.warnings[0].contains("no chat template"),
        "{:?}",
        generation.warnings
    );
    let plain = engine.count_tokens(&load(512), "Name a colour.").unwrap();
    assert_eq!(
        generation.metrics.input_tokens as usize, plain,
        "sent as the plain text"
    );

    let mut named = request(chat, 4, &[]);
    named.chat_template = ChatTemplateChoice::Named("gemma".into());
    let templated = engine
        .generate(&named, &mut |_| {}, &AtomicBool::new(false))
        .unwrap();
    assert!(templated.warnings.is_empty());
    assert!(
        templated.metrics.input_tokens > generation.metrics.input_tokens,
        "gemma's turn markers were added"
    );
}

#[test]
fn a_prompt_that_does_not_fit_the_context_fails_with_its_size() {
    let _turn = model_turn();
    let mut engine = LlamaEngine::new();
    let mut long = request(raw(&"word ".repeat(600)), 4, &[]);
    long.load = load(128);
    let error = engine
        .generate(&long, &mut |_| {}, &AtomicBool::new(false))
        .unwrap_err();
    let text = error.to_string();
    assert!(text.starts_with("context_overflow: the prompt is"), "{text}");
    assert!(text.contains("n_ctx is 128"), "{text}");
    // The engine is still usable afterwards.
    let mut short = request(raw(FEWSHOT), 2, &[]);
    short.load = load(128);
    assert!(
        engine
            .generate(&short, &mut |_| {}, &AtomicBool::new(false))
            .is_ok()
    );
}

#[test]
fn the_memory_estimate_sizes_the_kv_cache_as_llama_cpp_allocates_it() {
    let _turn = model_turn();
    let info = tradeoff_core::models::gguf::read(&default_model()).unwrap();
    let mut engine = LlamaEngine::new();
    for (n_ctx, kv_type) in [
        (2048, KvType::F16),
        (8192, KvType::F16),
        (8192, KvType::Q8_0),
        (700, KvType::Q4_0),
    ] {
        let mut request = load(n_ctx);
        request.context.kv_type = kv_type;
        let report = engine.load(&request).unwrap();
        let allocated = report.kv_cache_bytes.expect("llama.cpp reports its KV cache") as f64;
        let estimated =
            tradeoff_core::models::memory::estimate(&info, &request.settings()).kv_cache_bytes as f64;
        // llama.cpp prints MiB with two decimals.
        assert!(
            (allocated - estimated).abs() <= 11_000.0,
            "n_ctx {n_ctx} {kv_type}: llama.cpp {allocated} vs estimate {estimated}"
        );
    }
}

#[test]
fn a_quantized_kv_cache_takes_less_memory_and_still_generates() {
    let _turn = model_turn();
    let mut engine = LlamaEngine::new();
    let never = AtomicBool::new(false);
    let mut sizes = Vec::new();
    for kv_type in [KvType::F16, KvType::Q8_0] {
        let mut request = request(raw(FEWSHOT), 16, &["\n"]);
        request.load.context.kv_type = kv_type;
        let generation = engine.generate(&request, &mut |_| {}, &never).unwrap();
        assert!(
            generation.output.contains("Berlin"),
            "{kv_type}: {}",
            generation.output
        );
        sizes.push(generation.metrics.kv_cache_bytes.unwrap());
        let rss = generation.metrics.peak_rss_bytes.unwrap();
        assert!(rss > 200 << 20, "peak RSS {rss} holds at least the weights");
    }
    let ratio = sizes[1] as f64 / sizes[0] as f64;
    assert!(
        (ratio - 34.0 / 64.0).abs() < 0.02,
        "q8_0/f16 KV size ratio {ratio}"
    );
}

#[test]
fn a_context_that_cannot_fit_in_memory_is_refused_before_llama_cpp_tries() {
    let _turn = model_turn();
    let mut engine = LlamaEngine::new();
    let started = std::time::Instant::now();
    let error = engine.load(&load(100_000_000)).unwrap_err();
    assert_eq!(error.class, tradeoff_core::run::ErrorClass::InsufficientMemory);
    assert!(error.message.contains("n_ctx 100000000"), "{error}");
    assert!(error.message.contains("available"), "{error}");
    assert!(
        started.elapsed().as_secs() < 5,
        "refused without trying to allocate"
    );
    engine.load(&load(512)).unwrap();
}

#[test]
fn every_run_records_the_models_confidence_and_a_worked_answer_is_surer_than_a_guess() {
    let _turn = model_turn();
    let mut engine = LlamaEngine::new();
    let never = AtomicBool::new(false);
    let answer = engine
        .generate(&request(raw(FEWSHOT), 32, &["\n"]), &mut |_| {}, &never)
        .unwrap();
    let guess = engine
        .generate(&request(raw("Zq vv 81 ::"), 16, &[]), &mut |_| {}, &never)
        .unwrap();
    let mut sampled = request(raw(FEWSHOT), 16, &["\n"]);
    sampled.sampling.temperature = 0.9;
    let sampled = engine.generate(&sampled, &mut |_| {}, &never).unwrap();
    for generation in [&answer, &guess, &sampled] {
        let m = &generation.metrics;
        let (mean, min) = (m.logprob_mean.unwrap(), m.logprob_min.unwrap());
        assert!(min <= mean && mean <= 0.0, "mean {mean}, min {min}");
        assert!(min.is_finite(), "every generated token had a probability: {min}");
    }
    let (sure, unsure) = (
        answer.metrics.logprob_mean.unwrap(),
        guess.metrics.logprob_mean.unwrap(),
    );
    assert!(sure > -0.2, "the few-shot answer is near certain: {sure}");
    assert!(
        unsure < sure - 0.5,
        "a continuation of noise is a guess: {unsure} against {sure}"
    );
}
