//! Turning a rendered prompt into the exact text the model sees.

use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use tradeoff_core::run::{ErrorClass, RunError};
use tradeoff_core::spec::experiment::ChatTemplateChoice;
use tradeoff_core::spec::prompt::RenderedPrompt;

/// Recorded on every run where a chat-shaped variant met a model without a chat template.
pub(crate) const NO_TEMPLATE_WARNING: &str = "the model has no chat template, so this chat-shaped \
variant was sent as plain text (messages joined by blank lines); base models do best with a raw \
`prompt` variant, or set the target's chat_template to a built-in name such as gemma or chatml";

/// The prompt text for the model, and warnings about how it was produced.
pub(crate) fn prompt_text(
    model: &LlamaModel,
    prompt: &RenderedPrompt,
    choice: &ChatTemplateChoice,
) -> Result<(String, Vec<String>), RunError> {
    let RenderedPrompt::Chat { messages } = prompt else {
        return Ok((prompt.plain_text(), Vec::new()));
    };
    let template = match choice {
        ChatTemplateChoice::None => return Ok((prompt.plain_text(), Vec::new())),
        ChatTemplateChoice::Auto => match model.chat_template(None) {
            Ok(template) => template,
            Err(_) => return Ok((prompt.plain_text(), vec![NO_TEMPLATE_WARNING.to_string()])),
        },
        ChatTemplateChoice::Named(name) => LlamaChatTemplate::new(name).map_err(|e| {
            RunError::new(
                ErrorClass::ChatTemplate,
                format!("chat template name `{name}`: {e}"),
            )
        })?,
    };
    let chat = messages
        .iter()
        .map(|m| LlamaChatMessage::new(m.role.as_str().to_string(), m.content.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| RunError::new(ErrorClass::ChatTemplate, format!("message: {e}")))?;
    let text = model.apply_chat_template(&template, &chat, true).map_err(|e| {
        RunError::new(
            ErrorClass::ChatTemplate,
            format!("llama.cpp could not apply chat template {choice}: {e}"),
        )
    })?;
    Ok((text, Vec::new()))
}
