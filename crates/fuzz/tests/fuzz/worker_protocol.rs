//! The worker protocol: any line the parent or the worker could read, as a `Request` and as a
//! `Reply`. What parses must write back as one line that parses to the same thing.

use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tradeoff_core::execute::engine::{GenerateRequest, Generation, LoadReport, LoadRequest};
use tradeoff_core::execute::worker_protocol::{Reply, Request};
use tradeoff_core::run::{ErrorClass, FinishReason, RunError, RunMetrics};
use tradeoff_core::spec::experiment::{ChatTemplateChoice, Sampling};
use tradeoff_core::spec::file::Role;
use tradeoff_core::spec::prompt::{ChatMessage, RenderedPrompt};
use tradeoff_core::spec::target::{ContextSettings, KvType};

use super::driver::fuzz;
use super::values::{apply, edit_text, edits, text_edits};

const KEYS: &[&str] = &[
    "op",
    "reply",
    "id",
    "request",
    "requests",
    "load",
    "model_path",
    "n_gpu_layers",
    "context",
    "n_ctx",
    "threads",
    "batch",
    "kv_type",
    "sequences",
    "prefix_cache",
    "prompt",
    "format",
    "messages",
    "role",
    "content",
    "chat_template",
    "sampling",
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "max_tokens",
    "stop",
    "text",
    "count",
    "warnings",
    "done",
    "total",
    "class",
    "message",
    "results",
    "Ok",
    "Err",
    "output",
    "finish_reason",
    "metrics",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "protocol",
    "pid",
    "build_info",
    "cpu_backend",
];
const WORDS: &[&str] = &[
    "load",
    "unload",
    "generate",
    "generate_batch",
    "cancel",
    "tokenize",
    "bench",
    "quantize",
    "hello",
    "loaded",
    "unloaded",
    "text",
    "generated",
    "generated_batch",
    "cancelled",
    "tokens",
    "benched",
    "progress",
    "quantized",
    "failed",
    "chat",
    "raw",
    "user",
    "system",
    "assistant",
    "auto",
    "none",
    "f16",
    "q8_0",
    "q4_0",
    "model_load",
    "end_of_text",
    "max_tokens",
];

fn seeds() -> Vec<Value> {
    let load = LoadRequest {
        model_path: "/models/m.gguf".into(),
        n_gpu_layers: 0,
        context: ContextSettings {
            n_ctx: 512,
            threads: 2,
            batch: 512,
            kv_type: KvType::Q8_0,
            sequences: 1,
            prefix_cache: false,
        },
    };
    let request = GenerateRequest {
        load: load.clone(),
        prompt: RenderedPrompt::Chat {
            messages: vec![ChatMessage {
                role: Role::User,
                content: "Q\nA".into(),
            }],
        },
        chat_template: ChatTemplateChoice::Named("chatml".into()),
        sampling: Sampling {
            temperature: 0.7,
            top_p: Some(0.9),
            top_k: Some(40),
            seed: 1,
            max_tokens: 32,
            stop: vec!["\n".into()],
        },
    };
    let generation = Generation {
        output: "A".into(),
        finish_reason: FinishReason::MaxTokens,
        metrics: RunMetrics::new(12.5, 3, 1),
        warnings: vec!["w".into()],
    };
    let requests = [
        Request::Load(load.clone()),
        Request::Unload,
        Request::Cancel { id: 7 },
        Request::Generate {
            id: 1,
            request: request.clone(),
        },
        Request::GenerateBatch {
            id: 2,
            requests: vec![request.clone(), request],
        },
        Request::Tokenize {
            load,
            prompt: RenderedPrompt::Raw { prompt: "Q:".into() },
            chat_template: ChatTemplateChoice::Auto,
        },
    ];
    let replies = [
        Reply::Loaded(LoadReport {
            model_load_ms: Some(1.5),
            context_create_ms: None,
            kv_cache_bytes: Some(1 << 20),
            has_chat_template: true,
            warnings: Vec::new(),
        }),
        Reply::Unloaded,
        Reply::Text { text: "tok".into() },
        Reply::Generated(generation.clone()),
        Reply::GeneratedBatch {
            results: vec![Ok(generation), Err(RunError::new(ErrorClass::ModelLoad, "m"))],
        },
        Reply::Cancelled,
        Reply::Tokens {
            count: 3,
            warnings: Vec::new(),
        },
        Reply::Progress { done: 1, total: 2 },
        Reply::Failed(RunError::new(ErrorClass::ModelLoad, "not a GGUF file")),
    ];
    let mut seeds: Vec<Value> = requests
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    seeds.extend(replies.iter().filter_map(|r| serde_json::to_value(r).ok()));
    // Written by hand: the handshake changes with the protocol version.
    seeds.push(serde_json::json!({"reply": "hello", "protocol": 2, "pid": 1, "build_info": "b", "cpu_backend": {"Ok": {"variant": "x64", "features": [], "candidates": [], "verified": true}}}));
    seeds
}

