//! One request for a target's wire format: the provider module that speaks it builds the request
//! and its stream parser, and the target's `extra_body` is added. The one place that knows every
//! wire format; the formats share only `provider`'s vocabulary, never each other.

use serde_json::Value;
use tradeoff_core::spec::experiment::Sampling;
use tradeoff_core::spec::prompt::RenderedPrompt;

use super::provider::{HttpRequest, StreamParser};
use super::{ProviderKind, RemoteTarget, anthropic, gemini, openai};

/// The request and parser for a target and prompt.
pub(crate) fn prepare(
    target: &RemoteTarget,
    prompt: &RenderedPrompt,
    sampling: &Sampling,
    key: Option<&str>,
) -> (HttpRequest, Box<dyn StreamParser>) {
    let (mut request, parser) = match target.provider {
        ProviderKind::Openai => openai::prepare(target, prompt, sampling, key),
        ProviderKind::Anthropic => anthropic::prepare(target, prompt, sampling, key),
        ProviderKind::Gemini => gemini::prepare(target, prompt, sampling, key),
    };
    // Validation keeps reserved fields out of `extra_body`, so nothing Tradeoff set is replaced.
    if let Value::Object(body) = &mut request.body {
        for (name, value) in &target.extra_body {
            body.entry(name.clone()).or_insert_with(|| value.clone());
        }
    }
    (request, parser)
}
