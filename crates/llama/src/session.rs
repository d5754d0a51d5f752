//! A loaded model and its current context, kept together.
//!
//! A llama.cpp context borrows its model, and both must outlive single runs: the model is
//! loaded once, and the context is reused until its settings change. `self_cell` ties the two
//! lifetimes together without unsafe code of our own.

use std::path::PathBuf;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use self_cell::self_cell;
use tradeoff_core::models::gguf::GgufInfo;
use tradeoff_core::spec::target::ContextSettings;

#[derive(Debug)]
pub(crate) struct ModelOwner {
    pub model: LlamaModel,
    pub path: PathBuf,
    pub n_gpu_layers: u32,
    pub has_chat_template: bool,
    /// The GGUF header, kept for memory estimates of later contexts.
    pub info: GgufInfo,
}

pub(crate) struct ActiveContext<'model> {
    pub settings: ContextSettings,
    pub kv_cache_bytes: Option<u64>,
    /// Tokens whose KV entries sequence 0 holds, for prefix reuse.
    pub cached: Vec<LlamaToken>,
    pub ctx: LlamaContext<'model>,
}

pub(crate) type ContextSlot<'model> = Option<ActiveContext<'model>>;

self_cell!(
    pub(crate) struct LoadedModel {
        owner: ModelOwner,
        #[not_covariant]
        dependent: ContextSlot,
    }
);

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("path", &self.borrow_owner().path)
            .field(
                "context",
                &self.with_dependent(|_, slot| slot.as_ref().map(|a| a.settings.clone())),
            )
            .finish()
    }
}
