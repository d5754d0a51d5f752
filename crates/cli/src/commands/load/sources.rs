//! What a load test sends: the cases a winner was measured on (read back from the database),
//! synthetic prompts of a given length counted with the target's tokenizer where it has one, and
//! for a local winner the server that answers them (`tradeoff serve`'s own, on a free loopback
//! port, for as long as the test runs).

use std::path::Path;

use tokio::sync::oneshot;
use tradeoff_core::models::tokens::count_hosted;
use tradeoff_core::spec::experiment::Experiment;
use tradeoff_core::spec::file::Role;
use tradeoff_core::spec::prompt::{ChatMessage, RenderedPrompt};
use tradeoff_core::spec::target::remote::RemoteTarget;
use tradeoff_core::stats::SplitMix64;
use tradeoff_serve::{Deployment, ServeOptions};
use tradeoff_worker::WorkerCommand;

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
