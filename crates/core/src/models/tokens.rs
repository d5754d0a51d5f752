//! Input tokens of a hosted model before it runs. OpenAI models are counted with OpenAI's own
//! tokenizer (tiktoken's BPE vocabularies, as `tiktoken-rs` ships them; the model → encoding map
//! is tiktoken's); other hosted models have no public tokenizer, so their counts are estimates
//! (about four characters per token) and say so. Local models are counted by llama.cpp in the
//! worker, chat template applied (`WorkerEngine::count_prompt_tokens`).

use serde::{Deserialize, Serialize};
use tiktoken_rs::CoreBPE;
use tiktoken_rs::tokenizer::{Tokenizer, get_tokenizer};

use crate::spec::prompt::RenderedPrompt;
use crate::spec::target::remote::ProviderKind;

/// A count and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenCount {
    pub tokens: u32,
    /// `false` for an estimate (no tokenizer of the model here).
    pub exact: bool,
    /// What counted: `llama.cpp`, `tiktoken o200k_base` or `estimate (~4 characters per token)`.
    pub counted_by: String,
}

/// Chat framing OpenAI documents for its chat models ("How to count tokens with tiktoken"):
/// every message costs 3 tokens besides its role and content, and the reply is primed with 3.
const TOKENS_PER_MESSAGE: u32 = 3;
const TOKENS_REPLY_PRIMING: u32 = 3;

/// The tiktoken encoding of an OpenAI model (`gpt-4o-mini` → `o200k_base`), if it is one.
pub fn openai_encoding(model: &str) -> Option<(&'static str, &'static CoreBPE)> {
    match get_tokenizer(model)? {
        Tokenizer::O200kBase => Some(("o200k_base", tiktoken_rs::o200k_base_singleton())),
        Tokenizer::O200kHarmony => Some(("o200k_harmony", tiktoken_rs::o200k_harmony_singleton())),
        Tokenizer::Cl100kBase => Some(("cl100k_base", tiktoken_rs::cl100k_base_singleton())),
        Tokenizer::P50kBase => Some(("p50k_base", tiktoken_rs::p50k_base_singleton())),
        Tokenizer::P50kEdit => Some(("p50k_edit", tiktoken_rs::p50k_edit_singleton())),
        Tokenizer::R50kBase | Tokenizer::Gpt2 => Some(("r50k_base", tiktoken_rs::r50k_base_singleton())),
    }
}

/// Tokens of `text` as ordinary text (special-token look-alikes are text, as providers treat
/// user content).
pub fn count_text(bpe: &CoreBPE, text: &str) -> u32 {
    u32::try_from(bpe.encode_ordinary(text).len()).unwrap_or(u32::MAX)
}

/// The input tokens a hosted model will see for `prompt`.
pub fn count_hosted(provider: ProviderKind, model: &str, prompt: &RenderedPrompt) -> TokenCount {
    let encoding = match provider {
        ProviderKind::Openai => openai_encoding(model),
        ProviderKind::Anthropic | ProviderKind::Gemini => None,
    };
    let Some((name, bpe)) = encoding else {
        return TokenCount {
            tokens: estimate_tokens(&prompt.plain_text()),
            exact: false,
            counted_by: "estimate (~4 characters per token)".into(),
        };
    };
    let tokens = match prompt {
        RenderedPrompt::Raw { prompt } => count_text(bpe, prompt),
        RenderedPrompt::Chat { messages } => {
            messages
                .iter()
                .map(|m| TOKENS_PER_MESSAGE + count_text(bpe, m.role.as_str()) + count_text(bpe, &m.content))
                .sum::<u32>()
                + TOKENS_REPLY_PRIMING
        }
    };
    TokenCount {
        tokens,
        exact: true,
        counted_by: format!("tiktoken {name}"),
    }
}

/// About four characters per token: the usual rule for English text with BPE tokenizers. Used
/// where no tokenizer of the model is at hand, and always labelled as an estimate.
pub fn estimate_tokens(text: &str) -> u32 {
    u32::try_from(text.chars().count().div_ceil(4)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::file::Role;
    use crate::spec::prompt::ChatMessage;

    fn fixture() -> serde_json::Value {
        // Read at run time: a test binary reused from a build in another checkout keeps the
        // compile-time path of that checkout.
        let path = std::path::Path::new(
            &std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
        )
        .join("../../fixtures/tokens/tiktoken-samples.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn token_counts_equal_python_tiktoken_on_the_committed_samples() {
        let fixture = fixture();
        let samples = fixture["samples"].as_array().unwrap();
        assert!(samples.len() >= 20);
        for sample in samples {
            let encoding = sample["encoding"].as_str().unwrap();
            let bpe = match encoding {
                "o200k_base" => tiktoken_rs::o200k_base_singleton(),
                "cl100k_base" => tiktoken_rs::cl100k_base_singleton(),
                other => panic!("no sample encoding {other}"),
            };
            let text = sample["text"].as_str().unwrap();
            let tokens: Vec<u64> = bpe.encode_ordinary(text).into_iter().map(u64::from).collect();
            let expected: Vec<u64> = sample["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_u64().unwrap())
                .collect();
            assert_eq!(tokens, expected, "{encoding} on {text:?}");
            assert_eq!(
                u64::from(count_text(bpe, text)),
                sample["count"].as_u64().unwrap()
            );
        }
    }

    #[test]
    fn openai_models_map_to_the_encoding_tiktoken_gives_them() {
        let fixture = fixture();
        for (model, encoding) in fixture["models"].as_object().unwrap() {
            let (name, _) = openai_encoding(model).unwrap_or_else(|| panic!("{model}: no encoding"));
            assert_eq!(name, encoding.as_str().unwrap(), "{model}");
        }
        assert!(openai_encoding("llama-3.1-8b-instruct").is_none());
    }

    #[test]
    fn a_chat_prompt_counts_its_framing_and_other_providers_are_estimated() {
        let bpe = tiktoken_rs::o200k_base_singleton();
        let messages = vec![
            ChatMessage {
                role: Role::System,
                content: "Answer briefly.".into(),
            },
            ChatMessage {
                role: Role::User,
                content: "What is the capital of France?".into(),
            },
        ];
        let expected = 3
            + 1
            + count_text(bpe, "Answer briefly.")
            + 3
            + 1
            + count_text(bpe, "What is the capital of France?")
            + 3;
        let prompt = RenderedPrompt::Chat { messages };
        let count = count_hosted(ProviderKind::Openai, "gpt-4o-mini", &prompt);
        assert_eq!((count.tokens, count.exact), (expected, true));
        assert_eq!(count.counted_by, "tiktoken o200k_base");

        let raw = RenderedPrompt::Raw {
            prompt: "Q: 2+2?\nA:".into(),
        };
        assert_eq!(
            count_hosted(ProviderKind::Openai, "gpt-3.5-turbo-instruct", &raw).tokens,
            count_text(tiktoken_rs::cl100k_base_singleton(), "Q: 2+2?\nA:")
        );
        let estimated = count_hosted(ProviderKind::Anthropic, "claude-3-5-haiku-latest", &prompt);
        assert!(!estimated.exact);
        assert_eq!(estimated.tokens, estimate_tokens(&prompt.plain_text()));
        // An OpenAI-compatible server with a model tiktoken does not know is estimated too.
        assert!(!count_hosted(ProviderKind::Openai, "qwen2.5-7b", &prompt).exact);
    }
}
