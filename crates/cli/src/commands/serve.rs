//! `tradeoff serve WINNER.json [--host 127.0.0.1] [--port 8080] [--parallel N] [--queue N]
//! [--api-key-env VAR] [--insecure-no-auth] [--db PATH] [--retain 30d] [--log-text] [--no-log]
//! [--canary ID|FILE --every 10m] [--check]`: the measured winner behind an OpenAI-compatible
//! endpoint.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use tradeoff_core::analyze::canary::{CanaryBaseline, CanaryRound};
use tradeoff_core::spec::experiment::ChatTemplateChoice;
use tradeoff_core::spec::load::load_file;
use tradeoff_serve::canary::Canary;
use tradeoff_serve::{Deployment, ServeError, ServeOptions};
use tradeoff_store::Store;
use tradeoff_worker::WorkerCommand;

use crate::exit::Exit;
use crate::terminal::safe;

pub struct ServeArgs {
    pub host: String,
    pub port: u16,
    pub parallel: u32,
    pub queue: usize,
    pub api_key_env: Option<String>,
    pub insecure_no_auth: bool,
    pub check: bool,
    /// The database of the traffic log and of the winner's measured runs.
    pub db: PathBuf,
    pub no_log: bool,
    pub retain: Option<Duration>,
    pub log_text: bool,
    /// The experiment whose cases canary rounds send: a recorded id or an experiment file.
    pub canary: Option<String>,
    pub every: Duration,
    pub exit_with_stdin: bool,
}

pub fn serve(winner: &Path, args: ServeArgs) -> Result<ExitCode, Exit> {
    if args.parallel == 0 || args.parallel > 64 {
        return Err(Exit::bad_input(format!(
            "--parallel {}: between 1 and 64 slots",
            args.parallel
        )));
    }
    let deployment = Deployment::from_file(winner, args.parallel).map_err(Exit::bad_input)?;
    if args.check {
        // Labels and ids come from the winner file: data, shown, never obeyed by the terminal.
        println!("{}", safe(&deployment.describe()));
        return Ok(ExitCode::SUCCESS);
    }
    let canary = match &args.canary {
        Some(source) => Some(canary_of(&deployment, source, args.every, &args.db)?),
        None => None,
    };
    let chat_template = deployment.first().chat_template.clone();
    let model_name = deployment.model_name.clone();
    let label = deployment.label.clone();
    let slots = deployment.slots;
    let worker = WorkerCommand::current_exe().map_err(Exit::failure)?;
    let options = ServeOptions {
        host: args.host,
        port: args.port,
        queue: args.queue,
        api_key_env: args.api_key_env,
        insecure_no_auth: args.insecure_no_auth,
        db: (!args.no_log).then(|| args.db.clone()),
        retain: args.retain,
        log_text: args.log_text,
        winner_path: winner.to_path_buf(),
        canary,
        exit_with_stdin: args.exit_with_stdin,
    };
    let db = (!args.no_log).then_some(args.db);
    let canaries = options.canary.as_ref().map(|c| {
        format!(
            "canary: the {} cases of `{}` through the served path every {} s, held to what was measured",
            c.experiment.cases.len(),
            c.experiment.name,
            c.every.as_secs()
        )
    });
    let ready = |ready: &tradeoff_serve::Ready| {
        let mut out = std::io::stdout().lock();
        // The first line is the address, for scripts (and tests) to read.
        let _ = writeln!(out, "listening on http://{}/v1", ready.address);
        let _ = writeln!(
            out,
            "serving {} as model `{}` with {slots} slots{}",
            safe(&label),
            safe(&model_name),
            if ready.keyed {
                ", clients must send the key"
            } else {
                ""
            }
        );
        if ready.has_chat_template == Some(false) && chat_template == ChatTemplateChoice::Auto {
            let _ = writeln!(
                out,
                "note: the model has no chat template: /v1/chat/completions sends the messages as plain text; a base model answers few-shot completion prompts best (/v1/completions, /v1/variants/…/completions)"
            );
        }
        match &db {
            Some(db) => {
                let _ = writeln!(
                    out,
                    "every request is logged in {} (`tradeoff traffic`); metrics at /metrics",
                    db.display()
                );
            }
            None => {
                let _ = writeln!(out, "no traffic log (--no-log); metrics at /metrics");
            }
        }
        if let Some(line) = &canaries {
            let _ = writeln!(out, "{}", safe(line));
        }
        let _ = writeln!(out, "Ctrl-C stops it (requests in flight finish first)");
        let _ = out.flush();
    };
    let report = |round: &CanaryRound| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", safe(&tradeoff_serve::canary::describe(round)));
        let _ = out.flush();
    };
    tradeoff_serve::run(deployment, options, worker, ready, report).map_err(|e| match e {
        ServeError::Unprotected { .. } | ServeError::MissingKey { .. } => Exit::bad_input(e),
        other => Exit::failure(other),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The canary of `--canary SOURCE`: its cases from a recorded experiment (by id) or an
/// experiment file, held to the served config's runs in the experiment the winner was measured in.
fn canary_of(deployment: &Deployment, source: &str, every: Duration, db: &Path) -> Result<Canary, Exit> {
    let refused = |why: String| Exit::bad_input(format!("--canary: {why}"));
    if let Some(policy) = &deployment.policy {
        return Err(refused(format!(
            "the winner is routing policy `{}`; a canary is held to one config's recorded answers so far: serve without --canary, or serve one of the configs it calls with it",
            policy.id
        )));
    }
    let store = Store::open(db)?;
    let measured = deployment.experiment_id;
    let report = store.report(measured).map_err(|e| {
        refused(format!(
            "the winner was measured in experiment {measured} (`{}`), which {} cannot give ({e}); pass --db with the database it was recorded in",
            deployment.experiment,
            db.display()
        ))
    })?;
    if report.name != deployment.experiment {
        return Err(refused(format!(
            "experiment {measured} in {} is `{}`, not `{}` the winner was measured in; pass --db with the database it was recorded in",
            db.display(),
            report.name,
            deployment.experiment
        )));
    }
    let m = &deployment.first().measured;
    let baseline = CanaryBaseline::of_config(&report.runs, &m.variant, &m.target, m.settings);
    if baseline.recorded.is_empty() {
        return Err(refused(format!(
            "experiment {measured} holds no successful run of {}",
            deployment.label
        )));
    }
    let experiment = match source.parse::<i64>() {
        Ok(id) => store.experiment(id)?,
        Err(_) => load_file(Path::new(source)).map_err(Exit::bad_input)?,
    };
    Ok(Canary {
        experiment,
        baseline,
        every,
    })
}
