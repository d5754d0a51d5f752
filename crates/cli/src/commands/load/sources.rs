//! What a load test sends: the cases a winner was measured on (read back from the database),
//! synthetic prompts of a given length counted with the target's tokenizer where it has one, and
//! for a local winner the server that answers them (`tradeoff serve`'s own, on a free loopback
//! port, for as long as the test runs).

use std::path::Path;

use tokio::sync::oneshot;
use tradeoff_core::analyze::winner::{Winner, WinnerExport, read_winner};
use tradeoff_core::models::tokens::count_hosted;
use tradeoff_core::spec::experiment::{Case, Experiment, Sampling, TargetKind, Variant};
use tradeoff_core::spec::file::Role;
use tradeoff_core::spec::load::load_file;
use tradeoff_core::spec::prompt::{ChatMessage, PromptRenderer, RenderedPrompt};
use tradeoff_core::spec::target::remote::{ProviderKind, RemoteTarget};
use tradeoff_core::stats::SplitMix64;
use tradeoff_serve::{Deployment, ServeOptions};
use tradeoff_worker::WorkerCommand;

use super::LoadArgs;
use crate::exit::Exit;

/// Distinct synthetic prompts: enough that a server's prefix cache cannot answer them all from
/// one entry.
const SYNTHETIC_PROMPTS: usize = 32;
/// The longest synthetic prompt: beyond, a load test measures the tokenizer.
const MAX_SYNTHETIC_TOKENS: u32 = 32_768;

const WORDS: [&str; 24] = [
    "river", "market", "window", "garden", "engine", "letter", "silver", "harbor", "forest", "planet",
    "season", "bridge", "camera", "doctor", "island", "pencil", "rocket", "signal", "valley", "winter",
    "orange", "castle", "museum", "ticket",
];

/// `count` prompts of about `tokens` input tokens each, as one user message, and what counted
/// them (`tiktoken o200k_base`, or an estimate for a model without a public tokenizer).
pub fn synthetic(target: &RemoteTarget, tokens: u32, seed: u64) -> (Vec<RenderedPrompt>, String) {
    let tokens = tokens.clamp(1, MAX_SYNTHETIC_TOKENS);
    let mut rng = SplitMix64(seed ^ 0x005E_ED0F_10AD);
    let mut counted_by = String::new();
    let prompts = (0..SYNTHETIC_PROMPTS)
        .map(|_| {
            let mut text = String::new();
            loop {
                let prompt = message(&text);
                let count = count_hosted(target.provider, &target.model, &prompt);
                counted_by = count.counted_by;
                if count.tokens >= tokens {
                    return prompt;
                }
                // Words a few at a time while far from the length, one at a time near it.
                let missing = (tokens - count.tokens).div_ceil(2).max(1);
                for _ in 0..missing {
                    text.push_str(WORDS[rng.below(WORDS.len())]);
                    text.push(' ');
                }
            }
        })
        .collect();
    (prompts, counted_by)
}

fn message(text: &str) -> RenderedPrompt {
    RenderedPrompt::Chat {
        messages: vec![ChatMessage {
            role: Role::User,
            content: text.trim_end().to_string(),
        }],
    }
}

/// The experiment `id` in the database at `db` when it is the one named `name` (the winner was
/// measured on its cases); `None` when the database does not hold it.
pub fn measured_cases(db: &Path, id: i64, name: &str) -> Option<Experiment> {
    if !db.is_file() {
        return None;
    }
    let store = tradeoff_store::Store::open(db).ok()?;
    let experiment = store.experiment(id).ok()?;
    (experiment.name == name && !experiment.cases.is_empty()).then_some(experiment)
}

/// A local winner served for the test on 127.0.0.1, stopped when dropped.
pub struct LocalServer {
    pub base_url: String,
    pub model: String,
    stop: Option<oneshot::Sender<()>>,
}

