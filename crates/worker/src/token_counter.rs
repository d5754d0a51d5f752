//! The plan view counts a local config's prompt tokens with llama.cpp's tokenizer, in a worker.

use tradeoff_core::execute::engine::LoadRequest;
use tradeoff_core::execute::engine::LocalTokenCounter;
use tradeoff_core::run::RunError;
use tradeoff_core::spec::experiment::ChatTemplateChoice;
use tradeoff_core::spec::prompt::RenderedPrompt;

use crate::WorkerEngine;

impl LocalTokenCounter for WorkerEngine {
    fn count_prompt_tokens(
        &mut self,
        load: &LoadRequest,
        prompt: &RenderedPrompt,
        chat_template: &ChatTemplateChoice,
    ) -> Result<(u32, Vec<String>), RunError> {
        WorkerEngine::count_prompt_tokens(self, load, prompt, chat_template)
    }
}
