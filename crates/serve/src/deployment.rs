//! What a winner file says to serve: the winning variant's templates, the model file it was
//! measured with (checked to be the same file, by its sha256), the settings and the sampling.
//! Everything is checked here, before a worker starts, and each refusal names the file and the
//! field.

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
use tradeoff_core::spec::prompt::{PromptRenderer, RenderedPrompt};
use tradeoff_core::spec::target::LocalSettings;
use tradeoff_core::spec::target::remote::RemoteTarget;

use crate::error::ServeError;

/// Winner files are small; a bigger one is not one.
const MAX_WINNER_BYTES: u64 = 16 * 1024 * 1024;

/// Where a served config runs.
#[derive(Debug, Clone)]
pub enum Engine {
    Local(LoadRequest),
    /// Requests are proxied to the API with the winner's settings and its key.
    Remote(RemoteTarget),
}

#[derive(Debug)]
pub struct Deployment {
    /// The name `/v1/models` lists and responses carry (`<variant>@<target>`).
    pub model_name: String,
    /// How people read the config (`fewshot · gemma-270m-q4 · n_ctx 512`).
    pub label: String,
    pub variant: Variant,
    renderer: PromptRenderer,
    /// Where it runs: the local model with one context sequence per slot, or the remote API.
    pub engine: Engine,
    /// Requests served at once: the local context's sequences, or concurrent calls to the API.
    pub slots: u32,
    pub chat_template: ChatTemplateChoice,
    /// The winner's sampling: every request's defaults.
    pub sampling: Sampling,
    /// The winner's price, for each request's cost.
    pub price: Option<Price>,
    /// The model file's sha256, as measured and as found here (they are equal).
    pub model_sha256: Option<String>,
    /// What was measured for this config: what the served one is held to.
    pub measured: ConfigSummary,
    pub experiment: String,
    pub experiment_id: i64,
    pub winner: WinnerExport,
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
        let config = match &winner.winner {
            Winner::Config(config) => config.as_ref().clone(),
            Winner::Policy(policy) => {
                return Err(refused(format!(
                    "the winner is routing policy `{}`; `tradeoff serve` serves a single config so far: pick the winner among configs (`tradeoff winner ID --policy` with an empty policy file) or serve one of the configs it calls",
                    policy.policy.id
                )));
            }
        };
        Deployment::of_config(path, winner.clone(), &config, slots)
    }

    fn of_config(
        path: &Path,
        winner: WinnerExport,
        config: &ConfigExport,
        slots: u32,
    ) -> Result<Deployment, ServeError> {
        let field = |field: &'static str, message: String| ServeError::Field {
            path: path.to_path_buf(),
            field,
            message,
        };
        let local = match &config.target.kind {
            TargetKind::Local(local) => local,
            TargetKind::Remote(remote) => {
                let mut remote = remote.clone();
                remote.max_concurrency = slots.max(1);
                return Deployment::common(
                    config,
                    winner,
                    Engine::Remote(remote),
                    slots,
                    ChatTemplateChoice::Auto,
                    None,
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
        load.context.sequences = slots.max(1);
        Deployment::common(
            config,
            winner,
            Engine::Local(load),
            slots,
            local.chat_template.clone(),
            Some(found_sha),
        )
        .map_err(|e| field("winner.variant", e))
    }

    /// What every kind of winner has: its template, sampling, price and measured figures.
    fn common(
        config: &ConfigExport,
        winner: WinnerExport,
        engine: Engine,
        slots: u32,
        chat_template: ChatTemplateChoice,
        model_sha256: Option<String>,
    ) -> Result<Deployment, String> {
        let renderer =
            PromptRenderer::new(std::slice::from_ref(&config.variant)).map_err(|e| e.to_string())?;
        let summary = &config.summary;
        Ok(Deployment {
            model_name: format!("{}@{}", config.variant.id, config.target.id),
            label: format!(
                "{} · {} · {}",
                summary.variant, summary.target, summary.settings_label
            ),
            variant: config.variant.clone(),
            renderer,
            engine,
            slots: slots.max(1),
            chat_template,
            sampling: config.target.sampling.clone(),
            price: config.target.price.clone(),
            model_sha256,
            measured: summary.clone(),
            experiment: config.experiment.clone(),
            experiment_id: config.experiment_id,
            winner,
        })
    }

    /// The most `max_tokens` a request may ask for: below the local context; an API's own
    /// limit is the API's to enforce.
    pub fn max_tokens_limit(&self) -> u32 {
        match &self.engine {
            Engine::Local(load) => load.context.n_ctx,
            Engine::Remote(_) => u32::MAX,
        }
    }

    /// The winner's own prompt for `vars`, as its measured runs rendered it for a case.
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

    /// What would be served, as `tradeoff serve --check` prints it.
    pub fn describe(&self) -> String {
        let sampling = &self.sampling;
        let summary = &self.measured;
        let percent = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:.0} %", v * 100.0));
        let ms = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.0} ms"));
        let prompt = match &self.variant.template {
            PromptTemplate::Raw { .. } => "a raw completion prompt",
            PromptTemplate::Chat { .. } => "chat messages",
        };
        [
            format!("serves {} as model `{}`", self.label, self.model_name),
            match &self.engine {
                Engine::Local(load) => format!(
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
                    "  remote: {} {} at {}, key {}; up to {} requests at once",
                    remote.provider.label(),
                    remote.model,
                    remote.base_url,
                    remote
                        .api_key_env
                        .as_deref()
                        .map_or("none".to_string(), |v| format!("from `{v}`")),
                    self.slots
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
            format!(
                "  variant `{}` ({prompt}): POST /v1/variants/{}/completions with {{\"vars\": {{...}}}} renders it; /v1/chat/completions and /v1/completions take the client's own prompt",
                self.variant.id, self.variant.id
            ),
            format!(
                "  measured: pass rate {}, p50 {}, p95 {} over {} runs (experiment {} `{}`)",
                percent(summary.pass_rate),
                ms(summary.latency_p50_ms),
                ms(summary.latency_p95_ms),
                summary.runs,
                self.experiment_id,
                self.experiment
            ),
        ]
        .join("\n")
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