impl LocalServer {
    pub async fn start(winner: &Path, parallel: u32) -> Result<LocalServer, Exit> {
        let deployment = Deployment::from_file(winner, parallel).map_err(Exit::bad_input)?;
        let model = deployment.model_name.clone();
        let worker = WorkerCommand::current_exe().map_err(Exit::failure)?;
        let options = ServeOptions {
            host: "127.0.0.1".into(),
            port: 0,
            queue: 4096,
            api_key_env: None,
            insecure_no_auth: false,
            db: None,
            retain: None,
            log_text: false,
            winner_path: winner.to_path_buf(),
            canary: None,
            exit_with_stdin: false,
        };
        let (ready, address) = oneshot::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let mut server = tokio::spawn(tradeoff_serve::serve(
            deployment,
            options,
            worker,
            move |ready_at: &tradeoff_serve::Ready| {
                let _ = ready.send(ready_at.address);
            },
            |_| {},
            async move {
                let _ = stopped.await;
            },
        ));
        tokio::select! {
            address = address => match address {
                Ok(address) => Ok(LocalServer {
                    base_url: format!("http://{address}/v1"),
                    model,
                    stop: Some(stop),
                }),
                Err(_) => Err(Exit::failure("the local server ended before it listened")),
            },
            ended = &mut server => Err(match ended {
                Ok(Err(error)) => Exit::failure(format!("serving the winner for the test: {error}")),
                _ => Exit::failure("the local server ended before it listened"),
            }),
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// What a test sends and to whom.
pub struct Subject {
    pub label: String,
    pub target: RemoteTarget,
    pub prompts: Vec<RenderedPrompt>,
    pub sampling: Sampling,
    /// Where the prompts came from, for the report.
    pub prompts_from: String,
    pub price_per_hour: Option<f64>,
    /// A local winner served for the test: stopped when dropped.
    _server: Option<LocalServer>,
}

pub async fn subject(args: &LoadArgs) -> Result<Subject, Exit> {
    if let Some(base_url) = &args.base_url {
        if args.source.is_some() {
            return Err(Exit::bad_input(
                "--base-url tests an API by itself: leave out the winner or experiment file",
            ));
        }
        let model = args
            .model
            .clone()
            .ok_or_else(|| Exit::bad_input("--base-url needs --model, the model name the API serves"))?;
        let provider = ProviderKind::parse(&args.provider).ok_or_else(|| {
            Exit::bad_input(format!(
                "--provider {}: openai, anthropic or gemini",
                args.provider
            ))
        })?;
        let target = RemoteTarget::new(
            provider,
            model.clone(),
            base_url.clone(),
            args.api_key_env.clone(),
        );
        return synthetic_subject(args, format!("{model} at {base_url}"), target, None, None);
    }
    let Some(source) = &args.source else {
        return Err(Exit::bad_input(
            "name what to load: WINNER.json, EXPERIMENT --target ID, or --base-url URL --model NAME",
        ));
    };
    let text =
        std::fs::read_to_string(source).map_err(|e| Exit::bad_input(format!("{}: {e}", source.display())))?;
    if let Ok(winner) = read_winner(&text) {
        return winner_subject(args, source, winner).await;
    }
    let experiment = load_file(source).map_err(Exit::bad_input)?;
    experiment_subject(args, &experiment)
}

fn experiment_subject(args: &LoadArgs, experiment: &Experiment) -> Result<Subject, Exit> {
    let ids: Vec<&str> = experiment.targets.iter().map(|t| t.id.as_str()).collect();
    let target_id = args.target.as_deref().ok_or_else(|| {
        Exit::bad_input(format!(
            "--target: which of the experiment's targets ({})",
            ids.join(", ")
        ))
    })?;
    let target = experiment
        .targets
        .iter()
        .find(|t| t.id == target_id)
        .ok_or_else(|| {
            Exit::bad_input(format!(
                "--target {target_id}: the targets are {}",
                ids.join(", ")
            ))
        })?;
    let TargetKind::Remote(remote) = &target.kind else {
        return Err(Exit::bad_input(format!(
            "--target {target_id} is a local model: a load test needs a server; pick the winner (`tradeoff winner ID -o winner.json`) and load that file, which serves it here"
        )));
    };
    let variant = match &args.variant {
        Some(id) => experiment
            .variants
            .iter()
            .find(|v| &v.id == id)
            .ok_or_else(|| Exit::bad_input(format!("--variant {id}: no such variant")))?,
        None => &experiment.variants[0],
    };
    let prompts = render_cases(experiment, variant)?;
    Ok(Subject {
        label: format!("{} on {target_id}", variant.id),
        target: remote.clone(),
        prompts_from: format!(
            "the {} cases of `{}` rendered by `{}`",
            prompts.len(),
            experiment.name,
            variant.id
        ),
        prompts,
        sampling: with_output_tokens(target.sampling.clone(), args),
        price_per_hour: target.price.as_ref().and_then(|p| p.per_hour),
        _server: None,
    })
}

fn render_cases(experiment: &Experiment, variant: &Variant) -> Result<Vec<RenderedPrompt>, Exit> {
    let renderer = PromptRenderer::new(std::slice::from_ref(variant)).map_err(Exit::bad_input)?;
    experiment
        .cases
        .iter()
        .map(|case: &Case| renderer.render(variant, case).map_err(Exit::bad_input))
        .collect()
}

async fn winner_subject(args: &LoadArgs, path: &Path, winner: WinnerExport) -> Result<Subject, Exit> {
    let Winner::Config(config) = &winner.winner else {
        return Err(Exit::bad_input(
            "a routing-policy winner: load-test the configs it calls (each config's winner file), or serve it (`tradeoff serve`) and load --base-url",
        ));
    };
    let price_per_hour = config.target.price.as_ref().and_then(|p| p.per_hour);
    let (target, server) = match &config.target.kind {
        TargetKind::Remote(remote) => (remote.clone(), None),
        TargetKind::Local(_) => {
            let server = LocalServer::start(path, args.max_concurrency.clamp(1, 64)).await?;
            let target = RemoteTarget::new(
                ProviderKind::Openai,
                server.model.clone(),
                server.base_url.clone(),
                None,
            );
            (target, Some(server))
        }
    };
    let label = format!(
        "{} · {} · {}",
        config.summary.variant, config.summary.target, config.summary.settings_label
    );
    let cases = measured_cases(
        &args
            .db
            .clone()
            .unwrap_or_else(tradeoff_core::paths::default_database),
        config.experiment_id,
        &config.experiment,
    );
    match (cases, args.input_tokens) {
        (Some(experiment), None) => {
            let prompts = render_cases(&experiment, &config.variant)?;
            Ok(Subject {
                label,
                target,
                prompts_from: format!("the {} cases the winner was measured on", prompts.len()),
                prompts,
                sampling: with_output_tokens(config.target.sampling.clone(), args),
                price_per_hour,
                _server: server,
            })
        }
        _ => synthetic_subject(args, label, target, price_per_hour, server),
    }
}

fn synthetic_subject(
    args: &LoadArgs,
    label: String,
    target: RemoteTarget,
    price_per_hour: Option<f64>,
    server: Option<LocalServer>,
) -> Result<Subject, Exit> {
    let input = args.input_tokens.ok_or_else(|| {
        Exit::bad_input("synthetic prompts need --input-tokens N (and --output-tokens N); or load an experiment's target, whose cases are the prompts")
    })?;
    let (prompts, counted_by) = synthetic(&target, input, args.seed);
    let mut target = target;
    if args.ignore_eos {
        target
            .extra_body
            .insert("ignore_eos".into(), serde_json::Value::Bool(true));
    }
    Ok(Subject {
        label,
        target,
        prompts_from: format!(
            "{} synthetic prompts of {input} tokens ({counted_by})",
            prompts.len()
        ),
        prompts,
        sampling: with_output_tokens(
            Sampling {
                temperature: 0.0,
                top_p: None,
                top_k: None,
                seed: u32::try_from(args.seed).unwrap_or(u32::MAX),
                max_tokens: 64,
                stop: Vec::new(),
            },
            args,
        ),
        price_per_hour,
        _server: server,
    })
}

fn with_output_tokens(mut sampling: Sampling, args: &LoadArgs) -> Sampling {
    if let Some(n) = args.output_tokens {
        sampling.max_tokens = n;
    }
    sampling
}
