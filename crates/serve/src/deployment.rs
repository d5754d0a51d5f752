//! What a winner file says to serve: the winning variant's templates, the model file it was
//! measured with (checked to be the same file, by its sha256), the settings and the sampling;
//! for a routing policy, each config it calls and the policy itself. Everything is checked here,
//! before a worker starts, and each refusal names the file and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tradeoff_core::analyze::export::ConfigExport;
use tradeoff_core::analyze::report::ConfigSummary;
use tradeoff_core::analyze::winner::{Winner, WinnerExport, read_winner};
use tradeoff_core::execute::engine::LoadRequest;
use tradeoff_core::models::gguf::sha256_file;
use tradeoff_core::spec::cost::Price;
use tradeoff_core::spec::experiment::{
    Case, ChatTemplateChoice, PromptTemplate, Sampling, TargetKind, Variant,
};
use tradeoff_core::spec::policy::Policy;
use tradeoff_core::spec::prompt::{PromptRenderer, RenderedPrompt};
use tradeoff_core::spec::target::LocalSettings;
use tradeoff_core::spec::target::remote::RemoteTarget;

use crate::error::ServeError;

/// Winner files are small; a bigger one is not one.
const MAX_WINNER_BYTES: u64 = 16 * 1024 * 1024;

/// Where a served config runs.
#[derive(Debug, Clone)]
pub enum Engine {
    /// The model file with its settings, and how chat messages become its prompt.
    Local(LoadRequest, ChatTemplateChoice),
    /// Requests are proxied to the API with the winner's settings and its key.
    Remote(RemoteTarget),
}

/// What a winner file serves: one config, or a routing policy over several.
#[derive(Debug)]
pub struct Deployment {
    /// The name `/v1/models` lists and responses carry: `<variant>@<target>`, or the policy's id.
    pub model_name: String,
    /// How people read it (`fewshot · gemma-270m-q4 · n_ctx 512`, or the policy's stages).
    pub label: String,
    /// The configs served: the winner, or every config its policy calls (`ConfigRef::index`).
    pub configs: Vec<ServedConfig>,
    /// Where they run: configs on the same model file with the same settings share one engine,
    /// its worker and its slots.
    pub engines: Vec<Engine>,
    /// The routing policy that answers each request, when the winner is one.
    pub policy: Option<Policy>,
    /// Requests served at once per engine: the local context's sequences, or concurrent calls to
    /// the API.
    pub slots: u32,
    pub experiment: String,
    pub experiment_id: i64,
    pub winner: WinnerExport,
}

/// One config as it is served.
#[derive(Debug)]
pub struct ServedConfig {
    /// `<variant>@<target>`.
    pub model_name: String,
    /// How people read the config (`fewshot · gemma-270m-q4 · n_ctx 512`).
    pub label: String,
    pub variant: Variant,
    renderer: PromptRenderer,
    /// Its place in `Deployment::engines`.
    pub engine: usize,
    pub chat_template: ChatTemplateChoice,
    /// The winner's sampling: every request's defaults.
    pub sampling: Sampling,
    /// The config's price, for each request's cost.
    pub price: Option<Price>,
    /// The model file's sha256, as measured and as found here (they are equal).
    pub model_sha256: Option<String>,
    /// What was measured for this config: what the served one is held to.
    pub measured: ConfigSummary,
    max_tokens_limit: u32,
}