fn lines() -> impl Strategy<Value = String> {
    let mutated = (
        prop::sample::select(seeds()),
        edits(KEYS, WORDS),
        text_edits(WORDS),
    )
        .prop_map(|(seed, edits, text)| edit_text(&apply(seed, &edits).to_string(), &text));
    prop_oneof![4 => mutated, 1 => "\\PC{0,200}"]
}

/// Floats may come back one unit in the last place off (serde_json parses them best-effort).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= x.abs().max(y.abs()) * 1e-15
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn round_trip<T: Serialize + DeserializeOwned + std::fmt::Debug>(
    line: &str,
    what: &str,
) -> Result<bool, String> {
    let Ok(parsed) = serde_json::from_str::<T>(line) else {
        return Ok(false);
    };
    let written =
        serde_json::to_string(&parsed).map_err(|e| format!("a parsed {what} does not write: {e}"))?;
    if written.contains('\n') {
        return Err(format!("a {what} wrote more than one line: {written}"));
    }
    if written.len() > 2 * line.len() + 4096 {
        return Err(format!(
            "a {}-byte line wrote back as {} bytes",
            line.len(),
            written.len()
        ));
    }
    let again: T = serde_json::from_str(&written)
        .map_err(|e| format!("a {what} written by the protocol does not parse back ({e}): {written}"))?;
    let (first, second) = (
        serde_json::to_value(&parsed).map_err(|e| e.to_string())?,
        serde_json::to_value(&again).map_err(|e| e.to_string())?,
    );
    if !same(&first, &second) {
        return Err(format!(
            "a {what} changed when written and read back: {parsed:?} became {again:?}"
        ));
    }
    Ok(true)
}

#[test]
fn worker_protocol_lines_parse_or_fail_cleanly_and_round_trip() {
    fuzz("worker_protocol", lines(), &[], |line| {
        let request = round_trip::<Request>(line, "request")?;
        let reply = round_trip::<Reply>(line, "reply")?;
        Ok(match (request, reply) {
            (true, _) => "requests",
            (_, true) => "replies",
            _ => "refused",
        })
    });
}

#[test]
fn a_temperature_or_top_p_past_f32_max_in_a_protocol_line_is_refused_not_read_as_infinity() {
    // As f32, 1e308 is infinity, which writes back as `null` and cannot be read again.
    let line = |sampling: &str| {
        format!(
            r#"{{"op":"generate","id":1,"request":{{"load":{{"model_path":"/m.gguf","n_gpu_layers":0,"context":{{"n_ctx":512,"threads":2,"batch":512,"kv_type":"f16","sequences":1,"prefix_cache":false}}}},"prompt":{{"format":"raw","prompt":"Q"}},"chat_template":"auto","sampling":{sampling}}}}}"#
        )
    };
    let fine = r#"{"temperature":0.7,"top_p":0.9,"top_k":40,"seed":1,"max_tokens":32,"stop":[]}"#;
    assert_eq!(round_trip::<Request>(&line(fine), "request"), Ok(true));
    for sampling in [fine.replace("0.7", "1e308"), fine.replace("0.9", "-1e39")] {
        // serde_json refuses it read directly; inside the tagged `Request` it was buffered as
        // f64 and cast to infinity, which only the check on `Sampling` refuses.
        assert!(serde_json::from_str::<Sampling>(&sampling).is_err(), "{sampling}");
        assert_eq!(
            round_trip::<Request>(&line(&sampling), "request"),
            Ok(false),
            "{sampling}"
        );
    }
    let sampling: Sampling =
        serde_json::from_str(r#"{"temperature":0.7,"top_k":null,"seed":1,"max_tokens":32,"stop":[]}"#)
            .expect("top_p may be left out");
    assert_eq!((sampling.temperature, sampling.top_p), (0.7, None));
}
