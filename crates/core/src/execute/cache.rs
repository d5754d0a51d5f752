//! The response cache: a run whose request was already answered can take the stored answer
//! instead of calling the model again. The key is content-addressed (blake3 over a canonical
//! serialization of everything that shapes the answer), hits are labelled `cache_hit`, cost
//! nothing, and never enter latency, throughput or cost statistics; what they saved is reported.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::run::{FinishReason, RunMetrics};
use crate::spec::experiment::{ChatTemplateChoice, Target, TargetKind};
use crate::spec::prompt::RenderedPrompt;
use crate::spec::target::LocalSettings;

/// A stored answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedRun {
    pub output: String,
    pub finish_reason: FinishReason,
    /// What the original run measured (shown for reference; never in statistics).
    pub metrics: RunMetrics,
    pub warnings: Vec<String>,
}

/// The cache key of one run: the model (its file's sha256, or the API, endpoint and model
/// name), the local settings, every sampling setting, the chat template, the rendered prompt,
/// and the repetition (so a cached experiment replays each repetition's own answer).
pub fn cache_key(
    target: &Target,
    settings: Option<LocalSettings>,
    prompt: &RenderedPrompt,
    repetition: u32,
) -> String {
    // A remote target's chat template reads `none`, as in keys written before targets had kinds:
    // the key of an unchanged run must not change.
    let (model, chat_template) = match &target.kind {
        TargetKind::Remote(remote) => (
            json!({
                "provider": remote.provider,
                "base_url": remote.base_url,
                "model": remote.model,
                "extra_body": remote.extra_body,
            }),
            ChatTemplateChoice::None.to_string(),
        ),
        TargetKind::Local(local) => (
            match &local.model_sha256 {
                Some(sha256) => json!({ "sha256": sha256 }),
                None => json!({ "path": local.model.path }),
            },
            local.chat_template.to_string(),
        ),
    };
    let canonical = json!({
        "v": 1,
        "model": model,
        "settings": settings,
        "sampling": target.sampling,
        "chat_template": chat_template,
        "prompt": prompt,
        "repetition": repetition,
    });
    // serde_json writes object keys sorted (no preserve_order feature), so equal content
    // always gives equal bytes.
    blake3::hash(canonical.to_string().as_bytes())
        .to_hex()
        .to_string()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::load::{FileFormat, parse_str};

    fn target(extra: &str) -> Target {
        parse_str(
            &format!("schema: 1\nvariants: [{{id: v, prompt: p}}]\ncases: [{{}}]\ntargets: [{{id: t, model: m.gguf{extra}}}]\n"),
            FileFormat::Yaml,
            "t.yaml",
            Path::new("/m"),
        )
        .unwrap()
        .targets
        .remove(0)
    }

    #[test]
    fn the_key_changes_with_everything_that_shapes_the_answer_and_nothing_else() {
        let prompt = RenderedPrompt::Raw {
            prompt: "Q: 1\nA:".into(),
        };
        let base = target("");
        let key = cache_key(
            &base,
            base.config_settings().first().copied().flatten(),
            &prompt,
            0,
        );
        assert_eq!(
            key,
            cache_key(
                &base,
                base.config_settings().first().copied().flatten(),
                &prompt,
                0
            ),
            "stable"
        );
        assert_eq!(key.len(), 64);
        let other_prompt = RenderedPrompt::Raw {
            prompt: "Q: 2\nA:".into(),
        };
        assert_ne!(
            key,
            cache_key(
                &base,
                base.config_settings().first().copied().flatten(),
                &other_prompt,
                0
            )
        );
        assert_ne!(
            key,
            cache_key(
                &base,
                base.config_settings().first().copied().flatten(),
                &prompt,
                1
            )
        );
        let hotter = target(", temperature: 0.7");
        assert_ne!(
            key,
            cache_key(
                &hotter,
                hotter.config_settings().first().copied().flatten(),
                &prompt,
                0
            )
        );
        let mut hashed = base.clone();
        if let TargetKind::Local(local) = &mut hashed.kind {
            local.model_sha256 = Some("ab".repeat(32));
        }
        assert_ne!(
            key,
            cache_key(
                &hashed,
                hashed.config_settings().first().copied().flatten(),
                &prompt,
                0
            )
        );
        let longer = target(", n_ctx: 4096");
        assert_ne!(
            key,
            cache_key(
                &longer,
                longer.config_settings().first().copied().flatten(),
                &prompt,
                0
            )
        );
    }
}