impl Deployment {
    /// Reads and checks the winner file at `path` for serving with `slots` parallel slots.
    pub fn from_file(path: &Path, slots: u32) -> Result<Deployment, ServeError> {
        let refused = |message: String| ServeError::Winner {
            path: path.to_path_buf(),
            message,
        };
        let metadata = std::fs::metadata(path).map_err(|e| refused(e.to_string()))?;
        if !metadata.is_file() {
            return Err(refused("not a file".into()));
        }
        if metadata.len() > MAX_WINNER_BYTES {
            return Err(refused(format!(
                "{} bytes: a winner file is at most {MAX_WINNER_BYTES} bytes",
                metadata.len()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| refused(e.to_string()))?;
        let winner = read_winner(&text).map_err(|e| refused(e.to_string()))?;
        let slots = slots.max(1);
        let mut engines: Vec<Engine> = Vec::new();
        match &winner.winner {
            Winner::Config(config) => {
                let served = ServedConfig::new(path, config, slots, &mut engines)?;
                Ok(Deployment {
                    model_name: served.model_name.clone(),
                    label: served.label.clone(),
                    experiment: config.experiment.clone(),
                    experiment_id: config.experiment_id,
                    configs: vec![served],
                    engines,
                    policy: None,
                    slots,
                    winner,
                })
            }
            Winner::Policy(export) => {
                let origin = path.display().to_string();
                let policy = export.resolve(&origin).map_err(|e| refused(e.to_string()))?;
                let configs = export
                    .configs
                    .iter()
                    .map(|config| ServedConfig::new(path, config, slots, &mut engines))
                    .collect::<Result<Vec<_>, _>>()?;
                let records_confidence = |config: &tradeoff_core::spec::policy::ConfigRef| {
                    export
                        .configs
                        .get(config.index)
                        .is_none_or(|c| match &c.target.kind {
                            TargetKind::Local(_) => true,
                            TargetKind::Remote(remote) => remote.logprobs,
                        })
                };
                if let Some(reason) = policy.cannot_run_live(records_confidence) {
                    return Err(ServeError::Field {
                        path: path.to_path_buf(),
                        field: "winner.policy",
                        message: reason,
                    });
                }
                let stages: Vec<String> = match &policy.plan {
                    tradeoff_core::spec::policy::PolicyPlan::Cascade(stages) => {
                        stages.iter().map(|s| s.label()).collect()
                    }
                    tradeoff_core::spec::policy::PolicyPlan::Route(routes) => {
                        routes.iter().map(|r| r.config.label.clone()).collect()
                    }
                };
                Ok(Deployment {
                    model_name: policy.id.clone(),
                    label: format!("policy {} ({})", policy.id, stages.join(" → ")),
                    experiment: export.experiment.clone(),
                    experiment_id: export.experiment_id,
                    configs,
                    engines,
                    policy: Some(policy),
                    slots,
                    winner,
                })
            }
        }
    }

    /// The config a single-config winner serves (a policy's first).
    pub fn first(&self) -> &ServedConfig {
        &self.configs[0]
    }

    /// The id `/v1/variants/{id}/completions` answers to: the variant's, or the policy's (each
    /// stage then renders its own variant).
    pub fn variant_route(&self) -> &str {
        match &self.policy {
            Some(policy) => &policy.id,
            None => &self.first().variant.id,
        }
    }
}

impl ServedConfig {
    fn new(
        path: &Path,
        config: &ConfigExport,
        slots: u32,
        engines: &mut Vec<Engine>,
    ) -> Result<ServedConfig, ServeError> {
        let field = |field: &'static str, message: String| ServeError::Field {
            path: path.to_path_buf(),
            field,
            message,
        };
        if let Some(budget) = config.variant.budget {
            // Served as measured or not at all: without the cut the prompt would not be the one
            // that won.
            return Err(field(
                "winner.variant.budget",
                format!(
                    "this config was measured with its case variable cut to {} tokens ({}); serving does not cut request variables yet: pick a config without a context budget",
                    budget.tokens,
                    budget.strategy.as_str()
                ),
            ));
        }
        let local = match &config.target.kind {
            TargetKind::Local(local) => local,
            TargetKind::Remote(remote) => {
                let mut remote = remote.clone();
                remote.max_concurrency = slots;
                engines.push(Engine::Remote(remote));
                return ServedConfig::common(
                    config,
                    engines.len() - 1,
                    ChatTemplateChoice::Auto,
                    None,
                    u32::MAX,
                )
                .map_err(|e| field("winner.variant", e));
            }
        };
        let settings: LocalSettings = config.settings.ok_or_else(|| {
            field(
                "winner.settings",
                "a local winner names its settings (n_ctx, threads, ...)".into(),
            )
        })?;
        let model_path = model_file(&local.model.path, local.model.is_default())
            .map_err(|message| field("winner.target.model.path", message))?;
        let measured_sha = config.provenance.model_sha256.clone();
        let found_sha = sha256_file(&model_path).map_err(|e| {
            field(
                "winner.target.model.path",
                format!("{}: {e}", model_path.display()),
            )
        })?;
        if let Some(measured) = &measured_sha
            && measured != &found_sha
        {
            return Err(field(
                "winner.provenance.model_sha256",
                format!(
                    "{} is not the file the winner was measured with (sha256 {found_sha}, measured {measured}): measure again with this file, or put the measured one back",
                    model_path.display()
                ),
            ));
        }
        let mut load = settings.load_request(model_path);
        load.context.sequences = slots;
        let n_ctx = load.context.n_ctx;
        let engine = Engine::Local(load, local.chat_template.clone());
        let index = match engines.iter().position(|e| e.same_local(&engine)) {
            Some(index) => index,
            None => {
                engines.push(engine);
                engines.len() - 1
            }
        };
        ServedConfig::common(config, index, local.chat_template.clone(), Some(found_sha), n_ctx)
            .map_err(|e| field("winner.variant", e))
    }

    /// What every kind of config has: its template, sampling, price and measured figures.
    fn common(
        config: &ConfigExport,
        engine: usize,
        chat_template: ChatTemplateChoice,
        model_sha256: Option<String>,
        max_tokens_limit: u32,
    ) -> Result<ServedConfig, String> {
        let renderer =
            PromptRenderer::new(std::slice::from_ref(&config.variant)).map_err(|e| e.to_string())?;
        let summary = &config.summary;
        Ok(ServedConfig {
            model_name: format!("{}@{}", config.variant.id, config.target.id),
            label: format!(
                "{} · {} · {}",
                summary.variant, summary.target, summary.settings_label
            ),
            variant: config.variant.clone(),
            renderer,
            engine,
            chat_template,
            sampling: config.target.sampling.clone(),
            price: config.target.price.clone(),
            model_sha256,
            measured: summary.clone(),
            max_tokens_limit,
        })
    }

    /// The most `max_tokens` a request may ask for: below the local context; an API's own
    /// limit is the API's to enforce.
    pub fn max_tokens_limit(&self) -> u32 {
        self.max_tokens_limit
    }

    /// The config's own prompt for `vars`, as its measured runs rendered it for a case.
    pub fn render(&self, vars: BTreeMap<String, serde_json::Value>) -> Result<RenderedPrompt, String> {
        let case = Case {
            id: "request".into(),
            vars,
            expected: None,
            checks: Vec::new(),
        };
        self.renderer
            .render(&self.variant, &case)
            .map_err(|e| e.to_string())
    }

    /// What this config serves, as `tradeoff serve --check` prints it (`engine`: where it runs).
    fn describe(&self, engine: &Engine, slots: u32) -> Vec<String> {
        let sampling = &self.sampling;
        let summary = &self.measured;
        let percent = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:.0} %", v * 100.0));
        let ms = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.0} ms"));
        let prompt = match &self.variant.template {
            PromptTemplate::Raw { .. } => "a raw completion prompt",
            PromptTemplate::Chat { .. } => "chat messages",
        };
        vec![
            match engine {
                Engine::Local(load, _) => format!(
                    "  model: {} (sha256 {}, the measured file)\n  settings: {} slots of n_ctx {}, threads {}, batch {}, kv cache {}",
                    load.model_path.display(),
                    self.model_sha256.as_deref().unwrap_or("?"),
                    load.context.sequences,
                    load.context.n_ctx,
                    load.context.threads,
                    load.context.batch,
                    load.context.kv_type
                ),
                Engine::Remote(remote) => format!(
                    "  remote: {} {} at {}, key {}; up to {slots} requests at once",
                    remote.provider.label(),
                    remote.model,
                    remote.base_url,
                    remote
                        .api_key_env
                        .as_deref()
                        .map_or("none".to_string(), |v| format!("from `{v}`")),
                ),
            },
            format!("  chat template: {}", self.chat_template),
            format!(
                "  sampling defaults: temperature {}, top_p {}, top_k {}, max_tokens {}, stop {:?}, seed {}",
                sampling.temperature,
                sampling.top_p.map_or("—".into(), |p| p.to_string()),
                sampling.top_k.map_or("—".into(), |k| k.to_string()),
                sampling.max_tokens,
                sampling.stop,
                sampling.seed
            ),
            format!("  variant `{}` ({prompt})", self.variant.id),
            format!(
                "  measured: pass rate {}, p50 {}, p95 {} over {} runs",
                percent(summary.pass_rate),
                ms(summary.latency_p50_ms),
                ms(summary.latency_p95_ms),
                summary.runs,
            ),
        ]
    }
}

