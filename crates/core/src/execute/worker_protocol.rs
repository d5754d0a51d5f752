//! The worker protocol: one JSON object per line, requests on the worker's stdin and replies on
//! its stdout. The worker speaks first ([`Reply::Hello`]); every request gets exactly one final
//! reply; a generation streams [`Reply::Text`] lines and a quantization [`Reply::Progress`]
//! lines before their final reply. `Cancel` has no
//! reply of its own: the generation it names ends with [`Reply::Cancelled`].
//!
//! Serving is a session: `Serve` loads the model with one slot per context sequence and is
//! answered [`Reply::Serving`]; from then on `Submit`s join the running batch whenever they
//! arrive, each streaming [`Reply::Streamed`] and ending with its [`Reply::Served`], in any order
//! between requests; `Cancel` names a submission; `EndServe` ends the session
//! ([`Reply::ServeEnded`]).

use serde::{Deserialize, Serialize};

use crate::execute::bench::{BenchRequest, BenchSamples};
use crate::execute::cpu_backend::CpuBackend;
use crate::execute::engine::{GenerateRequest, Generation, LoadReport, LoadRequest};
use crate::models::quantize::{QuantizeReport, QuantizeRequest};
use crate::run::RunError;
use crate::spec::experiment::ChatTemplateChoice;
use crate::spec::prompt::RenderedPrompt;

/// Bumped on every incompatible change; a worker from another build is refused at the handshake.
pub const PROTOCOL_VERSION: u32 = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Load the model and create the context, so that neither counts towards a run.
    Load(LoadRequest),
    /// Free the model and its context.
    Unload,
    /// Generate one completion. `id` lets a later `Cancel` name this generation and no other.
    Generate { id: u64, request: GenerateRequest },
    /// Generate completions for several requests at once as parallel sequences (throughput mode).
    GenerateBatch { id: u64, requests: Vec<GenerateRequest> },
    /// Stop generation (or submission) `id` if it is still running.
    Cancel { id: u64 },
    /// Start serving: load the model with `context.sequences` slots of `context.n_ctx` tokens.
    Serve(LoadRequest),
    /// While serving: generate `request` in a free slot, beside whatever is running.
    Submit { id: u64, request: GenerateRequest },
    /// End the serving session; submissions still running end cancelled.
    EndServe,
    /// Count the tokens of a prompt exactly as a generation would feed it to the model.
    Tokenize {
        load: LoadRequest,
        prompt: RenderedPrompt,
        chat_template: ChatTemplateChoice,
    },
    /// Time pp and tg repetitions as llama-bench does.
    Bench(BenchRequest),
    /// Write a quantized copy of a model; streams [`Reply::Progress`].
    Quantize(QuantizeRequest),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Hello {
        protocol: u32,
        pid: u32,
        /// The llama.cpp build and CPU features, recorded with every experiment.
        build_info: String,
        /// The CPU code it loaded, or why it could not load any (the worker still greets, so
        /// that the parent can report the reason instead of a failed handshake).
        cpu_backend: Result<CpuBackend, String>,
    },
    Loaded(LoadReport),
    Unloaded,
    Text {
        text: String,
    },
    Generated(Generation),
    /// One result per request of a `GenerateBatch`, in order.
    GeneratedBatch {
        results: Vec<Result<Generation, RunError>>,
    },
    Cancelled,
    Tokens {
        count: u32,
        warnings: Vec<String>,
    },
    Benched(BenchSamples),
    /// Part of a quantization is done (tensors written of all).
    Progress {
        done: u32,
        total: u32,
    },
    Quantized(QuantizeReport),
    /// The serving session started: the model and its slots are ready.
    Serving(LoadReport),
    /// Text submission `id` produced (never part of a stop sequence).
    Streamed {
        id: u64,
        text: String,
    },
    /// Submission `id` ended: its generation, or why not.
    Served {
        id: u64,
        result: Result<Generation, RunError>,
    },
    ServeEnded,
    /// The request failed; the worker is fine and takes the next one.
    Failed(RunError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::ErrorClass;
    use crate::spec::target::{ContextSettings, KvType};

    #[test]
    fn requests_and_replies_are_single_json_lines_that_parse_back() {
        let request = Request::Tokenize {
            load: LoadRequest {
                model_path: "/models/m.gguf".into(),
                n_gpu_layers: 0,
                context: ContextSettings {
                    n_ctx: 512,
                    threads: 2,
                    batch: 512,
                    kv_type: KvType::F16,
                    sequences: 1,
                    prefix_cache: false,
                },
            },
            prompt: RenderedPrompt::Raw {
                prompt: "line one\nline two".into(),
            },
            chat_template: ChatTemplateChoice::Auto,
        };
        let line = serde_json::to_string(&request).unwrap();
        assert!(!line.contains('\n'));
        assert!(line.starts_with(r#"{"op":"tokenize""#));
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), request);

        let reply = Reply::Failed(RunError::new(ErrorClass::ModelLoad, "not a GGUF file"));
        let line = serde_json::to_string(&reply).unwrap();
        assert_eq!(
            line,
            r#"{"reply":"failed","class":"model_load","message":"not a GGUF file"}"#
        );
        assert_eq!(serde_json::from_str::<Reply>(&line).unwrap(), reply);
    }
}