impl Deployment {
    /// What would be served, as `tradeoff serve --check` prints it.
    pub fn describe(&self) -> String {
        let mut lines = vec![format!("serves {} as model `{}`", self.label, self.model_name)];
        if self.policy.is_some() {
            lines.push("  each request goes through the policy's stages; every config it calls:".to_string());
        }
        for config in &self.configs {
            if self.policy.is_some() {
                lines.push(format!("- {}", config.label));
            }
            lines.extend(config.describe(&self.engines[config.engine], self.slots));
        }
        let route = self.variant_route();
        lines.push(match &self.policy {
            None => format!(
                "  POST /v1/variants/{route}/completions with {{\"vars\": {{...}}}} renders the variant; /v1/chat/completions and /v1/completions take the client's own prompt"
            ),
            Some(policy) => match policy.reads_vars() {
                Some(var) => format!(
                    "  POST /v1/variants/{route}/completions with {{\"vars\": {{...}}}}: each stage renders its own variant; the policy decides by the variable `{var}`, so /v1/chat/completions and /v1/completions (no variables) are refused"
                ),
                None => format!(
                    "  POST /v1/variants/{route}/completions with {{\"vars\": {{...}}}}: each stage renders its own variant; /v1/chat/completions and /v1/completions send the client's own prompt through the stages"
                ),
            },
        });
        lines.push(format!(
            "  measured in experiment {} `{}`",
            self.experiment_id, self.experiment
        ));
        lines.join("\n")
    }
}

impl Engine {
    /// Two local configs on the same file with the same settings run on one worker.
    fn same_local(&self, other: &Engine) -> bool {
        matches!((self, other), (Engine::Local(a, x), Engine::Local(b, y)) if a == b && x == y)
    }
}

/// A winner file names the model where it was measured; on another machine the default model
/// lives in this machine's data folder.
fn model_file(path: &Path, is_default: bool) -> Result<PathBuf, String> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let here = tradeoff_core::paths::default_model();
    if is_default && here.is_file() {
        return Ok(here);
    }
    Err(format!(
        "{} does not exist here: copy the model file there, or measure again on this machine",
        path.display()
    ))
}
